"""GKERunner on the real bench: a real kubelet runs every node in a runc container.

The image is demo_project's, built and pushed by ``kedro kinetic build --builder buildah --push``
from the Dockerfile ``kedro kinetic init`` writes, and pulled by digest from the bench's registry
as a GKE node pulls it (nothing but the sandbox image is preloaded); the store is
fake-gcs-server. What the test kubelet only models is proven here: containers, image pulls,
securityContext, cgroup memory limits, logs through the kubelet's API. One cluster serves the
whole session (``real_cluster``); each test has its own demo copy and store prefix.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from benchmarks.projects import add_code_settings
from tests.conftest import copy_demo, kedro_cmd, subprocess_env
from tests.e2e.bench_kit import hashes, patch_node, run_objects
from tests.e2e.log_kit import logging_node, records
from tests.e2e.real_kit import (
    MANAGED,
    kedro_run,
    make_real_demo,
    pod_names,
    popen_run,
    real_env,
    run_argv,
    wait_for_pod,
    wait_for_text,
)
from tests.kedro_run import run_id_of

pytestmark = [pytest.mark.real_kubelet, pytest.mark.e2e]

STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"


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
    demo = real_cluster.images["demo"]
    assert len(pods) == 13
    # the image came from the registry: containerd had only the sandbox image before
    assert not [name for name in real_cluster.preloaded if "demo-project" in name]
    for pod in pods:  # each node ran in a container of the pinned image, on the real Node
        assert pod.spec.node_name == real_cluster.node_name
        (status,) = pod.status.container_statuses
        assert status.image_id == demo.by_digest, status.image_id  # pulled by digest
        assert status.state.terminated.exit_code == 0
    # the pods' records came through the kubelet's log endpoint, tagged with the node's name
    assert "[train_model_node] Loading data from X_train" in proc.stdout


# --- one node in a real container ---------------------------------------------------------

CLEAN_SALES = "def clean_sales("
ONE_NODE = "--nodes=clean_sales_node"


def pods_of_node(cluster, output: str, node: str = "clean_sales_node",
                 ceiling: float = 180.0) -> list:
    """The Pods the run of ``output`` made for ``node`` (read back from the API), once the
    kubelet has reported each container's end: results first can end a run before that."""
    jobs = [j for j in jobs_of(cluster, run_id_of(output))
            if j.metadata.annotations["kedro-kinetic.io/node-name"] == node]
    if not jobs:
        return []
    deadline = time.monotonic() + ceiling
    while True:
        pods = cluster.core_v1().list_namespaced_pod(
            cluster.namespace, label_selector=f"job-name={jobs[0].metadata.name}").items
        if time.monotonic() > deadline or all(
                p.status.container_statuses and p.status.container_statuses[0].state.terminated
                for p in pods):
            return pods
        time.sleep(0.2)


