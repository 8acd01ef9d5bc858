"""Inspect and clean up local-backend runs, from the private run folders.

A local run's trusted record is its private folder (see
:class:`~kedro_kinetic.backends.local.run_folder.LocalRunFolder`): the run id, the store folder,
the key, the driver's process, and for each node process its pid *with the kernel's start
time*, so that ``cancel`` signals only a process that is provably the run's own (never a
pid read from the store, never a pid since reused by another program).
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

from kedro_kinetic import store
from kedro_kinetic.backends.base import CANCELLED_BY_CLI, NodeStatus, RunInfo
from kedro_kinetic.backends.local.run_folder import LocalRunFolder, local_runs
from kedro_kinetic.backends.run_results import (
    read_run_results,
    result_detail,
    with_cached,
    with_group_nodes,
)
from kedro_kinetic.store.layout import state_dir
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.result import Status

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import IO

#: How long ``cancel`` lets a node process end after SIGTERM before it sends SIGKILL.
GRACE_SECONDS = 10.0
_POLL = 0.2


class _LogTail:
    """One node's log file, read line by line as it grows (a partial last line waits)."""

    def __init__(self, handle: IO[str], node: str) -> None:
        self.handle, self.node, self.pending = handle, node, ""

    def lines(self, final: bool) -> list[str]:
        text = self.pending + self.handle.read()
        *lines, self.pending = text.split("\n")
        if final and self.pending:
            lines.append(self.pending)
            self.pending = ""
        return lines


class LocalRuns:
    """The :class:`~kedro_kinetic.backends.base.RunInspector` of the local backend."""

    def __init__(self, runs_root: str, state_base: Path | None = None) -> None:
        """Args:
            runs_root: ``<store>/runs`` of the project's configured store.
            state_base: The private state folder (default: the user's).
        """
        self._runs_root = runs_root.rstrip("/")
        self._base = state_base
        self.rejected: dict[str, str] = {}

    def _folder(self, run: RunInfo) -> LocalRunFolder:
        return LocalRunFolder(run.root, self._base)

    def runs(self) -> list[RunInfo]:
        found = []
        for folder in local_runs(self._base):
            record = folder.record()
            root = str(record.get("store_root", ""))
            if root.rsplit("/", 1)[0] != self._runs_root:
                continue
            started = record.get("started")
            found.append(RunInfo(run_id=str(record.get("run_id", "")),
                                 label=root.rsplit("/", 1)[-1], root=root,
                                 started=float(started) if isinstance(started, (int, float))
                                 else None, pipeline=str(record.get("pipeline") or "")))
        return sorted(found, key=lambda r: (r.started or 0, r.run_id))

    def cache_key(self, store_root: str) -> bytes | None:
        import hashlib

        from kedro_kinetic.wire import seal

        path = (self._base or state_dir()) / "cache" / hashlib.sha256(
            store_root.encode()).hexdigest()[:24]
        if not path.is_file():
            return None
        return seal.key_from_hex(path.read_text(), str(path))

    def cache_index(self, store_root: str) -> dict[str, str]:
        from kedro_kinetic.backends.local.project_key import cache_index

        return cache_index(store_root, self._base)

    def key(self, run: RunInfo) -> bytes:
        return self._folder(run).key()

    def attempts(self, run: RunInfo) -> dict[str, str]:
        return self._folder(run).attempts()

    def statuses(self, run: RunInfo) -> list[NodeStatus]:
        folder = self._folder(run)
        attempts = folder.attempts()
        found = read_run_results(run.root, folder.key(), attempts)
        self.rejected = found.rejected
        results = found.by_key
        rows = []
        for job in folder.jobs():
            record = folder.process(job)
            key = str(record.get("key", ""))
            row = NodeStatus(str(record.get("node") or job), str(record.get("job") or job),
                             key, "stopped")
            attempt = record.get("attempt")
            if seal.is_attempt(attempt):  # a group's nodes: recorded for its Job's attempt
                row.members = sorted(k for k, a in attempts.items() if a == attempt
                                     and k != key)
            result = results.get(key)
            if result is not None and result.node == row.node:
                row.state, row.duration = result.status, result.duration
                if result.status != Status.SUCCEEDED:
                    row.detail = result_detail(result)
            elif folder.live_process(row.job) is not None:
                row.state = "running"
            elif folder.cancelled(job):
                row.state, row.detail = "cancelled", CANCELLED_BY_CLI
            rows.append(row)
        return with_group_nodes(with_cached(rows, folder.cached()), results)

    def logs(self, run: RunInfo, rows: list[NodeStatus],
             follow: bool) -> Iterator[tuple[str, str]]:
        folder = self._folder(run)
        for row in rows:
            path = folder.log_path(row.job)
            if not path.exists():
                continue
            with path.open(encoding="utf-8", errors="replace") as handle:
                tail = _LogTail(handle, row.node)
                while True:
                    live = follow and folder.live_process(row.job) is not None
                    for line in tail.lines(final=not live):
                        yield row.node, line
                    if not live:
                        break
                    time.sleep(_POLL)

    def follow(self, run: RunInfo) -> Iterator[tuple[str, str]]:
        """Every node's output as it comes, nodes started later too, until the run ends:
        its driver (recorded with its kernel start time) and every node process are gone."""
        folder = self._folder(run)
        tails: dict[str, _LogTail] = {}
        try:
            while True:
                going = self.active(run)  # before reading: what was written is all read
                for job in folder.jobs():
                    path = folder.log_path(job)
                    if job not in tails and path.exists():
                        node = str(folder.process(job).get("node") or job)
                        tails[job] = _LogTail(path.open(encoding="utf-8", errors="replace"),
                                              node)
                read = False
                for tail in tails.values():
                    for line in tail.lines(final=not going):
                        read = True
                        yield tail.node, line
                if not going:
                    return
                if not read:
                    time.sleep(_POLL)
        finally:
            for tail in tails.values():
                tail.handle.close()

    def active(self, run: RunInfo) -> bool:
        folder = self._folder(run)
        return folder.driver_running() or any(folder.live_process(job) is not None
                                              for job in folder.jobs())

    def cancel(self, run: RunInfo, grace: float = GRACE_SECONDS) -> list[str]:
        """SIGTERM each live node process's group, KILL those still running after
        ``grace`` seconds; the cancel is recorded in the private run folder first."""
        folder = self._folder(run)
        live: dict[str, tuple[int, str | None]] = {}
        for job in folder.jobs():
            pid = folder.live_process(job)
            if pid is not None:
                live[job] = (pid, folder.process(job).get("start"))
        folder.record_cancel(live)  # before any signal: the driver reads it at the end
        stopped = [job for job, (pid, _) in live.items()
                   if _signal(folder, job, pid, signal.SIGTERM)]
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(
                folder.live_process(job) == live[job][0] for job in stopped):
            time.sleep(0.1)
        for job in stopped:
            _signal(folder, job, live[job][0], signal.SIGKILL)
        return [str(folder.process(job).get("job") or job) for job in stopped]

    def clean(self, run: RunInfo) -> int:
        self.cancel(run)
        objects = store.list_objects(run.root)
        store.delete_tree(run.root)
        self._folder(run).remove()
        return len(objects)


def _signal(folder: LocalRunFolder, job: str, pid: int, signum: int) -> bool:
    """Signal the process group of ``job``'s process, if ``pid`` is still that very process
    (pid and kernel start time as recorded); the backend made it a session leader."""
    if folder.live_process(job) != pid:
        return False
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True
