"""The scheduling loop: submit ready Jobs, consume backend events, stop on failure.

The loop lives here once (like Kedro's ``AbstractRunner._run``); what it does
for nodes lives in :mod:`kedro_kinetic.driver.node_task` and reaches the loop through
:class:`NodeOps`. A Job runs one node, or a group of nodes in DAG order. The
loop waits on the backend's event queue (no polling). A Job is ready when every
node outside it that its nodes read from is done; ready Jobs are submitted in
order, up to ``max_parallel`` at a time, their I/O (storing specs, creating
Jobs) on a small thread pool.

A node finishes on the first of: its sealed result reaching the store
(``NODE_RESULT``, results first: no wait for the kubelet's status; a failure
counts early only if no retry will follow) or its Job's end (``FINISHED``,
which also explains nodes that left no result). On the first failure no new
Job starts; with ``fail_fast`` the running ones are cancelled.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from kedro_kinetic.backends.base import EventKind
from kedro_kinetic.driver.progress import NodeState

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kedro.pipeline.node import Node

    from kedro_kinetic.backends.base import Backend, JobEvent

logger = logging.getLogger(__name__)

#: Threads that store specs and create Jobs for ready nodes at the same time.
SUBMITTERS = 8
#: What :meth:`NodeOps.settle_job` returns for a node its Job never ran.
NOT_RUN = "not run"


def failure_detail(result: object, reason: str | None) -> str:
    """What the table says of a failed node: its error's type and first line (a remote
    error's own, not the driver's wrapping), else the backend's reason."""
    remote = getattr(result, "result", None)
    kind = getattr(remote, "error_type", None) or (
        type(result).__name__ if isinstance(result, BaseException) else None)
    message = getattr(remote, "error_message", None) or (
        str(result) if isinstance(result, BaseException) and remote is None else "")
    first = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    if kind and first:
        return f"{str(kind).rsplit('.', 1)[-1]}: {first}"
    return first or str(kind or reason or "failed")


class NodeOps(Protocol):
    """What the loop asks of the rest of the driver."""

    def submit(self, nodes: tuple[Node, ...]) -> Callable[[], None]:
        """Fire the nodes' hooks and pin their specs (on the loop's thread); return the I/O."""

    def result_is_final(self, node: Node, event: JobEvent) -> bool:
        """Whether a node's early result (``NODE_RESULT``) is final."""

    def settle_from_result(self, node: Node, event: JobEvent) -> BaseException | None:
        """Finish a node from its early result; fire its hooks; return its error, if any."""

    def settle_job(self, nodes: list[Node], event: JobEvent
                   ) -> list[tuple[Node, BaseException | str | None]]:
        """Finish a Job's unfinished nodes when the Job ended: each gets ``None``
        (succeeded), its error, or :data:`NOT_RUN`."""

    def show(self, node: Node, state: NodeState, detail: str = "") -> None:
        """Report a transition (progress display)."""


@dataclass
class ScheduleOutcome:
    """How a schedule ended."""

    done: set[Node]
    failure: BaseException | None = None
    not_run: set[Node] = field(default_factory=set)


