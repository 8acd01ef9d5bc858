"""The driver's end of one fork server (:mod:`kedro_kinetic.backends.local.forkserver`).

:class:`ServerHandle` starts the server process with its channel (an inherited
socket pair), sends it fork and kill requests, and reads its answers on one
thread. Each child is handed to the local backend as a :class:`ForkedProcess`: the
part of ``subprocess.Popen`` it uses (``pid``, ``poll``, ``wait``, ``stdout``), plus
the kernel start time its parent read, for the private run record.

The driver never forks: it is multi-threaded. Only the single-threaded server does.
Which server a Job goes to, and what servers import: :mod:`~.forkpool`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from kedro_kinetic.backends.local import forkserver
from kedro_kinetic.errors import BackendError
from kedro_kinetic.wire.seal import KEY_ENVS

if TYPE_CHECKING:
    from pathlib import Path

    from kedro_kinetic.backends.local.warm import Warm

logger = logging.getLogger(__name__)

#: The server's imports (Kedro, pandas, the project) on a loaded 2-core machine take seconds.
READY_TIMEOUT = 300.0
#: A fork request is answered in milliseconds; past this the server is stuck.
REPLY_TIMEOUT = 120.0
#: The exit code of a child whose server was lost before it ended (the real one is unknown).
EXIT_LOST = 255
#: pyarrow's bundled jemalloc starts a background thread when pandas imports pyarrow;
#: without it the server stays single-threaded (pyarrow's default pool is mimalloc).
JEMALLOC_CONF_ENV = "JE_ARROW_MALLOC_CONF"


class ForkedProcess:
    """A node process the fork server started: what the backend uses of ``Popen``."""

    def __init__(self, server: ServerHandle, job: int, pid: int, start: str | None) -> None:
        self.pid = pid
        self.start = start  # kernel start time, read by its parent before it could be reaped
        self.stdout: IO[bytes] | None = None
        self.returncode: int | None = None
        #: Its server was lost before reporting: ``returncode`` is :data:`EXIT_LOST`.
        self.lost = False
        self._server = server
        self._job = job
        self._done = threading.Event()

    def poll(self) -> int | None:
        """The exit code, or ``None`` while it runs."""
        return self.returncode if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the exit code (:data:`EXIT_LOST` if its server was lost before it ended).

        Raises:
            subprocess.TimeoutExpired: Still running after ``timeout`` seconds.
        """
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired("forked node process", timeout or 0)
        return self.returncode

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal its process group (through its parent, which knows it is unreaped)."""
        self._server.kill(self, sig)

    def exited(self, code: int) -> None:
        self.returncode = code
        self._done.set()


class ServerHandle:
    """One fork server process and its channel (a socket pair no one else can open)."""

    #: How the server process starts (this interpreter, the server module); tests swap it.
    command: tuple[str, ...] = (sys.executable, "-m", forkserver.__name__)

    def __init__(self, env: dict[str, str], cwd: str, log: Path | None, warm: Warm,
                 early: bool = False) -> None:
        """Start the server; its imports run while the driver goes on. An ``early`` one
        (started while Kedro loads the project) says so in its arguments, for ``ps``.

        Raises:
            OSError: The server process could not be started.
        """
        self.why = ""
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._hello: dict[str, Any] | None = None
        self._next = 0
        self._waiting: dict[int, threading.Event] = {}
        self._replies: dict[int, ForkedProcess | str | None] = {}
        self._procs: dict[int, ForkedProcess] = {}
        self._lost = self._closing = False
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server_env = {k: v for k, v in env.items() if k not in KEY_ENVS}
        server_env[JEMALLOC_CONF_ENV] = ",".join(
            filter(None, [env.get(JEMALLOC_CONF_ENV), "background_thread:false"]))
        with child, contextlib.ExitStack() as stack:
            out = stack.enter_context(log.open("ab")) if log else subprocess.DEVNULL
            self.proc = subprocess.Popen(
                [*self.command, str(child.fileno()), *(["early"] if early else [])],
                pass_fds=(child.fileno(),), cwd=cwd, env=server_env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self._sock = parent
        forkserver.send(parent, {"op": "hello", "modules": warm.modules,
                                 "classes": warm.classes})
        threading.Thread(target=self._read, name="kinetic-forkserver", daemon=True).start()

    # -- the reader thread ---------------------------------------------------------
    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(forkserver.MAX_MESSAGE)
            except OSError:
                data = b""
            if not data:
                break
            self._dispatch(json.loads(data))
        self._lose()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        op, job = msg.get("op"), int(msg.get("id") or 0)
        if op == "ready":
            self._hello = msg
            self._ready.set()
        elif op == "exited":
            with self._lock:
                proc = self._procs.pop(job, None)
            if proc is not None:
                proc.exited(int(msg["code"]))
        elif op in ("started", "refused"):
            self._answer(job, msg)

    def _answer(self, job: int, msg: dict[str, Any]) -> None:
        """Hand a fork request its answer; kill a child whose requester gave up on it."""
        reply: ForkedProcess | str = str(msg.get("message"))
        if msg["op"] == "started":
            reply = ForkedProcess(self, job, int(msg["pid"]), msg.get("start"))
        with self._lock:
            event = self._waiting.get(job)
            if event is not None:
                self._replies[job] = reply
                if isinstance(reply, ForkedProcess):
                    self._procs[job] = reply
        if event is not None:
            event.set()
        elif isinstance(reply, ForkedProcess):  # too late: its Job was reported unsubmitted
            self.kill(reply, signal.SIGKILL)

    def _lose(self) -> None:
        """The server is gone: nothing more can be forked; follow running children by pid."""
        with self._lock:
            self._lost = True
            waiting, self._waiting = self._waiting, {}
            procs, self._procs = list(self._procs.values()), {}
        self._ready.set()
        for event in waiting.values():
            event.set()
        if procs and not self._closing:
            logger.warning("The fork server (pid %d) ended unexpectedly; %d node process(es) "
                           "it started are followed by their pid", self.proc.pid, len(procs))
        for proc in procs:
            threading.Thread(target=_follow_orphan, args=(proc,), daemon=True).start()

    # -- requests --------------------------------------------------------------------
    def usable(self) -> bool:
        """Wait until the server is ready; ``False`` (with :attr:`why`) if it cannot fork."""
        if not self._ready.wait(READY_TIMEOUT):
            self.why = f"its imports did not finish in {READY_TIMEOUT:.0f} s"
        elif self._hello is None:
            self.why = "it exited before it was ready (its log is in the run folder)"
        elif self._hello.get("error"):
            self.why = str(self._hello["error"])
        elif self._hello.get("threads") != 1:
            self.why = (f"it has {self._hello.get('threads')} threads after its imports "
                        f"({', '.join(self._hello.get('thread_names', []))})")
        return not self.why

    def fork(self, args: list[str], env: dict[str, str], cwd: str,
             out_fd: int) -> ForkedProcess | None:
        """Start a child running the entrypoint with ``args`` and exactly ``env``.

        Returns ``None`` (with :attr:`why`) when the server did not start it.

        Raises:
            BackendError: The server did not answer, so a child may or may not run.
        """
        if not self.usable():
            return None
        event = threading.Event()
        with self._lock:
            if self._lost:
                self.why = "it has ended"
                return None
            self._next += 1
            job = self._next
            self._waiting[job] = event
        data = {"op": "fork", "id": job, "args": args, "env": env, "cwd": cwd}
        try:
            forkserver.send(self._sock, data, [out_fd])
        except OSError as exc:  # too large an env (EMSGSIZE), or the server is gone
            with self._lock:
                self._waiting.pop(job, None)
            self.why = f"the request could not be sent: {exc}"
            return None
        answered = event.wait(REPLY_TIMEOUT)
        with self._lock:
            self._waiting.pop(job, None)
            reply = self._replies.pop(job, None)
        if isinstance(reply, ForkedProcess):
            return reply
        if isinstance(reply, str):
            self.why = reply
            return None
        raise BackendError(
            f"the fork server (pid {self.proc.pid}) "
            + ("did not answer in time" if not answered else "ended while starting a node")
            + "; the node's process may have started: check `kedro kinetic status`")

    def kill(self, proc: ForkedProcess, sig: int) -> None:
        """Signal ``proc``'s group: through the server, or by pid and start time if it is gone."""
        with self._lock:
            lost = self._lost
        if not lost:
            with contextlib.suppress(OSError):
                forkserver.send(self._sock, {"op": "kill", "id": proc._job, "signal": int(sig)})
                return
        if proc.start is not None and forkserver.start_time(proc.pid) == proc.start:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def close(self) -> None:
        """End the server (children it started keep running) and reap it."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._sock.close()


def _follow_orphan(proc: ForkedProcess) -> None:
    """Wait until a child whose server is gone has ended (its exit code is then unknown)."""
    while proc.start is not None and forkserver.start_time(proc.pid) == proc.start:
        time.sleep(0.05)
    proc.lost = True
    proc.exited(EXIT_LOST)
