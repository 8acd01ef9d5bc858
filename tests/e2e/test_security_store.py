"""A store writer cannot run code (local backend): forged results, pickles, resume, free outputs.

The attacker of Kinetic's threat model can write the store (here the local store folder) but
not the project's code, the private run folder, or the Kubernetes API. Every attack below would
write MARKER if it worked (an evil pickle's ``__reduce__``); each test proves the forged object
was delivered to where the product reads it, then that the marker is absent.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.wire import naming
from kedro_kinetic.wire.result import RESULT_FORMAT
from tests.e2e.attack_kit import PausedRun, result_path, run_folder
from tests.e2e.bench_kit import DS_NODES, patch_node
from tests.kedro_run import flat, kedro, python, run_id_of
from tests.pod_kit import evil_pickle

if TYPE_CHECKING:
    import subprocess

pytestmark = pytest.mark.e2e
SPLIT_OUTPUTS = ("X_train", "X_test", "y_train", "y_test")
FEATURE_SIG = "def feature_importance("


def kedro_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return kedro(project, "run", "--runner=kedro_kinetic.GKERunner", *args,
                 env={"COLUMNS": "2000", **env})


def forge(folder: Path, node: str, outputs: tuple[str, ...], marker: Path) -> Path:
    """Write what a store writer would: a result claiming success, pinning an evil pickle."""
    blob = evil_pickle(marker)
    digest = hashlib.sha256(blob).hexdigest()
    entries = {}
    for name in outputs:
        data = folder / "data" / f"{naming.dataset_key(name)}.pkl"
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_bytes(blob)
        entries[name] = {"kind": "pickle", "uri": data.as_uri(), "sha256": digest}
    path = result_path(folder, node)
    path.write_text(json.dumps({"format": RESULT_FORMAT, "node": node, "status": "succeeded",
                                "exit_code": 0, "phase": "done", "outputs": entries}))
    return path


def local_race_env(race: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Local backend: node processes inherit the driver's environment."""
    return ["run", "--runner=kedro_kinetic.GKERunner"], race


