"""Reliability on the bench: driver death + resume, API/GCS faults, watch expiry, pod kills.

Each test injects the fault for real: SIGKILL of the `kedro run` process, a restarted
kube-apiserver, a transport that fails 20% of requests (tests/e2e/faults), a pod process
killed by the bench kubelet.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.conftest import copy_demo
from tests.e2e.bench_kit import (
    hashes,
    hold_until,
    kedro_run,
    make_bench_demo,
    patch_node,
    pod_names,
    popen_run,
    run_jobs,
    wait_for_running_pod,
)
from tests.kedro_run import STOP_CEILING, kedro, run_id_of, wait_until

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
        proc = kedro(project, "run", *args)
        assert proc.returncode == 0, proc.stderr[-3000:]
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


def watch_opens(log: Path) -> list[str]:
    """What each watch stream the driver opened so far watched (``jobs``, ``pods``), in
    order (tests/e2e/faults records them)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.split()[-1] for line in lines if " watch-open " in line]


def completed_counts(output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in re.findall(r"Completed node: (\S+)", output):
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_sigkill_driver_then_resume_runs_nothing_twice(bench, k8s_cluster, reference):
    project = bench()
    go = project / "store-features.go"  # the slow node runs on until the resume adopted it
    mark_executions(project, STORE_SIG, "store_features_node", hold_until(go))
    mark_executions(project, PRODUCT_SIG, "product_features_node")
    mark_executions(project, "def clean_sales(", "clean_sales_node")
    before = pod_names(k8s_cluster)
    with popen_run(project, "--pipeline=data_processing") as proc:
        wait_for_running_pod(k8s_cluster, before, driver=proc)
        wait_until(lambda: count_marker(project, "store_features_node"), process=proc,
                   message="the slow node's code never ran")
        proc.signal(signal.SIGKILL)
        proc.wait(STOP_CEILING)
    run_id = run_id_of(proc.output)
    with popen_run(project, "--pipeline=data_processing", "--runner-params",
                   f"resume={run_id}") as resumed:
        # the slow node's Job is watched again, not submitted anew
        resumed.wait_for_output(re.compile(r"Adopted existing Job store-features-node"),
                                flat=True)
        go.write_text("go")
        resumed.wait()
    output = resumed.output
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
        with popen_run(project, env=fault_env) as proc:
            proc.wait()
        out = proc.output
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
    go = project / "store-features.go"  # the slow node runs on through both restarts
    patch_node(project, STORE_SIG, hold_until(go))
    patch_node(project, PRODUCT_SIG, "import time; time.sleep(4)")
    env = {"PYTHONPATH": str(FAULTS), "KINETIC_FAULT_GONE": "2", "KINETIC_FAULT_LOG": str(log)}
    before = pod_names(k8s_cluster)
    with popen_run(project, "--pipeline=data_processing", env=env) as proc:
        wait_for_running_pod(k8s_cluster, before, driver=proc)
        seen = len(watch_opens(log))
        k8s_cluster.restart_apiserver()
        # both watches of the driver (Jobs, Pods) are back on the new server: then again
        wait_until(lambda: {"jobs", "pods"} <= set(watch_opens(log)[seen:]), process=proc,
                   message=lambda: f"watches since the restart: {watch_opens(log)[seen:]}")
        k8s_cluster.restart_apiserver()
        go.write_text("go")
        proc.wait()
    out = proc.output
    assert proc.returncode == 0, out[-6000:]
    assert "watch-410" in log.read_text()
    counts = completed_counts(out)
    assert len(counts) == 8 and set(counts.values()) == {1}, counts
    assert hashes(project) == reference["data_processing"]


@pytest.mark.parametrize("retries", [1, 0])
def test_killed_pod_is_retried_or_reported_as_killed(bench, k8s_cluster, retries, reference):
    project = bench()
    go = project / "store-features.go"  # the first attempt runs on until it is killed
    mark_executions(project, STORE_SIG, "store_features_node", hold_until(go))
    before = pod_names(k8s_cluster)
    with popen_run(project, "--pipeline=data_processing", "--runner-params",
                   f"nodes.store_features_node.retries={retries}") as proc:
        pod = wait_for_running_pod(k8s_cluster, before, driver=proc)
        wait_until(lambda: count_marker(project, "store_features_node") >= 1, interval=0.05,
                   process=proc)  # kill it while the node's own code runs
        assert k8s_cluster.kubelet.kill_pod(k8s_cluster.namespace, pod.metadata.name)
        go.write_text("go")  # a retry goes through
        proc.wait()
    out = proc.output
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
    go = project / "go"
    # product_features_node returns ~150 MB more than usual, then is killed while saving it:
    # it waits for the test, which kills the pod right after letting it go on (building,
    # pickling and uploading 150 MB takes far longer than the kill)
    patch_node(project, PRODUCT_SIG,
               "import pathlib, time\nprint('returning a large output', flush=True)\n"
               f"while not pathlib.Path({str(go)!r}).exists():\n    time.sleep(0.01)\n"
               "sales_primary = sales_primary.assign("
               "padding=[b'x' * 250_000] * len(sales_primary))")
    mark_executions(project, "def create_model_input_table(", "create_model_input_table_node")
    before = pod_names(k8s_cluster)
    with popen_run(project, "--pipeline=data_processing") as proc:
        pod = wait_for_running_pod(k8s_cluster, before, name_part="product-features",
                                   driver=proc)
        wait_until(lambda: "returning a large output" in k8s_cluster.kubelet.pod_log(
            k8s_cluster.namespace, pod.metadata.name), interval=0.05, process=proc)
        go.write_text("go")
        k8s_cluster.kubelet.kill_pod(k8s_cluster.namespace, pod.metadata.name)
        proc.wait()
    out = proc.output
    assert proc.returncode != 0, "the killed producer should fail the run (retries: 0)"
    assert "node 'product_features_node' failed remotely" in out
    assert count_marker(project, "create_model_input_table_node") == 0
    # resuming runs the producer again; the consumer reads only a complete, verified object
    resumed = kedro_run(project, "--pipeline=data_processing", "--runner-params",
                        f"resume={run_id_of(out)}")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-5000:]
    assert count_marker(project, "create_model_input_table_node") == 1
