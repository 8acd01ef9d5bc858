"""`kedro kinetic init` on a fresh `kedro new` project, and `kedro kinetic doctor`.

init: the files it writes, the parameters file against the schema (every key
mentioned, the block valid as written and with every optional line enabled),
the refusal to overwrite. doctor: a missing kubeconfig, a server that refuses
connections, and (on the bench) a ready set-up, a missing bucket, namespace,
service account and Secret, an unpinned image and missing RBAC permissions.
"""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks.projects import add_code_settings
from kedro_kinetic import config
from kedro_kinetic.cli import scaffold
from kedro_kinetic.config.project_settings import ProjectSettings
from tests.kedro_run import kedro, python

pytestmark = pytest.mark.e2e
PINNED = "europe-docker.pkg.dev/kinetic-demo/kedro/demo-project@sha256:" + "a" * 64
FILES = ("conf/base/parameters_kinetic.yml", "Dockerfile", ".dockerignore")
#: A commented-out YAML line: "# key: ..." or "# - key: ..." (prose never starts like that).
COMMENTED_KEY = re.compile(r"^(?P<indent>\s*)# (?P<rest>\s*(?:- )?[A-Za-z_][\w.-]*:(?:\s.*)?)$")
MAP_SECTIONS = {"tags": "<tag>", "nodes": "<node>", "pipelines": "<pipeline>",
                "secret_env": "<NAME>"}


@pytest.fixture(scope="module")
def fresh_project(tmp_path_factory) -> Path:
    """`kedro new` (non-interactive: name, no tools, no example pipeline)."""
    root = tmp_path_factory.mktemp("new")
    proc = kedro(root, "new", "--name", "Fresh Kinetic", "--tools", "none", "--example", "n")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    project = root / "fresh-kinetic"
    assert (project / "pyproject.toml").is_file()
    return project


@pytest.fixture(scope="module")
def initialised(fresh_project: Path) -> Path:
    proc = kedro(fresh_project, "kinetic", "init")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for name in FILES:
        assert f"wrote {name}" in proc.stdout
    return fresh_project


def uncomment(text: str) -> str:
    """Enable every optional `# key: value` line (keeping its indentation)."""
    out = []
    for line in text.splitlines():
        match = COMMENTED_KEY.match(line)
        out.append(match["indent"] + match["rest"] if match else line)
    return "\n".join(out)


def key_paths(node: object, prefix: str = "") -> set[str]:
    """Key paths of a parsed block, map entries replaced by their placeholders."""
    paths: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            paths.add(path)
            section = str(key)
            if section in MAP_SECTIONS and isinstance(value, dict):
                for item in value.values():
                    paths |= key_paths(item, f"{path}.{MAP_SECTIONS[section]}.")
            else:
                paths |= key_paths(value, f"{path}.")
    elif isinstance(node, list):
        for item in node:
            paths |= key_paths(item, prefix.rstrip(".") + "[].")
    return paths


def test_init_writes_the_files(initialised: Path):
    for name in FILES:
        assert (initialised / name).is_file(), name