def test_a_nodes_records_are_shown_as_sequential_runner_shows_them(real_demo, real_cluster):
    """The node's INFO and WARNING records and Kedro's per-dataset lines, logged in a real
    container, come through the kubelet's log endpoint and are shown by the driver as
    SequentialRunner shows them (level, message, source file; the node's own lines by line
    number too: the image's Kedro may be another release, its line numbers others)."""
    project = real_demo()
    logging_node(project)
    sequential = subprocess.run([*kedro_cmd(), "run", ONE_NODE], cwd=project,
                                env=subprocess_env(COLUMNS="250"), capture_output=True,
                                text=True, timeout=600, check=False)
    assert sequential.returncode == 0, sequential.stderr[-3000:]
    proc = subprocess.run(run_argv(ONE_NODE), cwd=project, capture_output=True, text=True,
                          env=real_env(real_cluster, COLUMNS="250"), timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    expected = records(sequential.stdout + sequential.stderr)
    assert len(expected) == 6, expected  # two records, four dataset lines

    def comparable(found):
        return [(level, text, where if where.startswith("nodes.py") else where.split(":")[0])
                for level, text, where in found]

    assert comparable(records(output)) == comparable(expected)
    assert "[clean_sales_node] clean_sales: min amount 10" in output  # tagged with its node
    assert "[clean_sales_node] a plain print line" in output
    assert "not shown at INFO" not in output


SECURITY_PROBE = """
import os, pathlib
for line in pathlib.Path("/proc/self/status").read_text().splitlines():
    if line.startswith(("CapEff:", "NoNewPrivs:", "Seccomp:")):
        print("probe", " ".join(line.split()), flush=True)
limit = pathlib.Path("/sys/fs/cgroup/memory/memory.limit_in_bytes").read_text().strip()
print("probe memory.limit_in_bytes", limit, "uid", os.getuid(), flush=True)
import hashlib
token = os.environ.get("PROBE_TOKEN", "").encode()
print("probe secret-sha256", hashlib.sha256(token).hexdigest(), flush=True)
"""


def test_security_context_memory_limit_and_secret_env_in_the_container(real_demo,
                                                                         real_cluster):
    import hashlib

    project = real_demo()
    patch_node(project, CLEAN_SALES, SECURITY_PROBE)
    # a Secret read by the kubelet for a Pod bound to it (Node authorizer), as the Job's
    # secretKeyRef env; the pod prints only its digest
    core, name, token = real_cluster.core_v1(), "probe-token", "t0ken-" + "x" * 20
    core.create_namespaced_secret(real_cluster.namespace, {
        "metadata": {"name": name}, "stringData": {"token": token}})
    add_code_settings(project, secrets=[name])
    try:
        proc = kedro_run(project, real_cluster, ONE_NODE, "--runner-params",
                         "nodes.clean_sales_node.memory=300Mi,"
                         f"defaults.secret_env.PROBE_TOKEN.secret={name},"
                         "defaults.secret_env.PROBE_TOKEN.key=token")
    finally:
        core.delete_namespaced_secret(name, real_cluster.namespace)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    assert token not in proc.stdout + proc.stderr
    # streamed from the container through the API server and the kubelet, prefixed by node
    probe = dict(line.split(" ", 2)[2].split(" ", 1) for line in proc.stdout.splitlines()
                 if line.startswith("[clean_sales_node] probe "))
    assert probe["CapEff:"] == "0000000000000000"  # no capability at all
    assert probe["NoNewPrivs:"] == "1"  # allowPrivilegeEscalation: false
    assert probe["Seccomp:"] == "2"  # RuntimeDefault: a seccomp filter
    assert probe["memory.limit_in_bytes"] == f"{300 * 2**20} uid 1000"  # cgroup limit, USER
    assert probe["secret-sha256"] == hashlib.sha256(token.encode()).hexdigest()


TAMPER = '''
import hashlib, pickle, pathlib
from google.cloud import storage
from google.auth.credentials import AnonymousCredentials
from kedro.framework.hooks import hook_impl

#: Inside the container: the project's data/ folder, mounted from the host.
MARKER = pathlib.Path("/home/kedro/project/data/unpickled.marker")
DELIVERED = pathlib.Path(__file__).resolve().parents[2] / "data" / "delivered.sha256"


class Evil:
    def __reduce__(self):
        return (pathlib.Path.write_text, (MARKER, "unpickled"))


class Tamper:
    """Overwrites the node's pinned payload in the store just before its Job is created."""

    @hook_impl
    def kinetic_job_manifest(self, manifest, node, settings, run_id):
        args = manifest["spec"]["template"]["spec"]["containers"][0]["args"]
        bucket, name = args[args.index("--payload") + 1][len("gs://"):].split("/", 1)
        evil = pickle.dumps(Evil())
        client = storage.Client(project="p", credentials=AnonymousCredentials())
        client.bucket(bucket).blob(name).upload_from_string(evil)
        DELIVERED.write_text(hashlib.sha256(evil).hexdigest())
'''


def test_tampered_payload_is_refused_inside_the_real_container(real_demo, real_cluster,
                                                              gcs_emulator):
    import hashlib

    from kedro_kinetic.wire.result import EXIT_VERIFICATION_FAILED

    project = real_demo(hooks=(("tamper", TAMPER, "Tamper"),))
    patch_node(project, CLEAN_SALES, 'open("data/ran.marker", "w").write("ran")')
    proc = kedro_run(project, real_cluster, ONE_NODE)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'clean_sales_node' failed remotely (verification failed)" in output
    assert "payload: SHA-256 mismatch" in output
    # the attack was delivered: the store held the evil pickle when the container read it ...
    (pod,) = pods_of_node(real_cluster, output)
    args = pod.spec.containers[0].args
    bucket, name = args[args.index("--payload") + 1][len("gs://"):].split("/", 1)
    stored = gcs_emulator.client().bucket(bucket).blob(name).download_as_bytes()
    delivered = (project / "data" / "delivered.sha256").read_text()
    assert hashlib.sha256(stored).hexdigest() == delivered
    # ... and the real container refused it before unpickling or running anything
    assert pod.status.container_statuses[0].state.terminated.exit_code == \
        EXIT_VERIFICATION_FAILED
    assert not (project / "data" / "unpickled.marker").exists()
    assert not (project / "data" / "ran.marker").exists()


def test_memory_past_the_limit_is_oomkilled_by_the_kernel(real_demo, real_cluster):
    project = real_demo()
    patch_node(project, CLEAN_SALES, "blob = bytearray(700 * 2**20)\n"
                                     "blob[::4096] = b'x' * len(blob[::4096])")
    proc = kedro_run(project, real_cluster, ONE_NODE, "--runner-params",
                     "nodes.clean_sales_node.memory=256Mi")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'clean_sales_node' failed remotely" in output
    assert "OOMKilled" in output and "give the node more memory" in output
    (pod,) = pods_of_node(real_cluster, output)
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)


