"""`kedro kinetic status|logs|cancel|clean` work from the store and the cluster alone."""

from __future__ import annotations

import json
import re
import time

import pytest

from kedro_kinetic.wire import naming
from tests.conftest import STATE_DIR
from tests.e2e.bench_kit import (
    make_bench_demo,
    patch_node,
    pod_names,
    popen_run,
    wait_for_running_pod,
)
from tests.kedro_run import (
    START_CEILING,
    STOP_CEILING,
    kedro,
    kedro_popen,
    pid_alive,
    wait_until,
)

pytestmark = pytest.mark.e2e
STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"


def kinetic(project, *args, check=True):
    proc = kedro(project, "kinetic", *args)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def run_ids(project, *env):
    out = kinetic(project, "status", *env).stdout
    return [line.split("\t")[0] for line in out.splitlines() if "\t" in line]


def test_status_logs_and_clean_on_the_local_backend(demo):
    proc = kedro(demo, "run", "--runner=kedro_kinetic.GKERunner", "--pipeline=data_processing")
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
    time.sleep(1.1)  # not a wait for an event: the run must be older than the 1 s below
    assert "would clean" in kinetic(demo, "clean", "--older-than", "1s", "--dry-run").stdout
    refused = kinetic(demo, "clean", "--older-than", "1s", check=False)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert run_ids(demo) == [run_id]
    cleaned = kinetic(demo, "clean", "--older-than", "1s", "--yes").stdout
    assert re.search(r"cleaned .*: \d+ object\(s\)", cleaned)
    assert run_ids(demo) == []


def test_cancel_from_another_terminal_kills_the_local_node(demo):
    patch_node(demo, STORE_SIG, "import time; time.sleep(900)")  # until cancelled
    with kedro_popen(demo, "run", "--runner=kedro_kinetic.GKERunner",
                     "--pipeline=data_processing") as driver:
        pid_files = wait_until(lambda: list(STATE_DIR.rglob("pids/store-features*")),
                               START_CEILING, interval=0.2, process=driver,
                               message="the slow node never started")
        pid = json.loads(pid_files[0].read_text())["pid"]
        [run_id] = run_ids(demo)
        assert "store_features_node\trunning" in kinetic(demo, "status", run_id).stdout
        out = kinetic(demo, "cancel", run_id).stdout
        assert "cancelled 1 node(s)" in out and "store-features" in out
        driver.wait(STOP_CEILING)
        assert driver.returncode != 0
        wait_until(lambda: not pid_alive(pid), STOP_CEILING,
                   message=f"node process {pid} still alive after cancel")


@pytest.mark.bench
def test_status_logs_cancel_clean_on_the_bench(tmp_path, k8s_cluster, gcs_emulator):
    previous = k8s_cluster.kubelet.cwd
    project = make_bench_demo(tmp_path, k8s_cluster, gcs_emulator, "cli-runs")
    try:
        patch_node(project, STORE_SIG, "print('store features sleeping', flush=True); "
                                       "import time; time.sleep(900)")  # until cancelled
        before = pod_names(k8s_cluster)
        with popen_run(project, "--pipeline=data_processing") as driver:
            pod = wait_for_running_pod(k8s_cluster, before, driver=driver)
            label = pod.metadata.labels["kedro-kinetic.io/run"]
            # the bench's namespace is the session's: runs of earlier tests are listed too
            [run_id] = [r for r in run_ids(project, "--env=bench")
                        if naming.run_label(r) == label]
            printed = driver.wait_for_output(re.compile(r"kedro-kinetic run (\S+): \d+ nodes"))
            assert printed.group(1) == run_id
            assert "store_features_node\trunning" in kinetic(project, "status", run_id,
                                                             "--env=bench").stdout
            # each check starts a `kedro kinetic logs`: poll seconds apart, for minutes
            wait_until(lambda: "store features sleeping" in kinetic(
                project, "logs", run_id, "store_features_node", "--env=bench").stdout,
                START_CEILING, interval=1, message="the pod's log never came through the API")
            kinetic(project, "cancel", run_id, "--env=bench")
            driver.wait(STOP_CEILING)
        selector = f"kedro-kinetic.io/run={label}"
        wait_until(lambda: not (
            k8s_cluster.batch_v1().list_namespaced_job(k8s_cluster.namespace,
                                                       label_selector=selector).items
            or k8s_cluster.core_v1().list_namespaced_pod(k8s_cluster.namespace,
                                                        label_selector=selector).items),
            STOP_CEILING, interval=0.25, message="Jobs or Pods left behind after cancel")
        bucket = gcs_emulator.client().bucket(gcs_emulator.bucket)
        prefix = f"cli-runs/runs/{label}/"
        assert list(bucket.list_blobs(prefix=prefix))
        assert "cleaned" in kinetic(project, "clean", run_id, "--env=bench", "--yes").stdout
        assert not list(bucket.list_blobs(prefix=prefix))
    finally:
        k8s_cluster.kubelet.cwd = previous
