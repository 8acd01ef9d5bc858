"""GKERunner with backend 'kubernetes' on the test bench (real control plane + fake GCS).

Every test runs the real `kedro run` against kube-apiserver, the job controller
and the bench kubelet (which runs pods as processes), with the run's store in
fake-gcs-server.
"""

from __future__ import annotations

import signal
import time

import pytest
import yaml

from benchmarks.projects import add_code_settings
from kedro_kinetic import store
from tests.conftest import copy_demo
from tests.e2e.bench_kit import (
    NODES,
    SALES_SIG,
    hashes,
    hold_until,
    kedro_run,
    patch_node,
    pod_names,
    popen_run,
    run_jobs,
    run_objects,
    wait_for_running_pod,
)
from tests.kedro_run import STOP_CEILING, kedro, pid_alive, wait_until
from tests.pod_kit import evil_pickle

pytestmark = [pytest.mark.bench, pytest.mark.e2e]
STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"


def test_demo_on_the_bench_equals_sequential_runner_one_job_per_node(bench_demo, k8s_cluster,
                                                                     tmp_path):
    before = {j.metadata.name for j in run_jobs(k8s_cluster)}
    proc = kedro_run(bench_demo)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    new = [j for j in run_jobs(k8s_cluster) if j.metadata.name not in before]
    names = [j.metadata.annotations["kedro-kinetic.io/node-name"] for j in new]
    assert len(names) == 13 and len(set(names)) == 13
    # results first: each pod rang its Job's own doorbell after its result
    bells = [args[args.index("--notice") + 1]
             for args in (j.spec.template.spec.containers[0].args for j in new)]
    assert len(set(bells)) == 13 and all(store.exists(bell) for bell in bells), bells

    def incomplete() -> list[str]:  # the runner moves on when the container ends;
        return [j.metadata.name for j in run_jobs(k8s_cluster)  # the job controller
                if j.metadata.name not in before and not any(  # marks the Job soon after
                    c.type == "Complete" and c.status == "True"
                    for c in j.status.conditions or [])]

    wait_until(lambda: not incomplete(), STOP_CEILING, interval=0.5,
               message=lambda: f"Jobs never marked Complete: {incomplete()}")
    assert incomplete() == []
    seq = copy_demo(tmp_path / "seq")
    assert kedro(seq, "run").returncode == 0
    assert hashes(bench_demo) == hashes(seq)
    assert "[train_model_node] Loading data from X_train" in proc.stdout  # its records


TAMPER_HOOK = '''
from google.cloud import storage
from google.auth.credentials import AnonymousCredentials
from kedro.framework.hooks import hook_impl

EVIL = {evil!r}  # unpickling it writes the marker's .unpickled file (tests.pod_kit)


class Tamper:
    @hook_impl
    def kinetic_job_manifest(self, manifest, node, settings, run_id):
        if node.name != "clean_sales_node":
            return None
        args = manifest["spec"]["template"]["spec"]["containers"][0]["args"]
        uri = args[args.index("--payload") + 1]
        bucket, name = uri[len("gs://"):].split("/", 1)
        client = storage.Client(project="p", credentials=AnonymousCredentials())
        client.bucket(bucket).blob(name).upload_from_string(EVIL)
        return None
'''


def test_payload_overwritten_in_gcs_is_refused_and_never_runs(bench_demo):
    marker = bench_demo / "MARKER"
    patch_node(bench_demo, "def clean_sales(", "")  # keep the signature intact
    text = (bench_demo / NODES).read_text().replace(
        '    """', f'    __import__("pathlib").Path({str(marker)!r}).write_text("ran")\n    """', 1)
    (bench_demo / NODES).write_text(text)
    package = bench_demo / "src" / "demo_project"
    evil = evil_pickle(marker.with_suffix(".unpickled"))
    (package / "tamper.py").write_text(TAMPER_HOOK.format(evil=evil))
    settings = package / "settings.py"
    settings.write_text(settings.read_text() + "\nfrom demo_project.tamper import Tamper\n"
                        "HOOKS = (Tamper(),)\n")
    proc = kedro_run(bench_demo, "--pipeline=data_processing")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'clean_sales_node' failed remotely (verification failed)" in output
    assert "payload: SHA-256 mismatch" in output
    assert not marker.exists() and not marker.with_suffix(".unpickled").exists()


