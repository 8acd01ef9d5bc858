"""Unit tests of the test kubelet's scheduling rules (no cluster needed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.bench.containers import expand, image_problem
from tests.bench.kubelet import cpu_node, gpu_node, spot_node
from tests.bench.scheduling import (
    misfit_reasons,
    parse_quantity,
    pod_requests,
    tolerates,
    unschedulable_message,
)


def node(spec):
    return {
        "metadata": {"name": spec.name, "labels": spec.labels},
        "spec": {"taints": spec.taints},
        "status": {"allocatable": spec.capacity},
    }


def pod(requests=None, limits=None, selector=None, tolerations=None):
    return {
        "spec": {
            "nodeSelector": selector or {},
            "tolerations": tolerations or [],
            "containers": [{"name": "c", "resources": {"requests": requests or {}, "limits": limits or {}}}],
        }
    }


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("2", Decimal(2)), ("1Gi", Decimal(2**30)), ("1e3", Decimal(1000)), ("128M", Decimal(128 * 10**6))],
)
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


def test_parse_quantity_rejects_garbage():
    with pytest.raises(ValueError):
        parse_quantity("lots")


def test_limits_stand_in_for_requests():
    assert pod_requests(pod(limits={"nvidia.com/gpu": "1"}, requests={"cpu": "1"})) == {
        "nvidia.com/gpu": Decimal(1),
        "cpu": Decimal(1),
    }


def test_plain_pod_fits_cpu_node_but_not_tainted_spot_node():
    assert misfit_reasons(pod({"cpu": "1"}), node(cpu_node()), {}) == []
    assert misfit_reasons(pod({"cpu": "1"}), node(spot_node()), {}) == [
        "node(s) had untolerated taint {cloud.google.com/gke-spot: true}"
    ]


def test_spot_pod_with_toleration_and_selector_fits_spot_node_only():
    spot = pod(
        selector={"cloud.google.com/gke-spot": "true"},
        tolerations=[{"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
    )
    assert misfit_reasons(spot, node(spot_node()), {}) == []
    assert misfit_reasons(spot, node(cpu_node()), {}) == ["node(s) didn't match Pod's node affinity/selector"]


def test_resources_are_counted_against_allocatable():
    assert misfit_reasons(pod({"cpu": "6"}), node(cpu_node()), {"cpu": Decimal(3)}) == ["Insufficient cpu"]


def test_gpu_request_message_without_gpu_node():
    gpu_pod = pod(limits={"nvidia.com/gpu": "1"}, tolerations=[{"operator": "Exists"}])
    reasons = {n.name: misfit_reasons(gpu_pod, node(n), {}) for n in (cpu_node(), spot_node())}
    assert unschedulable_message(reasons).startswith("0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")
    assert misfit_reasons(gpu_pod, node(gpu_node()), {}) == []


def test_toleration_rules():
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert tolerates([{"key": "k", "operator": "Exists"}], taint)
    assert tolerates([{"key": "k", "value": "v"}], taint)
    assert not tolerates([{"key": "k", "value": "w"}], taint)
    assert not tolerates([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint)


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("python:3.11", None),
        ("europe-docker.pkg.dev/p/r/img@sha256:" + "a" * 64, None),
        ("gcr.io/does-not-exist/img:1", "ErrImagePull"),
        ("Not A Valid/Image", "InvalidImageName"),
        ("Python:3.11", "InvalidImageName"),
    ],
)
def test_image_rules(image, reason):
    problem = image_problem(image)
    assert (problem[0] if problem else None) == reason


def test_env_expansion():
    assert expand("$(A)-$$(A)-$(B)", {"A": "1"}) == "1-$(A)-$(B)"


def test_taints_are_reported_before_selector_mismatch_and_pod_count_is_limited():
    gpu_pod = pod(selector={"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"})
    assert misfit_reasons(gpu_pod, node(spot_node()), {})[0].startswith("node(s) had untolerated taint")
    full = node(cpu_node())
    full["status"]["allocatable"] = {"cpu": "8", "pods": "2"}
    assert misfit_reasons(pod(), full, {"pods": Decimal(2)}) == ["Too many pods"]
