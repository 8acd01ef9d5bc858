"""The local backend echoes a node's output from its first line, even with a late follower."""

from __future__ import annotations

import io
import sys
import time

from kedro_kinetic.backends.base import EventKind
from kedro_kinetic.backends.local.backend import LocalBackend
from kedro_kinetic.backends.local.run_folder import LocalRunFolder

WAIT = 60.0  # a generous ceiling; each wait ends on the event itself


def test_a_line_written_before_the_follower_starts_is_still_echoed(tmp_path, monkeypatch):
    folder = LocalRunFolder("file:///store/runs/r", base=tmp_path / "state")
    folder.create("r")
    sink = io.StringIO()
    backend = LocalBackend(tmp_path, log_sink=sink, run_folder=folder, run_label="r")
    follow = LocalBackend._follow

    def late_follow(self, job, *args):  # the thread gets the CPU only after the output
        log = folder.log_path(job.name)
        deadline = time.monotonic() + WAIT
        while not (log.exists() and b"first line" in log.read_bytes()):
            assert time.monotonic() < deadline, "the process never wrote its line"
            time.sleep(0.01)
        return follow(self, job, *args)

    monkeypatch.setattr(LocalBackend, "_follow", late_follow)
    manifest = {"metadata": {"name": "job-a", "labels": {}}, "spec": {"backoffLimit": 0,
                "template": {"spec": {"containers": [{
                    "name": "node", "command": [sys.executable, "-c"],
                    "args": ["print('first line', flush=True)"]}]}}}}
    try:
        backend.submit(manifest, "a")
        events = [backend.events.get(timeout=WAIT) for _ in range(2)]
    finally:
        backend.close()
    assert [e.kind for e in events] == [EventKind.STARTED, EventKind.FINISHED]
    assert events[1].exit_code == 0
    assert "[a] first line" in sink.getvalue()
