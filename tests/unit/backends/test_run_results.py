"""`kedro kinetic status` rows: every node of the pipeline, in its order, groups by their nodes."""

from __future__ import annotations

import json

from kedro_kinetic.backends.base import NodeStatus
from kedro_kinetic.backends.run_results import (
    arrange,
    node_rows,
    parse_cached,
    run_state,
    with_cached,
    with_group_nodes,
)
from kedro_kinetic.wire.naming import node_key
from kedro_kinetic.wire.result import NodeResult, Status

ORDER = ["a", "b", "c", "d", "e"]


def row(node: str, state: str, **fields) -> NodeStatus:
    return NodeStatus(node, f"job-{node}", node_key(node), state, **fields)


def result(node: str, status: str = Status.SUCCEEDED, message: str = "") -> NodeResult:
    return NodeResult(node=node, exit_code=0 if status == Status.SUCCEEDED else 1,
                      status=status, error_type="ValueError" if message else None,
                      error_message=message or None, started_at=1.0, finished_at=2.0)


def test_nodes_never_started_are_listed_as_not_run_in_pipeline_order():
    rows = arrange([row("c", "failed"), row("a", "succeeded")], ORDER)
    assert [(r.node, r.state) for r in rows] == [
        ("a", "succeeded"), ("b", "not run"), ("c", "failed"), ("d", "not run"),
        ("e", "not run")]
    assert run_state(rows, active=False) == "failed"


def test_rows_the_pipeline_no_longer_has_come_last_and_an_unknown_pipeline_keeps_the_rows():
    rows = [row("zz", "succeeded"), row("a", "succeeded")]
    assert [r.node for r in arrange(list(rows), ["a", "b"])] == ["a", "b", "zz"]
    assert arrange(list(rows), None) == rows


def test_a_successful_group_is_succeeded_and_not_counted_as_a_node():
    group = row("group:g", "stopped", members=[node_key("b"), node_key("c")])
    rows = with_group_nodes([row("a", "succeeded"), group],
                            {node_key("b"): result("b"), node_key("c"): result("c")})
    assert group.state == "succeeded"
    rows = arrange(rows, ORDER[:3])
    assert [(r.node, r.state, r.job) for r in rows] == [
        ("a", "succeeded", "job-a"), ("group:g", "succeeded", "job-group:g"),
        ("b", "succeeded", "job-group:g"), ("c", "succeeded", "job-group:g")]
    assert [r.node for r in node_rows(rows)] == ["a", "b", "c"]
    assert run_state(rows, active=False) == "succeeded"


def test_a_group_that_failed_at_a_node_stops_there():
    group = row("group:g", "stopped", members=[node_key(n) for n in "bcd"])
    rows = arrange(with_group_nodes([group], {
        node_key("b"): result("b"), node_key("c"): result("c", Status.FAILED, "boom")}),
        ORDER[1:4])
    assert group.state == "failed"
    assert [(r.node, r.state) for r in rows] == [
        ("group:g", "failed"), ("b", "succeeded"), ("c", "failed"), ("d", "not run")]


def test_the_nodes_of_a_running_or_cancelled_group_take_its_state():
    running = row("group:g", "running", members=[node_key(n) for n in "bcd"])
    rows = arrange(with_group_nodes([running], {node_key("b"): result("b")}), ORDER[1:4])
    assert [r.state for r in rows] == ["running", "succeeded", "running", "waiting"]
    assert run_state(rows, active=False) == "running"
    cancelled = row("group:g", "cancelled", detail="cancelled by you",
                    members=[node_key(n) for n in "bc"])
    rows = arrange(with_group_nodes([cancelled], {}), ["b", "c"])
    assert [(r.node, r.state, r.detail) for r in rows] == [
        ("group:g", "cancelled", "cancelled by you"), ("b", "cancelled", "cancelled by you"),
        ("c", "not run", "")]
    assert run_state(rows, active=False) == "cancelled"


def test_run_state_names_how_the_run_ended():
    assert run_state(arrange([row("a", "succeeded")], ["a", "b"]), active=False) == "stopped"
    assert run_state(arrange([row("a", "succeeded")], ["a", "b"]), active=True) == "running"
    assert run_state([row("a", "stopped")], active=False) == "stopped"
    assert run_state([], active=False) == "empty"


def test_nodes_reused_from_the_cache_are_listed_as_cached_and_the_run_succeeded():
    recorded = parse_cached(json.dumps({
        node_key("b"): {"node": "b", "from": "run-1"}, "bad": {"node": 3},
        node_key("a"): {"node": "a", "from": "run-1"}}))
    assert set(recorded) == {node_key("b"), node_key("a")}
    rows = with_cached([row("a", "succeeded")], recorded)  # a's own row is kept
    cached = [r for r in rows if r.state == "cached"]
    assert [r.node for r in cached] == ["b"] and cached[0].detail == "reused from run run-1"
    rows = with_cached([row("a", "succeeded")], {"b-key": {"node": "b", "from": "run-1"}})
    assert run_state(rows, active=False) == "succeeded"
    assert parse_cached("[1]") == {} and parse_cached("{not json") == {}