def test_parameters_file_is_valid_and_mentions_every_schema_key(initialised: Path):
    text = (initialised / FILES[0]).read_text()
    as_written = yaml.safe_load(text)
    assert set(as_written) == {"kinetic"}
    run = config.load(as_written["kinetic"])
    assert (run.backend, run.store, run.max_parallel) == ("local", "data/kinetic", 4)
    assert run.node_settings("n") == config.NodeSettings()  # written values = code defaults

    # Kedro itself merges it with the project's parameters.yml (no duplicate keys).
    from kedro.config import OmegaConfigLoader

    loader = OmegaConfigLoader(str(initialised / "conf"), base_env="base",
                               default_run_env="local")
    assert config.load(loader["parameters"]["kinetic"]) == run

    everything = yaml.safe_load(uncomment(text))["kinetic"]
    config.load(everything, settings=ProjectSettings(  # every example is valid too, once
        secrets=("kedro-credentials", "db-credentials"),  # the code lists its Secrets and
        service_accounts=("kedro-runner",)))  # service accounts
    found = key_paths(everything)
    wanted = {d.path for d in scaffold.reference() if d.scope == "run"}
    wanted |= {f"defaults.{d.path}" for d in scaffold.reference() if d.scope == "node"}
    assert wanted - found == set()
    # ... and the reference is the schema: a key missing there would have raised
    assert {p.split(".")[0] for p in wanted} == set(config.RUN_SCHEMA)
    assert {p.split(".")[1].split("[")[0] for p in wanted if p.startswith("defaults.")} == set(
        config.NODE_SCHEMA)
    prose = re.sub(r"\s*\n\s*#\s+", " ", text)  # comments joined across wrapped lines
    for doc in scaffold.reference():  # every key with its meaning; top-level ones with defaults
        assert doc.meaning in prose, doc.path
        if "." not in doc.path and "[" not in doc.path and doc.path != "defaults":
            plain = doc.default == "none" or doc.default.startswith("=")
            default = doc.default if plain else f"`{doc.default}`"
            assert f"{doc.path} ({doc.type}; default {default})" in prose, doc.path


def test_dockerfile_and_dockerignore(initialised: Path):
    docker = (initialised / "Dockerfile").read_text()
    workdirs = re.findall(r"^WORKDIR (\S+)$", docker, re.MULTILINE)
    assert workdirs == [scaffold.IMAGE_WORKDIR]
    params = (initialised / FILES[0]).read_text()
    assert f"workdir: {scaffold.IMAGE_WORKDIR}" in params
    users = re.findall(r"^USER (\d+):(\d+)$", docker, re.MULTILINE)
    assert users and all(int(u) > 0 and int(g) > 0 for u, g in users)  # numeric, non-root
    last_user = max(m.start() for m in re.finditer(r"^USER ", docker, re.MULTILINE))
    assert last_user > max(m.start() for m in re.finditer(r"^RUN ", docker, re.MULTILINE))
    major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"ARG PYTHON_VERSION={major_minor}" in docker
    assert re.search(r'pip install \. "\$\{KEDRO_KINETIC\}"', docker)
    assert "pip install -r requirements.txt" in docker
    assert 'ARG KEDRO_KINETIC="kedro-kinetic==' in docker
    assert 'CMD ["python", "-m", "kedro_kinetic.entrypoint"' in docker
    assert list(config.DEFAULT_COMMAND) == ["python", "-m", "kedro_kinetic.entrypoint"]
    assert "{{" not in docker
    ignore = (initialised / ".dockerignore").read_text().splitlines()
    for entry in ("conf/local/", ".venv/", ".git/", "data/"):
        assert entry in ignore
    # the container command works in an environment with kedro-kinetic installed
    proc = python(initialised, "-m", "kedro_kinetic.entrypoint", "--help")
    assert proc.returncode == 0 and "--payload-sha256" in proc.stdout


def test_second_init_refuses_without_force(initialised: Path):
    params = initialised / FILES[0]
    params.write_text(params.read_text() + "# my edit\n")
    proc = kedro(initialised, "kinetic", "init")
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    for name in FILES:
        assert name in message
    assert "--force" in message and "nothing was written" in message
    assert params.read_text().endswith("# my edit\n")

    proc = kedro(initialised, "kinetic", "init", "--force")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "overwrote conf/base/parameters_kinetic.yml" in proc.stdout
    assert not params.read_text().endswith("# my edit\n")


def test_init_refuses_a_second_kinetic_block(demo: Path):
    """demo_project already has `kinetic:` in parameters.yml: Kedro would refuse two."""
    proc = kedro(demo, "kinetic", "init")
    assert proc.returncode != 0
    assert "conf/base/parameters.yml already defines `kinetic:`" in proc.stdout + proc.stderr
    assert not (demo / FILES[0]).exists() and not (demo / "Dockerfile").exists()
    proc = kedro(demo, "kinetic", "init", "--no-params")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (demo / "Dockerfile").is_file() and not (demo / FILES[0]).exists()