@pytest.mark.parametrize("case", ["missing-image", "digest-not-in-registry", "root-image"])
def test_stuck_container_fails_fast_with_the_runners_message(real_demo, real_cluster, case):
    project = real_demo()
    named = ""
    if case == "missing-image":  # pinned, allowed repository, but no registry answers
        image = "kinetic.local/does-not-exist@sha256:" + "b" * 64
        reason, explained = "ErrImagePull", "check kinetic.image and registry access"
        kubelet_says = "connection refused"  # the pull went to the closed local port
    elif case == "digest-not-in-registry":  # the registry has the repository, not the digest
        named = "sha256:" + "c" * 64
        image = f"{real_cluster.images['demo'].repo}@{named}"
        reason, explained = "ErrImagePull", "check kinetic.image and registry access"
        kubelet_says = "not found"
    else:  # the base image's user is root, the Job says runAsNonRoot
        image = real_cluster.image("base")
        reason, explained = "CreateContainerConfigError", "the container could not be configured"
        kubelet_says = "container has runAsNonRoot and image will run as root"
    start = time.monotonic()
    proc = kedro_run(project, real_cluster, ONE_NODE, "--runner-params",
                     f"nodes.clean_sales_node.image={image}", timeout=300)
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'clean_sales_node' failed remotely" in output
    assert reason in output and explained in output and kubelet_says in output, output[-3000:]
    assert named in output  # the digest the registry does not have is named
    print(f"[real bench] {case}: kedro run ended after {seconds:.1f} s")


def moved_marker_layer() -> bytes:
    """An image layer with a ``.pth`` file: Python runs it when any interpreter starts in the
    image, before kedro-kinetic's entrypoint, and it writes a marker into the project's data/
    (mounted from the host)."""
    import io
    import tarfile

    line = (b"import pathlib; pathlib.Path('/home/kedro/project/data/moved.marker')"
            b".write_text('the moved image ran')\n")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("usr/local/lib/python3.11/dist-packages/zz_moved.pth")
        info.size, info.mode = len(line), 0o644
        tar.addfile(info, io.BytesIO(line))
    return out.getvalue()


