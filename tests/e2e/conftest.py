"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import pytest

from tests.e2e.bench_kit import make_bench_demo


@pytest.fixture
def bench_demo(tmp_path, k8s_cluster, gcs_emulator, request):
    """A demo copy whose pods the bench's test kubelet runs; the kubelet's working folder and
    extra environment are restored afterwards."""
    previous_cwd, previous_env = k8s_cluster.kubelet.cwd, dict(k8s_cluster.kubelet.extra_env)
    yield make_bench_demo(tmp_path, k8s_cluster, gcs_emulator, request.node.name[:40])
    k8s_cluster.kubelet.cwd = previous_cwd
    k8s_cluster.kubelet.extra_env.clear()
    k8s_cluster.kubelet.extra_env.update(previous_env)
