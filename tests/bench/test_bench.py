"""The bench is real: Jobs run through the real job controller, API server, GC and TTL controllers,
the test kubelet runs and reports pods, logs come back through the API server, fake GCS stores
bytes, and every fault the plugin must recognise can be produced on demand."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.api_core.exceptions import NotFound
from kubernetes.client.exceptions import ApiException

from tests.bench.kubelet import ACCELERATOR, gpu_node

pytestmark = pytest.mark.bench

T = TypeVar("T")
_names = itertools.count()


def unique(prefix: str) -> str:
    """A DNS-1123 name unique within the session."""
    return f"{prefix}-{os.getpid() % 1000}-{next(_names)}"


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = probe()
        except ApiException as error:
            if error.status != 404:
                raise
            last = None
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def container(command: list[str], image: str = "python:3.11-slim", **extra: Any) -> dict[str, Any]:
    return {"name": "main", "image": image, "command": command, **extra}


def job_manifest(name: str, command: list[str], backoff_limit: int = 0, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            **spec,
            "template": {"spec": {"restartPolicy": "Never", "containers": [container(command)]}},
        },
    }


def pod_manifest(name: str, main: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [main], **spec},
    }


def job_condition(batch, namespace: str, name: str, kind: str):
    job = batch.read_namespaced_job(name, namespace)
    for condition in job.status.conditions or []:
        if condition.type == kind and condition.status == "True":
            return job
    return None


def job_pods(core, namespace: str, name: str):
    return core.list_namespaced_pod(namespace, label_selector=f"batch.kubernetes.io/job-name={name}").items


def waiting_reason(core, namespace: str, name: str) -> str | None:
    pod = core.read_namespaced_pod(name, namespace)
    for status in pod.status.container_statuses or []:
        if status.state.waiting:
            return status.state.waiting.reason
    return None


def terminated(core, namespace: str, name: str):
    pod = core.read_namespaced_pod(name, namespace)
    statuses = pod.status.container_statuses or []
    if pod.status.phase in ("Succeeded", "Failed") and statuses and statuses[0].state.terminated:
        return pod, statuses[0].state.terminated
    return None


def running_pid(cluster, name: str) -> int:
    core, ns = cluster.core_v1(), cluster.namespace
    wait_for(lambda: core.read_namespaced_pod(name, ns).status.phase == "Running", what=f"{name} Running")
    return wait_for(lambda: cluster.kubelet.pod_pid(ns, name), what="a pid")


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def core(k8s_cluster):
    return k8s_cluster.core_v1()


@pytest.fixture
def batch(k8s_cluster):
    return k8s_cluster.batch_v1()


# --- Jobs through the real controllers ---------------------------------------------------------


def test_job_completes_and_its_logs_come_back_through_the_api(k8s_cluster, core, batch):
    ns, name = k8s_cluster.namespace, unique("hello")
    batch.create_namespaced_job(ns, job_manifest(name, ["python", "-c", "print('hello')"]))

    job = wait_for(lambda: job_condition(batch, ns, name, "Complete"), what="Job Complete")

    assert job.status.succeeded == 1
    (pod,) = job_pods(core, ns, name)
    assert pod.status.phase == "Succeeded"
    assert pod.spec.node_name in k8s_cluster.kubelet.nodes
    state = pod.status.container_statuses[0].state.terminated
    assert (state.exit_code, state.reason) == (0, "Completed")
    assert state.started_at is not None and state.finished_at is not None
    assert core.read_namespaced_pod_log(pod.metadata.name, ns) == "hello\n"


def test_logs_follow_and_tail_lines(k8s_cluster, core):
    ns, name = k8s_cluster.namespace, unique("follow")
    script = "import time\nfor i in range(5):\n    print(f'line {i}', flush=True)\n    time.sleep(0.2)"
    core.create_namespaced_pod(ns, pod_manifest(name, container(["python", "-c", script])))
    running_pid(k8s_cluster, name)

    stream = core.read_namespaced_pod_log(name, ns, follow=True, _preload_content=False)
    followed = b"".join(stream.stream()).decode()

    assert followed == "".join(f"line {i}\n" for i in range(5))
    assert core.read_namespaced_pod_log(name, ns, tail_lines=2) == "line 3\nline 4\n"
    assert core.read_namespaced_pod_log(name, ns, timestamps=True).splitlines()[0].endswith("Z line 0")


def test_failing_job_is_retried_up_to_backoff_limit_then_fails(k8s_cluster, core, batch):
    ns, name = k8s_cluster.namespace, unique("fails")
    batch.create_namespaced_job(
        ns, job_manifest(name, ["python", "-c", "import sys; print('boom'); sys.exit(3)"], backoff_limit=1)
    )

    job = wait_for(lambda: job_condition(batch, ns, name, "Failed"), timeout=60, what="Job Failed")

    assert job.status.failed == 2
    failed = next(c for c in job.status.conditions if c.type == "Failed")
    assert failed.reason == "BackoffLimitExceeded"
    pods = job_pods(core, ns, name)
    assert len(pods) == 2
    for pod in pods:
        state = pod.status.container_statuses[0].state.terminated
        assert (pod.status.phase, state.exit_code, state.reason) == ("Failed", 3, "Error")


def test_invalid_manifest_is_rejected_by_the_api_server(k8s_cluster, batch):
    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job(k8s_cluster.namespace, job_manifest("Upper-Case", ["true"]))
    assert raised.value.status == 422
    assert "Upper-Case" in raised.value.body


def test_ttl_after_finished_removes_job_and_pods(k8s_cluster, core, batch):
    ns, name = k8s_cluster.namespace, unique("ttl")
    batch.create_namespaced_job(ns, job_manifest(name, ["python", "-c", "pass"], ttlSecondsAfterFinished=0))
    wait_for(lambda: job_pods(core, ns, name), what="the Job's pod")

    def gone() -> bool:
        try:
            batch.read_namespaced_job(name, ns)
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(gone, timeout=30, what="the Job to be deleted by the TTL controller")
    wait_for(lambda: not job_pods(core, ns, name), timeout=30, what="the Job's pods to be deleted")


def test_background_deletion_removes_pods_and_kills_processes(k8s_cluster, core, batch, tmp_path):
    ns, name = k8s_cluster.namespace, unique("sleeper")
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
    batch.create_namespaced_job(ns, job_manifest(name, ["python", "-c", script]))
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the pid file"))
    assert not process_gone(pid)

    batch.delete_namespaced_job(name, ns, propagation_policy="Background")

    wait_for(lambda: not job_pods(core, ns, name), timeout=30, what="the pods to be deleted")
    wait_for(lambda: process_gone(pid), timeout=10, what=f"process {pid} to end")


def test_running_job_survives_an_api_server_restart(k8s_cluster, core, batch):
    ns, name = k8s_cluster.namespace, unique("restart")
    batch.create_namespaced_job(ns, job_manifest(name, ["python", "-c", "import time; time.sleep(3)"]))
    (pod,) = wait_for(lambda: job_pods(core, ns, name), what="the Job's pod")
    wait_for(lambda: k8s_cluster.kubelet.pod_pid(ns, pod.metadata.name), what="a running process")

    k8s_cluster.restart_apiserver()

    wait_for(lambda: job_condition(batch, ns, name, "Complete"), timeout=60, what="Job Complete after restart")


# --- GCS ---------------------------------------------------------------------------------------


def test_gcs_round_trip_and_missing_object(gcs_emulator):
    assert os.environ["STORAGE_EMULATOR_HOST"] == gcs_emulator.host
    bucket = gcs_emulator.client().bucket(gcs_emulator.bucket)
    # Above google-cloud-storage's 8 MiB multipart limit, so the resumable-upload path (which
    # follows fake-gcs-server's -external-url) is exercised too.
    payload = os.urandom(9 * 1024 * 1024 + 17)
    bucket.blob("runs/r1/payload.bin").upload_from_string(payload)

    assert gcs_emulator.client().bucket(gcs_emulator.bucket).blob("runs/r1/payload.bin").download_as_bytes() == payload
    with pytest.raises(NotFound):
        bucket.blob("runs/r1/missing.bin").download_as_bytes()


# --- fault injection ---------------------------------------------------------------------------


def test_unpullable_image_reports_err_image_pull_then_back_off(k8s_cluster, core):
    ns, name = k8s_cluster.namespace, unique("pull")
    core.create_namespaced_pod(
        ns, pod_manifest(name, container(["true"], image="gcr.io/does-not-exist/app:1"))
    )

    wait_for(lambda: waiting_reason(core, ns, name) == "ErrImagePull", what="ErrImagePull")
    wait_for(lambda: waiting_reason(core, ns, name) == "ImagePullBackOff", what="ImagePullBackOff")
    assert core.read_namespaced_pod(name, ns).status.phase == "Pending"
    core.delete_namespaced_pod(name, ns)


def test_invalid_image_name(k8s_cluster, core):
    ns, name = k8s_cluster.namespace, unique("badimage")
    core.create_namespaced_pod(ns, pod_manifest(name, container(["true"], image="Python:3.11")))

    wait_for(lambda: waiting_reason(core, ns, name) == "InvalidImageName", what="InvalidImageName")
    core.delete_namespaced_pod(name, ns)


def test_missing_secret_is_a_config_error_until_it_exists(k8s_cluster, core):
    ns, name, secret = k8s_cluster.namespace, unique("secret"), unique("creds")
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}}]
    main = container(["python", "-c", "import os; print(os.environ['TOKEN'])"], env=env)
    core.create_namespaced_pod(ns, pod_manifest(name, main))

    wait_for(lambda: waiting_reason(core, ns, name) == "CreateContainerConfigError", what="config error")
    core.create_namespaced_secret(ns, {"metadata": {"name": secret}, "stringData": {"token": "s3cr3t"}})

    wait_for(lambda: terminated(core, ns, name), what="the pod to finish")
    assert core.read_namespaced_pod_log(name, ns) == "s3cr3t\n"


def test_gpu_pod_is_unschedulable_until_a_gpu_node_exists(k8s_cluster, core):
    ns, name = k8s_cluster.namespace, unique("gpu")
    main = container(["python", "-c", "print('on gpu')"], resources={"limits": {"nvidia.com/gpu": "1"}})
    spec = {
        "nodeSelector": {ACCELERATOR: "nvidia-tesla-t4"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    core.create_namespaced_pod(ns, pod_manifest(name, main, **spec))

    def unschedulable():
        pod = core.read_namespaced_pod(name, ns)
        for condition in pod.status.conditions or []:
            if condition.type == "PodScheduled" and condition.reason == "Unschedulable":
                return condition
        return None

    condition = wait_for(unschedulable, what="PodScheduled=False/Unschedulable")
    assert condition.status == "False"
    assert condition.message.startswith("0/2 nodes are available: ")
    assert "didn't match Pod's node affinity/selector" in condition.message
    assert core.read_namespaced_pod(name, ns).spec.node_name is None

    node = gpu_node()
    k8s_cluster.kubelet.add_node(node)
    try:
        pod, state = wait_for(lambda: terminated(core, ns, name), what="the GPU pod to run")
        assert pod.spec.node_name == node.name
        assert state.exit_code == 0
    finally:
        k8s_cluster.kubelet.remove_node(node.name)


def test_memory_limit_exceeded_is_oom_killed(k8s_cluster, core):
    ns, name = k8s_cluster.namespace, unique("oom")
    script = "import time; hog = bytearray(300 * 1024 * 1024); time.sleep(30)"
    main = container(["python", "-c", script], resources={"limits": {"memory": "64Mi"}})
    core.create_namespaced_pod(ns, pod_manifest(name, main))

    pod, state = wait_for(lambda: terminated(core, ns, name), what="the OOM kill")
    assert (pod.status.phase, state.exit_code, state.reason) == ("Failed", 137, "OOMKilled")


def test_kill_pod_terminates_with_137(k8s_cluster, core):
    ns, name = k8s_cluster.namespace, unique("victim")
    core.create_namespaced_pod(ns, pod_manifest(name, container(["python", "-c", "import time; time.sleep(60)"])))
    pid = running_pid(k8s_cluster, name)

    assert k8s_cluster.kubelet.kill_pod(ns, name)

    pod, state = wait_for(lambda: terminated(core, ns, name), what="the killed pod to fail")
    assert (pod.status.phase, state.exit_code, state.reason) == ("Failed", 137, "Error")
    assert process_gone(pid)


def test_not_ready_node_gets_no_new_pods(k8s_cluster, core):
    ns, name = k8s_cluster.namespace, unique("notready")
    kubelet = k8s_cluster.kubelet
    default = kubelet.nodes[0]
    kubelet.set_node_ready(default, False)
    try:
        node = core.read_node(default)
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert ready.status == "False"
        core.create_namespaced_pod(ns, pod_manifest(name, container([sys.executable, "-c", "pass"])))

        def message():
            pod = core.read_namespaced_pod(name, ns)
            return next((c.message for c in pod.status.conditions or [] if c.reason == "Unschedulable"), None)

        assert "node.kubernetes.io/not-ready" in wait_for(message, what="Unschedulable")
    finally:
        kubelet.set_node_ready(default, True)
    pod, state = wait_for(lambda: terminated(core, ns, name), what="the pod to run once Ready")
    assert pod.spec.node_name == default and state.exit_code == 0


def test_kubelet_uses_configured_cwd(k8s_cluster, core, tmp_path: Path):
    ns, name = k8s_cluster.namespace, unique("cwd")
    kubelet = k8s_cluster.kubelet
    previous, kubelet.cwd = kubelet.cwd, str(tmp_path)
    try:
        core.create_namespaced_pod(ns, pod_manifest(name, container(["python", "-c", "import os; print(os.getcwd())"])))
        wait_for(lambda: terminated(core, ns, name), what="the pod to finish")
    finally:
        kubelet.cwd = previous
    assert core.read_namespaced_pod_log(name, ns).strip() == str(tmp_path)


def test_on_failure_restarts_in_place_and_keeps_previous_log(k8s_cluster, core, tmp_path: Path):
    ns, name = k8s_cluster.namespace, unique("flaky")
    marker = tmp_path / "tried"
    script = (
        f"import pathlib, sys; m = pathlib.Path({str(marker)!r})\n"
        "if m.exists(): print('second try')\n"
        "else: m.touch(); print('first try'); sys.exit(1)"
    )
    core.create_namespaced_pod(ns, pod_manifest(name, container(["python", "-c", script]), restartPolicy="OnFailure"))

    pod, state = wait_for(lambda: terminated(core, ns, name), what="the pod to succeed after a restart")
    status = pod.status.container_statuses[0]
    assert (pod.status.phase, state.exit_code, status.restart_count) == ("Succeeded", 0, 1)
    assert status.last_state.terminated.exit_code == 1
    assert core.read_namespaced_pod_log(name, ns) == "second try\n"
    assert core.read_namespaced_pod_log(name, ns, previous=True) == "first try\n"


def test_fallback_to_logs_on_error_fills_the_termination_message(k8s_cluster, core):
    ns, name = k8s_cluster.namespace, unique("message")
    main = container(
        ["python", "-c", "import sys; print('ValueError: bad input'); sys.exit(2)"],
        terminationMessagePolicy="FallbackToLogsOnError",
    )
    core.create_namespaced_pod(ns, pod_manifest(name, main))

    _, state = wait_for(lambda: terminated(core, ns, name), what="the pod to fail")
    assert (state.exit_code, state.message) == (2, "ValueError: bad input\n")


def test_job_deadline_fails_the_job_and_kills_its_pod(k8s_cluster, core, batch, tmp_path: Path):
    ns, name = k8s_cluster.namespace, unique("deadline")
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
    batch.create_namespaced_job(ns, job_manifest(name, ["python", "-c", script], activeDeadlineSeconds=2))
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the pid file"))

    job = wait_for(lambda: job_condition(batch, ns, name, "Failed"), what="Job Failed")

    assert next(c for c in job.status.conditions if c.type == "Failed").reason == "DeadlineExceeded"
    wait_for(lambda: process_gone(pid), timeout=10, what=f"process {pid} to end")
