"""Helpers for tests that act as a store writer while a run is in flight."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_kinetic.wire import naming
from tests.kedro_run import RUN_CEILING, START_CEILING, flat, kedro_popen, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

RACE = Path(__file__).parent / "race"


def run_folder(project: Path, run_id: str) -> Path:
    """A run's folder in the project's local store (``data/kinetic``)."""
    return (project / "data" / "kinetic").resolve() / "runs" / naming.run_label(run_id)


def result_path(folder: Path, node: str) -> Path:
    """Where ``node``'s result lies in a local run folder."""
    return folder / "results" / f"{naming.node_key(node)}.json"


class PausedRun:
    """A ``kedro run`` whose pod pauses right after writing one node's result (see race/).

    ``before``: the pod pauses right before it writes the result instead of right after.
    ``launch(race_env)`` returns the arguments of ``kedro`` and the environment the driver
    adds: on the local backend node processes inherit the driver's environment, on the bench
    the test kubelet's ``extra_env`` carries ``race_env`` into the pods. ``driver`` is the
    :class:`tests.kedro_run.Running` driver; use the run as a context manager to kill it if
    the test stops early.
    """

    def __init__(self, project: Path, tmp_path: Path, node_key_prefix: str,
                 launch: Callable[[dict[str, str]], tuple[list[str], dict[str, str]]],
                 before: bool = False) -> None:
        # under the project's data/: a confined local node process may write only there
        self.signals = project / "data" / "test-signals"
        self.signals.mkdir()
        self.prefix = node_key_prefix
        race = {"PYTHONPATH": str(RACE), "KINETIC_TEST_RESULT_SIGNAL": str(self.signals),
                "KINETIC_TEST_PAUSE_NODES": node_key_prefix}
        if before:  # pause before the result is written, not after
            race["KINETIC_TEST_PAUSE_BEFORE"] = "1"
        args, env = launch(race)
        self.driver = kedro_popen(project, *args, env={"COLUMNS": "2000", **env})

    def __enter__(self) -> PausedRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.driver.kill()

    def paused_result(self) -> str:
        """Wait until the pod paused; return the URI of the result it wrote."""
        [self._signal] = wait_until(lambda: list(self.signals.glob(f"{self.prefix}*.json")),
                                    START_CEILING, process=self.driver,
                                    message=f"no pod of {self.prefix} paused")
        return self._signal.read_text()

    def resume_and_wait(self) -> str:
        """Let the pod go on; return the driver's whole output, whitespace normalised."""
        (self.signals / (self._signal.name + ".go")).write_text("go")
        self.driver.wait(RUN_CEILING)
        return flat(self.driver)