# --- doctor ------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_env(project: Path, env: str, **block) -> Path:
    (project / "conf" / env).mkdir(exist_ok=True)
    (project / "conf" / env / "parameters.yml").write_text(yaml.safe_dump({"kinetic": block}))
    return project


def doctor(project: Path, env: str, *args: str, **environ: str) -> tuple[int, dict[str, str]]:
    proc = kedro(project, "kinetic", "doctor", "--env", env, *args, env=environ)
    lines = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"^(ok|warn|skip|FAIL) +(.+?): (.*)$", line)
        if match:
            lines[match[2]] = f"{match[1]} {match[3]}"
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode, lines


def test_doctor_missing_kubeconfig_and_refused_connection(demo: Path, tmp_path: Path):
    gcs = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{closed_port()}"}
    with_env(demo, "nokube", backend="kubernetes", image=PINNED, namespace="kedro",
             store="gs://kinetic-doctor/x")
    code, lines = doctor(demo, "nokube", KUBECONFIG=str(tmp_path / "no-such-kubeconfig"), **gcs)
    assert code == 1
    assert lines["kubeconfig"].startswith("FAIL")
    assert "no-such-kubeconfig does not exist" in lines["kubeconfig"]
    assert "gcloud container clusters get-credentials" in lines["kubeconfig"]
    assert lines["api"].startswith("skip") and lines["namespace kedro"].startswith("skip")
    assert lines[f"image {PINNED}"].startswith("ok")
    assert lines["store"].startswith("FAIL")  # nothing listens there

    kubeconfig = tmp_path / "refused.yaml"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {
            "server": f"https://127.0.0.1:{closed_port()}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
    }))
    with_env(demo, "refused", backend="kubernetes", image=PINNED, namespace="kedro",
             store="gs://kinetic-doctor/x")
    code, lines = doctor(demo, "refused", KUBECONFIG=str(kubeconfig), **gcs)
    assert code == 1
    assert lines["kubeconfig"].startswith("ok") and "context gone" in lines["kubeconfig"]
    assert lines["api"].startswith("FAIL cannot reach https://127.0.0.1:")
    assert "fix: check that the API server is reachable" in lines["api"]
    assert lines["rbac"].startswith("skip")


def test_doctor_reports_an_invalid_config(demo: Path):
    with_env(demo, "bad", backend="kubernetes", store="data/kinetic",
             defaults={"memory": "2GB"})
    code, lines = doctor(demo, "bad")
    assert code == 1
    assert lines["config"].startswith("FAIL")
    assert "kinetic.defaults.memory: '2GB' is not a Kubernetes quantity" in lines["config"]


def test_doctor_local_backend_needs_no_cluster(demo: Path):
    code, lines = doctor(demo, "local")
    assert code == 0
    assert lines["store"].startswith("ok") and lines["cluster"].startswith("skip")


