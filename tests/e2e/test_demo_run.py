"""demo_project through GKERunner (local backend) equals SequentialRunner."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_demo
from tests.kedro_run import kedro, python

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent


def output_hashes(project: Path) -> dict[str, str]:
    data = project / "data"
    return {
        p.relative_to(project).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data.glob("0[2-8]_*/**/*"))
        if p.is_file() and p.name != ".gitkeep"
    }


def run_session(project: Path, which: str, out: Path) -> dict:
    proc = python(REPO, str(HERE / "run_session.py"), str(project), which, str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One demo copy run by GKERunner through the CLI, one by SequentialRunner."""
    gke = copy_demo(tmp_path_factory.mktemp("gke"))
    seq = copy_demo(tmp_path_factory.mktemp("seq"))
    proc = kedro(gke, "run", "--runner=kedro_kinetic.GKERunner")
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    (gke / "cli.log").write_text(proc.stdout + proc.stderr)
    proc = kedro(seq, "run")
    assert proc.returncode == 0, proc.stderr[-5000:]
    return {"gke": gke, "seq": seq}


def test_every_persisted_output_equals_sequential_runner(runs):
    gke, seq = output_hashes(runs["gke"]), output_hashes(runs["seq"])
    assert len(seq) >= 8
    assert gke == seq


def test_every_node_ran_in_its_own_pinned_process(runs):
    run_dirs = list((runs["gke"] / "data" / "kinetic" / "runs").iterdir())
    assert len(run_dirs) == 1
    manifests = sorted((run_dirs[0] / "manifests").glob("*.json"))
    results = sorted((run_dirs[0] / "results").glob("*.json"))
    assert len(manifests) == len(results) == 13
    for path in manifests:
        job = json.loads(path.read_text())
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        pinned = dict(zip(args[::2], args[1::2]))
        payload = Path(pinned["--payload"].removeprefix("file://"))
        assert hashlib.sha256(payload.read_bytes()).hexdigest() == pinned["--payload-sha256"]
    log = (runs["gke"] / "cli.log").read_text()
    assert "[train_model_node] Loading data from X_train" in log  # its records, tagged


def test_free_outputs_equal_sequential_runner(runs, tmp_path):
    gke = run_session(runs["gke"], "gke", tmp_path / "gke.json")
    seq = run_session(runs["seq"], "sequential", tmp_path / "seq.json")
    assert set(seq) == {"cleaning_report", "feature_importance"}
    assert gke == seq
