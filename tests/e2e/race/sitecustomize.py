"""Test-only: pause a pod right after it wrote its result, so a test can act as a store writer.

Loaded by Python at start-up when this folder is on PYTHONPATH (node processes inherit it).

KINETIC_TEST_RESULT_SIGNAL  folder: after writing the result of a node whose result URI contains
                            one of KINETIC_TEST_PAUSE_NODES (comma-separated), the pod writes a
                            file named like the result there (holding the URI) and waits until
                            a file of that name plus ".go" appears (at most 600 s: a loaded
                            machine may take minutes to get the test there).
KINETIC_TEST_PAUSE_BEFORE   set: the pod pauses (the same way) right BEFORE it writes the
                            result, so a test can plant something there while the node's
                            attempt is still running.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_SIGNAL = os.environ.get("KINETIC_TEST_RESULT_SIGNAL")
_NODES = [n for n in os.environ.get("KINETIC_TEST_PAUSE_NODES", "").split(",") if n]
_BEFORE = bool(os.environ.get("KINETIC_TEST_PAUSE_BEFORE"))


def _patch() -> None:
    from kedro_kinetic import store

    original = store.write_bytes

    def pause(uri: str) -> None:
        name = uri.rsplit("/", 1)[-1]
        Path(_SIGNAL, name).write_text(uri)
        deadline = time.monotonic() + 600
        while not Path(_SIGNAL, name + ".go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def write_bytes(uri: str, data: bytes) -> None:
        ours = "/results/" in uri and any(node in uri for node in _NODES)
        if ours and _BEFORE:
            pause(uri)
        original(uri, data)
        if ours and not _BEFORE:
            pause(uri)

    store.write_bytes = write_bytes


if _SIGNAL and _NODES:
    _patch()
