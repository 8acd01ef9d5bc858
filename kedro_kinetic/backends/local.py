"""Local backend: run each node's rendered Job manifest as a local process.

The command, args and env are read from the manifest at run time, exactly as
a kubelet would read them, so a local run exercises the path a GKE pod takes.
A thread per process streams its output (prefixed by the node name) and
reports a :class:`JobEvent` when it ends; ``activeDeadlineSeconds`` is enforced.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kedro_kinetic import credentials
from kedro_kinetic.backends.base import JobEvent
from kedro_kinetic.manifest import CREDENTIALS_MOUNT, container_of, fail_job_exit_codes


@dataclass(frozen=True)
class _LocalJob:
    name: str
    display: str
    argv: list[str]
    env: dict[str, str]
    backoff_limit: int
    fail_codes: set[int]


class LocalBackend:
    """Runs Job manifests as processes in the project folder."""

    def __init__(
        self,
        project_path: Path,
        conf_source: str | None = None,
        env: str | None = None,
        stream_logs: bool = True,
        log_sink: IO[str] | None = None,
        run_dir: Path | None = None,
    ) -> None:
        """Prepare the backend.

        Args:
            project_path: Working directory of every node process.
            conf_source: The project's configuration folder; the node process
                resolves credential names from it (never from the manifest).
            env: The Kedro configuration environment of the run.
            stream_logs: Print each process's output, prefixed by its node.
            log_sink: Where to print (default: ``sys.stdout``).
            run_dir: The run's folder in a local store: each node's output is kept
                in ``logs/<job>.log`` and its process id in ``pids/<job>`` so that
                ``kedro kinetic logs|cancel`` work from another terminal.
        """
        self.events: queue.Queue[JobEvent] = queue.Queue()
        self._project_path = Path(project_path)
        self._conf_source = conf_source or str(self._project_path / "conf")
        self._env = env
        self._stream = stream_logs
        self._sink = log_sink or sys.stdout
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen[str]] = {}
        self._killed: dict[str, str] = {}
        self._run_dir = run_dir

    def _process_env(self, container: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ)
        python_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([python_dir, env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        env[credentials.CONF_SOURCE_VAR] = self._conf_source
        if self._env:
            env[credentials.CONF_ENV_VAR] = self._env
        for item in container.get("env", []):
            if item["name"] == credentials.FILE_VAR and str(item.get("value", "")).startswith(
                    CREDENTIALS_MOUNT):
                continue  # a mounted Secret exists only in a pod; the project conf is used
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif "valueFrom" in item:
                raise ValueError(
                    f"env {item['name']!r} refers to a Kubernetes Secret, which the "
                    "local backend cannot read; use credentials or plain env"
                )
        return env

    def submit(self, manifest: dict[str, Any], display_name: str) -> None:
        """Start the manifest's container command as a process (retried per backoffLimit)."""
        name = manifest["metadata"]["name"]
        container = container_of(manifest)
        argv = [*container.get("command", []), *container.get("args", [])]
        if not argv:
            raise ValueError(f"manifest {name} has no container command")
        env = self._process_env(container)
        self._start(name, argv, env)
        self.events.put(JobEvent(name, "started", time=time.time()))
        spec = manifest["spec"]
        job = _LocalJob(name, display_name, argv, env, spec.get("backoffLimit", 0) or 0,
                        fail_job_exit_codes(manifest))
        deadline = spec.get("activeDeadlineSeconds")
        threading.Thread(target=self._follow, args=(job, deadline), daemon=True).start()

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        proc = subprocess.Popen(  # noqa: S603 - argv comes from our own manifest
            argv,
            cwd=self._project_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        with self._lock:
            self._procs[name] = proc
        if self._run_dir is not None:
            pids = self._run_dir / "pids"
            pids.mkdir(parents=True, exist_ok=True)
            (pids / name).write_text(str(proc.pid))

    def _log_file(self, name: str) -> IO[str] | None:
        if self._run_dir is None:
            return None
        (self._run_dir / "logs").mkdir(parents=True, exist_ok=True)
        return (self._run_dir / "logs" / f"{name}.log").open("a", encoding="utf-8")

    def _follow(self, job: _LocalJob, deadline: int | None) -> None:
        timer = None
        if deadline:
            timer = threading.Timer(deadline, self._kill, args=(job.name, "DeadlineExceeded"))
            timer.daemon = True
            timer.start()
        failures = 0
        log = self._log_file(job.name)
        while True:
            with self._lock:
                proc = self._procs[job.name]
            assert proc.stdout is not None
            for line in proc.stdout:
                if log is not None:
                    log.write(line)
                    log.flush()
                if self._stream:
                    with self._lock:
                        self._sink.write(f"[{job.display}] {line.rstrip()}\n")
                        self._sink.flush()
            code = proc.wait()
            with self._lock:
                reason = self._killed.get(job.name)
            failures += code != 0
            if (code == 0 or reason or code in job.fail_codes or failures > job.backoff_limit):
                break
            with self._lock:
                self._sink.write(f"[{job.display}] exit code {code}; retrying "
                                 f"({failures}/{job.backoff_limit})\n")
            self._start(job.name, job.argv, job.env)
        if timer:
            timer.cancel()
        if log is not None:
            log.close()
        with self._lock:
            self._procs.pop(job.name, None)
            reason = self._killed.pop(job.name, None)
        if reason is None:
            reason = "Completed" if code == 0 else (
                "BackoffLimitExceeded" if job.backoff_limit and code not in job.fail_codes
                else "Error")
        self.events.put(JobEvent(job.name, "finished", exit_code=code, reason=reason,
                                 time=time.time()))

    def _kill(self, name: str, reason: str) -> bool:
        with self._lock:
            proc = self._procs.get(name)
            if proc is None or proc.poll() is not None:
                return False
            self._killed[name] = reason
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True

    def cancel(self, job_name: str) -> None:
        """Kill one node's process group."""
        self._kill(job_name, "Cancelled")

    def forget(self, job_name: str) -> None:
        """Local processes leave no object behind: nothing to remove."""

    def cancel_all(self) -> list[str]:
        """Kill every running node process; return the Job names."""
        with self._lock:
            names = list(self._procs)
        return [n for n in names if self._kill(n, "Cancelled")]

    def close(self) -> None:
        """Kill anything still running."""
        self.cancel_all()
