"""The contract between the runner and an execution backend."""

from __future__ import annotations

import queue
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class JobEvent:
    """Something that happened to a submitted Job.

    ``kind`` is ``started`` (the container runs), ``pending`` (waiting, with a
    reason), or ``finished`` (terminal: ``exit_code`` and ``reason`` say how).
    """

    job_name: str
    kind: str
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    time: float | None = None


class Backend(Protocol):
    """Runs rendered Job manifests and reports their progress."""

    events: queue.Queue[JobEvent]

    def run_key(self, run_id: str, resume: bool) -> bytes:
        """The key that seals the run's results: created for a new run, read back on resume.

        It is kept where a store writer cannot reach it (a Secret, a private file).
        """

    def submit(self, manifest: dict[str, Any], display_name: str) -> None:
        """Start the Job described by ``manifest``."""

    def cancel(self, job_name: str) -> None:
        """Stop one Job and its pods."""

    def forget(self, job_name: str) -> None:
        """Remove an earlier attempt's Job if it failed, so it can be submitted again.

        A Job that is still running is left alone (it is adopted on submission).
        """

    def cancel_all(self) -> list[str]:
        """Stop every Job of the run; return their names."""

    def close(self) -> None:
        """Release resources (threads, watches, clients)."""


@dataclass(frozen=True)
class RunInfo:
    """A run as a trusted source knows it (the Kubernetes API, the private run folder)."""

    run_id: str
    label: str
    root: str  # the run's folder in the store
    started: float | None = None  # epoch seconds, from the trusted source


@dataclass
class NodeStatus:
    """One node of a run, as far as the backend and the run's sealed results know."""

    node: str
    job: str
    key: str
    state: str
    duration: float | None = None
    detail: str = ""
    attempts: int = 0


class RunInspector(Protocol):
    """What ``kedro kinetic status|logs|cancel|clean`` need, from trusted sources only.

    Runs, Jobs, processes and ages come from what only the driver could have
    made (Kubernetes objects it labelled, the private run folder); node states
    come from there and from results sealed with the run's key. Nothing is
    picked from store objects alone.
    """

    #: Objects under the run's ``results/`` that the last :meth:`statuses` refused
    #: (URI -> why): forged, replayed or malformed.
    rejected: dict[str, str]

    def runs(self) -> list[RunInfo]:
        """The project's runs, oldest first."""

    def key(self, run: RunInfo) -> bytes:
        """The run's key (to authenticate its results)."""

    def statuses(self, run: RunInfo) -> list[NodeStatus]:
        """Every node the run submitted, with its state."""

    def logs(self, run: RunInfo, rows: list[NodeStatus], follow: bool) -> Any:
        """Yield ``(node, line)`` for the given nodes' containers or processes."""

    def active(self, run: RunInfo) -> bool:
        """Whether any node of the run is still running."""

    def cancel(self, run: RunInfo) -> list[str]:
        """Stop every unfinished node of the run; return the Jobs stopped."""

    def clean(self, run: RunInfo) -> int:
        """Delete the run's Jobs, stored objects and key; return objects deleted."""
