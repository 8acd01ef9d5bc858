"""A project module whose import waits for a gate file (the fork server imports it ahead).

Imported by the fork server under test (``tests/unit/backends/local`` is its
``sys.path[0]``); the gate and the marker come from its environment.
"""

import os
import time
from pathlib import Path

_gate = Path(os.environ["SLOW_WARM_GATE"])
_deadline = time.monotonic() + 120
while not _gate.exists() and time.monotonic() < _deadline:
    time.sleep(0.01)
Path(os.environ["SLOW_WARM_DONE"]).write_text("imported")