def job_end_race_env(race: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The same, with the results read when the Job ends (``results_first: false``): the
    result a store writer replaced while the pod paused is the one the driver reads."""
    args, env = local_race_env(race)
    return [*args, "--runner-params", "results_first=false"], env


def fail_feature_importance(project: Path) -> None:
    """feature_importance_node raises while $KINETIC_TEST_FAIL is set (runs after split)."""
    patch_node(project, FEATURE_SIG, "import os\nif os.environ.get('KINETIC_TEST_FAIL'):\n"
               "    raise RuntimeError('planned failure')", nodes=DS_NODES)


# --- 1. forged results ---------------------------------------------------------------------


@pytest.mark.parametrize("forgery", ["unsealed", "replayed-from-another-node"])
def test_a_result_forged_during_the_run_is_refused_and_nothing_is_unpickled(demo, tmp_path,
                                                                            forgery):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    with PausedRun(demo, tmp_path, "split-data-node", job_end_race_env) as run:
        path = Path(run.paused_result().removeprefix("file://"))
        folder = path.parent.parent
        forge(folder, "split_data_node", SPLIT_OUTPUTS, marker)
        if forgery != "unsealed":  # a genuine sealed result, of another node
            path.write_bytes(result_path(folder, "create_model_input_table_node").read_bytes())
        forged = path.read_bytes()
        text = run.resume_and_wait()
    driver = run.driver
    assert driver.returncode != 0
    assert forged and path.as_uri() in text  # the forged object was read
    assert ("not sealed with the run's key" in text if forgery == "unsealed"
            else "failed authentication" in text), text[-4000:]
    assert "node 'split_data_node' failed" in text
    assert not marker.exists()


def test_a_result_forged_after_results_first_read_it_is_never_read(demo, tmp_path):
    """Results first (the default) settles a node from its authentic result at once; a
    forgery written over it afterwards (with evil pickles where it points) is never read,
    and the consumers verify their inputs against the genuine result's digests."""
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    with PausedRun(demo, tmp_path, "split-data-node", local_race_env) as run:
        path = Path(run.paused_result().removeprefix("file://"))
        genuine = path.read_bytes()
        # Settled from the genuine result while its pod still pauses: only results first
        # can have read it. Only then does the store writer strike.
        run.driver.wait_for_output("Completed node: split_data_node", flat=True)
        folder = path.parent.parent
        forge(folder, "split_data_node", SPLIT_OUTPUTS, marker)
        assert path.read_bytes() != genuine  # delivered: the forgery replaced the result
        text = run.resume_and_wait()
    assert "not sealed with the run's key" not in text  # the forgery was never read
    assert not marker.exists(), text[-4000:]
    assert not marker.with_suffix(".unpickled").exists()


def test_forged_results_are_not_trusted_on_resume(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    fail_feature_importance(demo)
    first = kedro_run(demo, KINETIC_TEST_FAIL="1")
    assert first.returncode != 0 and "planned failure" in first.stdout + first.stderr
    run_id = run_id_of(first.stdout + first.stderr)
    folder = run_folder(demo, run_id)
    assert result_path(folder, "split_data_node").exists()
    forged = forge(folder, "split_data_node", SPLIT_OUTPUTS, marker)

    resumed = kedro_run(demo, "--runner-params", f"resume={run_id}")
    text = flat(resumed)
    assert resumed.returncode == 0, text[-4000:]
    assert forged.name in text and "is not sealed with the run's key" in text  # read, refused
    assert "Resume: node split_data_node runs again" in text, text[-3000:]
    assert not marker.exists()


def test_resume_into_a_store_the_run_never_used_is_refused(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    fail_feature_importance(demo)
    first = kedro_run(demo, KINETIC_TEST_FAIL="1")
    run_id = run_id_of(first.stdout + first.stderr)
    evil_store = tmp_path / "evil-store"
    copy = evil_store / "runs" / naming.run_label(run_id)
    shutil.copytree(run_folder(demo, run_id), copy)
    forge(copy, "split_data_node", SPLIT_OUTPUTS, marker)
    before = sorted(p for p in evil_store.rglob("*"))

    resumed = kedro_run(demo, "--runner-params", f"resume={run_id},store={evil_store}")
    text = flat(resumed)
    assert resumed.returncode != 0
    assert f"no run '{run_id}'" in text and str(evil_store) in text  # the store was read
    assert sorted(p for p in evil_store.rglob("*")) == before  # nothing written or run
    assert not marker.exists()


FREE_OUTPUT_SCRIPT = '''
import pathlib, sys
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_kinetic import GKERunner
project = pathlib.Path(sys.argv[1])
bootstrap_project(project)
with KedroSession.create(project_path=project) as session:
    outputs = session.run(runner=GKERunner())
dataset = outputs["feature_importance"]
uri = dataset._describe()["uri"]
pathlib.Path(uri.removeprefix("file://")).write_bytes(pathlib.Path(sys.argv[2]).read_bytes())
print("REPLACED", uri)
try:
    dataset.load()
except Exception as exc:
    print("REFUSED", type(exc).__name__, exc)
'''


def test_a_free_output_replaced_after_the_run_is_refused_on_load(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(evil_pickle(marker))
    script = tmp_path / "load_free_output.py"
    script.write_text(FREE_OUTPUT_SCRIPT)
    proc = python(demo, str(script), str(demo), str(evil))
    assert "REPLACED file://" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "REFUSED" in proc.stdout and "SHA-256 mismatch" in proc.stdout
    assert not marker.exists()


# --- 3. pickled catalog datasets --------------------------------------------------------------


def replace_regressor(project: Path, marker: Path) -> Path:
    path = project / "data" / "06_models" / "regressor.pickle"
    genuine = path.read_bytes()
    path.write_bytes(evil_pickle(marker))
    return genuine


def add_settings(project: Path, text: str) -> None:
    settings = project / "src" / "demo_project" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + text + "\n")


def test_a_pickle_no_node_of_the_run_produced_is_refused_unless_pinned_or_trusted(demo,
                                                                                 tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    with (demo / "conf" / "local" / "catalog.yml").open("a") as handle:  # predict_node's
        handle.write("\nX_test:\n  type: pandas.ParquetDataset\n"  # other input, persisted
                     "  filepath: data/05_model_input/X_test.parquet\n")
    assert kedro_run(demo).returncode == 0
    genuine = replace_regressor(demo, marker)

    refused = kedro_run(demo, "--nodes", "predict_node")
    text = flat(refused)
    assert refused.returncode != 0
    assert "input 'regressor' is a pickle (its loading runs code) that no node of this run " \
           "produces" in text
    assert "KINETIC_PINNED_DATA" in text and "KINETIC_TRUSTED_DATA" in text
    assert not marker.exists()

    add_settings(demo, f"KINETIC_PINNED_DATA = {{'regressor': "
                       f"'{hashlib.sha256(genuine).hexdigest()}'}}")
    mismatch = kedro_run(demo, "--nodes", "predict_node")
    text = flat(mismatch)
    assert mismatch.returncode != 0
    assert "dataset 'regressor': SHA-256 mismatch" in text  # the evil bytes were fetched
    assert not marker.exists()

    (demo / "data" / "06_models" / "regressor.pickle").write_bytes(genuine)
    assert kedro_run(demo, "--nodes", "predict_node").returncode == 0
    add_settings(demo, "KINETIC_PINNED_DATA = {}\nKINETIC_TRUSTED_DATA = ['regressor']")
    trusted = kedro_run(demo, "--nodes", "predict_node")
    assert trusted.returncode == 0, trusted.stderr[-3000:]
    assert not marker.exists()


def test_a_pickle_checkpoint_of_partitions_is_refused_unless_trusted(demo, tmp_path):
    """IncrementalDataset loads its checkpoint with the class its config names; a pickle there
    was unpickled unpinned (only the partitions' own ``dataset`` was looked at)."""
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    parts = demo / "data" / "01_raw" / "sales_parts"
    parts.mkdir()
    shutil.copyfile(demo / "data" / "01_raw" / "sales.csv", parts / "part1.csv")
    (parts / "CHECKPOINT.pkl").write_bytes(evil_pickle(marker))  # a dataset-content author's
    with (demo / "conf" / "local" / "catalog.yml").open("a") as handle:
        handle.write("\nsales:\n  type: partitions.IncrementalDataset\n"
                     "  path: data/01_raw/sales_parts\n  dataset: pandas.CSVDataset\n"
                     "  filename_suffix: .csv\n  checkpoint:\n"
                     "    type: pickle.PickleDataset\n"
                     "    filepath: data/01_raw/sales_parts/CHECKPOINT.pkl\n")

    refused = kedro_run(demo, "--nodes", "clean_sales_node")
    text = flat(refused)
    assert refused.returncode != 0
    assert "input 'sales' loads a code-executing format whose bytes kedro-kinetic cannot " \
           "pin" in text and "KINETIC_TRUSTED_DATA = ['sales']" in text
    assert not marker.exists()

    add_settings(demo, "KINETIC_TRUSTED_DATA = ['sales']")  # the author's opt-in, in code
    kedro_run(demo, "--nodes", "clean_sales_node")
    assert marker.exists()  # the same entry does unpickle the checkpoint: the attack was real


def test_a_pickle_replaced_between_its_producer_and_its_consumers_is_refused(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    # the consumers start once the producer's Job ends (after the replacement), not at its
    # result (results first could start them before the store writer acts)
    with PausedRun(demo, tmp_path, "train-model-node", job_end_race_env) as run:
        run.paused_result()
        replace_regressor(demo, marker)
        text = run.resume_and_wait()
    driver = run.driver
    assert driver.returncode != 0
    assert "dataset 'regressor': SHA-256 mismatch" in text
    assert not marker.exists()


PARTITIONS_SCRIPT = '''
import pathlib, sys
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_kinetic import GKERunner
project = pathlib.Path(sys.argv[1])
bootstrap_project(project)
with KedroSession.create(project_path=project) as session:
    outputs = session.run(runner=GKERunner())
parts = sorted((project / "data" / "08_reporting" / "importance_parts").glob("*.pkl"))
parts[0].write_bytes(pathlib.Path(sys.argv[2]).read_bytes())
print("REPLACED", parts[0].name)
try:
    loaded = outputs["feature_importance"].load()
    print("LOADED", [load() for load in loaded.values()])
except Exception as exc:
    print("REFUSED", type(exc).__name__, exc)
'''


def test_a_free_output_of_pickle_partitions_is_refused_on_load_unless_trusted(demo, tmp_path):
    """Partitions of pickles cannot be pinned one by one: a data author who replaces one after
    the run would run code in the driver at the user's ``.load()``."""
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(evil_pickle(marker))
    with (demo / "conf" / "local" / "catalog.yml").open("a") as handle:
        handle.write("\nfeature_importance:\n  type: partitions.PartitionedDataset\n"
                     "  path: data/08_reporting/importance_parts\n"
                     "  dataset: pickle.PickleDataset\n  filename_suffix: .pkl\n")
    script = tmp_path / "load_partitions.py"
    script.write_text(PARTITIONS_SCRIPT)
    proc = python(demo, str(script), str(demo), str(evil))
    assert "REPLACED" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "REFUSED" in proc.stdout and "cannot pin" in proc.stdout
    assert "KINETIC_TRUSTED_DATA" in proc.stdout
    assert not marker.exists()

    add_settings(demo, "KINETIC_TRUSTED_DATA = ['feature_importance']")  # code's opt-in
    proc = python(demo, str(script), str(demo), str(evil))
    assert "LOADED" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert marker.exists()  # the same files do run code when loaded: the attack was real
