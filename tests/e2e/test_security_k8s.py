"""The Kubernetes channel: a writer of the GCS bucket cannot run code or steer the CLI.

On the bench (real kube-apiserver and job controller, test kubelet, fake-gcs-server as the
store). The run's key lives in a Kubernetes Secret that only the driver creates and the pods
read through ``secretKeyRef``; results in the bucket are sealed with it. Each attack would
write MARKER if it worked; each test proves delivery and asserts the marker is absent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.wire import naming, seal
from kedro_kinetic.wire.result import RESULT_FORMAT
from tests.e2e.attack_kit import PausedRun
from tests.e2e.bench_kit import (
    DS_NODES,
    SALES_SIG,
    patch_node,
    popen_run,
    run_objects,
    wait_for_running_pod,
)
from tests.kedro_run import STOP_CEILING, flat, kedro, run_id_of, wait_until
from tests.pod_kit import evil_pickle

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

pytestmark = [pytest.mark.bench, pytest.mark.e2e]
SPLIT_OUTPUTS = ("X_train", "X_test", "y_train", "y_test")


def kedro_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return kedro(project, "run", "--env=bench", "--runner=kedro_kinetic.GKERunner", *args,
                 env={"COLUMNS": "2000", **env})


def kinetic(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = kedro(project, "kinetic", *args, "--env=bench")
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def bucket(gcs):
    return gcs.client().bucket(gcs.bucket)


def forge_in_bucket(gcs, run_root: str, node: str, marker: Path) -> str:
    """Upload a result claiming success and evil pickles where the consumers read."""
    blob = evil_pickle(marker)
    digest = hashlib.sha256(blob).hexdigest()
    prefix = run_root[len(f"gs://{gcs.bucket}/"):]
    outputs = {}
    for name in SPLIT_OUTPUTS:
        key = f"{prefix}/data/{naming.dataset_key(name)}.pkl"
        bucket(gcs).blob(key).upload_from_string(blob)
        outputs[name] = {"kind": "pickle", "uri": f"gs://{gcs.bucket}/{key}", "sha256": digest}
    key = f"{prefix}/results/{naming.node_key(node)}.json"
    bucket(gcs).blob(key).upload_from_string(json.dumps({
        "format": RESULT_FORMAT, "node": node, "status": "succeeded", "exit_code": 0,
        "phase": "done", "outputs": outputs}))
    return key


def run_root(gcs, request_prefix: str, run_id: str) -> str:
    return f"gs://{gcs.bucket}/{request_prefix}/runs/{naming.run_label(run_id)}"


def test_a_result_forged_in_the_bucket_during_the_run_is_refused(bench_demo, k8s_cluster,
                                                                 gcs_emulator, tmp_path, request):
    marker = tmp_path / "MARKER"

    def launch(race: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        k8s_cluster.kubelet.extra_env.update(race)  # the bench's pods get it, not the driver
        # the result is read when the Job ends, after the forgery (results first could read
        # the genuine one before it; tests/e2e/test_security_store.py covers that case)
        return ["run", "--env=bench", "--runner=kedro_kinetic.GKERunner",
                "--runner-params", "results_first=false"], {}

    with PausedRun(bench_demo, tmp_path, "split-data-node", launch) as run:
        uri = run.paused_result()
        root = uri.split("/results/")[0]
        forged = forge_in_bucket(gcs_emulator, root, "split_data_node", marker)
        assert forged == uri[len(f"gs://{gcs_emulator.bucket}/"):]
        text = run.resume_and_wait()
    driver = run.driver
    assert driver.returncode != 0
    assert f"result {uri} is not sealed with the run's key" in text
    assert not marker.exists()


def test_resume_trusts_only_sealed_results_and_reads_the_key_from_the_secret(
        bench_demo, k8s_cluster, gcs_emulator, tmp_path, request):
    marker = tmp_path / "MARKER"
    patch_node(bench_demo, "def feature_importance(", "import os\nif os.environ.get("
               "'KINETIC_TEST_FAIL'):\n    raise RuntimeError('planned failure')",
               nodes=DS_NODES)
    k8s_cluster.kubelet.extra_env["KINETIC_TEST_FAIL"] = "1"
    first = kedro_run(bench_demo)
    assert first.returncode != 0 and "planned failure" in first.stdout + first.stderr
    run_id = run_id_of(first.stdout + first.stderr)
    label = naming.run_label(run_id)

    secret = k8s_cluster.core_v1().read_namespaced_secret(naming.key_secret(label),
                                                         k8s_cluster.namespace)
    assert secret.metadata.labels["kedro-kinetic.io/run"] == label
    key_hex = base64.b64decode(secret.data[seal.SECRET_DATA_KEY]).decode()
    record = bucket(gcs_emulator).blob(
        f"{request.node.name[:40]}/runs/{label}/manifests/"
        f"{naming.node_key('split_data_node')}.json").download_as_bytes()
    env = json.loads(record)["spec"]["template"]["spec"]["containers"][0]["env"]
    [ref] = [e for e in env if e["name"] == seal.KEY_ENV]  # a reference, never the value
    assert ref == {"name": seal.KEY_ENV, "valueFrom": {"secretKeyRef": {
        "name": naming.key_secret(label), "key": seal.SECRET_DATA_KEY}}}
    for blob in bucket(gcs_emulator).list_blobs(prefix=request.node.name[:40]):
        assert key_hex.encode() not in blob.download_as_bytes()  # never in the store
    assert key_hex not in first.stdout + first.stderr

    forge_in_bucket(gcs_emulator, run_root(gcs_emulator, request.node.name[:40], run_id),
                    "split_data_node", marker)
    del k8s_cluster.kubelet.extra_env["KINETIC_TEST_FAIL"]
    other_machine = tmp_path / "another-machine-state"  # no local state: the key is the API's
    other_machine.mkdir(mode=0o700)
    resumed = kedro_run(bench_demo, "--runner-params", f"resume={run_id}",
                        KINETIC_STATE_DIR=str(other_machine))
    text = flat(resumed)
    assert resumed.returncode == 0, text[-4000:]
    assert "is not sealed with the run's key" in text
    assert "Resume: node split_data_node runs again" in text
    assert not marker.exists()


def test_bucket_records_cannot_make_clean_or_cancel_act_on_the_wrong_run(
        bench_demo, k8s_cluster, gcs_emulator, request):
    prefix = request.node.name[:40]
    patch_node(bench_demo, SALES_SIG, "import time; time.sleep(600)")
    before = {p.metadata.name for p in k8s_cluster.core_v1().list_namespaced_pod(
        k8s_cluster.namespace).items}
    driver = popen_run(bench_demo, "--pipeline=data_processing")
    try:
        pod = wait_for_running_pod(k8s_cluster, before, name_part="product-features",
                                   driver=driver)
        label = pod.metadata.labels["kedro-kinetic.io/run"]
        live_jobs = {j.metadata.name for j in run_objects(k8s_cluster, label)[0]}
        # backdated records of the live run, and a run that exists only in the bucket
        old = "2020-01-01T00.00.00.000Z"
        for run_label, run_id in ((label, old), ("fake-run", old)):
            bucket(gcs_emulator).blob(f"{prefix}/runs/{run_label}/manifests/n.json") \
                .upload_from_string(json.dumps({"metadata": {
                    "name": "n", "labels": {"kedro-kinetic.io/node": "n"},
                    "annotations": {"kedro-kinetic.io/run-id": run_id,
                                    "kedro-kinetic.io/node-name": "forged"}}}))
        status = kinetic(bench_demo, "status")
        assert "fake-run" not in status.stdout and old not in status.stdout
        clean = kinetic(bench_demo, "clean", "--older-than", "1d", "--yes")
        assert "cleaned" not in clean.stdout
        missing = kinetic(bench_demo, "cancel", "fake-run", check=False)
        assert missing.returncode != 0 and "no run 'fake-run'" in missing.stderr
        assert {j.metadata.name for j in run_objects(k8s_cluster, label)[0]} == live_jobs
        assert driver.poll() is None  # the live run goes on
    finally:
        driver.kill()
        k8s_cluster.batch_v1().delete_collection_namespaced_job(
            k8s_cluster.namespace, label_selector=f"kedro-kinetic.io/run={label}",
            propagation_policy="Background")


def test_a_rolled_back_result_is_refused_on_resume_even_after_its_job_is_gone(
        bench_demo, k8s_cluster, gcs_emulator, request):
    """Results count for one attempt. Attempt 1 of split_data_node (whose intermediates run
    code when unpickled) is hidden by a bucket writer, so resume 1 runs the node again
    (attempt 2) and then fails further on. The Jobs are deleted (as their TTL would), and the
    writer puts attempt 1 back. Resume 2 must refuse it: the run's Secret records attempt 2
    as the one accepted."""
    marker = bench_demo / "data" / "MARKER"
    patch_node(bench_demo, "def split_data(", f"""
        import os, pathlib
        class _Evil:
            def __reduce__(self):
                return (pathlib.Path.write_text, (pathlib.Path({str(marker)!r}), "unpickled"))
        if os.environ.get("KINETIC_TEST_EVIL"):
            return _Evil(), _Evil(), _Evil(), _Evil()
        """, nodes=DS_NODES)
    patch_node(bench_demo, "def train_model(", "import os\nif os.environ.get("
               "'KINETIC_TEST_FAIL_TRAIN'):\n    raise RuntimeError('planned failure')",
               nodes=DS_NODES)
    env = k8s_cluster.kubelet.extra_env
    env["KINETIC_TEST_EVIL"] = "1"
    first = kedro_run(bench_demo)
    assert first.returncode != 0
    assert marker.exists()  # attempt 1's pickles do run code when unpickled
    marker.unlink()
    run_id = run_id_of(first.stdout + first.stderr)
    root = run_root(gcs_emulator, request.node.name[:40], run_id)
    prefix = root[len(f"gs://{gcs_emulator.bucket}/"):]
    names = [f"{prefix}/results/{naming.node_key('split_data_node')}.json"] + [
        f"{prefix}/data/{naming.dataset_key(n)}.pkl" for n in SPLIT_OUTPUTS]
    kept = {n: bucket(gcs_emulator).blob(n).download_as_bytes() for n in names}
    bucket(gcs_emulator).blob(names[0]).delete()  # hidden: resume 1 runs the node again

    del env["KINETIC_TEST_EVIL"]
    env["KINETIC_TEST_FAIL_TRAIN"] = "1"
    second = kedro_run(bench_demo, "--runner-params", f"resume={run_id}")
    text = flat(second)
    assert second.returncode != 0 and "planned failure" in text, text[-4000:]
    assert "Completed node: split_data_node" in text  # attempt 2
    selector = f"kedro-kinetic.io/run={naming.run_label(run_id)}"
    batch = k8s_cluster.batch_v1()
    batch.delete_collection_namespaced_job(k8s_cluster.namespace, label_selector=selector,
                                           propagation_policy="Background")  # as a TTL would
    wait_until(lambda: not batch.list_namespaced_job(k8s_cluster.namespace,
                                                     label_selector=selector).items,
               STOP_CEILING, message="the run's Jobs were not deleted")  # the Secret alone
    for name, blob in kept.items():
        bucket(gcs_emulator).blob(name).upload_from_string(blob)
    assert bucket(gcs_emulator).blob(names[0]).download_as_bytes() == kept[names[0]]

    del env["KINETIC_TEST_FAIL_TRAIN"]
    third = kedro_run(bench_demo, "--runner-params", f"resume={run_id}")
    text = flat(third)
    assert third.returncode == 0, text[-4000:]
    assert "Resume: node split_data_node runs again" in text and "failed authentication" in text
    assert not marker.exists()
