"""Node grouping on the local backend: several nodes in one Job, every node still pinned,
hooked and visible; outputs equal SequentialRunner's in every mode."""

from __future__ import annotations

import json
import re
import subprocess
from typing import TYPE_CHECKING

import pytest
import yaml

from kedro_kinetic.wire import naming
from tests.conftest import copy_demo, kedro_cmd, read_result, subprocess_env
from tests.e2e.bench_kit import DS_NODES, hashes, patch_node
from tests.e2e.test_failures_local import install_recorder
from tests.pod_kit import evil_pickle

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e
FEATURE_NODES = ("store_features_node", "product_features_node", "calendar_features_node",
                 "sales_summary_node")
TRAINING = {"nodes": {"split_data_node": {"group": "training"},
                      "train_model_node": {"group": "training"}}}


def kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner", *args],
                          cwd=project, capture_output=True, text=True,
                          env=subprocess_env(COLUMNS="2000"), timeout=900)


def kinetic_params(project: Path, block: dict) -> None:
    (project / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump({"kinetic": block}))


def run_folder(project: Path) -> Path:
    [folder] = (project / "data" / "kinetic" / "runs").iterdir()
    return folder


def namespace_features(project: Path) -> None:
    """Put the four feature nodes of data_processing in the Kedro namespace 'features'."""
    path = project / "src/demo_project/pipelines/data_processing/pipeline.py"
    text = path.read_text()
    for name in FEATURE_NODES:
        text = text.replace(f'name="{name}",', f'name="{name}", namespace="features",')
    path.write_text(text)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> dict[str, str]:
    project = copy_demo(tmp_path_factory.mktemp("seq"))
    proc = subprocess.run([*kedro_cmd(), "run"], cwd=project, env=subprocess_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return hashes(project)


@pytest.mark.parametrize(("mode", "jobs"), [("chains", 12), ("namespace", 10),
                                            ("explicit", 12)])
def test_every_grouping_mode_equals_sequential_runner_one_job_per_group(demo, sequential,
                                                                         mode, jobs):
    if mode == "explicit":
        kinetic_params(demo, TRAINING)
    else:
        kinetic_params(demo, {"grouping": mode})
    if mode == "namespace":
        namespace_features(demo)
    proc = kedro_run(demo)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert hashes(demo) == sequential
    folder = run_folder(demo)
    assert len(list((folder / "manifests").glob("*.json"))) == jobs  # one Job per group
    assert len(list((folder / "results").glob("*.json"))) == 13  # one result per node
    for path in (folder / "results").glob("*.json"):
        assert read_result(path).status == "succeeded"  # each sealed on its own


def test_in_group_intermediates_never_reach_the_store(demo):
    kinetic_params(demo, TRAINING)
    proc = kedro_run(demo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = {p.name for p in (run_folder(demo) / "data").iterdir()}
    assert f"{naming.dataset_key('y_train')}.pkl" not in data  # only the group read it
    assert f"{naming.dataset_key('X_train')}.pkl" in data  # feature_importance reads it too
    manifests = [json.loads(p.read_text()) for p in (run_folder(demo) / "manifests").iterdir()]
    [group] = [m for m in manifests
               if "kedro-kinetic.io/group-nodes" in m["metadata"]["annotations"]]
    assert json.loads(group["metadata"]["annotations"]["kedro-kinetic.io/group-nodes"]) == [
        "split_data_node", "train_model_node"]
    args = group["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "--group" and re.fullmatch(r"[0-9a-f]{64}", args[3])
    # the group's output and records come from its Job, tagged with the group
    assert "[train_model_node] Loading data from X_train" not in proc.stdout
    assert "[group:training] Loading data from X_train" in proc.stdout


TAMPER_GROUP = '''
import pickle
from kedro.framework.hooks import hook_impl
from kedro_kinetic import store

EVIL = {evil!r}  # unpickling it writes the marker's .unpickled file (tests.pod_kit)


class Tamper:
    """Project code acting as a store writer: swap one grouped node's payload."""

    @hook_impl
    def kinetic_job_manifest(self, manifest, node, settings, run_id):
        args = manifest["spec"]["template"]["spec"]["containers"][0]["args"]
        if "--group" not in args:
            return None
        result = args[args.index("--result") + 1]
        objects = result.split("/results/")[0] + "/objects"
        for uri in store.list_objects(objects):
            try:
                document = pickle.loads(store.read_bytes(uri))  # our own payloads
            except Exception:
                continue
            if isinstance(document, dict) and document.get("name") == "train_model_node":
                store.write_bytes(uri, EVIL)
        return None
'''


def test_a_tampered_payload_of_one_grouped_node_is_refused_before_any_node_runs(demo):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    kinetic_params(demo, TRAINING)
    patch_node(demo, "def split_data(", f"__import__('pathlib').Path({str(marker)!r})"
                                        ".write_text('split_data ran')", nodes=DS_NODES)
    package = demo / "src" / "demo_project"
    evil = evil_pickle(marker.with_suffix(".unpickled"))
    (package / "tamper.py").write_text(TAMPER_GROUP.format(evil=evil))
    settings = package / "settings.py"
    settings.write_text(settings.read_text() + "\nfrom demo_project.tamper import Tamper\n"
                        "HOOKS = (Tamper(),)\n")
    proc = kedro_run(demo)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0
    assert "node 'train_model_node' failed remotely (verification failed)" in text
    assert "payload of node 'train_model_node': SHA-256 mismatch" in text
    assert not marker.exists()  # split_data, earlier in the group, never ran
    assert not marker.with_suffix(".unpickled").exists()


def test_a_node_failing_mid_group_fires_its_error_hook_and_after_hooks_before_it(demo):
    kinetic_params(demo, {"nodes": {n: {"group": "model"} for n in (
        "split_data_node", "train_model_node", "predict_node")}})
    patch_node(demo, "def train_model(", "raise ValueError('training exploded')",
               nodes=DS_NODES)
    calls_file = install_recorder(demo)
    proc = kedro_run(demo)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0
    assert "node 'train_model_node' failed remotely (node raised)" in text
    assert "ValueError: training exploded" in text
    calls = [json.loads(line) for line in calls_file.read_text().splitlines()]
    by_hook: dict[str, list[str]] = {}
    for call in calls:
        by_hook.setdefault(call["hook"], []).append(call["node"])
    assert by_hook["error"] == ["train_model_node"]
    assert "split_data_node" in by_hook["after"]
    assert "train_model_node" not in by_hook["after"] and "predict_node" not in by_hook["after"]
    assert "not run (its group stopped at a failed node)" in text  # predict_node


@pytest.mark.parametrize(("block", "message"), [
    ({"nodes": {"split_data_node": {"group": "g"}, "predict_node": {"group": "g"}}},
     "group 'g' cannot run as one Job: a path leaves it and comes back "
     "(nodes: split_data_node, predict_node)"),
    ({"nodes": {"split_data_node": {"group": "g", "memory": "1Gi"},
                "train_model_node": {"group": "g", "spot": True}}},
     "group 'g' cannot run as one Job: their spot differ"),
])
def test_invalid_groupings_are_refused_before_anything_runs(demo, block, message):
    kinetic_params(demo, block)
    proc = kedro_run(demo)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0 and message in text
    assert not (demo / "data" / "kinetic").exists()  # nothing planned, stored or run


def test_render_shows_the_grouped_jobs(demo):
    kinetic_params(demo, TRAINING)
    proc = subprocess.run([*kedro_cmd(), "kinetic", "render", "--pipeline=data_science"],
                          cwd=demo, capture_output=True, text=True, env=subprocess_env(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [d for d in yaml.safe_load_all(proc.stdout[proc.stdout.index("apiVersion"):]) if d]
    names = [j["metadata"]["annotations"]["kedro-kinetic.io/node-name"] for j in jobs]
    assert sorted(names) == sorted(["group:training", "predict_node",
                                    "feature_importance_node", "evaluate_model_node"])



@pytest.mark.bench
def test_grouped_demo_on_the_bench_equals_sequential_runner(tmp_path, k8s_cluster, gcs_emulator,
                                                            sequential):
    from tests.e2e.bench_kit import kedro_run as bench_run
    from tests.e2e.bench_kit import make_bench_demo, run_jobs

    previous = k8s_cluster.kubelet.cwd
    project = make_bench_demo(tmp_path, k8s_cluster, gcs_emulator, "grouping-chains",
                              grouping="chains", nodes=TRAINING["nodes"])
    try:
        before = {j.metadata.name for j in run_jobs(k8s_cluster)}
        proc = bench_run(project)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        new = [j for j in run_jobs(k8s_cluster) if j.metadata.name not in before]
        names = sorted(j.metadata.annotations["kedro-kinetic.io/node-name"] for j in new)
        # chains fuse create_model_input_table + split_data... but split_data is in the
        # explicit 'training' group first, so chains find none: 13 nodes, 12 Jobs
        assert len(new) == 12 and "group:training" in names
        assert hashes(project) == sequential
        bucket = gcs_emulator.client().bucket(gcs_emulator.bucket)
        stored = {b.name.rsplit("/", 1)[-1] for b in bucket.list_blobs(
            prefix="grouping-chains/runs/")}
        assert f"{naming.dataset_key('y_train')}.pkl" not in stored
        assert f"{naming.dataset_key('X_train')}.pkl" in stored
    finally:
        k8s_cluster.kubelet.cwd = previous
