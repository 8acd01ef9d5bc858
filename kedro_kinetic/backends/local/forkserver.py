"""The fork server: a warm, single-threaded parent for the local backend's node processes.

A node process started by exec spends most of its life importing Python, Kedro,
pandas and the dataset classes again. This server imports them once per run and
forks one child per Job; the child runs the normal pod entrypoint,
``kedro_kinetic.entrypoint.main(args)``, with that Job's own args and env, so it
still verifies every digest before it parses or unpickles anything.

What the server imports is decided by the driver's code only: the entrypoint and
what it imports lazily (:data:`BASE_IMPORTS`), the project's node modules (named by
the driver's pipeline objects) and the dataset classes of the run's *checked*
catalog. It reads nothing from the store and unpickles nothing. The project's
node modules are imported after ``ready``, one at a time while no request waits,
so the first nodes start without waiting for the imports of the last ones.

It talks to the driver over an inherited ``AF_UNIX``/``SOCK_SEQPACKET`` socket
pair (no name in any file system: only the driver that started it holds the other
end). One JSON document per message:

* driver -> server: ``{"op": "hello", "modules": [...], "classes": [...]}`` once,
  then ``{"op": "fork", "id", "args", "env", "cwd"}`` with the child's output file
  descriptor attached (``SCM_RIGHTS``), and ``{"op": "kill", "id", "signal"}``;
* server -> driver: ``ready`` (after the base imports), ``started`` (pid, kernel start
  time) or ``refused`` (why), and ``exited`` (the exit code, from ``waitpid``).

The run key reaches each child in its Job's env only: the server's own
environment never holds it. When the driver goes away (the socket reaches EOF) the
server exits and leaves its children running, exactly like exec'd processes: a
resumed run adopts them from the private run folder.

Standard library only (and :mod:`kedro_kinetic.wire.seal` for the key's name); it is
run as ``python -m kedro_kinetic.backends.local.forkserver FD [early]``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import json
import os
import re
import select
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from kedro_kinetic.wire.seal import KEY_ENVS

#: The module every child runs, as ``python -m`` would.
ENTRYPOINT = "kedro_kinetic.entrypoint"
#: What every node process imports: the entrypoint, what it and its argument parser
#: import lazily, Kedro's catalog.
BASE_IMPORTS = (
    ENTRYPOINT, "kedro_kinetic.wire.payload", "kedro_kinetic.pod.credentials",
    "kedro_kinetic.pod.node_call", "kedro_kinetic.wire.pinned_files", "cloudpickle", "kedro.io",
    "argparse", "locale", "shutil",
)
#: ``(loaded module, module it imports lazily on first load or save)``: imported once
#: the first is, so that children do not import them one by one.
COMPANIONS = (
    ("fsspec", "fsspec.implementations.local"),
    ("pyarrow", "pyarrow.pandas_compat"),
    ("kedro_datasets.pandas.parquet_dataset", "pyarrow.parquet"),
    ("kedro_datasets.pandas.parquet_dataset", "pyarrow.dataset"),
)
#: The largest message either side sends (an env larger than this is exec'd instead).
MAX_MESSAGE = 1 << 20
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | tuple = ()) -> None:
    """Send one JSON message (with file descriptors attached, if any)."""
    data = json.dumps(message).encode()
    socket.send_fds(sock, [data], list(fds)) if fds else sock.send(data)


def thread_count() -> int:
    """How many threads this process has (the kernel's count, native threads included)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0  # pragma: no cover - every Linux has the line


def thread_names() -> list[str]:
    """The names of this process's threads, for the reason a fork is refused."""
    names = []
    for task in sorted(os.listdir("/proc/self/task")):
        with contextlib.suppress(OSError):
            names.append(Path(f"/proc/self/task/{task}/comm").read_text().strip())
    return names


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (as :func:`.run_folder.process_start_time`)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else None


def import_one(name: str, is_class: bool) -> str | None:
    """Import a module (or a class's module, then the class); return why it failed.

    A failure is not fatal: a child imports whatever the server lacks by itself.
    """
    if not _DOTTED.match(name):
        return f"{name!r}: not a dotted name"
    module, _, attr = name.rpartition(".") if is_class else (name, "", "")
    try:
        loaded = importlib.import_module(module)
        if is_class:
            getattr(loaded, attr)  # kedro_datasets resolves its classes lazily
    except Exception as exc:
        return f"{name}: {type(exc).__name__}: {exc}"
    return None


def companions() -> list[str]:
    """Modules that loaded ones import lazily on first load or save (see :data:`COMPANIONS`)."""
    return [extra for trigger, extra in COMPANIONS
            if trigger in sys.modules and extra not in sys.modules]


def warm_parser() -> None:
    """Compile what ``argparse`` compiles on first use (``re`` caches it per process).

    Every child parses its arguments with ``argparse``; a parser built here, from
    constants, leaves the regular expressions compiled for all of them.
    """
    import argparse

    argparse.ArgumentParser(prog="kinetic-pod").add_argument("--spec")


def freeze() -> None:
    """Move every object the imports made out of the collector's sight.

    A child's garbage collections would otherwise walk (and so copy, page by
    page) the whole warm heap it shares with the server; objects made before the
    fork are never collected in the child, as they would live for a whole
    interpreter's life after its imports anyway.
    """
    gc.collect()
    gc.freeze()


def settle() -> None:
    """Fork once, with a child that exits at once, if native threads are running.

    Native pools that stop their threads in a ``pthread_atfork`` handler (OpenBLAS,
    started by ``import numpy``) stop them now and restart them lazily, in each
    child, on first use. The server never uses them again, so it stays
    single-threaded; if it is not, every fork is refused (the driver execs).
    """
    if thread_count() <= 1:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def _exit_code(exc: SystemExit) -> int:
    """The exit status an interpreter gives for ``SystemExit(code)``."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def entrypoint_path() -> str:
    """The entrypoint's file: ``sys.argv[0]`` of ``python -m kedro_kinetic.entrypoint``."""
    spec = importlib.util.find_spec(ENTRYPOINT)
    return str(spec.origin) if spec is not None and spec.origin else "-m"


def run_entrypoint(args: list[str]) -> int:
    """Run the pod entrypoint as ``python -m kedro_kinetic.entrypoint ARGS`` would."""
    from kedro_kinetic.pod import entrypoint

    try:
        code = _exit_code(SystemExit(entrypoint.main(args)))
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        traceback.print_exc()
        code = 1
    return code


def _reseed() -> None:
    """Give the child its own random state, as a fresh interpreter would have.

    ``random`` reseeds itself after a fork; numpy's global generator does not, so
    two children would otherwise draw the same numbers.
    """
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        with contextlib.suppress(Exception):
            numpy_random.seed()


def _finish(code: int) -> None:
    """End the child as an interpreter ends: join threads, run atexit, flush, exit."""
    import atexit
    import threading

    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined] # what interpreter exit does
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


