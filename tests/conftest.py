"""Shared fixtures: project copies, subprocess environment, bench fixtures."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks.projects import copy_demo  # one copy for tests and benchmarks

REPO = Path(__file__).resolve().parents[1]
#: The private state folder (run keys, local node logs and pids) of every kedro the tests
#: start: one per test session, owner-only, never the user's own.
STATE_DIR = Path(tempfile.mkdtemp(prefix="kinetic-state-"))

from tests.driver_kit import inprocess  # noqa: E402,F401 - the in-process driver tier's fixture

try:  # the Kubernetes/GCS bench (tests/bench) provides k8s_cluster, gcs_emulator
    from tests.bench.fixtures import *  # noqa: F403
    from tests.bench.real.fixtures import *  # noqa: F403  (real_cluster: the real kubelet)
except ImportError as exc:  # pragma: no cover - only while the bench is absent
    if "tests.bench" not in str(exc):
        raise


def pytest_configure(config: pytest.Config) -> None:
    """Give the tests' child processes Python's own Ctrl-C handling, however pytest started.

    A shell without job control starts a background command (``pytest ... &``, ``nohup``,
    CI scripts) with SIGINT ignored, and every child inherits an ignored signal: each
    ``kedro run`` the tests start would then ignore the SIGINT that the Ctrl-C tests send
    it and run on until their ceiling. With a handler here (not ``SIG_IGN``), children start
    with the default disposition and Python turns SIGINT into ``KeyboardInterrupt``.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _nodes_may_write_the_tests_folders(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Node processes are confined (Landlock) to the project's data, the store and a
    temporary folder; test nodes also leave pids and markers beside the project copy, so
    they may write the tests' temporary folders too (STATE_DIR is not among them)."""
    os.environ.setdefault("KINETIC_NODE_WRITABLE", str(tmp_path_factory.getbasetemp()))


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for kedro subprocesses: no telemetry, no inherited PYTHONPATH."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(KEDRO_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1",
               COLUMNS="200", KINETIC_STATE_DIR=str(STATE_DIR))
    env.update(extra)
    return env


def kedro_cmd() -> list[str]:
    """The ``kedro`` CLI of the interpreter running the tests."""
    return [sys.executable, "-m", "kedro"]


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A fresh copy of demo_project."""
    return copy_demo(tmp_path)


def read_result(path: Path):
    """The sealed result at ``path`` (a local run's ``results/<node>.json``), authenticated
    with the key of the attempt the tests' private state folder records for its node."""
    from kedro_kinetic.backends.local.run_folder import LocalRunFolder
    from kedro_kinetic.wire import seal
    from kedro_kinetic.wire.result import read_sealed

    run_root = path.resolve().parent.parent.as_uri()
    folder = LocalRunFolder(run_root, base=STATE_DIR)
    attempt = folder.attempts()[path.name.removesuffix(".json")]
    return read_sealed(path.read_bytes(), seal.attempt_key(folder.key(), attempt),
                       path.resolve().as_uri())


def local_run_folder(project: Path, run_id: str, store: str = "data/kinetic") -> Path:
    """The private folder (key, logs/, pids/) of a local run of ``project``."""
    from kedro_kinetic.backends.local.run_folder import LocalRunFolder
    from kedro_kinetic.store.layout import RunLayout

    root = RunLayout.for_run((project / store).resolve().as_uri(), run_id).root
    return LocalRunFolder(root, base=STATE_DIR).path
