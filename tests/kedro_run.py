"""Run ``kedro`` (or a Python script) in a subprocess: the one way the tests do it.

Every process gets :func:`tests.conftest.subprocess_env` (no telemetry, the tests' private
``KINETIC_STATE_DIR``), plus the ``env`` a test adds. The API:

* :func:`kedro` runs ``kedro <args>`` in a project to its end and returns the
  :class:`subprocess.CompletedProcess` (text, stdout and stderr captured apart).
* :func:`kedro_popen` starts ``kedro <args>`` and returns a :class:`Running`: its output
  (stdout and stderr merged) is read from the start on a background thread, so the process
  never blocks on a full pipe. Wait for its exit (:meth:`Running.wait`) or for a line of
  its output (:meth:`Running.wait_for_output`, woken by each chunk read, no sleep loop);
  send it a signal; use it as a context manager, which kills it if it is still running.
* :func:`python` runs ``python <args>`` (a script or ``-m module``) like :func:`kedro`.
* :func:`flat` gives output with its whitespace normalised: Rich wraps long lines.
* :func:`wait_until` polls a condition that has no event to wait on (a file, a pod, a
  process gone) at a short interval, under a generous ceiling.

The ceilings are minutes: they only stop a test that hangs, and must hold on a loaded
two-core machine where every ``kedro`` start costs seconds of CPU.
"""

from __future__ import annotations

import codecs
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar

from tests.conftest import kedro_cmd, subprocess_env

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

T = TypeVar("T")

#: Ceiling for a whole kedro command (a run of demo_project, a resume, ``kinetic status``).
RUN_CEILING = 900
#: Ceiling for something a running command starts to show up: a node process or its pid
#: file, a pod, a line of output.
START_CEILING = 600
#: Ceiling for something to go away after a signal, a cancel or a kill: a process's exit,
#: a node process, a run's Jobs and Pods.
STOP_CEILING = 300
#: How often :func:`wait_until` polls by default.
POLL_INTERVAL = 0.1
_TAIL = 6000  # characters of output shown when a wait fails


def kedro(project: Path, *args: str, env: Mapping[str, str] | None = None,
          timeout: float = RUN_CEILING) -> subprocess.CompletedProcess[str]:
    """Run ``kedro <args>`` in ``project`` to its end; stdout and stderr captured as text.

    ``env`` adds to (or overrides) :func:`tests.conftest.subprocess_env`. Raises
    :class:`subprocess.TimeoutExpired` (the process killed) after ``timeout`` seconds.
    """
    return _run([*kedro_cmd(), *args], project, env, timeout)


def python(cwd: Path, *args: str, env: Mapping[str, str] | None = None,
           timeout: float = RUN_CEILING) -> subprocess.CompletedProcess[str]:
    """Run ``python <args>`` (the tests' interpreter) in ``cwd``, like :func:`kedro`."""
    return _run([sys.executable, *args], cwd, env, timeout)


def _run(argv: list[str], cwd: Path, env: Mapping[str, str] | None,
         timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                          env=subprocess_env(**dict(env or {})), timeout=timeout)


def kedro_popen(project: Path, *args: str, env: Mapping[str, str] | None = None,
                log: Path | None = None, new_session: bool = False,
                terminal: bool = False) -> Running:
    """Start ``kedro <args>`` in ``project``; see :class:`Running`.

    Args:
        env: Added to :func:`tests.conftest.subprocess_env`.
        log: Also write the output to this file as it arrives.
        new_session: Start the process in its own session (process group); then
            :meth:`Running.kill` kills the group.
        terminal: Give the process a pseudo-terminal as stdin, stdout and stderr (to test
            what it draws on a terminal) instead of pipes.
    """
    return Running([*kedro_cmd(), *args], cwd=project, env=subprocess_env(**dict(env or {})),
                   log=log, new_session=new_session, terminal=terminal)


def run_id_of(output: str) -> str:
    """The run id a ``kedro run`` with GKERunner announced in ``output``."""
    match = re.search(r"kedro-kinetic run (\S+): \d+ nodes", output)
    assert match, output[-3000:]
    return match.group(1)


def flat(proc_or_text: subprocess.CompletedProcess[str] | Running | str) -> str:
    """The output (stdout then stderr of a finished process) with whitespace normalised.

    Rich wraps long lines at the terminal width; tests that look for a long message match
    it in this form.
    """
    if isinstance(proc_or_text, Running):
        text = proc_or_text.output
    elif isinstance(proc_or_text, subprocess.CompletedProcess):
        text = (proc_or_text.stdout or "") + (proc_or_text.stderr or "")
    else:
        text = proc_or_text
    return " ".join(text.split())


