"""pytest fixtures of the test bench: ``k8s_cluster`` and ``gcs_emulator`` (session-scoped).

Use them with ``from tests.bench.fixtures import *`` in a conftest. Binaries come from
``scripts/build-bench-binaries.sh``; when they are missing the fixtures run that script (10-20 min
on a cold machine; ``KINETIC_BENCH_BUILD=0`` makes them fail with the instruction instead). When
the binaries cannot be had the fixtures FAIL, unless ``KINETIC_BENCH_SKIP=1`` is set, which turns
that into a skip (for machines without Go; CI must never set it).

Importing this module from several conftests is harmless: each resource is started once per
process and shared. Mark tests that use them ``@pytest.mark.bench``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench.binaries import (
    REPO_ROOT,
    Binaries,
    BinariesUnavailable,
    ensure_binaries,
)
from tests.bench.clients import AdminClients
from tests.bench.control_plane import ControlPlane
from tests.bench.gcs import GcsEmulator
from tests.bench.kubelet import BenchKubelet
from tests.bench.processes import StartupError

__all__ = ["GcsEmulator", "K8sCluster", "bench_binaries", "gcs_emulator", "k8s_cluster"]

log = logging.getLogger("tests.bench")

NAMESPACE = "kinetic-test"


def _unavailable(reason: str) -> None:
    if os.environ.get("KINETIC_BENCH_SKIP") == "1":
        pytest.skip(f"test bench unavailable (KINETIC_BENCH_SKIP=1): {reason}")
    pytest.fail(f"test bench unavailable: {reason}", pytrace=False)


class K8sCluster(AdminClients):
    """A running bench cluster: control plane, test kubelet and a session namespace.

    Attributes:
        kubeconfig: Path (str) of an admin kubeconfig for ``kubernetes.config.load_kube_config``.
        namespace: The session's namespace (created at start).
        kubelet: The test kubelet (fault injection, process inspection).
        control_plane: The etcd/kube-apiserver/kube-controller-manager processes.
        server: API server URL.
        startup_seconds: Seconds from nothing to a ready cluster with Nodes and namespace.
    """

    def __init__(self, binaries: Binaries) -> None:
        start = time.monotonic()
        self.control_plane = ControlPlane(binaries)
        self.control_plane.start()
        self.kubeconfig = str(self.control_plane.kubeconfig)
        self.server = self.control_plane.server
        self.namespace = NAMESPACE
        assert self.control_plane.kubelet_serving is not None
        self.kubelet = BenchKubelet(
            self.api_client,
            self.control_plane.kubelet_serving,
            self.control_plane.ca.cert_path,
            cwd=REPO_ROOT,
            workdir=self.control_plane.directory / "kubelet",
        )
        try:
            self.kubelet.start()
            self.core_v1().create_namespace({"metadata": {"name": self.namespace}})
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - start

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver (etcd, controllers and kubelet keep running)."""
        self.control_plane.stop_apiserver()

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same address; returns once it is ready."""
        self.control_plane.start_apiserver()

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver."""
        self.control_plane.restart_apiserver()

    def stop(self) -> None:
        """Stop the kubelet and the control plane; remove temporary files."""
        try:
            self.kubelet.stop()
        finally:
            self.control_plane.stop()


_shared: dict[str, object] = {}


@pytest.fixture(scope="session")
def bench_binaries() -> Binaries:
    """Paths of the bench binaries (built on first use unless ``KINETIC_BENCH_BUILD=0``)."""
    try:
        return ensure_binaries()
    except BinariesUnavailable as error:
        reason = str(error)
    _unavailable(reason)  # outside the except block: no chained traceback in the report
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def k8s_cluster(bench_binaries: Binaries) -> Iterator[K8sCluster]:
    """A real control plane + test kubelet, started once per test session."""
    if "k8s_cluster" in _shared:
        yield _shared["k8s_cluster"]  # type: ignore[misc]
        return
    try:
        cluster = K8sCluster(bench_binaries)
    except StartupError as error:
        failure = str(error)
    else:
        failure = ""
    if failure:
        pytest.fail(f"test bench cluster did not start: {failure}", pytrace=False)
    log.info("bench cluster ready in %.1fs at %s", cluster.startup_seconds, cluster.server)
    _shared["k8s_cluster"] = cluster
    try:
        yield cluster
    finally:
        _shared.pop("k8s_cluster", None)
        cluster.stop()


@pytest.fixture(scope="session")
def gcs_emulator(bench_binaries: Binaries) -> Iterator[GcsEmulator]:
    """fake-gcs-server with a bucket; ``STORAGE_EMULATOR_HOST`` points at it meanwhile."""
    if "gcs_emulator" in _shared:
        yield _shared["gcs_emulator"]  # type: ignore[misc]
        return
    emulator = GcsEmulator(Path(bench_binaries.fake_gcs_server))
    try:
        emulator.start()
    except StartupError as error:
        failure = str(error)
    except BaseException:
        emulator.stop()
        raise
    else:
        failure = ""
    if failure:
        emulator.stop()
        pytest.fail(f"fake-gcs-server did not start: {failure}", pytrace=False)
    _shared["gcs_emulator"] = emulator
    try:
        yield emulator
    finally:
        _shared.pop("gcs_emulator", None)
        emulator.stop()
