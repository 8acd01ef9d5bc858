"""Child processes of the bench: own process group, log file, reliable clean-up.

Every process started here runs in its own session (so its whole process group can be
signalled) and is remembered in a registry that an ``atexit`` hook empties, so nothing
outlives the Python process even when a fixture finaliser never runs.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_live: set[ManagedProcess] = set()
_extra_groups: set[int] = set()
_live_lock = threading.Lock()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group led by ``pid``; ignore groups that are gone."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class StartupError(RuntimeError):
    """A bench process exited or never became ready."""


class ManagedProcess:
    """One long-running bench binary (etcd, kube-apiserver, ...) writing to a log file.

    Args:
        name: Short name used in messages.
        argv: Command line.
        log_path: File receiving stdout and stderr (appended, so restarts keep history).
        env: Environment; defaults to the current one.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id while started, else None."""
        return self.popen.pid if self.popen else None

    def start(self) -> None:
        """Start the process in a new session; no-op when it is already running."""
        if self.running():
            return
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        with _live_lock:
            _live.add(self)

    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        popen = self.popen
        if popen is None:
            return
        if popen.poll() is None:
            kill_group(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        kill_group(popen.pid, signal.SIGKILL)
        try:
            popen.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - unkillable process
            pass
        with _live_lock:
            _live.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        """Last ``lines`` lines of the log file, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll ``ready`` until it is true; fail early if the process dies.

        Returns:
            Seconds waited.

        Raises:
            StartupError: The process exited or ``timeout`` passed.
        """
        start = time.monotonic()
        while True:
            if not self.running():
                raise StartupError(
                    f"{self.name} exited with {self.popen.returncode if self.popen else None} "
                    f"before {what}; log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if ready():
                    return time.monotonic() - start
            except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
                pass
            if time.monotonic() - start > timeout:
                raise StartupError(
                    f"{self.name} not {what} after {timeout:.0f}s; log {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.1)


def register_pid_group(pid: int) -> None:
    """Remember a process group started elsewhere (the kubelet's containers) for atexit."""
    with _live_lock:
        _extra_groups.add(pid)


def forget_pid_group(pid: int) -> None:
    """Forget a process group registered with :func:`register_pid_group`."""
    with _live_lock:
        _extra_groups.discard(pid)


@atexit.register
def _kill_everything() -> None:
    with _live_lock:
        live = list(_live)
        groups = list(_extra_groups)
    for pid in groups:
        kill_group(pid)
    for proc in live:
        proc.stop(timeout=3)
