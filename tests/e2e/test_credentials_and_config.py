"""Credentials travel as names only; invalid config stops a run before anything runs."""

from __future__ import annotations

import textwrap
import uuid
from typing import TYPE_CHECKING

import pytest

from tests.conftest import read_result
from tests.kedro_run import kedro

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

pytestmark = pytest.mark.e2e


def kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return kedro(project, "run", "--runner=kedro_kinetic.GKERunner", *args)


def test_credential_value_never_leaves_the_pod(demo):
    canary = f"CANARY-{uuid.uuid4().hex}"
    (demo / "conf" / "local" / "credentials.yml").write_text(
        f"report_fs:\n  canary_token: {canary}\n")
    # the pod must resolve the name: fsspec receives the value as a storage option
    (demo / "conf" / "local" / "catalog.yml").write_text(textwrap.dedent("""
        sales_summary:
          type: json.JSONDataset
          filepath: data/08_reporting/sales_summary.json
          credentials: report_fs
    """))
    proc = kedro_run(demo, "--pipeline=data_processing")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (demo / "data" / "08_reporting" / "sales_summary.json").exists()
    stored = [p for p in (demo / "data" / "kinetic").rglob("*") if p.is_file()]
    kinds = {p.parent.name for p in stored}
    assert {"objects", "manifests", "results"} <= kinds
    specs = [p for p in stored if b'"credentials": ["report_fs"]' in p.read_bytes()]
    assert specs, "the spec of sales_summary_node should name the credentials"
    for path in stored:
        assert canary.encode() not in path.read_bytes(), path
    assert canary not in proc.stdout + proc.stderr


def test_missing_credentials_name_fails_in_the_pod_with_the_name_only(demo):
    (demo / "conf" / "local" / "catalog.yml").write_text(textwrap.dedent("""
        sales_summary:
          type: json.JSONDataset
          filepath: data/08_reporting/sales_summary.json
          credentials: nowhere_to_be_found
    """))
    proc = kedro_run(demo, "--pipeline=data_processing")
    assert proc.returncode != 0
    # Kedro's own catalog refuses first in the driver, naming the missing credentials
    assert "nowhere_to_be_found" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("params_yaml", "runner_params", "message"),
    [
        ("kinetic:\n  max_paralel: 2\n", None, "kinetic.max_paralel: unknown key"),
        ("kinetic:\n  defaults:\n    memory: 2GB\n", None,
         "kinetic.defaults.memory: '2GB' is not a Kubernetes quantity"),
        ("kinetic:\n  tags:\n    heavy:\n      retries: -1\n", None,
         "kinetic.tags.heavy.retries: expected an integer >= 0"),
        ("kinetic:\n  backend: kubernetes\n", None, "kinetic.image: required"),
        (None, "max_parallel=0", "--runner-params.max_parallel: expected an integer >= 1"),
        (None, "dataset_allowlist=evil.Mod", "--runner-params.dataset_allowlist: the allowlist "
                                          "can only be extended in code"),
        (None, "backend=kubernetes,image=europe-docker.pkg.dev/kinetic-demo/kedro/x:1,"
               "store=gs://nowhere/x,image_policy=require_digest",
         "image(s) not pinned by digest: europe-docker.pkg.dev/kinetic-demo/kedro/x:1"),
        (None, "backend=kubernetes,image=python:3.11-slim,store=gs://nowhere/x",
         "--runner-params.image: 'python:3.11-slim' is not in a repository listed in "
         "settings.py KINETIC_IMAGE_REPOSITORIES"),
    ],
)
def test_invalid_config_names_the_key_and_nothing_runs(demo, params_yaml, runner_params,
                                                       message):
    if params_yaml:
        (demo / "conf" / "local" / "parameters.yml").write_text(params_yaml)
    args = ["--runner-params", runner_params] if runner_params else []
    proc = kedro_run(demo, *args)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (demo / "data" / "kinetic").exists()
    assert not list((demo / "data" / "02_intermediate").glob("*.csv"))


def test_only_missing_outputs_runs_just_the_missing_node(demo):
    assert kedro_run(demo, "--pipeline=data_processing").returncode == 0
    (demo / "data" / "08_reporting" / "sales_summary.json").unlink()
    proc = kedro_run(demo, "--pipeline=data_processing", "--only-missing-outputs")
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted((demo / "data" / "kinetic" / "runs").iterdir())
    assert len(runs) == 2
    results = [read_result(p).node for p in (runs[-1] / "results").glob("*.json")]
    assert results == ["sales_summary_node"]
    assert (demo / "data" / "08_reporting" / "sales_summary.json").exists()
