"""The tests' subprocess helper (tests/kedro_run.py), on small Python processes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import subprocess_env
from tests.kedro_run import Running, StillRunning, flat, pid_alive, python, wait_until


def running(code: str, tmp_path, **kwargs) -> Running:
    return Running([sys.executable, "-c", code], cwd=tmp_path, env=subprocess_env(), **kwargs)


def test_a_full_pipe_never_blocks_the_process(tmp_path):
    code = "import sys; sys.stdout.write('x' * 4_000_000); sys.stderr.write('done')"
    with running(code, tmp_path) as proc:
        assert proc.wait(60) == 0
    assert len(proc.output) == 4_000_004 and proc.output.endswith("done")


def test_wait_for_output_returns_when_the_line_arrives(tmp_path):
    code = ("import sys, time; print('run r-42: 8 nodes', flush=True); "
            "sys.stdin and time.sleep(60)")
    with running(code, tmp_path) as proc:
        start = time.monotonic()
        match = proc.wait_for_output(re.compile(r"run (\S+): \d+ nodes"), 60)
        assert match.group(1) == "r-42"
        assert time.monotonic() - start < 30  # woken by the output, not by the ceiling
        assert proc.poll() is None
    assert proc.returncode == -signal.SIGKILL  # the context manager killed it


def test_wait_for_output_fails_with_the_output_when_it_ends_without_the_text(tmp_path):
    with running("print('something else')", tmp_path) as proc:
        with pytest.raises(AssertionError,
                           match=r"(?s)output ended without 'never printed'.*something else"):
            proc.wait_for_output("never printed", 60)


def test_wait_for_output_can_match_across_wrapped_lines(tmp_path):
    with running("print('a long\\n   message')", tmp_path) as proc:
        proc.wait_for_output("a long message", 60, flat=True)


def test_wait_ceiling_raises_with_the_output_so_far(tmp_path):
    code = "import time; print('started', flush=True); time.sleep(60)"
    with running(code, tmp_path) as proc:
        proc.wait_for_output("started", 60)
        with pytest.raises(StillRunning, match="started") as info:
            proc.wait(0.2)
        assert isinstance(info.value, subprocess.TimeoutExpired)


def test_children_turn_sigint_into_keyboard_interrupt(tmp_path):
    """Even when pytest itself was started with SIGINT ignored (a background job)."""
    code = "import signal; print(signal.getsignal(signal.SIGINT).__name__)"
    with running(code, tmp_path) as proc:
        assert proc.wait(60) == 0
    assert proc.output.strip() == "default_int_handler"
    assert python(tmp_path, "-c", code).stdout.strip() == "default_int_handler"


def test_signal_and_exit_status(tmp_path):
    code = ("import signal, sys, time\n"
            "signal.signal(signal.SIGINT, lambda *a: (print('Cancelled', flush=True),"
            " sys.exit(3)))\nprint('ready', flush=True)\ntime.sleep(60)")
    with running(code, tmp_path) as proc:
        proc.wait_for_output("ready", 60)
        proc.signal(signal.SIGINT)
        assert proc.wait(60) == 3
    assert "Cancelled" in proc.output


def test_terminal_output_and_log_file(tmp_path):
    log = tmp_path / "out.log"
    code = "import sys; print(sys.stdout.isatty(), 'é')"
    with running(code, tmp_path, terminal=True, log=log) as proc:
        assert proc.wait(60) == 0
    assert proc.output.strip() == "True é"
    assert log.read_bytes().decode() == proc.output


def test_kill_of_a_new_session_kills_its_group(tmp_path):
    code = ("import subprocess, sys, time; child = subprocess.Popen(['sleep', '60']); "
            "print(child.pid, flush=True); time.sleep(60)")
    with running(code, tmp_path, new_session=True) as proc:
        child = int(proc.wait_for_output(re.compile(r"(\d+)\n"), 60).group(1))
    wait_until(lambda: not pid_alive(child), 60, message="the group's child outlived it")


def test_flat_python_and_wait_until(tmp_path):
    proc = python(tmp_path, "-c", "import sys; print('a\\n  b'); print('c', file=sys.stderr)")
    assert proc.returncode == 0 and flat(proc) == "a b c"
    assert flat("x \n y") == "x y"
    assert wait_until(lambda: 7, 1) == 7
    with pytest.raises(AssertionError, match="not true after 0 s: never"):
        wait_until(lambda: None, 0.2, interval=0.05, message="never")
