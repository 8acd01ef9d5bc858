"""Configuration and runtime params are data: they cannot choose what runs.

Each attack is what someone who may only edit conf/ or pass `--params`/`--runner-params` can
do. It would write MARKER if it worked; each test proves the value reached kedro-kinetic's
check (the error names the key) and that the marker is absent and nothing ran.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.kedro_run import flat, kedro

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


def kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return kedro(project, "run", "--runner=kedro_kinetic.GKERunner", *args,
                 env={"COLUMNS": "2000"})


def local_params(project: Path, block: dict) -> None:
    (project / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(
        {"kinetic": block}))


def plant_startup_module(tmp_path: Path, marker: Path) -> Path:
    """A folder whose sitecustomize.py writes the marker when any Python starts with it."""
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported')\n")
    (folder / "startup.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('startup')\n")
    return folder


def exec_kubeconfig(tmp_path: Path, marker: Path) -> Path:
    """A kubeconfig whose exec credential plugin writes the marker when it is loaded."""
    path = tmp_path / "evil-kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "sh",
            "args": ["-c", f"touch {marker}; echo '{{}}'"]}}}],
    }))
    return path


def assert_refused(proc: subprocess.CompletedProcess[str], *fragments: str, project: Path,
                   marker: Path) -> None:
    text = flat(proc)
    assert proc.returncode != 0
    for fragment in fragments:
        assert fragment in text, text[-3000:]
    assert not marker.exists()
    assert not (project / "data" / "kinetic").exists()  # nothing was planned or submitted


def test_a_command_from_parameters_is_refused(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    local_params(demo, {"command": ["sh", "-c", f"touch {marker}"]})
    assert_refused(kedro_run(demo), "kinetic.command: the node command can only be set in code",
                   project=demo, marker=marker)


def test_a_command_from_runner_params_is_refused(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    proc = kedro_run(demo, "--runner-params", f"command=touch {marker}")
    assert_refused(proc, "--runner-params.command: the node command can only be set in code",
                   project=demo, marker=marker)


@pytest.mark.parametrize("variable", ["PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME"])
def test_interpreter_env_from_runtime_params_is_refused(demo, tmp_path, variable):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    planted = plant_startup_module(tmp_path, marker)
    value = planted / "startup.py" if variable == "PYTHONSTARTUP" else planted
    proc = kedro_run(demo, "--params", f"kinetic.defaults.env.{variable}={value}")
    assert_refused(proc, f"kinetic.defaults.env.{variable}: this variable changes what a node "
                         "process loads", project=demo, marker=marker)


@pytest.mark.parametrize("variable", ["LD_PRELOAD", "KINETIC_RESULT_KEY", "KEDRO_LOGGING_CONFIG",
                                      "GOOGLE_APPLICATION_CREDENTIALS", "HOME", "BASH_ENV",
                                      "LOKY_PICKLER", "LOADERS_FOR_DYNACONF"])
def test_loader_and_verification_env_from_parameters_is_refused(demo, tmp_path, variable):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    planted = plant_startup_module(tmp_path, marker)
    local_params(demo, {"nodes": {"clean_sales_node": {"env": {variable: str(planted)}}}})
    assert_refused(kedro_run(demo), f"kinetic.nodes.clean_sales_node.env.{variable}",
                   project=demo, marker=marker)


def test_a_kubeconfig_from_parameters_is_refused_before_it_is_read(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    local_params(demo, {"backend": "kubernetes", "store": "gs://nowhere/x",
                        "image": "europe-docker.pkg.dev/kinetic-demo/kedro/d@sha256:" + "a" * 64,
                        "kubeconfig": str(exec_kubeconfig(tmp_path, marker))})
    assert_refused(kedro_run(demo), "kinetic.kubeconfig: a kubeconfig can run commands",
                   project=demo, marker=marker)


def test_an_image_from_an_undeclared_repository_is_refused(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    proc = kedro_run(demo, "--runner-params", "backend=kubernetes,store=gs://nowhere/x,"
                     "image=docker.io/attacker/evil:latest")
    assert_refused(proc, "'docker.io/attacker/evil:latest' is not in a repository listed in "
                         "settings.py KINETIC_IMAGE_REPOSITORIES", project=demo, marker=marker)


def test_the_allowlist_cannot_be_extended_from_runtime_params(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    (demo / "src" / "evil_mod.py").write_text(textwrap.dedent(f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("imported")
        class Thing:
            def __init__(self, **kwargs): pass
    """))
    with (demo / "conf" / "local" / "catalog.yml").open("a") as handle:
        handle.write("\nevil_entry:\n  type: evil_mod.Thing\n")
    proc = kedro_run(demo, "--runner-params", "allow=evil_mod.Thing")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "evil_mod.Thing" in text
    assert not marker.exists()


def test_node_processes_never_import_from_their_working_folder(tmp_path):
    """A library setting that names a module (loky's LOKY_PICKLER, imported with scikit-learn;
    allowed in code, or one the refused names missed) resolved it against the node's working
    folder, the project, whose data/ holds what dataset authors and store writers place."""
    from kedro_kinetic.backends.local.node_env import node_env

    marker = tmp_path / "MARKER"
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Pickler:\n    pass\n")
    probe = [sys.executable, "-c", "import joblib.externals.loky"]
    env = {**node_env(str(project / "conf"), None), "LOKY_PICKLER": "data.evil"}
    without = {k: v for k, v in env.items() if k != "PYTHONSAFEPATH"}
    subprocess.run(probe, cwd=project, env=without, capture_output=True, timeout=300)
    assert marker.exists()  # the sink is real: with the working folder on sys.path it runs
    marker.unlink()
    proc = subprocess.run(probe, cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)
    assert not marker.exists()
    assert "data.evil" in proc.stderr or proc.returncode == 0  # not found, never run
