"""Read a run's results back from the store, trusting only sealed ones.

Used by the CLI's status: a result counts only when it is sealed for its own
URI with the key of the attempt a trusted record names for its node (see
:mod:`kedro_kinetic.wire.result` and :mod:`kedro_kinetic.wire.seal`); anything else under
``results/`` (forged, from another attempt, or of a node with no recorded
attempt) is reported as rejected, never shown as a node's state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro_kinetic import store
from kedro_kinetic.errors import KineticError
from kedro_kinetic.store.layout import RunLayout
from kedro_kinetic.store.trusted_result import read_trusted
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.result import Status

if TYPE_CHECKING:
    from kedro_kinetic.backends.base import NodeStatus
    from kedro_kinetic.wire.result import NodeResult


@dataclass
class RunResults:
    """The authentic results of a run, by node key, and the objects refused."""

    by_key: dict[str, NodeResult] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # uri -> why


def read_run_results(root: str, key: bytes, attempts: dict[str, str]) -> RunResults:
    """Every trusted result under the run's ``results/`` folder.

    Args:
        root: The run's folder in the store.
        key: The run's key.
        attempts: ``{node key: attempt}`` from a trusted record (the backend's).
    """
    layout = RunLayout(root, write=False)
    found = RunResults()
    try:
        listed = store.list_objects(layout.results_prefix)
    except KineticError as exc:
        found.rejected[layout.results_prefix] = str(exc)
        return found
    for uri in listed:
        node_key = uri.rsplit("/", 1)[-1].removesuffix(".json")
        if uri != layout.result_uri(node_key):
            found.rejected[uri] = "not a result's name"
            continue
        attempt = attempts.get(node_key)
        try:
            result = read_trusted(uri, None if attempt is None
                                  else seal.attempt_key(key, attempt))
        except KineticError as exc:
            found.rejected[uri] = str(exc)
            continue
        if result is not None:
            found.by_key[node_key] = result
    return found


def result_detail(result: NodeResult) -> str:
    """A failed result's reason: its error's type (without its module) and message."""
    kind = str(result.error_type or "error").rsplit(".", 1)[-1]
    return f"{kind}: {result.error_message}" if result.error_message else kind


def with_group_nodes(rows: list[NodeStatus], results: dict[str, NodeResult]
                     ) -> list[NodeStatus]:
    """Status rows with one row per node of a group (from its sealed result).

    A group's Job keeps its own row (``group:<name>``, with its ``members``: where
    ``kedro kinetic logs`` finds the pod's output); each of its nodes gets a row of its
    own, with its own state and duration, once its result is in, naming the group. A
    group whose Job left no state of its own (a local process that ended) takes its
    state from its nodes: succeeded when every one did, failed when one failed.
    """
    from kedro_kinetic.backends.base import NodeStatus

    shown = {row.key for row in rows}
    group_of = {key: row for row in rows for key in row.members}
    out = list(rows)
    for key, result in results.items():
        if key in shown:
            continue
        group = group_of.get(key)
        row = NodeStatus(result.node, group.job if group else "-", key, result.status,
                         result.duration, group=group.node if group else "")
        if result.status != Status.SUCCEEDED:
            row.detail = result_detail(result)
        out.append(row)
    for row in rows:
        if row.members and row.state == "stopped":
            states = [results[k].status for k in row.members if k in results]
            if any(state != Status.SUCCEEDED for state in states):
                row.state = "failed"
            elif len(states) == len(row.members):
                row.state = "succeeded"
    return sorted(out, key=lambda r: r.node)


NOT_RUN = "not run"
_GOING = ("running", "submitted")


def arrange(rows: list[NodeStatus], order: list[str] | None) -> list[NodeStatus]:
    """Every node of the run's pipeline, in its (topological) ``order``: the backend's row,
    or one ``not run`` for a node that never started; a group's row comes before its
    first node. Rows of nodes the pipeline no longer has come last.

    A node of a group without a result of its own takes its state from the group: the
    one the group was running (or stopped at) gets the group's, the ones after it wait
    (``waiting`` while the group runs, else ``not run``).

    Args:
        rows: What :meth:`~kedro_kinetic.backends.base.RunInspector.statuses` gave.
        order: The node names of the run's pipeline, from the project's code (``None``:
            unknown, ``rows`` are returned as they are).
    """
    from kedro_kinetic.backends.base import NodeStatus
    from kedro_kinetic.wire.naming import node_key

    if order is None:
        return rows
    groups = [row for row in rows if row.members]
    by_name = {row.node: row for row in rows if not row.members}
    group_of = {key: group for group in groups for key in group.members}
    out: list[NodeStatus] = []
    placed: set[int] = set()
    for name in order:
        key = node_key(name)
        group = group_of.get(key)
        if group is not None and id(group) not in placed:
            placed.add(id(group))
            out.append(group)
        row = by_name.pop(name, None)
        if row is None:
            row = NodeStatus(name, group.job if group else "-", key, NOT_RUN,
                             group=group.node if group else "")
        elif group is not None:
            row.job, row.group = group.job, group.node
        out.append(row)
    out += [group for group in groups if id(group) not in placed]
    out += list(by_name.values())
    for group in groups:
        _group_member_states(group, [row for row in out if row.group == group.node])
    return out


def _group_member_states(group: NodeStatus, members: list[NodeStatus]) -> None:
    missing = [row for row in members if row.state == NOT_RUN]
    if not missing:
        return
    first, rest = missing[0], missing[1:]
    if group.state in _GOING:
        first.state = group.state
        for row in rest:
            row.state = "waiting"
    elif group.state != "succeeded" and not any(r.state == "failed" for r in members):
        first.state, first.detail = group.state, group.detail


def node_rows(rows: list[NodeStatus]) -> list[NodeStatus]:
    """The rows of nodes (a group's Job row is where its logs are, not a node)."""
    return [row for row in rows if not row.members]


def run_state(rows: list[NodeStatus], active: bool) -> str:
    """One word for a run from its nodes' rows (see :func:`arrange`) and whether it is
    still going (its driver or a node still runs)."""
    states = {row.state for row in node_rows(rows)}
    if active or states & {"running", "submitted", "waiting"}:
        return "running"
    for word in ("failed", "cancelled", "stopped"):
        if word in states:
            return word
    if not states:
        return "empty"
    return "succeeded" if states <= {"succeeded", "cached"} else "stopped"


def json_object(text: str) -> dict[str, Any]:
    """A record kept beside a run, as a JSON object ({} when empty or malformed)."""
    try:
        recorded = json.loads(text) if text else {}
    except ValueError:
        return {}
    return recorded if isinstance(recorded, dict) else {}


def parse_cached(text: str) -> dict[str, dict[str, str]]:
    """A run's record of the nodes it reused from the cache (``{node key: {"node": name,
    "from": run id}}``), malformed rows left out."""
    return {key: {"node": row["node"], "from": row["from"]}
            for key, row in json_object(text).items()
            if isinstance(key, str) and isinstance(row, dict)
            and isinstance(row.get("node"), str) and isinstance(row.get("from"), str)}


def with_cached(rows: list[NodeStatus], cached: dict[str, dict[str, str]]) -> list[NodeStatus]:
    """``rows`` and one ``cached`` row per node the run reused (no Job of its own)."""
    from kedro_kinetic.backends.base import NodeStatus

    present = {row.key for row in rows}
    return rows + [NodeStatus(row["node"], "-", key, "cached",
                              detail=f"reused from run {row['from']}")
                   for key, row in sorted(cached.items()) if key not in present]
