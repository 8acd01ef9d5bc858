"""Helpers for tests that act as a store writer while a run is in flight."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import subprocess_env

if TYPE_CHECKING:
    from collections.abc import Callable

RACE = Path(__file__).parent / "race"


class PausedRun:
    """A ``kedro run`` whose pod pauses right after writing one node's result (see race/).

    ``launch(race_env)`` returns the command and the environment of the driver: on the local
    backend node processes inherit the driver's environment, on the bench the test kubelet's
    ``extra_env`` carries ``race_env`` into the pods.
    """

    def __init__(self, project: Path, tmp_path: Path, node_key_prefix: str,
                 launch: Callable[[dict[str, str]], tuple[list[str], dict[str, str]]]) -> None:
        self.signals = tmp_path / "signals"
        self.signals.mkdir()
        self.prefix = node_key_prefix
        race = {"PYTHONPATH": str(RACE), "KINETIC_TEST_RESULT_SIGNAL": str(self.signals),
                "KINETIC_TEST_PAUSE_NODES": node_key_prefix}
        command, env = launch(race)
        self.driver = subprocess.Popen(command, cwd=project,
                                       env=subprocess_env(COLUMNS="2000", **env),
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
        self.output: list[str] = []  # read all along, so the driver never blocks on a full pipe
        self._reader = threading.Thread(target=lambda: self.output.extend(self.driver.stdout),
                                        daemon=True)
        self._reader.start()

    def paused_result(self) -> str:
        """Wait until the pod paused; return the URI of the result it wrote."""
        deadline = time.monotonic() + 600
        while not list(self.signals.glob(f"{self.prefix}*.json")):
            assert time.monotonic() < deadline and self.driver.poll() is None, \
                "".join(self.output)[-4000:]
            time.sleep(0.1)
        [self._signal] = self.signals.glob(f"{self.prefix}*.json")
        return self._signal.read_text()

    def resume_and_wait(self) -> str:
        """Let the pod go on; return the driver's whole output, whitespace normalised."""
        try:
            (self.signals / (self._signal.name + ".go")).write_text("go")
            self.driver.wait(timeout=600)
        finally:
            if self.driver.poll() is None:
                self.driver.kill()
        self._reader.join(timeout=30)
        return " ".join("".join(self.output).split())  # Rich wraps long lines
