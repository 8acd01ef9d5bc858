"""Inspect and clean up local-backend runs, from the private run folders.

A local run's trusted record is its private folder (see
:class:`~kedro_kinetic.backends.local.run_folder.LocalRunFolder`): the run id, the store folder,
the key, and for each node process its pid *with the kernel's start time*, so
that ``cancel`` signals only a process that is provably the run's own (never a
pid read from the store, never a pid since reused by another program).
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

from kedro_kinetic import store
from kedro_kinetic.backends.base import NodeStatus, RunInfo
from kedro_kinetic.backends.local.run_folder import LocalRunFolder, local_runs
from kedro_kinetic.backends.run_results import read_run_results, with_group_nodes
from kedro_kinetic.wire.result import Status

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


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

    def key(self, run: RunInfo) -> bytes:
        return self._folder(run).key()

    def attempts(self, run: RunInfo) -> dict[str, str]:
        return self._folder(run).attempts()

    def statuses(self, run: RunInfo) -> list[NodeStatus]:
        folder = self._folder(run)
        found = read_run_results(run.root, folder.key(), folder.attempts())
        self.rejected = found.rejected
        results = found.by_key
        rows = []
        for job in folder.jobs():
            record = folder.process(job)
            key = str(record.get("key", ""))
            row = NodeStatus(str(record.get("node") or job), str(record.get("job") or job),
                             key, "stopped")
            result = results.get(key)
            if result is not None and result.node == row.node:
                row.state, row.duration = result.status, result.duration
                if result.status != Status.SUCCEEDED:
                    row.detail = f"{result.error_type}: {result.error_message}"
            elif folder.live_process(row.job) is not None:
                row.state = "running"
            rows.append(row)
        return with_group_nodes(rows, results)

    def logs(self, run: RunInfo, rows: list[NodeStatus],
             follow: bool) -> Iterator[tuple[str, str]]:
        folder = self._folder(run)
        for row in rows:
            path = folder.log_path(row.job)
            if not path.exists():
                continue
            with path.open(encoding="utf-8", errors="replace") as handle:
                while True:
                    line = handle.readline()
                    if line:
                        yield row.node, line.rstrip("\n")
                    elif follow and folder.live_process(row.job) is not None:
                        time.sleep(0.2)
                    else:
                        break

    def active(self, run: RunInfo) -> bool:
        folder = self._folder(run)
        return any(folder.live_process(job) is not None for job in folder.jobs())

    def cancel(self, run: RunInfo) -> list[str]:
        folder = self._folder(run)
        stopped = []
        for job in folder.jobs():
            pid = folder.live_process(job)
            if pid is None:
                continue
            try:
                os.killpg(pid, signal.SIGKILL)  # the group the backend started (session leader)
            except (ProcessLookupError, PermissionError):
                continue
            stopped.append(str(folder.process(job).get("job") or job))
        return stopped

    def clean(self, run: RunInfo) -> int:
        self.cancel(run)
        objects = store.list_objects(run.root)
        store.delete_tree(run.root)
        self._folder(run).remove()
        return len(objects)
