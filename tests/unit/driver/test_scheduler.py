"""The scheduling loop against a fake backend: DAG order, max_parallel, fail-fast, cancel,
resume, submission failures. No processes, no cluster, no clock: events are scripted."""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING

import pytest
from kedro.pipeline import Pipeline, node

from kedro_kinetic.backends.base import Backend, EventKind, JobEvent
from kedro_kinetic.driver.progress import NodeState
from kedro_kinetic.driver.scheduler import Scheduler

if TYPE_CHECKING:
    from collections.abc import Callable


def pipeline_of(edges: str) -> Pipeline:
    """``"a>b a>c b>d c>d"``: nodes named by letters, each edge a dataset."""
    inputs: dict[str, list[str]] = {}
    names: list[str] = []
    for edge in edges.split():
        up, down = edge.split(">")
        for name in (up, down):
            if name not in names:
                names.append(name)
        inputs.setdefault(down, []).append(f"{up}_out")
    return Pipeline([node(lambda *xs: 1, inputs.get(n) or None, f"{n}_out", name=n)
                     for n in names])


class FakeBackend(Backend):
    """Records submissions; the test decides when each Job starts and ends."""

    def __init__(self, finish_on_submit: dict[str, int] | None = None) -> None:
        self.events: queue.Queue[JobEvent] = queue.Queue()
        self.submitted: list[str] = []
        self.running: set[str] = set()
        self.peak = 0
        self.cancelled_all = 0
        self.cancelled: list[str] = []
        self.finish_on_submit = finish_on_submit  # job -> exit code, posted at once

    def run_key(self, run_id: str, resume: bool) -> bytes:
        return b"k" * 32

    def submit(self, manifest, display_name):
        job = manifest["metadata"]["name"]
        self.submitted.append(job)
        self.running.add(job)
        self.peak = max(self.peak, len(self.running))
        self.events.put(JobEvent(job, EventKind.STARTED))
        if self.finish_on_submit is not None:
            code = self.finish_on_submit.get(job, 0)
            self.running.discard(job)
            self.events.put(JobEvent(job, EventKind.FINISHED, exit_code=code,
                                     reason="Completed" if code == 0 else "Error"))

    def cancel(self, job_name: str) -> None:
        self.cancelled.append(job_name)
        if job_name in self.running:
            self.running.discard(job_name)
            self.events.put(JobEvent(job_name, EventKind.FINISHED, reason="Cancelled"))

    def cancel_all(self) -> list[str]:
        self.cancelled_all += 1
        stopped = sorted(self.running)
        for job in stopped:
            self.events.put(JobEvent(job, EventKind.FINISHED, reason="Cancelled"))
        self.running.clear()
        return stopped

    def close(self) -> None:
        pass


class Ops:
    """NodeOps that submit through the backend and fail the nodes named in ``fail``."""

    def __init__(self, backend: FakeBackend, fail: set[str] = frozenset(),
                 raise_on_submit: set[str] = frozenset(),
                 io_error: set[str] = frozenset()) -> None:
        self.backend = backend
        self.fail = fail
        self.raise_on_submit = raise_on_submit
        self.io_error = io_error
        self.order: list[str] = []
        self.finished: list[str] = []
        self.shown: list[tuple[str, str]] = []

    def submit(self, nodes) -> Callable[[], None]:
        n = nodes[0]
        if n.name in self.raise_on_submit:
            raise TypeError(f"hook refused {n.name}")
        self.order.append(n.name)

        def io() -> None:
            if n.name in self.io_error:
                raise OSError(f"store down for {n.name}")
            self.backend.submit({"metadata": {"name": n.name}}, n.name)

        return io

    def settle_from_result(self, n, event):
        self.finished.append(n.name)
        self.backend.running.discard(n.name)
        if n.name in self.fail or event.exit_code not in (0, None) or event.reason == "Cancelled":
            return RuntimeError(f"{n.name} failed")
        return None

    def result_is_final(self, n, event) -> bool:
        return event.result is not None

    def settle_job(self, nodes, event):
        return [(n, self.settle_from_result(n, event)) for n in nodes]

    def show(self, n, state: NodeState, detail: str = "") -> None:
        self.shown.append((n.name, NodeState(state).value))


def scheduler(pipe: Pipeline, backend: FakeBackend, max_parallel: int = 4,
              fail_fast: bool = True) -> Scheduler:
    return Scheduler(backend, {n: n.name for n in pipe.nodes}, pipe.node_dependencies,
                     max_parallel, fail_fast)