def wait_until(condition: Callable[[], T], timeout: float = START_CEILING, *,
               interval: float = POLL_INTERVAL, message: str | Callable[[], str] = "",
               process: Running | None = None) -> T:
    """Poll ``condition`` every ``interval`` seconds until it returns a truthy value; return it.

    For conditions no event announces (a file written by another process, a Kubernetes
    object, a process of someone else's gone). Fails (``AssertionError`` with ``message``)
    after ``timeout`` seconds, or as soon as ``process`` has exited, with its output.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        ended = process is not None and process.poll() is not None
        if ended or time.monotonic() >= deadline:
            text = message() if callable(message) else message
            why = ("the process exited first" if ended
                   else f"not true after {timeout:.0f} s")
            if process is not None:
                text += f"\n--- output of {process.name} ---\n{process.output[-_TAIL:]}"
            raise AssertionError(f"{why}: {text}".rstrip())
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 reaches it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class StillRunning(subprocess.TimeoutExpired):
    """:meth:`Running.wait` ran out of time; the message ends with the output so far."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n--- output so far ---\n{(self.output or '')[-_TAIL:]}"


class Running:
    """A process whose output (stdout and stderr together) a thread reads all along.

    ``output`` is everything read so far; each chunk read wakes :meth:`wait_for_output`.
    The process gets no stdin (or the terminal, with ``terminal=True``).
    """

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                 log: Path | None = None, new_session: bool = False,
                 terminal: bool = False) -> None:
        self.argv = list(argv)
        self.name = " ".join(self.argv[2:4] if self.argv[1:3] == ["-m", "kedro"]
                             else self.argv[:2])
        self._new_session = new_session
        self._chunks: list[str] = []
        self._text = ""
        self._eof = False
        self._changed = threading.Condition()
        self._log = log.open("w") if log is not None else None
        if terminal:
            import pty

            fd, child = pty.openpty()
            try:
                self.popen = subprocess.Popen(self.argv, cwd=cwd, env=dict(env), stdin=child,
                                              stdout=child, stderr=child,
                                              start_new_session=new_session)
            finally:
                os.close(child)
        else:
            self.popen = subprocess.Popen(self.argv, cwd=cwd, env=dict(env),
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT,
                                          start_new_session=new_session)
            assert self.popen.stdout is not None
            fd = os.dup(self.popen.stdout.fileno())
            self.popen.stdout.close()
        self._reader = threading.Thread(target=self._read, args=(fd,), daemon=True,
                                        name=f"output of {self.name}")
        self._reader.start()

    # -- the output ---------------------------------------------------------------------

    def _read(self, fd: int) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            while True:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # a terminal whose other side closed (EIO)
                    data = b""
                text = decoder.decode(data, final=not data)
                if text:
                    if self._log is not None:
                        self._log.write(text)
                        self._log.flush()
                    with self._changed:
                        self._chunks.append(text)
                        self._changed.notify_all()
                if not data:
                    break
        finally:
            os.close(fd)
            if self._log is not None:
                self._log.close()
            with self._changed:
                self._eof = True
                self._changed.notify_all()

    @property
    def output(self) -> str:
        """Everything the process wrote so far (stdout and stderr, in order)."""
        with self._changed:
            if self._chunks:
                self._text += "".join(self._chunks)
                self._chunks.clear()
            return self._text

    def wait_for_output(self, expected: str | re.Pattern[str],
                        timeout: float = START_CEILING, *, flat: bool = False) -> re.Match[str]:
        """Wait until the output contains ``expected`` (a string, or a regex searched for).

        Woken by every chunk of output, so it returns as soon as the text arrives. With
        ``flat=True`` the output is searched with its whitespace normalised (see
        :func:`flat`). Fails (``AssertionError`` with the output) after ``timeout``
        seconds or when the output ends without it.
        """
        pattern = expected if isinstance(expected, re.Pattern) else re.compile(
            re.escape(expected))
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                text = self.output
                match = pattern.search(" ".join(text.split()) if flat else text)
                if match:
                    return match
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    why = ("the output ended" if self._eof
                           else f"not seen after {timeout:.0f} s")
                    raise AssertionError(f"{self.name}: {why} without {expected!r}; "
                                         f"output:\n{text[-_TAIL:]}")
                self._changed.wait(left)

    # -- the process ----------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        """The exit status, or None while the process runs."""
        return self.popen.poll()

    def wait(self, timeout: float = RUN_CEILING) -> int:
        """Wait until the process exited and its output ended; return the exit status.

        Raises:
            StillRunning: after ``timeout`` seconds (the process is left as it is).
        """
        deadline = time.monotonic() + timeout
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StillRunning(self.argv, timeout, output=self.output) from None
        with self._changed:  # the output ends at once unless a child still holds the pipe
            while not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StillRunning(self.argv, timeout, output=self.output)
                self._changed.wait(left)
        return code

    def signal(self, sig: int, *, group: bool = False) -> None:
        """Send ``sig`` to the process (to its whole group with ``group=True``)."""
        if self.popen.poll() is not None:
            return
        if group:
            os.killpg(self.popen.pid, sig)
        else:
            self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the process (its group, if started with ``new_session``) and reap it."""
        if self.popen.poll() is None:
            try:
                if self._new_session:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                else:
                    self.popen.kill()
            except ProcessLookupError:
                pass
        self.popen.wait(timeout=STOP_CEILING)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()
