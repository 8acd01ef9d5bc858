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
