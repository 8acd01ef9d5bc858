"""Configuration mistakes a run finds before it submits anything, through real `kedro`
processes: misspelt node and tag names (with the closest name), a kubernetes environment
whose catalog still points at data/ (each dataset named, with the fix), and a missing input
(one line naming the dataset and its path, before the node's traceback)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest
import yaml

from benchmarks.projects import add_code_settings
from tests.kedro_run import kedro

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

RUN = ("run", "--runner=kedro_kinetic.GKERunner")
IMAGE = "europe-docker.pkg.dev/kinetic-demo/kedro/demo-project@sha256:" + "a" * 64
TYPOS = "nodes.train_modle_node.memory=4Gi,tags.haevy.cpu=2"


def k8s_env(project: Path) -> str:
    """A kubernetes environment that overrides the kinetic block but not the catalog."""
    (project / "conf" / "k8s").mkdir()
    (project / "conf" / "k8s" / "parameters.yml").write_text(yaml.safe_dump({"kinetic": {
        "backend": "kubernetes", "image": IMAGE, "store": "gs://kinetic-nowhere/demo"}}))
    return "k8s"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_misspelt_node_and_tag_names_stop_run_and_render(demo):
    for args in ([*RUN, "--runner-params", TYPOS], ["kinetic", "render", "--runner-params",
                                                    TYPOS]):
        proc = kedro(demo, *args)
        assert proc.returncode != 0, proc.stdout[-3000:]
        assert proc.stderr.startswith("Error: invalid kinetic configuration:"), proc.stderr
        assert ("--runner-params.nodes.train_modle_node: no node named 'train_modle_node' in "
                "the project's pipelines; did you mean 'train_model_node'?") in proc.stderr
        assert ("--runner-params.tags.haevy: no node of the project's pipelines is tagged "
                "'haevy'; did you mean 'heavy'?") in proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
    assert not (demo / "data" / "kinetic").exists()  # nothing planned, nothing stored
    other = kedro(demo, "kinetic", "render", "--pipeline", "data_processing", "-o",
                  str(demo / "jobs.yaml"), "--runner-params", "nodes.train_model_node.memory=4Gi")
    assert other.returncode == 0, other.stderr[-3000:]  # a node of another pipeline


def test_a_kubernetes_env_writing_local_paths_is_refused_by_run_render_and_doctor(demo):
    env = k8s_env(demo)
    run = kedro(demo, *RUN, "--env", env, "--pipelines", "data_processing")
    assert run.returncode != 0, run.stdout[-3000:]
    assert run.stderr.startswith("Error: backend 'kubernetes': 7 datasets of this run are on "
                                 "this machine's disk, which the pods do not share:"), run.stderr
    assert "  - 'sales' (filepath 'data/01_raw/sales.csv', read by clean_sales_node)" in run.stderr
    assert "override their filepath in conf/k8s/catalog.yml with a gs:// path" in run.stderr
    assert "no usable kubeconfig" not in run.stderr  # refused before the cluster is reached
    assert not (demo / "data" / "kinetic").exists()

    render = kedro(demo, "kinetic", "render", "--env", env)
    assert render.returncode != 0
    assert "'regressor' (filepath 'data/06_models/regressor.pickle'" in render.stderr

    doctor = kedro(demo, "kinetic", "doctor", "--env", env, env={
        "KUBECONFIG": str(demo / "no-such-kubeconfig"),
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{closed_port()}"})
    assert doctor.returncode == 1
    lines = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL dataset ")]
    assert len(lines) == 10, doctor.stdout
    assert any(line.startswith("FAIL dataset sales: filepath 'data/01_raw/sales.csv'")
               for line in lines), lines

    add_code_settings(demo, shared_paths=["data"])  # code says every pod mounts data/
    shared = kedro(demo, "kinetic", "render", "--env", env, "-o", str(demo / "jobs.yaml"))
    assert shared.returncode == 0, shared.stderr[-3000:]


def test_a_missing_input_is_named_on_the_first_line(demo):
    (demo / "data" / "01_raw" / "sales.csv").unlink()
    proc = kedro(demo, *RUN, "--pipelines", "data_processing")
    assert proc.returncode != 0, proc.stdout[-3000:]
    first, second = proc.stderr.splitlines()[:2]
    assert first.startswith("Error: node 'clean_sales_node' failed remotely (dataset load/save "
                            "failed): kedro.io.core.DatasetError: input 'sales' not found: "
                            "'data/01_raw/sales.csv' (looked for "), proc.stderr
    assert first.endswith("does not exist; write it first (run the node that produces it, or "
                          "upload it there) or correct its path in the catalog")
    assert second == "--- remote traceback ---"
    assert "FileNotFoundError" in proc.stderr  # the node's traceback follows