#: Below the nodes' deadline_seconds (600 on the bench): a run that ends within it failed on
#: its own, not on the deadline. Minutes, for a loaded machine.
FAIL_FAST_CEILING = 300


def test_unknown_image_fails_fast_with_a_clear_error(bench_demo):
    bad = "europe-docker.pkg.dev/kinetic-demo/kedro/does-not-exist@sha256:" + "b" * 64
    proc = kedro_run(bench_demo, "--pipeline=data_processing", "--runner-params",
                     f"nodes.clean_sales_node.image={bad}", timeout=FAIL_FAST_CEILING)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'clean_sales_node' failed remotely" in output
    assert "ErrImagePull" in output and "check kinetic.image" in output


def test_gpu_with_no_gpu_node_is_unschedulable_after_the_configured_wait(bench_demo):
    proc = kedro_run(bench_demo, "--pipeline=data_processing", "--runner-params",
                     "nodes.clean_sales_node.gpu.type=nvidia-l4", timeout=FAIL_FAST_CEILING)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Unschedulable" in output and "no node could host the pod for 6 s" in output
    assert "nodes are available" in output  # the scheduler's own message


def test_memory_limit_exceeded_is_reported_as_oomkilled(bench_demo):
    # the node holds the memory until the kubelet's OOM check kills it (it samples 10 times
    # a second), not for a fixed few seconds that a loaded machine might not give it
    patch_node(bench_demo, SALES_SIG, "blob = bytearray(600 * 1024 * 1024); blob[::4096] = "
                                      "b'x' * len(blob[::4096]); import time; time.sleep(600)")
    proc = kedro_run(bench_demo, "--pipeline=data_processing", "--runner-params",
                     "nodes.product_features_node.memory=300Mi")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'product_features_node' failed remotely" in output
    assert "OOMKilled" in output and "give the node more memory" in output


def test_node_that_raises_shows_its_remote_traceback(bench_demo):
    patch_node(bench_demo, SALES_SIG, 'raise KeyError("no such column: sku")')
    proc = kedro_run(bench_demo, "--pipeline=data_processing")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'product_features_node' failed remotely (node raised)" in output
    assert "--- remote traceback ---" in output
    assert "KeyError: 'no such column: sku'" in output


def test_sigint_deletes_every_job_and_pod_of_the_run_within_10s(bench_demo, k8s_cluster):
    patch_node(bench_demo, STORE_SIG, "import time; time.sleep(900)")  # until cancelled
    before = pod_names(k8s_cluster)
    with popen_run(bench_demo, "--pipeline=data_processing") as proc:
        pod = wait_for_running_pod(k8s_cluster, before, driver=proc)
        run_label = pod.metadata.labels["kedro-kinetic.io/run"]
        pid = k8s_cluster.kubelet.pod_pid(k8s_cluster.namespace, pod.metadata.name)
        proc.signal(signal.SIGINT)
        proc.wait(STOP_CEILING)
    out = proc.output
    assert proc.returncode != 0
    assert "Cancelled" in out

    def left_behind() -> list[str]:
        jobs, pods = run_objects(k8s_cluster, run_label)
        return [j.metadata.name for j in jobs] + [p.metadata.name for p in pods]

    # the claim of the test: gone within 10 s of the driver's exit (it deletes them itself)
    wait_until(lambda: not left_behind(), 10, interval=0.25,
               message=lambda: f"left behind: {left_behind()}")
    if pid:  # the bench kubelet kills the deleted pod's process
        wait_until(lambda: not pid_alive(pid), STOP_CEILING,
                   message=f"the pod's process {pid} outlived its deleted pod")


