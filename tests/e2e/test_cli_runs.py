"""`kedro kinetic status|logs|cancel|clean` work from the store and the cluster alone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from tests.conftest import STATE_DIR, kedro_cmd, subprocess_env
from tests.e2e.bench_kit import (
    make_bench_demo,
    patch_node,
    pod_names,
    popen_run,
    wait_for_running_pod,
)

pytestmark = pytest.mark.e2e
STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"


def kinetic(project, *args, check=True):
    proc = subprocess.run([*kedro_cmd(), "kinetic", *args], cwd=project, capture_output=True,
                          text=True, env=subprocess_env(), timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def run_ids(project, *env):
    out = kinetic(project, "status", *env).stdout
    return [line.split("\t")[0] for line in out.splitlines() if "\t" in line]


def test_status_logs_and_clean_on_the_local_backend(demo):
    proc = subprocess.run([*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner",
                           "--pipeline=data_processing"], cwd=demo, capture_output=True,
                          text=True, env=subprocess_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run_id] = run_ids(demo)
    status = kinetic(demo, "status", run_id)
    rows = [line.split("\t") for line in status.stdout.splitlines() if "\t" in line]
    assert len(rows) == 8 and {r[1] for r in rows} == {"succeeded"}
    assert "# 8 succeeded" in status.stderr
    logs = kinetic(demo, "logs", run_id, "clean_sales_node").stdout
    assert "[clean_sales_node] [kinetic-pod] running node clean_sales_node" in logs
    assert "store_features_node" not in logs
    missing = kinetic(demo, "logs", "no-such-run", check=False)
    assert missing.returncode != 0 and "no run 'no-such-run'" in missing.stderr
    assert run_id not in missing.stderr  # a bad id names close matches, never every run
    assert "cleaned" not in kinetic(demo, "clean", "--older-than", "7d").stdout
    time.sleep(1.1)
    assert "would clean" in kinetic(demo, "clean", "--older-than", "1s", "--dry-run").stdout
    refused = kinetic(demo, "clean", "--older-than", "1s", check=False)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert run_ids(demo) == [run_id]
    cleaned = kinetic(demo, "clean", "--older-than", "1s", "--yes").stdout
    assert re.search(r"cleaned .*: \d+ object\(s\)", cleaned)
    assert run_ids(demo) == []


def test_cancel_from_another_terminal_kills_the_local_node(demo):
    patch_node(demo, STORE_SIG, "import time; time.sleep(300)")
    driver = subprocess.Popen([*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner",
                               "--pipeline=data_processing"], cwd=demo, env=subprocess_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        pid_files = []
        while time.monotonic() < deadline:
            pid_files = list(STATE_DIR.rglob("pids/store-features*"))
            if pid_files:
                break
            time.sleep(0.2)
        assert pid_files, "the slow node never started"
        pid = json.loads(pid_files[0].read_text())["pid"]
        [run_id] = run_ids(demo)
        assert "store_features_node\trunning" in kinetic(demo, "status", run_id).stdout
        out = kinetic(demo, "cancel", run_id).stdout
        assert "cancelled 1 node(s)" in out and "store-features" in out
        driver.wait(timeout=60)
        assert driver.returncode != 0
        with pytest.raises(ProcessLookupError):
            for _ in range(20):
                os.kill(pid, 0)
                time.sleep(0.1)
    finally:
        if driver.poll() is None:
            driver.kill()


@pytest.mark.bench
def test_status_logs_cancel_clean_on_the_bench(tmp_path, k8s_cluster, gcs_emulator):
    previous = k8s_cluster.kubelet.cwd
    project = make_bench_demo(tmp_path, k8s_cluster, gcs_emulator, "cli-runs")
    try:
        patch_node(project, STORE_SIG, "print('store features sleeping', flush=True); "
                                       "import time; time.sleep(300)")
        before = pod_names(k8s_cluster)
        driver = popen_run(project, "--pipeline=data_processing")
        pod = wait_for_running_pod(k8s_cluster, before)
        label = pod.metadata.labels["kedro-kinetic.io/run"]
        [run_id] = run_ids(project, "--env=bench")
        assert "store_features_node\trunning" in kinetic(project, "status", run_id,
                                                         "--env=bench").stdout
        deadline = time.monotonic() + 30
        while "store features sleeping" not in kinetic(
                project, "logs", run_id, "store_features_node", "--env=bench").stdout:
            assert time.monotonic() < deadline, "the pod's log never came through the API"
            time.sleep(0.5)
        kinetic(project, "cancel", run_id, "--env=bench")
        driver.wait(timeout=60)
        selector = f"kedro-kinetic.io/run={label}"
        deadline = time.monotonic() + 10
        while (k8s_cluster.batch_v1().list_namespaced_job(k8s_cluster.namespace,
                                                          label_selector=selector).items
               or k8s_cluster.core_v1().list_namespaced_pod(k8s_cluster.namespace,
                                                           label_selector=selector).items):
            assert time.monotonic() < deadline, "Jobs or Pods left behind after cancel"
            time.sleep(0.25)
        bucket = gcs_emulator.client().bucket(gcs_emulator.bucket)
        prefix = f"cli-runs/runs/{label}/"
        assert list(bucket.list_blobs(prefix=prefix))
        assert "cleaned" in kinetic(project, "clean", run_id, "--env=bench", "--yes").stdout
        assert not list(bucket.list_blobs(prefix=prefix))
    finally:
        k8s_cluster.kubelet.cwd = previous
