"""Locate (and on request build) the bench binaries cached by scripts/build-bench-binaries.sh.

The build script is the single source of truth for versions and cache paths; this module asks it
(``--print-paths``) instead of repeating them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-bench-binaries.sh"
NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "fake-gcs-server", "kubelet",
         "kube-scheduler")


class BinariesUnavailable(RuntimeError):
    """The bench binaries are missing and could not be built."""


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the bench binaries."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    fake_gcs_server: Path
    kubelet: Path  # the real bench (tests/bench/real) only
    kube_scheduler: Path


def _run_script(*args: str, stream: bool = False) -> subprocess.CompletedProcess[str]:
    if not BUILD_SCRIPT.exists():
        raise BinariesUnavailable(f"{BUILD_SCRIPT} is missing")
    return subprocess.run(
        ["bash", str(BUILD_SCRIPT), *args],
        cwd=REPO_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        # While building, show progress on the real terminal even under pytest's capture.
        stderr=sys.__stderr__ if stream else subprocess.PIPE,
        check=False,
    )


def _parse_paths(text: str) -> Binaries:
    paths = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    missing = [name for name in NAMES if name not in paths]
    if missing:
        raise BinariesUnavailable(f"build script printed no path for {missing}")
    return Binaries(*(Path(paths[name]) for name in NAMES))


def cached_binaries() -> Binaries | None:
    """Paths of the cached binaries, or None when any of them is not built yet."""
    if _run_script("--check").returncode != 0:
        return None
    return _parse_paths(_run_script("--print-paths").stdout)


def ensure_binaries(build: bool | None = None) -> Binaries:
    """Return the bench binaries, building missing ones first when allowed.

    Args:
        build: Whether to run the (slow, 10-20 min cold) build when something is missing.
            Defaults to true unless the environment sets ``KINETIC_BENCH_BUILD=0``.

    Raises:
        BinariesUnavailable: Missing and not built, or the build failed.
    """
    found = cached_binaries()
    if found is not None:
        return found
    if build is None:
        build = os.environ.get("KINETIC_BENCH_BUILD", "1") != "0"
    if not build:
        raise BinariesUnavailable(
            f"bench binaries are not built; run {BUILD_SCRIPT.relative_to(REPO_ROOT)} "
            "(KINETIC_BENCH_BUILD=0 stops the fixtures from building them)"
        )
    start = time.monotonic()
    print(f"\n[bench] building binaries with {BUILD_SCRIPT} ...", file=sys.__stderr__, flush=True)
    result = _run_script(stream=True)
    if result.returncode != 0:
        raise BinariesUnavailable(
            f"{BUILD_SCRIPT.relative_to(REPO_ROOT)} failed with exit code {result.returncode} "
            "(its output is above)"
        )
    print(f"[bench] binaries built in {time.monotonic() - start:.0f}s", file=sys.__stderr__)
    return _parse_paths(result.stdout)
