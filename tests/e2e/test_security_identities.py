"""Identities come from code: Secrets, service accounts, the API token, http(s) datasets.

A configuration author (conf/, ``--params``, ``--runner-params``) must not give a pod
kedro-kinetic's own run-key Secret (a node that reads it can forge every result), a
service account the project's code did not choose, a Kubernetes API token it does not
need, or a dataset that fetches from the pod's own host or its cloud's metadata server.
Each attack would write MARKER if it worked; each test proves that the attack reached
kedro-kinetic (the refusal names it, the planted object exists) and that the marker is
absent and nothing was submitted.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.request
from typing import TYPE_CHECKING

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from benchmarks.projects import add_code_settings
from kedro_kinetic.wire import naming, seal
from tests.e2e.bench_kit import patch_node, run_jobs
from tests.kedro_run import flat, kedro

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.e2e
CLEAN_SALES = "def clean_sales("
PROBE = "/probe"
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


# --- http(s) datasets: never the pod's own host (local backend) ---------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Serves the demo's sales.csv; any request but the test's own probe writes MARKER."""

    marker: Path
    body: bytes

    def do_GET(self) -> None:
        payload = self._answer()
        self.wfile.write(payload)

    def do_HEAD(self) -> None:
        self._answer()

    def _answer(self) -> bytes:
        if self.path != PROBE:
            self.marker.write_text(f"fetched {self.path}")
        payload = b"ok" if self.path == PROBE else self.body
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        return payload

    def log_message(self, *args: object) -> None:
        return None


@contextlib.contextmanager
def loopback_server(marker: Path, body: bytes) -> Iterator[int]:
    """An HTTP server on 127.0.0.1 that writes ``marker`` if it is ever asked for data."""
    handler = type("Recorder", (_Recorder,), {"marker": marker, "body": body})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def point_sales_at(project: Path, url: str) -> None:
    """conf/local overrides the demo's raw ``sales`` input with an http(s) path."""
    (project / "conf" / "local" / "catalog.yml").write_text(yaml.safe_dump(
        {"sales": {"type": "pandas.CSVDataset", "filepath": url}}))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433"])
def test_an_http_dataset_on_a_loopback_host_is_refused_before_submission(demo, tmp_path,
                                                                           host):
    marker = tmp_path / "MARKER"
    body = (demo / "data" / "01_raw" / "sales.csv").read_bytes()
    add_code_settings(demo, dataset_allowlist=["fsspec:protocol=http"])  # code allows http
    with loopback_server(marker, body) as port:
        url = f"http://{host}:{port}/sales.csv"
        point_sales_at(demo, url)
        proc = kedro(demo, "run", "--runner=kedro_kinetic.GKERunner",
                     "--pipeline=data_processing", env={"COLUMNS": "2000", **NO_PROXY})
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with direct.open(f"http://127.0.0.1:{port}{PROBE}", timeout=60) as answer:
            assert answer.read() == b"ok"  # the server was there all along, and answers
    text = flat(proc)
    assert proc.returncode != 0
    assert f"catalog entry 'sales', key 'filepath': host '{host}' of '{url}'" in text, \
        text[-3000:]
    assert "loopback" in text or "numeric host" in text
    assert not marker.exists()
    assert not (demo / "data" / "kinetic").exists()  # nothing was planned or submitted


def test_the_same_dataset_is_fetched_by_plain_kedro(demo, tmp_path):
    """The control: Kedro's own runner fetches what kedro-kinetic refuses."""
    marker = tmp_path / "MARKER"
    body = (demo / "data" / "01_raw" / "sales.csv").read_bytes()
    with loopback_server(marker, body) as port:
        point_sales_at(demo, f"http://127.0.0.1:{port}/sales.csv")
        proc = kedro(demo, "run", "--pipeline=data_processing", env=NO_PROXY)
    assert proc.returncode == 0, flat(proc)[-3000:]
    assert marker.read_text() == "fetched /sales.csv"


def test_http_without_the_extension_in_code_is_refused_by_protocol(demo, tmp_path):
    marker = tmp_path / "MARKER"
    point_sales_at(demo, "https://data.example.org/sales.csv")
    proc = kedro(demo, "run", "--runner=kedro_kinetic.GKERunner",
                 "--pipeline=data_processing", env={"COLUMNS": "2000"})
    text = flat(proc)
    assert proc.returncode != 0
    assert "catalog entry 'sales', key 'filepath': protocol 'https'" in text, text[-3000:]
    assert "fsspec:protocol=VALUE" in text and "KINETIC_DATASET_ALLOWLIST" in text
    assert not marker.exists() and not (demo / "data" / "kinetic").exists()


# --- Secrets, service accounts, the API token (bench: real control plane) ----------------


def bench_run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return kedro(project, "run", "--env=bench", "--runner=kedro_kinetic.GKERunner",
                 "--pipeline=data_processing", *args, env={"COLUMNS": "2000"})


def plant_marker_node(project: Path, marker: Path) -> None:
    """clean_sales writes MARKER (with what STOLEN_KEY held) whenever it runs."""
    patch_node(project, CLEAN_SALES,
               f'import os, pathlib\npathlib.Path({str(marker)!r}).write_text('
               'os.environ.get("STOLEN_KEY", "ran"))\n')