def test_a_tag_moved_to_another_manifest_does_not_change_what_runs(real_demo, real_cluster):
    registry, demo = real_cluster.registry, real_cluster.images["demo"]
    registry.tag("demo-project", demo.digest, "moving")  # the tag the image was built under
    pinned = real_demo()  # kinetic.image: the demo image by digest, as build --write pins it
    # ... then someone pushes another manifest under the same tag
    moved = registry.derived_image("demo-project", demo.digest, "moving",
                                   layer=moved_marker_layer())
    assert registry.digest("demo-project", "moving") == moved != demo.digest  # delivered
    proc = kedro_run(pinned, real_cluster, ONE_NODE)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    (pod,) = pods_of_node(real_cluster, proc.stdout + proc.stderr)
    assert pod.status.container_statuses[0].image_id == demo.by_digest
    assert not (pinned / "data" / "moved.marker").exists()
    # by tag, the moved image is what runs: its marker is written (the attack works there)
    by_tag = real_demo(image_policy="allow")
    proc = kedro_run(by_tag, real_cluster, ONE_NODE, "--runner-params",
                     f"nodes.clean_sales_node.image={demo.repo}:moving")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    (pod,) = pods_of_node(real_cluster, proc.stdout + proc.stderr)
    assert pod.status.container_statuses[0].image_id == f"{demo.repo}@{moved}"
    assert (by_tag / "data" / "moved.marker").read_text() == "the moved image ran"


def test_active_deadline_stops_a_node_that_runs_too_long(real_demo, real_cluster):
    project = real_demo()
    patch_node(project, CLEAN_SALES, "import time; time.sleep(600)")
    start = time.monotonic()
    proc = kedro_run(project, real_cluster, ONE_NODE, "--runner-params",
                     "nodes.clean_sales_node.deadline_seconds=5", timeout=300)
    print(f"[real bench] deadline 5 s: kedro run ended after {time.monotonic() - start:.1f} s")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "DeadlineExceeded" in output
    assert "the node ran longer than its deadline_seconds" in output


FAIL_ONCE = """
import pathlib
first = pathlib.Path("data/first-attempt.marker")
if not first.exists():
    first.write_text("failed")
    raise RuntimeError("the first attempt fails on purpose")
"""


def test_a_failed_attempt_is_retried_in_a_new_pod(real_demo, real_cluster):
    project = real_demo()
    patch_node(project, CLEAN_SALES, FAIL_ONCE)
    proc = kedro_run(project, real_cluster, ONE_NODE, "--runner-params",
                     "nodes.clean_sales_node.retries=1")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    assert (project / "data" / "first-attempt.marker").exists()
    pods = pods_of_node(real_cluster, output)
    codes = sorted(p.status.container_statuses[0].state.terminated.exit_code for p in pods)
    assert len(pods) == 2 and codes[0] == 0 and codes[1] != 0, codes


def test_sigint_deletes_every_job_pod_and_container_of_the_run(real_demo, real_cluster):
    project = real_demo()
    patch_node(project, CLEAN_SALES, "import time; time.sleep(600)")
    before = pod_names(real_cluster)
    started = time.monotonic()
    proc = popen_run(project, real_cluster, ONE_NODE)
    try:
        pod = wait_for_pod(real_cluster, before, lambda p: any(
            s.state.running for s in p.status.container_statuses or []), "running", proc)
        run_label = pod.metadata.labels["kedro-kinetic.io/run"]
        container_id = pod.status.container_statuses[0].container_id.split("://", 1)[1]
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        out = proc.log.read_text()
        exited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "Cancelled" in out
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        jobs, pods = run_objects(real_cluster, run_label)
        status = task_status(real_cluster, container_id)
        if not jobs and not pods and status in (None, "STOPPED"):
            print(f"[real bench] SIGINT {sent - started:.1f} s after the start: driver exited "
                  f"after {exited:.1f} s, container stopped after "
                  f"{time.monotonic() - sent:.1f} s")
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"left behind: jobs {[j.metadata.name for j in jobs]}, pods "
                    f"{[p.metadata.name for p in pods]}, container task: {status}")
    # Pods are deleted gracefully, never forced: a force-deleted pod that had just started
    # crashed kubelet v1.34 (nil pointer in its in-place resize path) on CI.
    kubelet = real_cluster.kubelet.process
    assert kubelet.running(), kubelet.log_tail()
    assert "Observed a panic" not in kubelet.log_path.read_text(errors="replace")