def test_nodes_run_in_dag_order():
    pipe = pipeline_of("a>b a>c b>d c>d d>e")
    backend = FakeBackend(finish_on_submit={})
    ops = Ops(backend)
    outcome = scheduler(pipe, backend).run(ops)
    assert outcome.failure is None and {n.name for n in outcome.done} == set("abcde")
    position = {name: i for i, name in enumerate(ops.order)}
    for up, down in ("ab", "ac", "bd", "cd", "de"):
        assert position[up] < position[down]
    assert ("e", "succeeded") in ops.shown


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_max_parallel_bounds_the_jobs_running_at_once(limit):
    pipe = pipeline_of(" ".join(f"root>w{i}" for i in range(6)))
    backend = FakeBackend()  # Jobs end only when the test says so

    class Driven(Ops):
        def submit(self, nodes):
            n = nodes[0]
            io = super().submit(nodes)

            def run_and_end() -> None:
                io()
                if len(backend.running) >= limit or n.name == "root" or len(self.order) == 7:
                    for job in sorted(backend.running):
                        backend.running.discard(job)
                        backend.events.put(JobEvent(job, EventKind.FINISHED, exit_code=0))
            return run_and_end

    ops = Driven(backend)
    outcome = scheduler(pipe, backend, max_parallel=limit).run(ops)
    assert outcome.failure is None and len(outcome.done) == 7
    assert backend.peak <= limit


def test_fail_fast_cancels_only_the_running_jobs_and_starts_no_new_one():
    pipe = pipeline_of("a>b a>c a>d b>e")
    backend = FakeBackend()

    class FailB(Ops):
        def submit(self, nodes):
            n = nodes[0]
            io = super().submit(nodes)

            def go() -> None:
                io()
                if n.name in ("a", "b"):  # a succeeds, b fails; c and d keep running
                    backend.running.discard(n.name)
                    backend.events.put(JobEvent(n.name, EventKind.FINISHED,
                                                exit_code=0 if n.name == "a" else 12))
            return go

    ops = FailB(backend)
    outcome = scheduler(pipe, backend, fail_fast=True).run(ops)
    assert str(outcome.failure) == "b failed"
    # only the running Jobs are stopped: the finished ones stay for status and logs
    assert sorted(backend.cancelled) == ["c", "d"] and backend.cancelled_all == 0
    assert "e" not in ops.order
    assert {n.name for n in outcome.not_run} == {"e"}
    assert ("c", "cancelled") in ops.shown and ("d", "cancelled") in ops.shown


def test_without_fail_fast_running_nodes_finish_but_nothing_new_starts():
    pipe = pipeline_of("a>b a>c b>d")
    backend = FakeBackend(finish_on_submit={"b": 12})
    ops = Ops(backend)
    outcome = scheduler(pipe, backend, fail_fast=False).run(ops)
    assert str(outcome.failure) == "b failed" and backend.cancelled_all == 0
    assert "c" in {n.name for n in outcome.done} and "d" not in ops.order


def test_resume_skips_finished_nodes():
    pipe = pipeline_of("a>b b>c")
    backend = FakeBackend(finish_on_submit={})
    ops = Ops(backend)
    done = {n for n in pipe.nodes if n.name in ("a", "b")}
    outcome = scheduler(pipe, backend).run(ops, done)
    assert ops.order == ["c"] and {n.name for n in outcome.done} == {"a", "b", "c"}


def test_an_error_raised_while_submitting_cancels_everything_and_propagates():
    pipe = pipeline_of("a>b a>c")
    backend = FakeBackend(finish_on_submit={})
    ops = Ops(backend, raise_on_submit={"c"})
    with pytest.raises(TypeError, match="hook refused c"):
        scheduler(pipe, backend).run(ops)
    assert backend.cancelled_all == 1


def test_a_failed_submission_reaches_the_loop_as_an_event_and_is_raised():
    pipe = pipeline_of("a>b")
    backend = FakeBackend(finish_on_submit={})
    ops = Ops(backend, io_error={"b"})
    with pytest.raises(OSError, match="store down for b"):
        scheduler(pipe, backend).run(ops)


def test_events_of_unknown_jobs_are_ignored():
    pipe = pipeline_of("a>b")
    backend = FakeBackend(finish_on_submit={})
    backend.events.put(JobEvent("someone-else", EventKind.FINISHED, exit_code=1))
    outcome = scheduler(pipe, backend).run(Ops(backend))
    assert outcome.failure is None and len(outcome.done) == 2


