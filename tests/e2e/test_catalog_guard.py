"""Catalog config stays data: disallowed names stop a GKERunner run before import.

Every case names a module whose import (or a function whose call) writes a
marker file; the run must fail naming the entry, and the marker must not exist
(neither the driver nor any node process wrote it).
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from tests.kedro_run import kedro, wait_until

if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

pytestmark = pytest.mark.e2e


def plant_evil(project: Path) -> Path:
    """Importable modules with side effects, in the project's ``src``."""
    marker = project / "MARKER"  # also what the planted partition name "touch MARKER" makes
    (project / "src" / "evil_mod.py").write_text(textwrap.dedent(f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("evil_mod imported")
        class Thing:
            def __init__(self, **kwargs): pass
        def compare(a, b):
            return True
        load = dump = lambda *a, **k: None
    """))
    (project / "src" / "evil_validator.py").write_text(textwrap.dedent(f"""
        import pathlib
        def write_marker(data):
            pathlib.Path({str(marker)!r}).write_text("validator called")
            return data
    """))
    return marker


def add_catalog(project: Path, text: str) -> None:
    """Add entries in the ``local`` environment, which overrides ``base``."""
    with (project / "conf" / "local" / "catalog.yml").open("a") as handle:
        handle.write("\n" + textwrap.dedent(text))


def kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return kedro(project, "run", *args)


CASES = {
    "type": ("evil_entry:\n  type: evil_mod.Thing\n", (), "evil_entry", "type"),
    "validator": (
        "sales:\n  type: pandas.CSVDataset\n  filepath: data/01_raw/sales.csv\n"
        "  validator: evil_validator.write_marker\n", (), "sales", "validator"),
    "nested-dataset": (
        "parts:\n  type: partitions.PartitionedDataset\n  path: data/01_raw\n"
        "  dataset:\n    type: evil_mod.Thing\n", (), "parts", "dataset.type"),
    "factory-pattern": ("'{name}_features':\n  type: evil_mod.Thing\n", (),
                        "{name}_features", "type"),
    "runtime-params": (
        "sales:\n  type: \"${runtime_params:sales_type, pandas.CSVDataset}\"\n"
        "  filepath: data/01_raw/sales.csv\n", ("--params", "sales_type=evil_mod.Thing"),
        "sales", "type"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_disallowed_catalog_names_stop_the_run_before_import(demo, case):
    text, extra, entry, key = CASES[case]
    marker = plant_evil(demo)
    add_catalog(demo, text)
    proc = kedro_run(demo, "--runner=kedro_kinetic.GKERunner", *extra)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"catalog entry '{entry}', key '{key}'" in output
    assert "not on the kedro-kinetic allowlist" in output
    assert not marker.exists(), marker.read_text()
    assert not (demo / "data" / "kinetic").exists()  # nothing was planned or submitted


def test_the_guard_is_what_stops_it(demo):
    """Without GKERunner, Kedro itself imports the pattern's module (the threat is real)."""
    marker = plant_evil(demo)
    add_catalog(demo, CASES["factory-pattern"][0])
    proc = kedro_run(demo)
    assert proc.returncode != 0  # Kedro fails, but only after importing the module
    assert marker.read_text() == "evil_mod imported"


def test_other_runners_behave_as_without_the_plugin(demo):
    marker = plant_evil(demo)
    add_catalog(demo, CASES["factory-pattern"][0])
    with_plugin = kedro_run(demo)
    marker.unlink()
    settings = demo / "src" / "demo_project" / "settings.py"
    settings.write_text(settings.read_text() + '\nDISABLE_HOOKS_FOR_PLUGINS = ("kedro-kinetic",)\n')
    without_plugin = kedro_run(demo)
    assert with_plugin.returncode == without_plugin.returncode != 0
    assert marker.exists()
    tail = lambda p: p.stderr.strip().splitlines()[-1]  # noqa: E731
    assert tail(with_plugin) == tail(without_plugin)


def test_project_dataset_class_allowlisted_in_settings_runs(demo):
    (demo / "src" / "demo_project" / "datasets.py").write_text(textwrap.dedent("""
        from kedro_datasets.json import JSONDataset

        class ProjectJSONDataset(JSONDataset):
            '''A project-defined dataset class.'''
    """))
    add_catalog(demo, "sales_summary:\n  type: demo_project.datasets.ProjectJSONDataset\n"
                      "  filepath: data/08_reporting/sales_summary.json\n")
    refused = kedro_run(demo, "--runner=kedro_kinetic.GKERunner", "--pipeline=data_processing")
    assert refused.returncode != 0
    assert "catalog entry 'sales_summary'" in refused.stdout + refused.stderr
    settings = demo / "src" / "demo_project" / "settings.py"
    settings.write_text(settings.read_text() + textwrap.dedent("""
        KINETIC_DATASET_ALLOWLIST = ["demo_project.datasets.ProjectJSONDataset"]
    """))
    proc = kedro_run(demo, "--runner=kedro_kinetic.GKERunner", "--pipeline=data_processing")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (demo / "data" / "08_reporting" / "sales_summary.json").exists()


# -- arguments of allowlisted classes that choose code -----------------------------------

POPEN_PARTS = "data/01_raw/increments"
ARGUMENT_CASES = {
    "pickle-backend": (
        "regressor:\n  type: pickle.PickleDataset\n  filepath: data/06_models/regressor.pickle\n"
        "  backend: evil_mod\n", (), "regressor", "backend", "'evil_mod'"),
    "nested-backend": (
        "parts:\n  type: kedro_datasets.partitions.PartitionedDataset\n  path: data/01_raw\n"
        "  dataset:\n    type: kedro_datasets.pickle.PickleDataset\n    backend: evil_mod\n",
        (), "parts", "dataset.backend", "'evil_mod'"),
    "cached-partitioned-backend": (
        "parts:\n  type: CachedDataset\n  dataset:\n    type: partitions.PartitionedDataset\n"
        "    path: data/01_raw\n    dataset:\n      type: kedro_datasets.pickle.PickleDataset\n"
        "      backend: evil_mod\n", (), "parts", "dataset.dataset.backend", "'evil_mod'"),
    "comparison-func-module": (
        "increments:\n  type: partitions.IncrementalDataset\n  path: data/01_raw\n"
        "  dataset: pandas.CSVDataset\n  checkpoint:\n    comparison_func: evil_mod.compare\n",
        (), "increments", "checkpoint.comparison_func", "'evil_mod.compare'"),
    "comparison-func-popen": (
        f"increments:\n  type: partitions.IncrementalDataset\n  path: {POPEN_PARTS}\n"
        "  dataset: text.TextDataset\n  checkpoint:\n    comparison_func: os.popen\n"
        "    force_checkpoint: r\n", (), "increments", "checkpoint.comparison_func",
        "'os.popen'"),
    "matplotlib-backend": (
        "plot:\n  type: matplotlib.MatplotlibDataset\n  filepath: data/08_reporting/p.png\n"
        "  save_args:\n    backend: module://evil_mod\n", (), "plot", "save_args.backend",
        "'module://evil_mod'"),
    "runtime-params-backend": (
        "regressor:\n  type: pickle.PickleDataset\n  filepath: data/06_models/regressor.pickle\n"
        "  backend: \"${runtime_params:model_backend, pickle}\"\n",
        ("--params", "model_backend=evil_mod"), "regressor", "backend", "'evil_mod'"),
    "runtime-params-comparison-func": (
        "increments:\n  type: partitions.IncrementalDataset\n  path: data/01_raw\n"
        "  dataset: pandas.CSVDataset\n  checkpoint:\n"
        "    comparison_func: \"${runtime_params:cmp, operator.gt}\"\n",
        ("--params", "cmp=evil_mod.compare"), "increments", "checkpoint.comparison_func",
        "'evil_mod.compare'"),
    "factory-pattern-backend": (
        "'{name}_model':\n  type: pickle.PickleDataset\n  filepath: data/06_models/{name}.pkl\n"
        "  backend: evil_mod\n", (), "{name}_model", "backend", "'evil_mod'"),
    "factory-pattern-placeholder": (
        "'{name}_model':\n  type: pickle.PickleDataset\n  filepath: data/06_models/{name}.pkl\n"
        "  backend: \"{name}\"\n", (), "{name}_model", "backend", "factory placeholder"),
}


def plant_popen_partition(project: Path) -> None:
    """A partition whose *file name* is a shell command writing the marker."""
    parts = project / POPEN_PARTS
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "touch MARKER").write_text("x")


@pytest.mark.parametrize("case", list(ARGUMENT_CASES))
def test_code_choosing_arguments_stop_the_run_before_import(demo, case):
    text, extra, entry, key, named = ARGUMENT_CASES[case]
    marker = plant_evil(demo)
    plant_popen_partition(demo)
    add_catalog(demo, text)
    proc = kedro_run(demo, "--runner=kedro_kinetic.GKERunner", *extra)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"catalog entry '{entry}', key '{key}'" in output, output[-3000:]
    assert named in output  # the attack reached the check, values resolved
    assert "nothing was imported" in output or "factory placeholder" in output
    assert not marker.exists(), marker.read_text()
    assert not (demo / "data" / "kinetic").exists()


def test_the_argument_attacks_are_real_without_the_guard(demo, monkeypatch):
    """Plain Kedro imports ``backend`` and runs ``comparison_func`` on partition names."""
    marker = plant_evil(demo)
    add_catalog(demo, ARGUMENT_CASES["pickle-backend"][0])
    proc = kedro_run(demo)
    assert marker.read_text() == "evil_mod imported", proc.stderr[-3000:]
    marker.unlink()

    from kedro_datasets.partitions import IncrementalDataset

    plant_popen_partition(demo)
    monkeypatch.chdir(demo)
    dataset = IncrementalDataset(path=POPEN_PARTS, dataset="text.TextDataset",
                                 checkpoint={"comparison_func": "os.popen",
                                             "force_checkpoint": "r"})
    dataset.load()
    # the partition's file name ran as a shell command (asynchronously: wait for its marker)
    wait_until(marker.exists, 120, interval=0.05, message="the shell never wrote the marker")


def test_allowed_and_settings_extended_argument_values_run(demo):
    """Values on the lists run; a project extends a list in settings.py, and the pod agrees."""
    (demo / "src" / "demo_project" / "serialiser.py").write_text(textwrap.dedent("""
        '''A project serialiser with the pickle interface.'''
        from pickle import dump, load  # noqa: F401
    """))
    add_catalog(demo, "regressor:\n  type: pickle.PickleDataset\n"
                      "  filepath: data/06_models/regressor.pickle\n"
                      "  backend: demo_project.serialiser\n"
                      "sales_summary:\n  type: json.JSONDataset\n"
                      "  filepath: data/08_reporting/sales_summary.json\n"
                      "model_metrics:\n  type: json.JSONDataset\n"
                      "  filepath: file://${runtime_params:reports}/model_metrics.json\n")
    reports = str(demo / "data" / "08_reporting")
    refused = kedro_run(demo, "--runner=kedro_kinetic.GKERunner", "--params", f"reports={reports}")
    assert refused.returncode != 0
    assert ("catalog entry 'regressor', key 'backend': 'demo_project.serialiser'"
            in refused.stdout + refused.stderr)
    settings = demo / "src" / "demo_project" / "settings.py"
    settings.write_text(settings.read_text() + textwrap.dedent("""
        KINETIC_DATASET_ALLOWLIST = [
            "kedro_datasets.pickle.PickleDataset:backend=demo_project.serialiser",
        ]
    """))
    proc = kedro_run(demo, "--runner=kedro_kinetic.GKERunner", "--params", f"reports={reports}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (demo / "data" / "06_models" / "regressor.pickle").exists()
    assert (demo / "data" / "08_reporting" / "model_metrics.json").exists()
