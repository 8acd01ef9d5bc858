"""Local backend: run each node's rendered Job manifest as a local process.

The command, args and env are read from the manifest at run time, exactly as
a kubelet would read them, so a local run exercises the path a GKE pod takes.
Each process writes its output to the node's log file in the run folder; a
thread per process echoes it (prefixed by the node name) and reports a
:class:`JobEvent` when it ends; ``activeDeadlineSeconds`` is enforced. A node
process outlives a driver that is killed, and a resumed run adopts it.

A Job whose command is the default entrypoint is forked by a warm fork server
(:mod:`kedro_kinetic.backends.local.forkpool`) instead of exec'd: a fresh process all
the same, in its own session, with the same args, env, cwd and log file, which
skips importing Python, Kedro and pandas again. Any other command is exec'd.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kedro_kinetic.backends import node_output
from kedro_kinetic.backends.base import CANCELLED_BY_CLI, Backend, EventKind, JobEvent
from kedro_kinetic.backends.local.forkclient import ForkedProcess
from kedro_kinetic.backends.local.log_files import mark_attempt, size, tail
from kedro_kinetic.backends.local.node_env import node_env
from kedro_kinetic.backends.local.run_folder import argv_digest
from kedro_kinetic.errors import BackendError
from kedro_kinetic.planning.manifest import (
    CREDENTIALS_MOUNT,
    LABEL_NODE,
    attempt_of,
    container_of,
    fail_job_exit_codes,
    result_keys,
    without_attempt,
)
from kedro_kinetic.wire import naming, pod_env, seal

if TYPE_CHECKING:

    from kedro_kinetic.backends.local.confine import NodeConfinement
    from kedro_kinetic.backends.local.forkpool import ForkServers
    from kedro_kinetic.backends.local.run_folder import LocalRunFolder

logger = logging.getLogger(__name__)


def _argv_attempt(argv: list[str]) -> str | None:
    return attempt_of({"args": argv})


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie of ours counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass(frozen=True)
class _LocalJob:
    name: str
    display: str
    argv: list[str]
    env: dict[str, str]
    backoff_limit: int
    fail_codes: set[int]
    node_key: str = ""
    command_length: int = 0  # argv[:command_length] is the container's command


class LocalBackend(Backend):
    """Runs Job manifests as processes in the project folder."""

    def __init__(
        self,
        project_path: Path,
        conf_source: str | None = None,
        env: str | None = None,
        stream_logs: bool = True,
        log_sink: IO[str] | None = None,
        run_folder: LocalRunFolder | None = None,
        run_label: str = "",
        forks: ForkServers | None = None,
        *,
        confinement: NodeConfinement | None = None,
    ) -> None:
        """Prepare the backend.

        Args:
            project_path: Working directory of every node process.
            conf_source: The project's configuration folder; the node process
                resolves credential names from it (never from the manifest).
            env: The Kedro configuration environment of the run.
            stream_logs: Print each process's output, prefixed by its node.
            log_sink: Where to print (default: ``sys.stdout``).
            run_folder: The run's private folder (outside the store): the run's
                key, each node's output (``logs/``) and the id and start time of
                its process (``pids/``), so that ``kedro kinetic logs|cancel`` work
                from another terminal and can prove a process is the run's own.
            run_label: The run's label (names the key's Secret in manifests).
            forks: The fork servers that start Jobs running the default entrypoint
                (``None``: every Job is exec'd).
            confinement: What node processes may reach (they confine themselves with
                Landlock in the entrypoint) and their temporary folder, removed on
                :meth:`close` (``None``: not confined).
        """
        self.events: queue.Queue[JobEvent] = queue.Queue()
        self._project_path = Path(project_path)
        self._conf_source = conf_source or str(self._project_path / "conf")
        self._env = env
        self._stream = stream_logs
        self._sink = log_sink or sys.stdout
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen[bytes] | ForkedProcess] = {}
        self._adopted: dict[str, int] = {}
        self._killed: dict[str, str] = {}
        self._folder = run_folder
        self._key_secret = naming.key_secret(run_label)
        self._key: bytes | None = None
        self._forks = forks
        self._confinement = confinement
        self._opened = time.time()  # a `kedro kinetic cancel` after it stops this run

    def run_key(self, run_id: str, resume: bool) -> bytes:
        """The key that seals this run's results, kept in the run's private folder.

        Raises:
            RunNotFound: ``resume`` and the run has no key on this machine.
        """
        if self._folder is None:
            self._key = self._key or seal.new_key()
            return self._key
        if not resume:
            self._folder.create(run_id)
        self._key = self._folder.key()
        self._folder.record_driver()  # `kedro kinetic` sees the run going between nodes
        return self._key

    def cache_key(self, store_root: str) -> bytes | None:
        """The project's cache key for this store, in the private state folder."""
        from kedro_kinetic.backends.local.project_key import cache_key

        return cache_key(store_root)

    def cache_index(self, store_root: str) -> dict[str, str]:
        from kedro_kinetic.backends.local.project_key import cache_index

        return cache_index(store_root)

    def record_cache_index(self, store_root: str, latest: dict[str, str]) -> None:
        from kedro_kinetic.backends.local.project_key import record_cache_index

        record_cache_index(store_root, latest)

    def _process_env(self, container: dict[str, Any]) -> dict[str, str]:
        """The process's environment: the container's entries, where the run key's Secret
        reference becomes the key of this attempt only (the run key never leaves the
        driver and the private run folder)."""
        env = node_env(self._conf_source, self._env)
        env.update(self._confinement.env() if self._confinement else {})
        for item in container.get("env", []):
            if item["name"] == pod_env.FILE_VAR and str(item.get("value", "")).startswith(
                    CREDENTIALS_MOUNT):
                continue  # a mounted Secret exists only in a pod; the project conf is used
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif self._is_key_ref(item):
                if self._key is None:
                    raise BackendError("the local backend has no run key yet (run_key first)")
                attempt = attempt_of(container)
                if attempt is None:
                    raise BackendError("the Job pins no attempt (--attempt); refusing to "
                                       "give its process a key")
                env[seal.ATTEMPT_KEY_ENV] = seal.attempt_key(self._key, attempt).hex()
            elif "valueFrom" in item:
                raise BackendError(
                    f"env {item['name']!r} refers to a Kubernetes Secret, which the "
                    "local backend cannot read; use credentials or plain env"
                )
        return env

    def _is_key_ref(self, item: dict[str, Any]) -> bool:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef") or {}
        return (item.get("name") == seal.KEY_ENV and ref.get("name") == self._key_secret
                and ref.get("key") == seal.SECRET_DATA_KEY)

    def submit(self, manifest: dict[str, Any], display_name: str) -> str | None:
        """Start the manifest's container command as a process (retried per backoffLimit).

        A process of the same Job left running by an earlier driver of this run
        (same command line but for its attempt, so the same pinned digests) is
        adopted, not started again. The attempt is recorded in the private run folder
        before the process starts.

        Returns:
            The attempt whose results count: the manifest's, or the adopted process's.
        """
        name = manifest["metadata"]["name"]
        container = container_of(manifest)
        argv = [*container.get("command", []), *container.get("args", [])]
        if not argv:
            raise ValueError(f"manifest {name} has no container command")
        attempt = attempt_of(container)
        if self._folder is not None and self._folder.cancelled_since(self._opened):
            self.events.put(JobEvent(name, EventKind.FINISHED, reason="Cancelled",
                                     message=CANCELLED_BY_CLI, time=time.time()))
            return attempt  # the run was cancelled: nothing more starts
        env = self._process_env(container)
        spec = manifest["spec"]
        job = _LocalJob(name, display_name, argv, env, spec.get("backoffLimit", 0) or 0,
                        fail_job_exit_codes(manifest),
                        manifest["metadata"].get("labels", {}).get(LABEL_NODE, ""),
                        len(container.get("command", [])))
        orphan = self._orphan(name, argv)
        if orphan is not None:
            logger.info("Adopted process %d of job %s, left running by an earlier driver",
                        orphan, name)
            adopted = self._orphan_attempt(name)  # its own: results are sealed for it
            if self._folder is not None and adopted is not None:
                self._folder.record_attempt(result_keys(manifest), adopted)
            with self._lock:
                self._adopted[name] = orphan
            self.events.put(JobEvent(name, EventKind.STARTED, time=time.time()))
            threading.Thread(target=self._follow_adopted, args=(job, orphan, adopted),
                             daemon=True).start()
            return adopted
        if self._folder is not None and attempt is not None:
            self._folder.record_attempt(result_keys(manifest), attempt)
        offset = size(self._log_path(name))  # before the start: a forked node writes at once
        self._start(job)
        self.events.put(JobEvent(name, EventKind.STARTED, time=time.time()))
        deadline = spec.get("activeDeadlineSeconds")
        threading.Thread(target=self._follow, args=(job, deadline, offset),
                         daemon=True).start()
        return attempt

    def _orphan_attempt(self, name: str) -> str | None:
        """The attempt an adopted process runs (its record, which only the user writes)."""
        if self._folder is None:
            return None
        attempt = self._folder.process(name).get("attempt")
        return attempt if seal.is_attempt(attempt) else None

    def attempts(self) -> dict[str, str]:
        """The attempts recorded in the private run folder (see :meth:`submit`)."""
        return {} if self._folder is None else self._folder.attempts()

    def keep_cached(self, cached: dict[str, dict[str, str]]) -> None:
        if self._folder is not None:
            self._folder.record_cached(cached)

    def retire_attempts(self, node_keys: list[str]) -> None:
        if self._folder is not None:
            self._folder.forget_attempts(node_keys)

    def _log_path(self, name: str) -> Path | None:
        return None if self._folder is None else self._folder.log_path(name)

    def _start(self, job: _LocalJob) -> None:
        # With a run folder the process writes its output to the node's log file
        # itself, so it outlives a driver that dies (a pipe would break under it).
        name = job.name
        log_path = self._log_path(name)
        proc: subprocess.Popen[bytes] | ForkedProcess | None = None
        if self._forks is not None:
            proc = self._forks.start(job.argv[:job.command_length],
                                     job.argv[job.command_length:], job.env, log_path)
        if proc is None:
            with contextlib.ExitStack() as stack:
                out: Any = subprocess.PIPE
                if log_path is not None:
                    out = stack.enter_context(log_path.open("ab"))
                proc = subprocess.Popen(
                    job.argv,
                    cwd=self._project_path,
                    env=job.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        with self._lock:
            self._procs[name] = proc
        if self._folder is not None:
            forked = isinstance(proc, ForkedProcess)
            self._folder.record_process(
                name, proc.pid, node=job.display, key=job.node_key,
                start=proc.start if isinstance(proc, ForkedProcess) else None,
                argv_sha256=argv_digest(without_attempt(job.argv)),
                via="fork" if forked else "exec", attempt=_argv_attempt(job.argv))

    def _orphan(self, name: str, argv: list[str]) -> int | None:
        """The pid of a live process running exactly ``argv`` for this Job, if any."""
        return None if self._folder is None else self._folder.live_process_running(name, argv)

    def _echo(self, job: _LocalJob, line: bytes) -> None:
        if self._stream:
            node_output.show(line, job.display, self._sink, self._lock)

    def _stream_attempt(self, job: _LocalJob,
                        proc: subprocess.Popen[bytes] | ForkedProcess, offset: int) -> int:
        path = self._log_path(job.name)
        if path is None:
            for line in proc.stdout or ():
                self._echo(job, line)
            return offset

        def ended(timeout: float) -> bool:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True

        return tail(path, offset, ended, partial(self._echo, job))

    def _follow_adopted(self, job: _LocalJob, pid: int, attempt: str | None) -> None:
        path = self._log_path(job.name)
        if path is None:  # adoption needs the run folder, where the pid was recorded
            raise BackendError(f"cannot follow process {pid} of job {job.name}: no run folder")

        def ended(timeout: float) -> bool:
            time.sleep(timeout)
            return not _alive(pid)

        tail(path, size(path), ended, partial(self._echo, job))
        code = self._reported_exit_code(job.argv, attempt)
        with self._lock:
            self._adopted.pop(job.name, None)
            reason = self._killed.pop(job.name, None)
        message = None if code is not None else "the adopted process ended without a result"
        if reason is None and code != 0 and self._cancelled_by_cli(job.name):
            reason, message = "Cancelled", CANCELLED_BY_CLI
        self.events.put(JobEvent(
            job.name, EventKind.FINISHED, exit_code=code,
            reason=reason or ("Completed" if code == 0 else "Error"), message=message,
            time=time.time()))

    def _cancelled_by_cli(self, name: str) -> bool:
        """Whether ``kedro kinetic cancel`` stopped the process of ``name`` that just ended
        (its record in the private run folder, which only the user can write)."""
        return self._folder is not None and self._folder.cancelled(name)

    def _reported_exit_code(self, argv: list[str], attempt: str | None = None) -> int | None:
        """The exit code in the sealed result a process wrote that is not our child (an
        adopted one, in ``attempt``; or a lost fork, in its argv's)."""
        from kedro_kinetic.errors import KineticError
        from kedro_kinetic.store.trusted_result import read_trusted

        attempt = attempt or _argv_attempt(argv)
        if self._key is None or attempt is None:
            return None
        try:
            uri = argv[argv.index("--result") + 1]
            found = read_trusted(uri, seal.attempt_key(self._key, attempt))
        except (ValueError, IndexError, KineticError):
            return None
        return None if found is None else found.exit_code

    def _follow(self, job: _LocalJob, deadline: int | None, offset: int) -> None:
        timer = None
        if deadline:
            timer = threading.Timer(deadline, self._kill, args=(job.name, "DeadlineExceeded"))
            timer.daemon = True
            timer.start()
        failures = 0
        path = self._log_path(job.name)
        while True:
            with self._lock:
                proc = self._procs[job.name]
            offset = self._stream_attempt(job, proc, offset)
            code = proc.wait()
            if isinstance(proc, ForkedProcess) and proc.lost:  # its sealed result tells
                reported = self._reported_exit_code(job.argv)
                code = code if reported is None else reported
            with self._lock:
                reason = self._killed.get(job.name)
            by_cli = reason is None and code != 0 and self._cancelled_by_cli(job.name)
            reason = "Cancelled" if by_cli else reason
            failures += code != 0
            if (code == 0 or reason or code in job.fail_codes or failures > job.backoff_limit):
                break
            with self._lock:
                self._sink.write(f"[{job.display}] exit code {code}; retrying "
                                 f"({failures}/{job.backoff_limit})\n")
            offset = mark_attempt(path, failures + 1, code, offset)
            self._start(job)
        if timer:
            timer.cancel()
        with self._lock:
            self._procs.pop(job.name, None)
            reason = self._killed.pop(job.name, None) or reason
        if reason is None:
            reason = "Completed" if code == 0 else (
                "BackoffLimitExceeded" if job.backoff_limit and code not in job.fail_codes
                else "Error")
        self.events.put(JobEvent(job.name, EventKind.FINISHED, exit_code=code, reason=reason,
                                 message=CANCELLED_BY_CLI if by_cli else None,
                                 time=time.time()))

    def _kill(self, name: str, reason: str) -> bool:
        with self._lock:
            proc = self._procs.get(name)
            if proc is not None and proc.poll() is None:
                pid = proc.pid
            elif name in self._adopted and _alive(self._adopted[name]):
                pid = self._adopted[name]
            else:
                return False
            self._killed[name] = reason
        if isinstance(proc, ForkedProcess) and pid == proc.pid:
            proc.kill_group(signal.SIGKILL)  # by its parent, which has not reaped it yet
            return True
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def cancel(self, job_name: str) -> None:
        """Kill one node's process group."""
        self._kill(job_name, "Cancelled")

    def cancel_all(self) -> list[str]:
        """Kill every running node process; return the Job names."""
        with self._lock:
            names = [*self._procs, *self._adopted]
        return [n for n in names if self._kill(n, "Cancelled")]

    def close(self) -> None:
        """Kill anything still running; end the fork servers; remove the nodes' temp folder."""
        self.cancel_all()
        if self._folder is not None:
            self._folder.driver_ended()
        if self._forks is not None:
            self._forks.close()
        if self._confinement is not None:
            self._confinement.close()
