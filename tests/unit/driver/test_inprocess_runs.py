"""Whole GKERunner runs in-process (tests/driver_kit.py): runner, scheduler, node tasks,
outcomes, results first, grouping, free outputs and resume, in milliseconds per node."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from kedro_kinetic.driver.outcome import RemoteNodeError
from kedro_kinetic.wire import naming

FAIL = {"on": False}


def double(x: int) -> int:
    return 2 * x


def add(a: int, b: int) -> int:
    return a + b


def maybe_fail(x: int) -> int:
    if FAIL["on"]:
        raise ValueError(f"planned failure with {x}")
    return x + 1


def chain() -> Pipeline:
    return Pipeline([
        node(double, "x", "doubled", name="double_node"),
        node(maybe_fail, "doubled", "checked", name="check_node"),
        node(add, ["checked", "x"], "total", name="add_node"),
    ])


def catalog(x: int = 3) -> DataCatalog:
    return DataCatalog({"x": MemoryDataset(x)})


@pytest.fixture(autouse=True)
def _no_failure():
    FAIL["on"] = False
    yield
    FAIL["on"] = False


def test_a_chain_runs_and_its_free_output_loads_after_its_digest_matches(inprocess):
    outputs = inprocess.run(chain(), catalog(3))
    assert outputs["total"].load() == 2 * 3 + 1 + 3
    runner = inprocess.last_runner
    assert {r.status for r in runner.last_results.values()} == {"succeeded"}
    backend = inprocess.backends[-1]
    assert len(backend.submitted) == 3 and backend.closed
    assert set(backend.record.kept) == {naming.node_key(n) for n in
                                 ("double_node", "check_node", "add_node")}


@pytest.mark.parametrize("results_first", [True, False])
def test_a_node_that_raises_fails_the_run_with_its_own_type(inprocess, results_first):
    FAIL["on"] = True
    with pytest.raises(ValueError, match="planned failure with 6") as caught:
        inprocess.run(chain(), catalog(3), kinetic={"results_first": results_first})
    assert isinstance(caught.value, RemoteNodeError)
    results = inprocess.last_runner.last_results
    assert results["double_node"].status == "succeeded"
    assert results["check_node"].status == "failed"
    assert "add_node" not in results


def test_resume_keeps_what_finished_and_runs_the_rest(inprocess):
    FAIL["on"] = True
    with pytest.raises(ValueError):
        inprocess.run(chain(), catalog(3), run_id="r-resume")
    FAIL["on"] = False
    outputs = inprocess.run(chain(), catalog(3), run_id="r-resume", resume="r-resume")
    assert outputs["total"].load() == 10
    resumed = inprocess.backends[-1]
    assert [m["metadata"]["annotations"]["kedro-kinetic.io/node-name"]
            for m in resumed.submitted] == ["check_node", "add_node"]


def test_a_job_that_ends_without_a_result_is_explained_from_the_job(inprocess):
    inprocess.fail_jobs = lambda job: 137 if job.startswith("check-node") else None
    with pytest.raises(RemoteNodeError, match="OOMKilled"):
        inprocess.run(chain(), catalog(3))


def test_a_group_runs_as_one_job_with_every_node_settled_on_its_own(inprocess):
    outputs = inprocess.run(chain(), catalog(3), kinetic={"grouping": "chains"})
    assert outputs["total"].load() == 10
    assert len(inprocess.backends[-1].submitted) == 1
    assert len(inprocess.last_runner.last_results) == 3


def test_a_resumed_run_refuses_an_earlier_attempts_result(inprocess):
    """The store writer keeps a genuine result of attempt 1 and writes it back after resume
    removed it: it counts for attempt 1 only."""
    FAIL["on"] = True
    with pytest.raises(ValueError):
        inprocess.run(chain(), catalog(3), run_id="r-replay")
    results = inprocess.store / "runs" / naming.run_label("r-replay") / "results"
    kept = (results / f"{naming.node_key('double_node')}.json").read_bytes()
    record = inprocess.backends[-1].record
    record.recorded[naming.node_key("double_node")] = "0" * 32  # another attempt recorded
    FAIL["on"] = False
    outputs = inprocess.run(chain(), catalog(3), run_id="r-replay", resume="r-replay",
                            cache="off")  # nothing reused from the cache: the replay alone
    assert outputs["total"].load() == 10
    assert (results / f"{naming.node_key('double_node')}.json").read_bytes() != kept
