"""Shared fixtures: project copies, subprocess environment, bench fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from benchmarks.projects import copy_demo  # one copy for tests and benchmarks

REPO = Path(__file__).resolve().parents[1]

try:  # the Kubernetes/GCS bench (tests/bench) provides k8s_cluster, gcs_emulator
    from tests.bench.fixtures import *  # noqa: F403
    from tests.bench.real.fixtures import *  # noqa: F403  (real_cluster: the real kubelet)
except ImportError as exc:  # pragma: no cover - only while the bench is absent
    if "tests.bench" not in str(exc):
        raise


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for kedro subprocesses: no telemetry, no inherited PYTHONPATH."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(KEDRO_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1",
               COLUMNS="200")
    env.update(extra)
    return env


def kedro_cmd() -> list[str]:
    """The ``kedro`` CLI of the interpreter running the tests."""
    return [sys.executable, "-m", "kedro"]


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A fresh copy of demo_project."""
    return copy_demo(tmp_path)