def create_ignoring_conflict(create, *args) -> None:
    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:
            raise


@pytest.mark.bench
def test_secret_env_naming_the_runs_own_key_secret_is_refused_before_any_job(
        bench_demo, k8s_cluster, tmp_path):
    marker = tmp_path / "MARKER"
    plant_marker_node(bench_demo, marker)
    run_id = "2026-12-01T10.20.30.400Z"  # resume= fixes the run id, so the key Secret's name
    secret = naming.key_secret(naming.run_label(run_id))
    core, ns = k8s_cluster.core_v1(), k8s_cluster.namespace
    create_ignoring_conflict(core.create_namespaced_secret, ns, {
        "metadata": {"name": secret, "labels": {"kedro-kinetic.io/run": naming.run_label(run_id)}},
        "stringData": {seal.SECRET_DATA_KEY: "k" * 64}})
    add_code_settings(bench_demo, secrets=[secret])  # listing it in code changes nothing
    before = {job.metadata.name for job in run_jobs(k8s_cluster)}
    proc = bench_run(bench_demo, "--runner-params",
                     f"resume={run_id},defaults.secret_env.STOLEN_KEY.secret={secret},"
                     f"defaults.secret_env.STOLEN_KEY.key={seal.SECRET_DATA_KEY}")
    text = flat(proc)
    assert proc.returncode != 0
    assert (f"--runner-params.defaults.secret_env.STOLEN_KEY.secret: '{secret}' is one of "
            "kedro-kinetic's own key Secrets") in text, text[-3000:]
    assert core.read_namespaced_secret(secret, ns).data  # it is there to be stolen
    assert {job.metadata.name for job in run_jobs(k8s_cluster)} == before  # no Job at all
    assert not marker.exists()


@pytest.mark.bench
def test_an_unlisted_service_account_from_runner_params_is_refused_before_any_job(
        bench_demo, k8s_cluster, tmp_path):
    marker = tmp_path / "MARKER"
    plant_marker_node(bench_demo, marker)
    core, ns = k8s_cluster.core_v1(), k8s_cluster.namespace
    create_ignoring_conflict(core.create_namespaced_service_account, ns,
                             {"metadata": {"name": "powerful-sa"}})
    add_code_settings(bench_demo, service_accounts=["etl-runner"])
    before = {job.metadata.name for job in run_jobs(k8s_cluster)}
    proc = bench_run(bench_demo, "--runner-params", "defaults.service_account=powerful-sa")
    text = flat(proc)
    assert proc.returncode != 0
    assert ("--runner-params.defaults.service_account: service account 'powerful-sa' is not "
            "listed in settings.py KINETIC_SERVICE_ACCOUNTS (etl-runner)") in text, text[-3000:]
    assert core.read_namespaced_service_account("powerful-sa", ns)  # it exists: delivered
    assert {job.metadata.name for job in run_jobs(k8s_cluster)} == before
    assert not marker.exists()


def _token_volumes(pod_spec) -> list[str]:
    """Names of the volumes that project a service account token into the pod."""
    return [volume.name for volume in pod_spec.volumes or [] if volume.projected and any(
        source.service_account_token for source in volume.projected.sources or [])]


@pytest.mark.bench
def test_submitted_pods_mount_no_api_token_unless_code_opts_in(bench_demo, k8s_cluster,
                                                                 tmp_path):
    core, ns = k8s_cluster.core_v1(), k8s_cluster.namespace
    create_ignoring_conflict(core.create_namespaced_service_account, ns,
                             {"metadata": {"name": "etl-runner"}})
    add_code_settings(bench_demo, service_accounts=["etl-runner"])
    before = {job.metadata.name for job in run_jobs(k8s_cluster)}
    proc = bench_run(bench_demo, "--nodes=clean_sales_node", "--runner-params",
                     "defaults.service_account=etl-runner")
    assert proc.returncode == 0, flat(proc)[-5000:]
    jobs = [job for job in run_jobs(k8s_cluster) if job.metadata.name not in before]
    assert len(jobs) == 1
    template = jobs[0].spec.template.spec
    assert template.automount_service_account_token is False
    assert template.service_account_name == "etl-runner"
    pods = core.list_namespaced_pod(ns, label_selector=f"job-name={jobs[0].metadata.name}")
    # The bench's API server runs without the ServiceAccount admission plugin (it would add
    # the token volume), so what the API stored is the evidence: the field, and no token.
    assert pods.items
    for pod in pods.items:
        assert pod.spec.automount_service_account_token is False
        assert pod.spec.service_account_name == "etl-runner"
        assert not _token_volumes(pod.spec)
    # opted in by code: the rendered Jobs ask for the token
    add_code_settings(bench_demo, mount_service_account_token=True)
    out = tmp_path / "jobs.yaml"
    rendered = kedro(bench_demo, "kinetic", "render", "--env=bench", "-o", str(out))
    assert rendered.returncode == 0, flat(rendered)[-3000:]
    specs = [job["spec"]["template"]["spec"] for job in yaml.safe_load_all(out.read_text())]
    assert specs and all(spec["automountServiceAccountToken"] is True for spec in specs)