def test_a_pending_event_is_shown():
    pipe = pipeline_of("a>b")
    backend = FakeBackend()
    ops = Ops(backend)

    class Pending(Ops):
        def submit(self, nodes):
            n = nodes[0]
            io = super().submit(nodes)

            def go() -> None:
                io()
                backend.events.put(JobEvent(n.name, EventKind.PENDING, reason="Unschedulable",
                                            message="0/1 nodes"))
                backend.events.put(JobEvent(n.name, EventKind.FINISHED, exit_code=0))
            return go

    ops = Pending(backend)
    scheduler(pipe, backend).run(ops)
    assert ("a", "pending") in ops.shown and ("b", "succeeded") in ops.shown


# --- groups and results first ------------------------------------------------------------


class GroupOps(Ops):
    """Jobs named in ``groups`` run several nodes; results arrive one by one."""

    def __init__(self, backend, failing: str = "") -> None:
        super().__init__(backend)
        self.failing = failing
        self.submitted_units: list[tuple[str, ...]] = []

    def submit(self, nodes):
        self.submitted_units.append(tuple(n.name for n in nodes))
        job = JOBS[nodes[0].name]

        def io() -> None:
            self.backend.events.put(JobEvent(job, EventKind.STARTED))
            for n in nodes:  # each node's sealed result as the pod finishes it
                status = "failed" if n.name == self.failing else "succeeded"
                self.backend.events.put(JobEvent(job, EventKind.NODE_RESULT, node=n.name,
                                                 result=type("R", (), {"status": status})()))
                if status == "failed":
                    break
            code = 12 if self.failing in {n.name for n in nodes} else 0
            self.backend.events.put(JobEvent(job, EventKind.FINISHED, exit_code=code))
        return io

    def settle_from_result(self, n, event):
        self.finished.append(n.name)
        return RuntimeError(f"{n.name} failed") if n.name == self.failing else None


JOBS = {"a": "job-a", "b": "group-bc", "c": "group-bc", "d": "job-d"}


def grouped_scheduler(pipe: Pipeline, backend: FakeBackend) -> Scheduler:
    return Scheduler(backend, {n: JOBS[n.name] for n in pipe.nodes}, pipe.node_dependencies, 4)


def test_a_group_is_one_submission_and_its_nodes_finish_one_by_one():
    pipe = pipeline_of("a>b b>c c>d")
    backend = FakeBackend()
    ops = GroupOps(backend)
    outcome = grouped_scheduler(pipe, backend).run(ops)
    assert outcome.failure is None and len(outcome.done) == 4
    assert ops.submitted_units == [("a",), ("b", "c"), ("d",)]
    assert ops.finished == ["a", "b", "c", "d"]  # from early results, in order


def test_a_node_failing_mid_group_stops_the_rest_of_the_group():
    pipe = pipeline_of("a>b b>c c>d")
    backend = FakeBackend()
    ops = GroupOps(backend, failing="b")
    outcome = grouped_scheduler(pipe, backend).run(ops)
    assert str(outcome.failure) == "b failed"
    assert ops.finished == ["a", "b"]  # c never ran: no hooks for it
    assert {n.name for n in outcome.not_run} == {"c", "d"}
    assert ("c", "not run") in ops.shown


def test_a_job_waits_until_every_upstream_node_outside_it_is_done():
    pipe = pipeline_of("a>c b>c c>d")
    backend = FakeBackend()
    jobs = {"a": "j-a", "b": "j-b", "c": "g", "d": "g"}
    ops = Ops(backend)

    class Held(Ops):
        def submit(self, nodes):
            names = tuple(n.name for n in nodes)
            self.order.append(names)

            def io() -> None:
                job = jobs[names[0]]
                for name in names:
                    backend.events.put(JobEvent(job, EventKind.NODE_RESULT, node=name,
                                                result=type("R", (), {"status": "ok"})()))
            return io

        def settle_from_result(self, n, event):
            return None

    ops = Held(backend)
    scheduler = Scheduler(backend, {n: jobs[n.name] for n in pipe.nodes},
                          pipe.node_dependencies, 1)
    outcome = scheduler.run(ops)
    assert outcome.failure is None and len(outcome.done) == 4
    assert ops.order[-1] == ("c", "d") and set(ops.order[:2]) == {("a",), ("b",)}