def task_status(cluster, container_id: str) -> str | None:
    """The containerd task's status (``RUNNING``, ``STOPPED``, ...), ``None`` once removed.

    A stopped task's process is gone; the kubelet removes the task itself later (for a
    force-deleted pod, at its next cleanup), which is not what the test is about.
    """
    for line in cluster.containerd.ctr("tasks", "list").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == container_id:
            return fields[-1]
    return None


def test_resume_after_the_driver_is_killed_runs_nothing_twice(real_demo, real_cluster,
                                                              reference):
    project = real_demo()
    hold = ("import pathlib, time\nend = time.monotonic() + 600\n"  # until the test says go:
            "while not pathlib.Path('data/go').exists() and time.monotonic() < end:\n"
            "    time.sleep(0.2)")  # (the project's data/ is the pod's, mounted)
    for sig, node, extra in ((STORE_SIG, "store_features_node", hold),
                             (CLEAN_SALES, "clean_sales_node", "")):
        patch_node(project, sig, f"open('data/executions-{node}', 'a').write('ran\\n')\n{extra}")
    before = pod_names(real_cluster)
    proc = popen_run(project, real_cluster, "--pipeline=data_processing")
    try:
        wait_for_pod(real_cluster, before, lambda p: "store-features" in p.metadata.name and any(
            s.state.running for s in p.status.container_statuses or []),
            "store_features running", proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        out = proc.log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    run_id = run_id_of(out)
    resume_started = time.time()
    resumed = popen_run(project, real_cluster, "--pipeline=data_processing", "--runner-params",
                        f"resume={run_id}")
    try:  # the slow node's Job, still running, is followed again; then it may end
        wait_for_text(resumed, "Adopted existing Job")
        (project / "data" / "go").write_text("go")
        resumed.wait(timeout=600)
    finally:
        (project / "data" / "go").write_text("go")
        if resumed.poll() is None:
            resumed.kill()
    output = resumed.log.read_text()
    assert resumed.returncode == 0, output[-5000:]
    assert "already finished" in output
    for node in ("store_features_node", "clean_sales_node"):
        runs = (project / "data" / f"executions-{node}").read_text().splitlines()
        assert len(runs) == 1, node
    jobs = jobs_of(real_cluster, run_id)
    names = [j.metadata.annotations["kedro-kinetic.io/node-name"] for j in jobs]
    assert len(names) == 8 and len(set(names)) == 8
    assert hashes(project) == reference["data_processing"]
    # results first: the first driver's Jobs (the adopted one too) have doorbells; the resumed
    # driver cannot know an adopted Job's, so it gives none and lists results/ instead
    rang = {"--notice" in j.spec.template.spec.containers[0].args for j in jobs
            if j.metadata.creation_timestamp.timestamp() >= resume_started}
    kept = {"--notice" in j.spec.template.spec.containers[0].args for j in jobs
            if j.metadata.creation_timestamp.timestamp() < resume_started - 1}
    assert rang == {False} and kept == {True}, (rang, kept)


def test_doctor_finds_the_real_bench_ready(real_demo, real_cluster):
    project = real_demo()
    proc = subprocess.run([*kedro_cmd(), "kinetic", "doctor", "--env", "real"], cwd=project,
                          env=real_env(real_cluster), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "doctor: ready for `kedro run --env real --runner=kedro_kinetic.GKERunner`" in lines
    # the image's kedro-kinetic, read from the registry by the pinned digest, is the driver's
    from kedro_kinetic import __version__

    assert any(line.startswith("ok") and real_cluster.image("demo") in line and
               f"kedro-kinetic {__version__} (task format" in line for line in lines), lines