@pytest.mark.bench
def test_doctor_on_the_bench_ready_then_each_missing_piece(demo: Path, k8s_cluster,
                                                           gcs_emulator):
    ns = k8s_cluster.namespace
    core = k8s_cluster.core_v1()
    core.create_namespaced_service_account(ns, {"metadata": {
        "name": "doctor-runner",
        "annotations": {"iam.gke.io/gcp-service-account": "kedro@p.iam.gserviceaccount.com"}}})
    core.create_namespaced_secret(ns, {"metadata": {"name": "doctor-creds"},
                                       "stringData": {"credentials.yml": "{}"}})
    add_code_settings(demo, secrets=["doctor-creds", "no-creds"],
                      service_accounts=["doctor-runner", "no-runner"],
                      shared_paths=["data"])  # the bench's pods share the project's data/
    common = {"backend": "kubernetes", "image_policy": "require_digest"}
    cluster_env = {"KUBECONFIG": k8s_cluster.kubeconfig}
    with_env(demo, "ready", **common, namespace=ns, image=PINNED,
             store=f"gs://{gcs_emulator.bucket}/doctor", credentials_secret="doctor-creds",
             defaults={"service_account": "doctor-runner"})
    code, lines = doctor(demo, "ready", **cluster_env)
    assert code == 0, lines
    assert all(v.startswith("ok") for v in lines.values()), lines
    assert {"kubeconfig", "api", f"namespace {ns}", "rbac jobs.batch", "rbac pods",
            "rbac pods/log", "rbac events", "service account doctor-runner", "secret doctor-creds",
            f"image {PINNED}", "store"} <= set(lines)
    assert "Workload Identity as kedro@p.iam.gserviceaccount.com" in lines[
        "service account doctor-runner"]
    assert "emulator" in lines["store"]
    bucket = gcs_emulator.client().bucket(gcs_emulator.bucket)
    assert not [b.name for b in bucket.list_blobs(prefix="doctor/")]  # the probe was deleted

    with_env(demo, "missing", **common, namespace="kinetic-nowhere",
             image="europe-docker.pkg.dev/kinetic-demo/kedro/demo-project:latest",
             store="gs://kinetic-no-such-bucket/doctor", credentials_secret="no-creds",
             defaults={"service_account": "no-runner"},
             nodes={"n": {"image": "Bad Image!"}})
    code, lines = doctor(demo, "missing", **cluster_env)
    assert code == 1
    assert lines["store"] == (
        "FAIL bucket gs://kinetic-no-such-bucket does not exist -- fix: create it (gcloud "
        "storage buckets create gs://kinetic-no-such-bucket --location=REGION "
        "--uniform-bucket-level-access) or correct kinetic.store")
    assert lines["namespace kinetic-nowhere"].startswith("FAIL does not exist")
    assert "kubectl create namespace kinetic-nowhere" in lines["namespace kinetic-nowhere"]
    assert lines["service account no-runner"].startswith("FAIL does not exist")
    assert "create serviceaccount no-runner" in lines["service account no-runner"]
    assert "roles/iam.workloadIdentityUser" in lines["service account no-runner"]
    assert "create secret generic no-creds --from-file=credentials.yml=" in lines[
        "secret no-creds"]
    unpinned = lines["image europe-docker.pkg.dev/kinetic-demo/kedro/demo-project:latest"]
    assert unpinned.startswith("FAIL not pinned by digest (image_policy: require_digest)")
    assert lines["image Bad Image!"].startswith("FAIL not a well-formed image reference")


@pytest.mark.bench
def test_doctor_names_missing_rbac_permissions(demo: Path, k8s_cluster, gcs_emulator,
                                              tmp_path: Path):
    """A user bound to nothing: Job creation and pod watching are refused."""
    ns = k8s_cluster.namespace
    core = k8s_cluster.core_v1()
    core.create_namespaced_service_account(ns, {"metadata": {"name": "doctor-nobody"}})
    token = core.create_namespaced_service_account_token(
        "doctor-nobody", ns, {"spec": {"expirationSeconds": 3600}}).status.token
    admin = yaml.safe_load(Path(k8s_cluster.kubeconfig).read_text())
    admin["users"] = [{"name": "nobody", "user": {"token": token}}]
    for context in admin["contexts"]:
        context["context"]["user"] = "nobody"
    kubeconfig = tmp_path / "nobody.yaml"
    kubeconfig.write_text(yaml.safe_dump(admin))
    with_env(demo, "nobody", backend="kubernetes", namespace=ns,
             image=PINNED, store=f"gs://{gcs_emulator.bucket}/doctor-rbac")
    code, lines = doctor(demo, "nobody", KUBECONFIG=str(kubeconfig))
    assert code == 1
    assert lines["api"].startswith("ok")
    assert lines[f"namespace {ns}"].startswith("warn not verified")
    jobs = lines["rbac jobs.batch"]
    assert jobs.startswith("FAIL you may not create, get, list, watch, delete, deletecollection")
    assert f"kubectl -n {ns} create role kedro-kinetic" in jobs
    assert lines["rbac pods"].startswith("FAIL you may not list, watch")
    assert lines["rbac pods/log"].startswith("FAIL")
    assert lines["rbac events"].startswith("FAIL you may not list, watch events")
    assert lines["store"].startswith("ok")
