"""pytest fixture of the real bench: ``real_cluster`` (one per test session).

Mark tests that use it ``@pytest.mark.real_kubelet`` (``pytest -m real_kubelet`` runs only
those). Needs root, Debian's containerd, runc, containernetworking-plugins, mmdebstrap, buildah
and skopeo (``scripts/test.sh`` installs them), and the bench binaries (kubelet and
kube-scheduler included; built when missing, like the other bench fixtures). Images are built on
first use and cached (:mod:`tests.bench.real.images`). ``KINETIC_BENCH_SKIP=1`` turns "cannot
run here" into a skip; CI never sets it. ``KINETIC_BENCH_KEEP=1`` keeps the work folder.

At the end of the session the cluster is torn down and the host checked: a path, mount, cgroup
or sysctl left behind fails the session's last test at teardown.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import TYPE_CHECKING

import pytest

from tests.bench.processes import StartupError
from tests.bench.real.cluster import RealCluster
from tests.bench.real.images import ImageBuildError
from tests.bench.real.registry import BenchRegistry, registry_binary

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.bench.binaries import Binaries

__all__ = ["RealCluster", "bench_registry", "pytest_runtest_makereport", "real_cluster"]

TOOLS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "mmdebstrap", "buildah",
         "skopeo")


def _unavailable(reason: str) -> None:
    if os.environ.get("KINETIC_BENCH_SKIP") == "1":
        pytest.skip(f"real bench unavailable (KINETIC_BENCH_SKIP=1): {reason}")
    pytest.fail(f"real bench unavailable: {reason}", pytrace=False)


def _missing_prerequisites() -> str:
    if os.geteuid() != 0:
        return "the real kubelet and containerd need root"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing or not os.path.exists("/usr/lib/cni/bridge"):
        return (f"missing {missing or ['/usr/lib/cni/bridge']}; scripts/test.sh installs the "
                "Debian packages containerd runc containernetworking-plugins mmdebstrap "
                "buildah skopeo")
    return ""


@pytest.fixture(scope="session")
def real_cluster(bench_binaries: Binaries) -> Iterator[RealCluster]:
    """Control plane + kube-scheduler + containerd + real kubelet, images imported."""
    reason = _missing_prerequisites()
    if reason:
        _unavailable(reason)
    failure = ""
    try:
        cluster = RealCluster(bench_binaries)
    except (StartupError, ImageBuildError) as error:
        failure = str(error)
    if failure:
        pytest.fail(f"real bench did not start: {failure}", pytrace=False)
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in cluster.timings.items())
    print(f"\n[real bench] ready: {steps}", file=sys.__stderr__, flush=True)
    try:
        yield cluster
    finally:
        start = time.monotonic()
        problems = cluster.stop()
        steps = ", ".join(f"{k.removeprefix('teardown: ')} {v:.1f}s"
                          for k, v in cluster.timings.items() if k.startswith("teardown"))
        print(f"\n[real bench] torn down in {time.monotonic() - start:.1f}s ({steps})",
              file=sys.__stderr__, flush=True)
        assert not problems, f"the real bench left the host changed: {problems}"


@pytest.fixture(scope="session")
def bench_registry(bench_binaries: Binaries, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[BenchRegistry]:
    """A registry on 127.0.0.1 with temporary storage, for tests that push images without
    the real kubelet (``kedro kinetic build`` against a real registry)."""
    failure = ""
    try:
        registry = BenchRegistry(registry_binary(), tmp_path_factory.mktemp("registry-data"),
                                 tmp_path_factory.mktemp("registry"))
        registry.start()
    except StartupError as error:
        failure = str(error)
    if failure:
        pytest.fail(f"bench registry did not start: {failure}", pytrace=False)
    try:
        yield registry
    finally:
        registry.stop()


def builder_missing(*tools: str) -> str:
    """Why ``tools`` (and root, which buildah needs here) are not available, or ''."""
    if os.geteuid() != 0:
        return "buildah needs root on this machine"
    missing = [tool for tool in tools if shutil.which(tool) is None]
    return f"missing {missing}; scripts/test.sh installs them" if missing else ""


def require_builder(*tools: str) -> None:
    """Skip (``KINETIC_BENCH_SKIP=1``) or fail when ``tools`` cannot run here."""
    reason = builder_missing(*tools)
    if reason:
        _unavailable(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """When a test of the real bench fails, show the kubelet's and containerd's last lines."""
    report = yield
    cluster = getattr(item, "funcargs", {}).get("real_cluster")
    if report.failed and isinstance(cluster, RealCluster):
        for name, tail in cluster.logs().items():
            if name in ("kubelet", "containerd") and tail:
                report.sections.append((f"real bench: {name} log (last lines)", tail))
    return report
