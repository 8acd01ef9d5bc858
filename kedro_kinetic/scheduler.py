"""The scheduling loop: submit ready nodes, consume backend events, stop on failure.

The loop lives here once (like Kedro's ``AbstractRunner._run``); what it does
for one node lives in :mod:`kedro_kinetic.node_task` and reaches the loop
through :class:`NodeOps`. The loop waits on the backend's event queue (no
polling). Ready nodes are submitted in name order, up to ``max_parallel`` at a
time; their I/O (storing specs, creating Jobs) runs on a small thread pool, so
a burst of ready nodes is not one round trip after another. On the first
failure no new node starts; with ``fail_fast`` the running ones are cancelled.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from kedro_kinetic.backends.base import EventKind
from kedro_kinetic.progress import NodeState

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kedro.pipeline.node import Node

    from kedro_kinetic.backends.base import Backend, JobEvent

logger = logging.getLogger(__name__)

#: Threads that store specs and create Jobs for ready nodes at the same time.
SUBMITTERS = 8


class NodeOps(Protocol):
    """What the loop asks of the rest of the driver, one node at a time."""

    def submit(self, node: Node) -> Callable[[], None]:
        """Fire the node's hooks and pin its spec (on the loop's thread); return its I/O."""

    def finish(self, node: Node, event: JobEvent) -> BaseException | None:
        """Read and check the node's outcome, fire its hooks; return its error, if any."""

    def show(self, node: Node, state: NodeState, detail: str = "") -> None:
        """Report a transition (progress display)."""


@dataclass
class Outcome:
    """How a schedule ended."""

    done: set[Node]
    failure: BaseException | None = None
    not_run: set[Node] = field(default_factory=set)


class Scheduler:
    """Runs a DAG of nodes through a backend."""

    def __init__(self, backend: Backend, jobs: Mapping[Node, str],
                 dependencies: Mapping[Node, set[Node]], max_parallel: int,
                 fail_fast: bool = True) -> None:
        """Args:
            backend: Where Jobs run; its ``events`` queue drives the loop.
            jobs: The Job name of every node to run.
            dependencies: Each node's upstream nodes (``Pipeline.node_dependencies``).
            max_parallel: Nodes submitted and running at once.
            fail_fast: Cancel running nodes on the first failure.
        """
        self._backend = backend
        self._jobs = dict(jobs)
        self._deps = dependencies
        self._max_parallel = max_parallel
        self._fail_fast = fail_fast

    def run(self, ops: NodeOps, done: set[Node] | None = None) -> Outcome:
        """Run every node not in ``done`` in DAG order.

        Raises:
            BaseException: What a node's submission raised on the loop's thread (a
                hook, a missing pin), or an interrupt; every running Job is cancelled
                first.
        """
        outcome = Outcome(done=set(done or ()))
        todo = set(self._jobs) - outcome.done
        running: dict[str, Node] = {}
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
            for node in running.values():  # their end is never consumed: show it now
                ops.show(node, NodeState.CANCELLED, "Cancelled")
            raise
        finally:
            pool.shutdown(wait=True)
        outcome.not_run = todo
        return outcome

    def _submit_ready(self, ops: NodeOps, todo: set[Node], done: set[Node],
                      running: dict[str, Node], submitting: dict[str, Future[None]],
                      pool: ThreadPoolExecutor) -> None:
        ready = sorted((n for n in todo if self._deps[n] <= done), key=lambda n: n.name)
        for node in ready[: max(0, self._max_parallel - len(running))]:
            todo.discard(node)
            job = self._jobs[node]
            running[job] = node
            submitting[job] = pool.submit(self._dispatch, job, ops.submit(node))

    def _dispatch(self, job: str, io: Callable[[], None]) -> None:
        try:
            io()
        except BaseException as exc:
            self._backend.report_unsubmitted(job, str(exc))
            raise

    def _handle(self, ops: NodeOps, event: JobEvent, running: dict[str, Node],
                submitting: dict[str, Future[None]], outcome: Outcome) -> None:
        if event.kind is EventKind.UNSUBMITTED:
            if outcome.failure is None:
                submitting[event.job_name].result()  # raises the submitter's error
            logger.error("Could not submit job %s: %s", event.job_name, event.message)
            running.pop(event.job_name, None)
            return
        node = running.get(event.job_name)
        if node is None:
            return
        if event.kind is not EventKind.FINISHED:
            state = NodeState.RUNNING if event.kind is EventKind.STARTED else NodeState.PENDING
            ops.show(node, state, event.message or event.reason or "")
            return
        del running[event.job_name]
        error = ops.finish(node, event)
        if error is None:
            ops.show(node, NodeState.SUCCEEDED)
            outcome.done.add(node)
            logger.info("Completed node: %s", node.name)
            logger.info("Completed %d out of %d tasks", len(outcome.done), len(self._jobs))
            return
        ops.show(node, NodeState.CANCELLED if event.reason == "Cancelled" else NodeState.FAILED,
                 event.reason or "failed")
        if outcome.failure is None:
            outcome.failure = error
            if self._fail_fast and running:
                logger.warning("Stopping %d running node(s) after the failure of '%s'",
                               len(running), node.name)
                wait(submitting.values())  # so that none is created after the cancel
                self._backend.cancel_all()