class Server:
    """The server's loop: fork on request, reap children, report their exit codes."""

    def __init__(self, sock: socket.socket, later: list[str] | None = None) -> None:
        self.sock = sock
        self.later = list(later or [])  # node modules to import while no request waits
        self.poll = select.poll()  # no file descriptor of its own for a child to inherit
        self.poll.register(sock.fileno(), select.POLLIN)
        self.pidfds: dict[int, tuple[int, int]] = {}  # pidfd -> (job id, pid)
        self.running: dict[int, int] = {}  # job id -> pid, until reaped

    def serve(self) -> None:
        """Serve until the driver closes its end; running children are left running."""
        while True:
            try:
                events = self.poll.poll(0 if self.later else None)
                if not events and self.later:
                    warm_next(self.later)  # one module, then requests and exits first
                    continue
                for fd, _ in events:
                    if fd != self.sock.fileno():
                        self._reap(fd)
                    elif not self._request():
                        return
            except (BrokenPipeError, ConnectionResetError):
                return  # the driver is gone: so are the exit codes it would have read

    def _request(self) -> bool:
        data, fds, flags, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 1,
                                              socket.MSG_CMSG_CLOEXEC)
        if not data or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            for fd in fds:
                os.close(fd)
            return False
        request = json.loads(data)
        if request.get("op") == "fork" and len(fds) == 1:
            self._fork(request, fds[0])
        elif request.get("op") == "kill":
            self._kill(int(request["id"]), int(request["signal"]))
        else:
            for fd in fds:
                os.close(fd)
        return True

    def _fork(self, request: dict[str, Any], out: int) -> None:
        job = int(request["id"])
        threads = thread_count()
        if threads != 1:
            os.close(out)
            send(self.sock, {"op": "refused", "id": job, "message": (
                f"the fork server has {threads} threads ({', '.join(thread_names())}); "
                "forking now would be unsafe")})
            return
        sys.stdout.flush()
        sys.stderr.flush()
        ready_r, ready_w = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in (out, ready_r, ready_w):
                os.close(fd)
            send(self.sock, {"op": "refused", "id": job, "message": f"fork failed: {exc}"})
            return
        if pid == 0:
            os.close(ready_r)
            self._child(request, out, ready_w)
        os.close(out)
        os.close(ready_w)
        os.read(ready_r, 1)  # EOF once the child is in its own session (or gone)
        os.close(ready_r)
        pidfd = os.pidfd_open(pid)
        self.poll.register(pidfd, select.POLLIN)
        self.pidfds[pidfd] = (job, pid)
        self.running[job] = pid
        send(self.sock, {"op": "started", "id": job, "pid": pid, "start": start_time(pid)})

    def _child(self, request: dict[str, Any], out: int, ready: int) -> None:
        """In the child: its own session and stdio, the Job's env, cwd and args; never returns."""
        code = 127
        try:
            os.setsid()  # its own process group: cancel and deadlines kill the group
            self.sock.close()  # the channel (and the keys in it) stays the server's
            for pidfd in self.pidfds:
                os.close(pidfd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.close(null)
            os.close(out)
            os.close(ready)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])  # the key too; the entrypoint removes it first
            del request["env"]
            _reseed()
            sys.argv = [entrypoint_path(), *request["args"]]  # as ``python -m`` sets it
            code = run_entrypoint(list(request["args"]))
        except BaseException:
            traceback.print_exc()
        _finish(code)

    def _kill(self, job: int, sig: int) -> None:
        pid = self.running.get(job)
        if pid is None:
            return  # already reaped: its pid may belong to someone else now
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _reap(self, pidfd: int) -> None:
        job, pid = self.pidfds.pop(pidfd)
        self.poll.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        self.running.pop(job, None)
        send(self.sock, {"op": "exited", "id": job, "code": os.waitstatus_to_exitcode(status)})


