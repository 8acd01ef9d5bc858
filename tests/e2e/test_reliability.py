"""Reliability on the bench: driver death + resume, API/GCS faults, watch expiry, pod kills.

Each test injects the fault for real: SIGKILL of the `kedro run` process, a restarted
kube-apiserver, a transport that fails 20% of requests (tests/e2e/faults), a pod process
killed by the bench kubelet.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import copy_demo, kedro_cmd, subprocess_env
from tests.e2e.bench_kit import (
    hashes,
    kedro_run,
    make_bench_demo,
    patch_node,
    pod_names,
    popen_run,
    run_jobs,
    wait_for_running_pod,
)

pytestmark = [pytest.mark.bench, pytest.mark.e2e]
FAULTS = Path(__file__).parent / "faults"
STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"
PRODUCT_SIG = "def compute_product_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"
CALENDAR_SIG = "def compute_calendar_features("


@pytest.fixture
def bench(tmp_path, k8s_cluster, gcs_emulator, request):
    previous = k8s_cluster.kubelet.cwd

    def make(**extra):
        return make_bench_demo(tmp_path, k8s_cluster, gcs_emulator, request.node.name[:40],
                               **extra)

    yield make
    k8s_cluster.kubelet.cwd = previous


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """SequentialRunner's outputs of demo_project (data_processing and all)."""
    out = {}
    for name, args in (("all", []), ("data_processing", ["--pipeline=data_processing"])):
        project = copy_demo(tmp_path_factory.mktemp(name))
        import subprocess

        subprocess.run([*kedro_cmd(), "run", *args], cwd=project, env=subprocess_env(),
                       capture_output=True, timeout=600, check=True)
        out[name] = hashes(project)
    return out


def count_marker(project: Path, node: str) -> int:
    path = project / "executions" / node
    return len(path.read_text().splitlines()) if path.exists() else 0


def mark_executions(project: Path, signature: str, node: str, extra: str = "") -> None:
    (project / "executions").mkdir(exist_ok=True)
    patch_node(project, signature,
               f"import pathlib; open(pathlib.Path({str(project)!r}) / 'executions' / "
               f"{node!r}, 'a').write('ran\\n')\n{extra}")


def run_id_of(output: str) -> str:
    match = re.search(r"kedro-kinetic run (\S+): \d+ nodes", output)
    assert match, output[-3000:]
    return match.group(1)


def completed_counts(output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in re.findall(r"Completed node: (\S+)", output):
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_sigkill_driver_then_resume_runs_nothing_twice(bench, k8s_cluster, reference):
    project = bench()
    mark_executions(project, STORE_SIG, "store_features_node", "import time; time.sleep(12)")
    mark_executions(project, PRODUCT_SIG, "product_features_node")
    mark_executions(project, "def clean_sales(", "clean_sales_node")
    before = pod_names(k8s_cluster)
    proc = popen_run(project, "--pipeline=data_processing")
    wait_for_running_pod(k8s_cluster, before)
    time.sleep(1)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    run_id = run_id_of(out)
    resumed = kedro_run(project, "--pipeline=data_processing", "--runner-params",
                        f"resume={run_id}")
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-5000:]
    assert "already finished" in output
    assert "Adopted existing Job" in output  # the slow node's Job was watched again
    for node in ("store_features_node", "product_features_node", "clean_sales_node"):
        assert count_marker(project, node) == 1, node
    names = [j.metadata.annotations["kedro-kinetic.io/node-name"] for j in run_jobs(k8s_cluster)
             if j.metadata.annotations.get("kedro-kinetic.io/run-id") == run_id]
    assert sorted(names) == sorted(set(names)) and len(names) == 8
    assert hashes(project) == reference["data_processing"]


