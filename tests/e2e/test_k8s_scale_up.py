"""Pending pods and the cluster autoscaler, on the test bench (real control plane + fake GCS).

The bench has no cluster autoscaler: the tests post its Events through the API, as it
writes them (tests/autoscaler_kit.py), on the pending pod of a node that asks for a GPU the
bench's nodes lack; a GPU node added by the test plays the node a scale-up brings.
"""

from __future__ import annotations

import pytest

from tests.autoscaler_kit import NO_FIT, SCALE_UP, autoscaler_event
from tests.bench.kubelet import gpu_node
from tests.e2e.bench_kit import pod_names, popen_run
from tests.kedro_run import RUN_CEILING, START_CEILING, wait_until

pytestmark = [pytest.mark.bench, pytest.mark.e2e]
FAIL_FAST_CEILING = 300
GPU_NODE = "nodes.clean_sales_node.gpu.type=nvidia-l4"


def pending_pod(cluster, before: set[str], driver, unschedulable: bool = False):
    """The run's new clean-sales pod (once the scheduler found no node for it)."""
    def found():
        pods = cluster.core_v1().list_namespaced_pod(
            cluster.namespace, label_selector="app.kubernetes.io/managed-by=kedro-kinetic").items
        return next((pod for pod in pods if pod.metadata.name not in before
                     and "clean-sales" in pod.metadata.name and not pod.spec.node_name
                     and (not unschedulable or any(
                         c.type == "PodScheduled" and c.reason == "Unschedulable"
                         for c in pod.status.conditions or []))), None)

    return wait_until(found, START_CEILING, interval=0.2, process=driver,
                      message="no pending clean-sales pod")


def post(cluster, pod, reason: str, message: str) -> None:
    """Post the cluster autoscaler's Event on ``pod``, as it would."""
    cluster.core_v1().create_namespaced_event(cluster.namespace, autoscaler_event(
        pod.metadata.name, reason, message, cluster.namespace, pod.metadata.uid,
        pod.metadata.resource_version))


def test_a_pod_the_autoscaler_adds_a_node_for_waits_past_the_unschedulable_timeout(
        bench_demo, k8s_cluster):
    before = pod_names(k8s_cluster)
    with popen_run(bench_demo, "--pipeline=data_processing", "--runner-params",
                   GPU_NODE) as proc:
        # posted as soon as the pod exists: whether the driver reads it before or after the
        # pod's Unschedulable condition, it must not fail at unschedulable_timeout_seconds (6)
        post(k8s_cluster, pending_pod(k8s_cluster, before, proc), "TriggeredScaleUp", SCALE_UP)
        proc.wait_for_output("clean_sales_node: pending (waiting for a node (scale-up): "
                             "gke-kedro-gpu-pool-5b1c9e2a-grp 0->1 (max 3))")
        # the Unschedulable timer fired and found the scale-up: still waiting, for longer
        proc.wait_for_output("it may take up to 1800 s (scale_up_timeout_seconds)")
        node = gpu_node(name="gke-kedro-gpu-pool-5b1c9e2a-q7wz", accelerator="nvidia-l4")
        k8s_cluster.kubelet.add_node(node)  # the node the scale-up brings
        try:
            code = proc.wait(RUN_CEILING)
        finally:
            k8s_cluster.kubelet.remove_node(node.name)
    output = proc.output
    assert code == 0, output[-4000:]
    assert "scheduled on node gke-kedro-gpu-pool-5b1c9e2a-q7wz; starting its container" in output
    assert "no node could host the pod" not in output and "ScaleUpTimeout" not in output


def test_a_pod_no_node_pool_can_take_fails_at_once_with_the_autoscalers_words(
        bench_demo, k8s_cluster):
    before = pod_names(k8s_cluster)
    with popen_run(bench_demo, "--pipeline=data_processing", "--runner-params",
                   f"{GPU_NODE},unschedulable_timeout_seconds=600") as proc:
        pod = pending_pod(k8s_cluster, before, proc, unschedulable=True)
        # the driver has read the scheduler's words too (no node of the cluster fits)
        proc.wait_for_output("clean_sales_node: pending (0/")
        post(k8s_cluster, pod, "NotTriggerScaleUp", NO_FIT)
        code = proc.wait(FAIL_FAST_CEILING)  # well before the 600 s Unschedulable timeout
    output = proc.output
    assert code != 0
    assert "node 'clean_sales_node' failed remotely" in output
    assert "NotTriggerScaleUp: the cluster autoscaler cannot add a node that fits the pod " \
           f"({NO_FIT})" in output
    assert "check the node's gpu, tpu, spot, node_selector and tolerations" in output
    assert "no node could host the pod for" not in output
