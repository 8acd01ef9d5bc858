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
from pathlib import Path
from typing import IO, Any

from kedro_kinetic import credentials
from kedro_kinetic.backends.base import JobEvent
from kedro_kinetic.manifest import container_of


class LocalBackend:
    """Runs Job manifests as processes in the project folder."""

    def __init__(
        self,
        project_path: Path,
        conf_source: str | None = None,
        env: str | None = None,
        stream_logs: bool = True,
        log_sink: IO[str] | None = None,
    ) -> None:
        """Prepare the backend.

        Args:
            project_path: Working directory of every node process.
            conf_source: The project's configuration folder; the node process
                resolves credential names from it (never from the manifest).
            env: The Kedro configuration environment of the run.
            stream_logs: Print each process's output, prefixed by its node.
            log_sink: Where to print (default: ``sys.stdout``).
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

    def _process_env(self, container: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ)
        python_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([python_dir, env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        env[credentials.CONF_SOURCE_VAR] = self._conf_source
        if self._env:
            env[credentials.CONF_ENV_VAR] = self._env
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif "valueFrom" in item:
                raise ValueError(
                    f"env {item['name']!r} refers to a Kubernetes Secret, which the "
                    "local backend cannot read; use credentials or plain env"
                )
        return env

    def submit(self, manifest: dict[str, Any], display_name: str) -> None:
        """Start the manifest's container command as a process."""
        name = manifest["metadata"]["name"]
        container = container_of(manifest)
        argv = [*container.get("command", []), *container.get("args", [])]
        if not argv:
            raise ValueError(f"manifest {name} has no container command")
        proc = subprocess.Popen(  # noqa: S603 - argv comes from our own manifest
            argv,
            cwd=self._project_path,
            env=self._process_env(container),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        with self._lock:
            self._procs[name] = proc
        self.events.put(JobEvent(name, "started", time=time.time()))
        deadline = manifest["spec"].get("activeDeadlineSeconds")
        threading.Thread(
            target=self._follow, args=(name, display_name, proc, deadline), daemon=True
        ).start()

    def _follow(self, name: str, display: str, proc: subprocess.Popen[str],
                deadline: int | None) -> None:
        timer = None
        if deadline:
            timer = threading.Timer(deadline, self._kill, args=(name, "DeadlineExceeded"))
            timer.daemon = True
            timer.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            if self._stream:
                with self._lock:
                    self._sink.write(f"[{display}] {line.rstrip()}\n")
                    self._sink.flush()
        code = proc.wait()
        if timer:
            timer.cancel()
        with self._lock:
            self._procs.pop(name, None)
            reason = self._killed.pop(name, None)
        if reason is None:
            reason = "Completed" if code == 0 else "Error"
        self.events.put(JobEvent(name, "finished", exit_code=code, reason=reason,
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

    def cancel_all(self) -> list[str]:
        """Kill every running node process; return the Job names."""
        with self._lock:
            names = list(self._procs)
        return [n for n in names if self._kill(n, "Cancelled")]

    def close(self) -> None:
        """Kill anything still running."""
        self.cancel_all()