def test_twenty_percent_api_and_gcs_faults_do_not_change_the_outputs(bench, k8s_cluster,
                                                                   tmp_path, reference):
    log = tmp_path / "faults.log"
    fault_env = {"PYTHONPATH": str(FAULTS), "KINETIC_FAULT_RATE": "0.2",
                 "KINETIC_FAULT_LOG": str(log)}
    project = bench()
    # the pods get the fault injection from the bench's kubelet (test infrastructure):
    # configuration may not set PYTHONPATH or KINETIC_* for a node
    previous = dict(k8s_cluster.kubelet.extra_env)
    k8s_cluster.kubelet.extra_env.update(fault_env)
    try:
        proc = popen_run(project, env=subprocess_env(**fault_env))
        out, _ = proc.communicate(timeout=900)
    finally:
        k8s_cluster.kubelet.extra_env.clear()
        k8s_cluster.kubelet.extra_env.update(previous)
    assert proc.returncode == 0, out[-6000:]
    kinds = log.read_text().split()
    assert any(k.startswith("k8s-") for k in kinds), "no API fault was injected"
    assert any(k.startswith("gcs-") for k in kinds), "no GCS fault was injected"
    assert hashes(project) == reference["all"]
    assert set(completed_counts(out).values()) == {1}


def test_api_restarts_and_watch_expiry_miss_no_transition(bench, k8s_cluster, tmp_path,
                                                         reference):
    log = tmp_path / "faults.log"
    project = bench()
    patch_node(project, STORE_SIG, "import time; time.sleep(10)")
    patch_node(project, PRODUCT_SIG, "import time; time.sleep(4)")
    env = subprocess_env(PYTHONPATH=str(FAULTS), KINETIC_FAULT_GONE="2",
                         KINETIC_FAULT_LOG=str(log))
    before = pod_names(k8s_cluster)
    proc = popen_run(project, "--pipeline=data_processing", env=env)
    try:
        wait_for_running_pod(k8s_cluster, before)
        k8s_cluster.restart_apiserver()
        time.sleep(2)
        k8s_cluster.restart_apiserver()
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-6000:]
    assert "watch-410" in log.read_text()
    counts = completed_counts(out)
    assert len(counts) == 8 and set(counts.values()) == {1}, counts
    assert hashes(project) == reference["data_processing"]


@pytest.mark.parametrize("retries", [1, 0])
def test_killed_pod_is_retried_or_reported_as_killed(bench, k8s_cluster, retries, reference):
    project = bench()
    mark_executions(project, STORE_SIG, "store_features_node", "import time; time.sleep(6)")
    before = pod_names(k8s_cluster)
    proc = popen_run(project, "--pipeline=data_processing", "--runner-params",
                     f"nodes.store_features_node.retries={retries}")
    try:
        pod = wait_for_running_pod(k8s_cluster, before)
        deadline = time.monotonic() + 60
        while count_marker(project, "store_features_node") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # kill it while the node's own code runs
        assert k8s_cluster.kubelet.kill_pod(k8s_cluster.namespace, pod.metadata.name)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    if retries:
        assert proc.returncode == 0, out[-5000:]
        assert count_marker(project, "store_features_node") == 2
        assert hashes(project) == reference["data_processing"]
    else:
        assert proc.returncode != 0
        assert "node 'store_features_node' failed remotely" in out
        assert "the pod was killed (SIGKILL, exit code 137)" in out
        assert "not an error raised by the node's code" in out


def test_pod_killed_while_writing_a_large_output_leaves_nothing_partial(
        bench, k8s_cluster, reference):
    project = bench()
    # product_features_node returns ~150 MB more than usual, then is killed while saving it
    patch_node(project, PRODUCT_SIG,
               "import sys; print('returning a large output', flush=True); "
               "sales_primary = sales_primary.assign("
               "padding=[b'x' * 250_000] * len(sales_primary))")
    mark_executions(project, "def create_model_input_table(", "create_model_input_table_node")
    before = pod_names(k8s_cluster)
    proc = popen_run(project, "--pipeline=data_processing")
    try:
        pod = wait_for_running_pod(k8s_cluster, before, name_part="product-features")
        deadline = time.monotonic() + 60
        while "returning a large output" not in k8s_cluster.kubelet.pod_log(
                k8s_cluster.namespace, pod.metadata.name) and time.monotonic() < deadline:
            time.sleep(0.05)
        k8s_cluster.kubelet.kill_pod(k8s_cluster.namespace, pod.metadata.name)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, "the killed producer should fail the run (retries: 0)"
    assert "node 'product_features_node' failed remotely" in out
    assert count_marker(project, "create_model_input_table_node") == 0
    # resuming runs the producer again; the consumer reads only a complete, verified object
    resumed = kedro_run(project, "--pipeline=data_processing", "--runner-params",
                        f"resume={run_id_of(out)}")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-5000:]
    assert count_marker(project, "create_model_input_table_node") == 1