def test_run_completes_across_an_api_server_restart(bench_demo, k8s_cluster, tmp_path):
    go = bench_demo / "store-features.go"  # the slow node runs on through the restart
    patch_node(bench_demo, STORE_SIG, hold_until(go))
    before = pod_names(k8s_cluster)
    with popen_run(bench_demo, "--pipeline=data_processing") as proc:
        wait_for_running_pod(k8s_cluster, before, driver=proc)
        k8s_cluster.restart_apiserver()
        go.write_text("go")
        proc.wait()
    out = proc.output
    assert proc.returncode == 0, out[-5000:]
    seq = copy_demo(tmp_path / "seq")
    reference = kedro(seq, "run", "--pipeline=data_processing")
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert hashes(bench_demo) == hashes(seq)


@pytest.mark.parametrize(
    "variant",
    ["", "defaults.gpu.type=nvidia-l4,defaults.gpu.count=2",
     "defaults.spot=true,defaults.ephemeral_storage=10Gi",
     "defaults.tpu.type=tpu-v5-lite-podslice,defaults.tpu.topology=2x2,defaults.tpu.count=4",
     "defaults.secret_env.API_TOKEN.secret=api,defaults.secret_env.API_TOKEN.key=token,"
     "credentials_secret=kedro-credentials,defaults.service_account=kedro-runner"],
    ids=["cpu", "gpu", "spot", "tpu", "secrets"],
)
def test_rendered_manifests_pass_a_server_side_dry_run(bench_demo, k8s_cluster, variant,
                                                       tmp_path):
    out = tmp_path / "jobs.yaml"
    args = ["kinetic", "render", "--env=bench", "-o", str(out), "--dry-run-server"]
    add_code_settings(bench_demo, secrets=["api", "kedro-credentials"],
                      service_accounts=["kedro-runner"])
    if variant:
        args += ["--runner-params", variant]
    proc = kedro(bench_demo, *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "13 Job(s) accepted by the API server (dry run)" in proc.stderr
    jobs = list(yaml.safe_load_all(out.read_text()))
    assert len(jobs) == 13
    batch = k8s_cluster.batch_v1()
    for job in jobs:  # and once more through the client, to see the server's defaults
        created = batch.create_namespaced_job(k8s_cluster.namespace, job, dry_run="All")
        assert created.spec.template.spec.restart_policy == "Never"
    assert not [j for j in run_jobs(k8s_cluster) if j.metadata.labels.get(
        "kedro-kinetic.io/run") == "render"]


def test_missing_secret_or_key_is_refused_before_any_job_then_the_run_proceeds(
        bench_demo, k8s_cluster):
    core = k8s_cluster.core_v1()
    ns, name = k8s_cluster.namespace, f"api-{int(time.time() * 1000) % 10**9}"
    params = (f"defaults.secret_env.API_TOKEN.secret={name},"
              "defaults.secret_env.API_TOKEN.key=token")
    add_code_settings(bench_demo, secrets=[name])
    before = {j.metadata.name for j in run_jobs(k8s_cluster)}

    proc = kedro_run(bench_demo, "--pipeline=data_processing", "--runner-params", params)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"Secret {ns}/{name}" in output and "does not exist" in output
    assert {j.metadata.name for j in run_jobs(k8s_cluster)} == before

    core.create_namespaced_secret(ns, {"metadata": {"name": name},
                                       "stringData": {"other": "s3cr3t-value"}})
    try:
        proc = kedro_run(bench_demo, "--pipeline=data_processing", "--runner-params", params)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert f"Secret {ns}/{name} has no key token" in output
        assert "s3cr3t-value" not in output
        assert {j.metadata.name for j in run_jobs(k8s_cluster)} == before

        core.patch_namespaced_secret(name, ns, {"stringData": {"token": "t0ken-value"}})
        proc = kedro_run(bench_demo, "--pipeline=data_processing", "--runner-params", params)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-4000:]
        assert "t0ken-value" not in output and "s3cr3t-value" not in output
        assert len({j.metadata.name for j in run_jobs(k8s_cluster)} - before) == 8
    finally:
        core.delete_namespaced_secret(name, ns)
