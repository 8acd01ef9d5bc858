"""The contract between the scheduler and an execution backend.

A backend is a small step handler in the style of dagster-k8s: it starts Jobs
(``submit``), reports what happens to them as typed :class:`JobEvent` objects
on its ``events`` queue, and stops them (``cancel``, ``cancel_all``). The loop
that decides what to submit lives once, in :mod:`kedro_kinetic.driver.scheduler`.
Optional steps have a documented default on the base class (``preflight`` and
``forget`` do nothing) rather than being probed with ``getattr``.

Run inspection for the CLI (list runs, node states, logs, cancel, clean from
trusted sources) is the :class:`RunInspector` protocol, one per backend.
"""

from __future__ import annotations

import difflib
import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kedro_kinetic.errors import RunNotFound

if TYPE_CHECKING:
    import queue
    from collections.abc import Iterator

    from kedro_kinetic.config import RunConfig

#: How a node stopped by ``kedro kinetic cancel`` ends: the driver's message, its final
#: table and ``kedro kinetic status`` say it (never an infrastructure failure).
CANCELLED_BY_CLI = "cancelled by `kedro kinetic cancel`"


class EventKind(str, enum.Enum):
    """What happened to a Job (a closed set: the scheduler handles each)."""

    STARTED = "started"  #: its container runs
    PENDING = "pending"  #: it waits, for a reason (e.g. Unschedulable)
    FINISHED = "finished"  #: terminal: ``exit_code`` and ``reason`` say how
    UNSUBMITTED = "unsubmitted"  #: its submission failed (posted by the scheduler)
    NODE_RESULT = "node_result"  #: one of its nodes' sealed results is in the store


@dataclass(frozen=True)
class JobEvent:
    """Something that happened to a submitted Job."""

    job_name: str
    kind: EventKind
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    time: float | None = None
    #: ``NODE_RESULT`` only: which node, and its authenticated result.
    node: str | None = None
    result: Any = None


class Backend(ABC):
    """Runs rendered Job manifests and reports their progress on ``events``."""

    events: queue.Queue[JobEvent]

    @abstractmethod
    def run_key(self, run_id: str, resume: bool) -> bytes:
        """The key that seals the run's results: created for a new run, read back on resume.

        It is kept where a store writer cannot reach it (a Secret, a private file).

        Raises:
            RunNotFound: ``resume`` and the run has no key here.
        """

    def preflight(self, cfg: RunConfig) -> None:
        """Check, before the first Job, what the Jobs will need (default: nothing).

        Raises:
            BackendError: Something the pods need is missing; nothing was submitted.
        """

    @abstractmethod
    def submit(self, manifest: dict[str, Any], display_name: str) -> str | None:
        """Start the Job described by ``manifest`` (adopting an identical one left running).

        Returns:
            The attempt (nonce) whose results count for the Job: the manifest's own,
            or that of the Job it adopted (``None``: the manifest pins none).
        """

    def attempts(self) -> dict[str, str]:
        """``{node key: attempt}`` whose results count, from a trusted record only (the
        Kubernetes API, the private run folder): resume accepts a result sealed for it.

        Default: none recorded (every node of a resumed run runs again).
        """
        return {}

    def retire_attempts(self, node_keys: list[str]) -> None:
        """Forget the recorded attempts of nodes that run again, before any of them is
        submitted, so that an earlier attempt's result can never count later.
        Default: nothing recorded."""

    def cache_key(self, store_root: str) -> bytes | None:
        """The project's long-lived key that seals node cache entries in the store at
        ``store_root``, kept where run keys are (created on first use); ``None`` where
        this backend keeps none (the run caches nothing)."""
        return None

    def cache_index(self, store_root: str) -> dict[str, str]:
        """``{cache key: SHA-256 of its latest entry}`` as this project last recorded them,
        from where the cache key is kept: an older entry written back for a key (a
        rollback) is told from the latest. Default: none recorded."""
        return {}

    def record_cache_index(self, store_root: str, latest: dict[str, str]) -> None:
        """Add ``latest`` (entries this run wrote) to the record :meth:`cache_index` reads.
        Default: nothing recorded."""

    def keep_attempts(self, accepted: dict[str, str]) -> None:
        """Record ``{node key: attempt}`` of the results this run accepted, for a later
        resume (default: nothing to record beyond what :meth:`submit` recorded)."""

    def keep_cached(self, cached: dict[str, dict[str, str]]) -> None:
        """Record ``{node key: {"node": name, "from": run id}}`` of the nodes this run
        reused from the cache, where ``status`` reads the run (default: nothing)."""

    @abstractmethod
    def cancel(self, job_name: str) -> None:
        """Stop one Job and its pods."""

    @abstractmethod
    def cancel_all(self) -> list[str]:
        """Stop every Job of the run; return the names of those still running."""

    def forget(self, job_name: str) -> None:
        """Make room to submit ``job_name`` again after an earlier attempt that ended
        without a trusted result.

        Default: nothing to remove (a local process leaves no object behind). A
        Job that is still running is left alone (it is adopted on submission).
        """

    def report_unsubmitted(self, job_name: str, message: str) -> None:
        """Post the failure to submit ``job_name`` on the event queue (for the scheduler)."""
        self.events.put(JobEvent(job_name, EventKind.UNSUBMITTED, message=message))

    @abstractmethod
    def close(self) -> None:
        """Release resources (threads, watches, clients); running Jobs are not stopped."""


