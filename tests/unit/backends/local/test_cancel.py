"""`kedro kinetic cancel` on the local backend: SIGTERM, a grace period, then SIGKILL; the
driver's backend learns from the private run folder that the node was cancelled, and
`logs -f` follows a run until its driver is gone. Real (tiny) processes, no Kedro."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time

import pytest

from kedro_kinetic.backends.base import CANCELLED_BY_CLI, EventKind
from kedro_kinetic.backends.local.backend import LocalBackend
from kedro_kinetic.backends.local.run_folder import LocalRunFolder
from kedro_kinetic.backends.local.runs import LocalRuns

WAIT = 120.0  # a generous ceiling; each wait ends on the event itself

GRACEFUL = """
import pathlib, signal, sys, time
def stop(signum, frame):
    pathlib.Path({marker!r}).write_text("SIGTERM reached the node")
    sys.exit(143)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(600)
"""
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(600)
"""


def manifest(name: str, script: str) -> dict:
    return {"metadata": {"name": name, "labels": {"kedro-kinetic.io/node": name}},
            "spec": {"backoffLimit": 2, "template": {"spec": {"containers": [{
                "name": "node", "command": [sys.executable, "-c"], "args": [script]}]}}}}


def wait_for(check, what: str):
    deadline = time.monotonic() + WAIT
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.02)
    return found


class Run:
    """A local backend with its private run folder, and the CLI's view of it."""

    def __init__(self, tmp_path) -> None:
        runs_root = (tmp_path / "store" / "runs").as_uri()
        self.state = tmp_path / "state"
        self.folder = LocalRunFolder(f"{runs_root}/r", base=self.state)
        self.backend = LocalBackend(tmp_path, log_sink=io.StringIO(), run_folder=self.folder,
                                    run_label="r")
        self.backend.run_key("r", resume=False)
        self.runs = LocalRuns(runs_root, state_base=self.state)

    def info(self):
        [info] = self.runs.runs()
        return info

    def started(self, name: str, script: str) -> None:
        self.backend.submit(manifest(name, script), name)
        assert self.backend.events.get(timeout=WAIT).kind is EventKind.STARTED
        log = self.folder.log_path(name)
        wait_for(lambda: log.exists() and b"ready" in log.read_bytes(), f"{name} never ran")

    def finished(self):
        event = self.backend.events.get(timeout=WAIT)
        assert event.kind is EventKind.FINISHED
        return event


@pytest.fixture
def run(tmp_path):
    made = Run(tmp_path)
    yield made
    made.backend.close()


def test_cancel_sends_sigterm_and_the_driver_reports_the_cancel(run, tmp_path):
    marker = tmp_path / "marker"
    run.started("node-a", GRACEFUL.format(marker=str(marker)))
    assert run.runs.active(run.info())
    assert run.runs.cancel(run.info()) == ["node-a"]
    event = run.finished()
    assert marker.read_text() == "SIGTERM reached the node"  # its handler ran: graceful
    assert (event.exit_code, event.reason, event.message) == (143, "Cancelled",
                                                             CANCELLED_BY_CLI)
    [row] = run.runs.statuses(run.info())
    assert (row.node, row.state, row.detail) == ("node-a", "cancelled", CANCELLED_BY_CLI)


def test_a_node_that_ignores_sigterm_is_killed_after_the_grace_period(run):
    run.started("node-a", STUBBORN)
    assert run.runs.cancel(run.info(), grace=0.5) == ["node-a"]
    event = run.finished()
    assert (event.exit_code, event.reason, event.message) == (-9, "Cancelled",
                                                             CANCELLED_BY_CLI)


def test_after_a_cancel_the_driver_starts_no_new_node(run, tmp_path):
    run.runs.cancel(run.info())  # between nodes: nothing runs, the cancel is recorded
    run.backend.submit(manifest("node-b", "print('never')"), "node-b")
    event = run.finished()
    assert (event.job_name, event.reason, event.message) == ("node-b", "Cancelled",
                                                             CANCELLED_BY_CLI)
    assert "node-b" not in run.folder.jobs()  # no process was started


def test_the_runners_own_cancel_and_a_plain_kill_are_not_a_cancel_by_the_cli(run):
    run.started("node-a", STUBBORN)
    run.backend.cancel("node-a")  # fail_fast, Ctrl-C: the driver's own
    event = run.finished()
    assert event.reason == "Cancelled" and event.message is None
    [row] = run.runs.statuses(run.info())
    assert row.state == "stopped"


def test_cancel_never_signals_a_process_whose_start_time_differs_from_the_record(run):
    victim = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        run.folder.record_process("node-x", victim.pid, start="1")  # a reused pid
        assert run.runs.cancel(run.info(), grace=0.2) == []
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


def test_follow_prints_nodes_started_later_until_the_driver_is_gone(run):
    run.started("node-a", "print('ready', flush=True); print('from a', flush=True)")
    assert run.finished().exit_code == 0
    lines: list[tuple[str, str]] = []
    follower = threading.Thread(target=lambda: lines.extend(run.runs.follow(run.info())),
                                daemon=True)
    follower.start()
    wait_for(lambda: ("node-a", "from a") in lines, "node-a's output was not printed")
    assert follower.is_alive()  # the driver still runs: so may new nodes
    run.started("node-b", "print('ready', flush=True); print('from b', flush=True)")
    assert run.finished().exit_code == 0
    run.backend.close()  # the run is over
    follower.join(WAIT)
    assert not follower.is_alive()
    assert ("node-b", "from b") in lines
