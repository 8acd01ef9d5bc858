"""`kedro kinetic status|logs|cancel|clean` work from the store and the cluster alone."""

from __future__ import annotations

import json
import re
import time

import pytest

from kedro_kinetic.wire import naming
from tests.conftest import STATE_DIR, local_run_folder
from tests.e2e.bench_kit import (
    hold_until,
    make_bench_demo,
    patch_node,
    pod_names,
    popen_run,
    wait_for_running_pod,
)
from tests.kedro_run import (
    RUN_CEILING,
    START_CEILING,
    STOP_CEILING,
    flat,
    kedro,
    kedro_popen,
    pid_alive,
    wait_until,
)

pytestmark = pytest.mark.e2e
STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"
CLEAN_SIG = "def clean_sales("
#: Node code that proves a cancel is graceful: its own SIGTERM handler leaves a marker.
GRACEFUL = """
import pathlib, signal, sys, time
def _on_sigterm(signum, frame):
    pathlib.Path({marker!r}).write_text("SIGTERM reached the node")
    sys.exit(143)
signal.signal(signal.SIGTERM, _on_sigterm)
time.sleep(900)
"""


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
    assert "[clean_sales_node] DEBUG    kedro_kinetic.pod.node: running node clean_sales_node" \
        in logs  # the pod's logging records, as text
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


def test_cancel_is_graceful_and_the_run_ends_as_cancelled(demo, tmp_path):
    marker = tmp_path / "sigterm"
    patch_node(demo, STORE_SIG, GRACEFUL.format(marker=str(marker)))  # until cancelled
    with kedro_popen(demo, "run", "--runner=kedro_kinetic.GKERunner") as driver:
        [run_id] = wait_until(lambda: run_ids(demo), START_CEILING, interval=1,
                              process=driver)
        pids = local_run_folder(demo, run_id) / "pids"
        wait_until(lambda: list(pids.glob("store-features*")), START_CEILING, interval=0.2,
                   process=driver, message="the slow node never started")
        out = kinetic(demo, "cancel", run_id).stdout
        assert "cancelled 1 node(s)" in out and "store-features" in out
        driver.wait(STOP_CEILING)
    assert driver.returncode != 0
    assert marker.read_text() == "SIGTERM reached the node"  # its own handler ran
    said = flat(driver)
    assert ("node 'store_features_node' was cancelled by `kedro kinetic cancel` "
            "(SIGTERM, exit code 143)") in said
    assert "store_features_node: cancelled (Cancelled: cancelled by `kedro kinetic " in said
    assert "evicted" not in said and "its node was lost" not in said
    rows = {r[0]: r for r in (line.split("\t") for line in
                              kinetic(demo, "status", run_id).stdout.splitlines())}
    assert rows["store_features_node"][1] == "cancelled"
    assert rows["store_features_node"][4] == "cancelled by `kedro kinetic cancel`"
    assert rows["create_model_input_table_node"][1] == "not run"
    assert rows["evaluate_model_node"][1] == "not run"  # never submitted, listed all the same
    [listed] = [line.split("\t") for line in kinetic(demo, "status").stdout.splitlines()
                if line.startswith(run_id)]
    assert listed[2] == "cancelled" and listed[3].endswith("/0/13")


def test_logs_follow_the_run_to_its_end_and_a_grouped_node_shows_its_groups_log(demo,
                                                                                  tmp_path):
    go = tmp_path / "go"
    patch_node(demo, CLEAN_SIG, "print('clean sales holding', flush=True)\n" + hold_until(go))
    patch_node(demo, STORE_SIG, "print('store features ran', flush=True)")
    with kedro_popen(demo, "run", "--runner=kedro_kinetic.GKERunner", "--runner-params",
                     "grouping=chains") as driver:
        [run_id] = wait_until(lambda: run_ids(demo), START_CEILING, interval=1,
                              process=driver)
        with kedro_popen(demo, "kinetic", "logs", "-f", run_id) as follower:
            follower.wait_for_output("clean sales holding")
            go.write_text("go")  # store_features_node starts only now, after `logs -f`
            driver.wait(RUN_CEILING)
            assert driver.returncode == 0, driver.output[-3000:]
            follower.wait(STOP_CEILING)  # it ends with the run, by itself
        assert "[store_features_node] store features ran" in follower.output
    grouped = kinetic(demo, "logs", run_id, "split_data_node")
    group = "group:chain-create_model_input_table_node"
    assert f"split_data_node runs in {group}" in grouped.stderr
    assert f"[{group}] " in grouped.stdout
    [listed] = [line.split("\t") for line in kinetic(demo, "status").stdout.splitlines()
                if line.startswith(run_id)]
    assert listed[2:4] == ["succeeded", "13/0/13"]


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
        # the cancel was recorded in the run's Secret before the Jobs went: a cancel, not a
        # deletion by someone else, for the driver and for status
        assert "node 'store_features_node' was cancelled by `kedro kinetic cancel`" in flat(
            driver)
        assert "store_features_node\tcancelled" in kinetic(project, "status", run_id,
                                                             "--env=bench").stdout
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