class Scheduler:
    """Runs a DAG of nodes, grouped into Jobs, through a backend."""

    def __init__(self, backend: Backend, jobs: Mapping[Node, str],
                 dependencies: Mapping[Node, set[Node]], max_parallel: int,
                 fail_fast: bool = True) -> None:
        """Args:
            backend: Where Jobs run; its ``events`` queue drives the loop.
            jobs: The Job name of every node to run, in the pipeline's (topological)
                order; nodes sharing a name run in one Job, in that order.
            dependencies: Each node's upstream nodes (``Pipeline.node_dependencies``).
            max_parallel: Jobs submitted and running at once.
            fail_fast: Cancel running Jobs on the first failure.
        """
        self._backend = backend
        self._units: dict[str, tuple[Node, ...]] = {}
        for node, job in jobs.items():
            self._units[job] = (*self._units.get(job, ()), node)
        self._count = len(jobs)
        self._deps = dependencies
        self._max_parallel = max_parallel
        self._fail_fast = fail_fast
        self._stopped: set[str] = set()  # Jobs one of whose nodes failed early

    def run(self, ops: NodeOps, done: set[Node] | None = None) -> ScheduleOutcome:
        """Run every node not in ``done``, Job by Job.

        Raises:
            BaseException: What a submission raised on the loop's thread (a hook, a
                missing pin), or an interrupt; every running Job is cancelled first.
        """
        outcome = ScheduleOutcome(done=set(done or ()))
        todo = {job: nodes for job, nodes in self._units.items()
                if any(n not in outcome.done for n in nodes)}
        running: dict[str, list[Node]] = {}
        submitting: dict[str, Future[None]] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, min(SUBMITTERS, self._max_parallel)),
                                  thread_name_prefix="kinetic-submit")
        try:
            while True:
                if outcome.failure is None:
                    self._submit_ready(ops, todo, outcome.done, running, submitting, pool)
                if not running:
                    break
                self._handle(ops, self._backend.events.get(), running, submitting, outcome)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            cancelled = self._backend.cancel_all()
            if cancelled:
                logger.warning("Cancelled %d node(s): %s", len(cancelled), ", ".join(cancelled))
            for nodes in running.values():  # their end is never consumed: show it now
                for node in nodes:
                    ops.show(node, NodeState.CANCELLED, "Cancelled")
            raise
        finally:
            pool.shutdown(wait=True)
        outcome.not_run |= {n for nodes in todo.values() for n in nodes}
        return outcome

    def _ready(self, nodes: tuple[Node, ...], done: set[Node]) -> bool:
        members = set(nodes)
        return all(self._deps[n] <= done | members for n in nodes)

    def _submit_ready(self, ops: NodeOps, todo: dict[str, tuple[Node, ...]], done: set[Node],
                      running: dict[str, list[Node]], submitting: dict[str, Future[None]],
                      pool: ThreadPoolExecutor) -> None:
        ready = [job for job, nodes in todo.items() if self._ready(nodes, done)]
        for job in ready[: max(0, self._max_parallel - len(running))]:
            nodes = tuple(n for n in todo.pop(job) if n not in done)
            running[job] = list(nodes)
            submitting[job] = pool.submit(self._dispatch, job, ops.submit(nodes))

    def _dispatch(self, job: str, io: Callable[[], None]) -> None:
        try:
            io()
        except BaseException as exc:
            self._backend.report_unsubmitted(job, str(exc))
            raise

    def _handle(self, ops: NodeOps, event: JobEvent, running: dict[str, list[Node]],
                submitting: dict[str, Future[None]], outcome: ScheduleOutcome) -> None:
        job = event.job_name
        if event.kind is EventKind.UNSUBMITTED:
            if outcome.failure is None:
                submitting[job].result()  # raises the submitter's error
            logger.error("Could not submit job %s: %s", job, event.message)
            running.pop(job, None)
            return
        pending = running.get(job)
        if pending is None:
            return
        if event.kind is EventKind.NODE_RESULT:
            node = next((n for n in pending if n.name == event.node), None)
            if node is None or not ops.result_is_final(node, event):
                return
            pending.remove(node)
            if not pending:
                del running[job]
            result = ops.settle_from_result(node, event)
            if result is not None:
                self._stopped.add(job)  # its pod stops: the rest of the group never runs
            self._on_settled(ops, node, result, event, running, submitting, outcome)
        elif event.kind is EventKind.FINISHED:
            del running[job]
            settled: list[tuple[Node, BaseException | str | None]] = (
                [(n, NOT_RUN) for n in pending] if job in self._stopped
                else ops.settle_job(pending, event))
            for node, outcome_of in settled:
                self._on_settled(ops, node, outcome_of, event, running, submitting, outcome)
        else:
            state = NodeState.RUNNING if event.kind is EventKind.STARTED else NodeState.PENDING
            for node in pending:
                ops.show(node, state, event.message or event.reason or "")

    def _on_settled(self, ops: NodeOps, node: Node, result: BaseException | str | None,
                event: JobEvent, running: dict[str, list[Node]],
                submitting: dict[str, Future[None]], outcome: ScheduleOutcome) -> None:
        if result is None:
            outcome.done.add(node)
            if event.reason == "Cached":  # reused from an earlier run (the node cache)
                ops.show(node, NodeState.CACHED, event.message or "")
                logger.info("Reused node: %s (cached %s)", node.name, event.message or "")
            else:
                ops.show(node, NodeState.SUCCEEDED)
                logger.info("Completed node: %s", node.name)
            logger.info("Completed %d out of %d tasks", len(outcome.done), self._count)
            return
        if result == NOT_RUN:
            ops.show(node, NodeState.NOT_RUN, "its group stopped at a failed node")
            outcome.not_run.add(node)
            return
        cancelled = event.reason == "Cancelled"
        ops.show(node, NodeState.CANCELLED if cancelled else NodeState.FAILED,
                 failure_detail(result, event.reason))
        if outcome.failure is None and isinstance(result, BaseException):
            outcome.failure = result
            if self._fail_fast and running:
                logger.warning("Stopping %d running Job(s) after the failure of '%s'",
                               len(running), node.name)
                wait(submitting.values())  # so that none is created after the cancel
                for job in list(running):  # finished Jobs stay, for status and logs
                    self._backend.cancel(job)
