"""GKERunner on the real bench: a real kubelet runs every node in a runc container.

The image is demo_project's, built by buildah from the Dockerfile ``kedro kinetic init`` writes
and referenced by digest; the store is fake-gcs-server. What the test kubelet only models is
proven here: containers, images, securityContext, cgroup memory limits, logs through the
kubelet's API. One cluster serves the whole session (``real_cluster``); each test has its own
demo copy and store prefix.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest

from tests.conftest import copy_demo, kedro_cmd, subprocess_env
from tests.e2e.bench_kit import NODES, SALES_SIG, hashes, patch_node, run_objects
from tests.e2e.real_kit import kedro_run, make_real_demo, popen_run, real_env, wait_for_pod

pytestmark = [pytest.mark.real_kubelet, pytest.mark.e2e]

STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"
MANAGED = "app.kubernetes.io/managed-by=kedro-kinetic"


@pytest.fixture
def real_demo(tmp_path, real_cluster, gcs_emulator, request):
    """Factory of bench projects: ``real_demo(hooks=(), **kinetic_settings)``."""
    def make(hooks=(), **extra):
        return make_real_demo(tmp_path, real_cluster, gcs_emulator, request.node.name[:40],
                              hooks, **extra)
    return make


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, dict[str, str]]:
    """SequentialRunner's output hashes of demo_project (all, and data_processing)."""
    out = {}
    for name, args in (("all", []), ("data_processing", ["--pipeline=data_processing"])):
        project = copy_demo(tmp_path_factory.mktemp(f"seq-{name}"))
        subprocess.run([*kedro_cmd(), "run", *args], cwd=project, env=subprocess_env(),
                       capture_output=True, timeout=600, check=True)
        out[name] = hashes(project)
    return out


def run_id_of(output: str) -> str:
    match = re.search(r"kedro-kinetic run (\S+): \d+ nodes", output)
    assert match, output[-3000:]
    return match.group(1)


def jobs_of(cluster, run_id: str) -> list:
    return [j for j in cluster.batch_v1().list_namespaced_job(
        cluster.namespace, label_selector=MANAGED).items
        if j.metadata.annotations.get("kedro-kinetic.io/run-id") == run_id]


def test_demo_equals_sequential_runner_one_container_per_node(real_demo, real_cluster,
                                                               reference):
    project = real_demo()
    proc = kedro_run(project, real_cluster)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert hashes(project) == reference["all"]

    run_id = run_id_of(output)
    names = [j.metadata.annotations["kedro-kinetic.io/node-name"]
             for j in jobs_of(real_cluster, run_id)]
    assert len(names) == 13 and len(set(names)) == 13
    label = jobs_of(real_cluster, run_id)[0].metadata.labels["kedro-kinetic.io/run"]
    _, pods = run_objects(real_cluster, label)
    digest = real_cluster.images["demo"].digest
    for pod in pods:  # each node ran in a container of the pinned image, on the real Node
        assert pod.spec.node_name == real_cluster.node_name
        (status,) = pod.status.container_statuses
        assert status.image_id.endswith(digest), status.image_id
        assert status.state.terminated.exit_code == 0
    # the pods' output came through the kubelet's log endpoint, prefixed by the node's name
    assert "[train_model_node] [kinetic-pod] running node train_model_node" in proc.stdout