def preload(classes: list[str]) -> list[str]:
    """Import the entrypoint, the dataset classes and their companions; return failures.

    What every node needs comes before ``ready``; the project's node modules come
    later, one at a time while no request waits (:meth:`Server.serve`), so that a
    pipeline's first nodes do not wait for its last ones' imports."""
    names = [(n, False) for n in BASE_IMPORTS] + [(n, True) for n in classes]
    failed = [why for why in (import_one(str(n), is_class) for n, is_class in names) if why]
    for extra in companions():
        import_one(extra, False)
    warm_parser()
    settle()
    return failed


def warm_next(later: list[str]) -> None:
    """Import the next of the project's node modules (a failure is the child's to meet)."""
    why = import_one(later.pop(0), False)
    if why:
        print(f"[kinetic-fork-server] not imported ahead: {why}", file=sys.stderr, flush=True)
    for extra in companions():
        import_one(extra, False)
    if not later:
        freeze()
    settle()


def main(argv: list[str]) -> int:
    """Import, report ready, serve; ``argv`` is the inherited socket's descriptor."""
    for name in KEY_ENVS:  # never ours; each child gets its own in its Job's env
        os.environ.pop(name, None)
    sock = socket.socket(fileno=int(argv[0]))
    hello = json.loads(sock.recv(MAX_MESSAGE) or b"{}")
    if hello.get("op") != "hello":
        return 2
    try:
        os.close(os.pidfd_open(os.getpid()))  # how children's exits are watched (Linux 5.3)
    except (AttributeError, OSError) as exc:
        send(sock, {"op": "ready", "error": f"no pidfd_open on this system: {exc}"})
        return 1
    failed = preload(list(hello.get("classes", [])))
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # else: driver gone
        send(sock, {"op": "ready", "pid": os.getpid(), "threads": thread_count(),
                    "thread_names": thread_names(), "failed": failed})
        Server(sock, [str(m) for m in hello.get("modules", [])]).serve()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no interpreter teardown of everything imported: the driver waits for it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
