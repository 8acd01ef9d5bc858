"""The in-process driver tier: real planning, pinning, sealing and pod code, no processes.

:class:`InProcessBackend` is a :class:`~kedro_kinetic.backends.base.Backend` that runs each
submitted Job's pod code (the entrypoint's own functions, with the manifest's args and the
key of the Job's attempt) on a thread over the run's local store, and reports the same
typed events a real backend does. With it, ``GKERunner.run`` exercises the runner, the
scheduler, node tasks, outcomes, results first, grouping and resume in milliseconds per
node. What it leaves out on purpose: processes, the fork server, Landlock, signals (the
slow tiers cover those).

Use the :func:`inprocess` fixture: it gives a :class:`Project` (a folder with ``data/``,
the working folder of the test) whose :meth:`Project.run` runs a pipeline with
``GKERunner`` and returns its free outputs.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from kedro_kinetic.backends.base import Backend, EventKind, JobEvent
from kedro_kinetic.errors import RunNotFound
from kedro_kinetic.planning.manifest import attempt_of, container_of, result_keys
from kedro_kinetic.wire import seal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from kedro_kinetic.backends.local.run_folder import LocalRunFolder

@dataclass
class RunRecord:
    """What a trusted place (the API, the private run folder) keeps of one run."""

    key: bytes
    recorded: dict[str, str] = field(default_factory=dict)  # node key -> attempt submitted
    kept: dict[str, str] = field(default_factory=dict)  # node key -> attempt accepted


#: By run id: a resume (a new runner and backend) finds its run's key and attempts here.
RUNS: dict[str, RunRecord] = {}
#: The project's node-cache key, by store (where a real backend keeps it: a Secret, a file).
CACHE_KEYS: dict[str, bytes] = {}
#: The latest cache entry per cache key, by store (beside the key, like a real backend).
CACHE_INDEX: dict[str, dict[str, str]] = {}


class InProcessBackend(Backend):
    """Runs each Job's pod code on a thread (see the module's docstring)."""

    def __init__(self, *, fail_jobs: Callable[[str], int | None] | None = None,
                 folder: LocalRunFolder | None = None) -> None:
        """Args:
            fail_jobs: ``job name -> exit code`` to end a Job with, before its pod code
                runs (an OOMKill, a pull error), or ``None`` to run it.
            folder: The run's private folder, kept as the local backend keeps it (key,
                attempts, a process record per Job) so that ``kedro kinetic`` sees the run.
        """
        self.events: queue.Queue[JobEvent] = queue.Queue()
        self.submitted: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.closed = False
        self.record: RunRecord | None = None
        self._fail_jobs = fail_jobs
        self._folder = folder
        self._threads: list[threading.Thread] = []

    def run_key(self, run_id: str, resume: bool) -> bytes:
        if self._folder is not None:  # the key where the local backend keeps it
            if not resume:
                self._folder.create(run_id)
            self._folder.record_driver()  # as the local backend does: the run goes on
            key = self._folder.key()
            if run_id not in RUNS or RUNS[run_id].key != key:
                RUNS[run_id] = RunRecord(key)
            self.record = RUNS[run_id]
            return key
        if resume and run_id not in RUNS:
            raise RunNotFound(f"no run {run_id!r} here")
        if not resume:
            RUNS[run_id] = RunRecord(seal.new_key())
        self.record = RUNS[run_id]
        return self.record.key

    @property
    def _run_record(self) -> RunRecord:
        if self.record is None:
            raise RuntimeError("run_key first")
        return self.record

    def submit(self, manifest: dict[str, Any], display_name: str) -> str | None:
        container = container_of(manifest)
        attempt = attempt_of(container)
        self.submitted.append(manifest)
        if attempt is not None:
            for key in result_keys(manifest):
                self._run_record.recorded[key] = attempt
        name = manifest["metadata"]["name"]
        if self._folder is not None and attempt is not None:
            import os

            self._folder.record_attempt(result_keys(manifest), attempt)
            labels = manifest["metadata"].get("labels") or {}
            self._folder.record_process(name, os.getpid(), node=display_name,
                                        key=labels.get("kedro-kinetic.io/node", ""),
                                        attempt=attempt, via="in-process")
        thread = threading.Thread(target=self._run, args=(name, list(container["args"]),
                                                           attempt), daemon=True)
        self._threads.append(thread)
        self.events.put(JobEvent(name, EventKind.STARTED, time=time.time()))
        thread.start()
        return attempt

    def _run(self, name: str, args: list[str], attempt: str | None) -> None:
        from kedro_kinetic.pod.entrypoint import run_with_key

        forced = self._fail_jobs(name) if self._fail_jobs else None
        if forced is not None:
            code, reason = forced, "OOMKilled" if forced == 137 else "Error"
        else:
            key = seal.attempt_key(self._run_record.key, attempt) if attempt else None
            code = run_with_key(args, key)
            reason = "Completed" if code == 0 else "Error"
        if name in self.cancelled:
            reason = "Cancelled"
        if self._folder is not None:  # its "process" (this thread) is over
            self._folder.record_process(name, 0, **{
                k: v for k, v in self._folder.process(name).items()
                if k in ("node", "key", "attempt", "via")}, start="ended")
        self.events.put(JobEvent(name, EventKind.FINISHED, exit_code=code, reason=reason,
                                 time=time.time()))

    def attempts(self) -> dict[str, str]:
        return {**self._run_record.kept, **self._run_record.recorded}

    def cache_key(self, store_root: str) -> bytes | None:
        return CACHE_KEYS.setdefault(store_root, seal.new_key())

    def cache_index(self, store_root: str) -> dict[str, str]:
        return dict(CACHE_INDEX.get(store_root, {}))

    def record_cache_index(self, store_root: str, latest: dict[str, str]) -> None:
        CACHE_INDEX.setdefault(store_root, {}).update(latest)

    def retire_attempts(self, node_keys: list[str]) -> None:
        for key in node_keys:
            self._run_record.recorded.pop(key, None)
            self._run_record.kept.pop(key, None)

    def keep_attempts(self, accepted: dict[str, str]) -> None:
        self._run_record.kept.update(accepted)

    def cancel(self, job_name: str) -> None:
        self.cancelled.append(job_name)

    def cancel_all(self) -> list[str]:
        running = [t.name for t in self._threads if t.is_alive()]
        self.cancelled.extend(running)
        return running

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=300)
        if self._folder is not None:
            self._folder.driver_ended()
        self.closed = True


@dataclass
class Project:
    """A project folder for in-process runs (the test's working folder)."""

    path: Path
    monkeypatch: pytest.MonkeyPatch
    backends: list[InProcessBackend] = field(default_factory=list)
    fail_jobs: Callable[[str], int | None] | None = None

    @property
    def data(self) -> Path:
        return self.path / "data"

    @property
    def store(self) -> Path:
        return self.data / "kinetic"

    def run(self, pipeline: Any, catalog: Any = None, *, kinetic: dict | None = None,
            run_id: str = "run-1", hooks: Any = None, **runner_args: Any) -> dict[str, Any]:
        """``GKERunner(**runner_args).run(pipeline, catalog)`` with the in-process backend."""
        from kedro.io import DataCatalog, MemoryDataset

        from kedro_kinetic.driver.runner import GKERunner

        catalog = catalog if catalog is not None else DataCatalog()
        if "params:kinetic" not in catalog:
            catalog["params:kinetic"] = MemoryDataset(
                {"backend": "local", "stream_logs": False, **(kinetic or {})})
        runner = GKERunner(**runner_args)
        state = runner._state
        state.project_path = self.path
        state.raw_catalog = None
        backend = InProcessBackend(fail_jobs=self.fail_jobs)
        self.backends.append(backend)
        self.monkeypatch.setattr("kedro_kinetic.backends.create", lambda *a, **k: backend)
        self.last_runner = runner
        with pristine_fsspec():
            return runner.run(pipeline, catalog, hooks, run_id)


@pytest.fixture
def inprocess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A :class:`Project` in ``tmp_path``; fsspec's protocols are restored afterwards (pod
    code confines ``file`` to the run's data roots)."""
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KINETIC_STATE_DIR", str(tmp_path / "state"))
    with pristine_fsspec():
        yield Project(tmp_path, monkeypatch)
    from kedro_kinetic.driver.activation import STATE

    STATE.active = False


@contextlib.contextmanager
def pristine_fsspec() -> Iterator[None]:
    """Restore fsspec's protocol registry afterwards: pod code run in this process confines
    ``file`` to its run's data roots, which Kedro's own config loader must not inherit."""
    import fsspec  # noqa: F401 - loads fsspec.registry

    module = sys.modules["fsspec.registry"]  # fsspec.registry is its mappingproxy
    saved = dict(module._registry)
    try:
        yield
    finally:
        module._registry.clear()
        module._registry.update(saved)


def session_backend(monkeypatch: pytest.MonkeyPatch) -> list[InProcessBackend]:
    """Make every backend a run creates an in-process one keeping the run's private folder
    (``kedro run`` in-process, then ``kedro kinetic`` sees the run); returns them."""
    from kedro_kinetic.backends.local.run_folder import LocalRunFolder

    made: list[InProcessBackend] = []

    def create(cfg: Any, **kwargs: Any) -> InProcessBackend:
        root, pipeline = kwargs.get("run_root", ""), kwargs.get("pipeline", "")
        backend = InProcessBackend(folder=LocalRunFolder(root, pipeline=pipeline)
                                   if root else None)
        made.append(backend)
        return backend

    monkeypatch.setattr("kedro_kinetic.backends.create", create)
    return made