@dataclass(frozen=True)
class RunInfo:
    """A run as a trusted source knows it (the Kubernetes API, the private run folder)."""

    run_id: str
    label: str
    root: str  # the run's folder in the store
    started: float | None = None  # epoch seconds, from the trusted source
    pipeline: str = ""  # the pipeline(s) run, from the trusted source ("" if unknown)


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
    #: A group's Job row: the keys of the nodes it runs (a trusted record's: the Job's
    #: annotation, or the attempt the private run folder records for them).
    members: list[str] = field(default_factory=list)
    #: A node that ran in a group: the group's row (``group:<name>``), whose Job log holds
    #: its output.
    group: str = ""


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

    def cache_key(self, store_root: str) -> bytes | None:
        """The project's node-cache key for that store, if one exists (never created)."""

    def cache_index(self, store_root: str) -> dict[str, str]:
        """``{cache key: SHA-256 of its latest entry}`` (see :meth:`Backend.cache_index`)."""

    def attempts(self, run: RunInfo) -> dict[str, str]:
        """``{node key: attempt}`` whose results count (see :meth:`Backend.attempts`)."""

    def statuses(self, run: RunInfo) -> list[NodeStatus]:
        """Every node the run submitted, with its state (a group's Job: a row with its
        ``members``, and a row per node whose result is in)."""

    def logs(self, run: RunInfo, rows: list[NodeStatus],
             follow: bool) -> Iterator[tuple[str, str]]:
        """Yield ``(node, line)`` for the given nodes' containers or processes."""

    def follow(self, run: RunInfo) -> Iterator[tuple[str, str]]:
        """Yield ``(node, line)`` of every node of the run, those it starts later too,
        until the run ends."""

    def active(self, run: RunInfo) -> bool:
        """Whether the run is still going (its driver, or any of its nodes)."""

    def cancel(self, run: RunInfo) -> list[str]:
        """Stop every unfinished node of the run, gracefully (SIGTERM, a bounded grace
        period, then SIGKILL), recording first, where only the driver's side can read it,
        that the run was cancelled; return the Jobs stopped."""

    def clean(self, run: RunInfo) -> int:
        """Delete the run's Jobs, stored objects and key; return objects deleted."""


def find_run(runs: list[RunInfo], wanted: str, where: str = "") -> RunInfo:
    """The run whose id or label is ``wanted``.

    Raises:
        RunNotFound: Naming the closest known run ids (never listing them all).
    """
    for run in runs:
        if wanted in (run.run_id, run.label):
            return run
    ids = [run.run_id for run in runs]
    close = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.6)
    hint = (f"; did you mean {', '.join(close)}?" if close else
            f"; {len(ids)} run(s) known, see `kedro kinetic status`" if ids else
            "; no runs are known")
    raise RunNotFound(f"no run '{wanted}'{where}{hint}")
