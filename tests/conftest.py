"""Shared fixtures: project copies, subprocess environment, bench fixtures."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo_project"

try:  # the Kubernetes/GCS bench (tests/bench) provides k8s_cluster, gcs_emulator
    from tests.bench.fixtures import *  # noqa: F403
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


def copy_demo(dest: Path) -> Path:
    """Copy demo_project without generated outputs."""
    def ignore(directory: str, names: list[str]) -> list[str]:
        rel = Path(directory).relative_to(DEMO).as_posix()
        skipped = {"kinetic", ".viz", "logs", "__pycache__"}
        out = [n for n in names if n in skipped]
        if rel.startswith("data/0") and not rel.startswith("data/01_raw"):
            out += [n for n in names if n != ".gitkeep"]
        return out

    target = dest / "demo_project"
    shutil.copytree(DEMO, target, ignore=ignore)
    return target


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A fresh copy of demo_project."""
    return copy_demo(tmp_path)
