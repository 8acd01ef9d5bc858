"""The node cache on the local backend, with the demo project as a Kedro user runs it.

An unchanged second run reuses every node (its outputs equal SequentialRunner's); a change to a
node's code, a parameter it reads or an input file re-runs exactly that node and what depends
on it. A store writer's forged, replayed or rolled-back entry, and a changed output, are
refused and the node runs; where a pickle is involved, the attack would write MARKER.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest

from benchmarks.projects import copy_demo
from tests.e2e.bench_kit import DS_NODES, patch_node
from tests.kedro_run import flat, kedro
from tests.pod_kit import evil_pickle

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e
DATA_SCIENCE = ("split_data_node", "train_model_node", "predict_node", "evaluate_model_node",
                "feature_importance_node")


def run(project: Path, *args: str, **env: str) -> str:
    proc = kedro(project, "run", "--runner=kedro_kinetic.GKERunner", *args,
                 env={"COLUMNS": "250", **env})
    text = flat(proc)
    assert proc.returncode == 0, text[-4000:]
    return text


def reused(output: str) -> set[str]:
    return set(re.findall(r"Reused node: (\w+)", output))


def ran(output: str) -> set[str]:
    return set(re.findall(r"Completed node: (\w+)", output))


def outputs(project: Path) -> dict[str, bytes]:
    folder = project / "data"
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.glob("0[2-8]_*/*")) if p.is_file()}


def test_an_unchanged_second_run_reuses_every_node_and_equals_sequential_runner(demo, tmp_path):
    first = run(demo)
    assert len(ran(first)) == 13 and not reused(first)
    written = outputs(demo)
    second = run(demo)
    assert len(reused(second)) == 13 and not ran(second), second[-3000:]
    [first_id] = set(re.findall(r"kedro-kinetic run (\S+):", first))
    [second_id] = set(re.findall(r"kedro-kinetic run (\S+):", second))
    status = kedro(demo, "kinetic", "status", second_id)
    rows = [line for line in status.stdout.splitlines() if "reused from run" in line]
    assert len(rows) == 13 and all("\tcached\t" in r and first_id in r for r in rows), \
        status.stdout[-3000:]
    assert outputs(demo) == written  # nothing rewritten
    reference = copy_demo(tmp_path / "seq")
    assert kedro(reference, "run").returncode == 0
    assert outputs(reference) == outputs(demo)


def test_each_change_reruns_exactly_what_depends_on_it(demo):
    run(demo)
    patch_node(demo, "def predict(", "pass  # a code change", nodes=DS_NODES)
    code = run(demo)
    # the functions below it moved a line (same code); predict_node wrote the same bytes,
    # so evaluate_model_node's inputs are unchanged and it is reused
    assert ran(code) == {"predict_node"}, code[-3000:]
    assert "evaluate_model_node" in reused(code)
    params = run(demo, "--params", "model_options.test_size=0.3")
    assert ran(params) == set(DATA_SCIENCE), params[-3000:]
    sales = demo / "data" / "01_raw" / "sales.csv"
    text = sales.read_text()
    sales.write_text(text + "100601,2024-02-02,19,8,2,18.58,0\n")  # one more order
    data = run(demo, "--params", "model_options.test_size=0.3")
    assert "clean_sales_node" in ran(data) and "preprocess_stores_node" in reused(data)


def entry_files(project: Path) -> dict[str, Path]:
    """Cache entries by node (read with the project's key, as `kedro kinetic cache ls` does)."""
    proc = kedro(project, "kinetic", "cache", "ls")
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = project / "data" / "kinetic" / "cache"
    found = {}
    for line in proc.stdout.splitlines():
        if line.count("\t") != 3:  # Kedro's own log lines share stdout
            continue
        node, _run, _when, key = line.split("\t")
        [path] = [p for p in folder.glob(f"{key}*.json")]
        found[node] = path
    return found


def test_forged_and_replayed_entries_are_refused_and_the_node_runs(demo):
    marker = demo / "data" / "MARKER"
    run(demo)
    entries = entry_files(demo)
    # forged: an entry claiming split_data_node's outputs are an evil pickle (no key)
    evil = demo / "data" / "kinetic" / "evil.pkl"
    evil.write_bytes(evil_pickle(marker))
    entries["split_data_node"].write_text(json.dumps({
        "format": "kedro-kinetic/cache@1", "node": "split_data_node", "run_id": "x",
        "outputs": {"X_train": {"kind": "pickle", "uri": evil.as_uri(),
                                "sha256": "0" * 64, "bytes": 1, "fingerprint": "0" * 64}}}))
    # replayed: train_model_node's genuine entry where predict_node's key points
    entries["predict_node"].write_bytes(entries["train_model_node"].read_bytes())
    text = run(demo)
    assert {"split_data_node", "predict_node"} <= ran(text), text[-3000:]
    assert "Cache entry of node split_data_node refused" in text
    assert "Cache entry of node predict_node refused" in text
    assert not marker.exists()


def test_a_changed_output_file_reruns_its_node(demo):
    run(demo)
    metrics = demo / "data" / "08_reporting" / "model_metrics.json"
    metrics.write_text('{"r2": 1.0}')  # a hand edit, or a store/data writer's
    text = run(demo)
    assert ran(text) == {"evaluate_model_node"}, text[-3000:]
    assert "output 'model_metrics' changed" in text
    assert metrics.read_text() != '{"r2": 1.0}'


def test_a_rolled_back_entry_is_refused(demo):
    """A node that behaves differently under an undeclared environment variable recorded an
    entry with evil intermediates; a later run recorded a genuine entry for the same key.
    The store writer puts the evil entry back: the project's trusted index says which entry
    is the latest, so it is refused and the node runs (were it trusted, train_model_node
    would load the evil X_train and write MARKER)."""
    marker = demo / "data" / "MARKER"
    produced = demo / "data" / "EVIL_PRODUCED"
    patch_node(demo, "def split_data(", f"""
        import os, pathlib
        class _Evil:
            def __reduce__(self):
                return (pathlib.Path.write_text, (pathlib.Path({str(marker)!r}), "unpickled"))
        if os.environ.get("KINETIC_TEST_EVIL"):
            pathlib.Path({str(produced)!r}).write_text("1")
            return _Evil(), _Evil(), _Evil(), _Evil()
        """, nodes=DS_NODES)
    run(demo)  # every input of split_data_node exists from now on
    only = ("--nodes", "split_data_node", "--runner-params", "cache=write")
    run(demo, *only, KINETIC_TEST_EVIL="1")
    assert produced.exists()  # the evil entry was recorded from evil intermediates
    kept = entry_files(demo)["split_data_node"]
    evil = kept.read_bytes()
    run(demo, *only)  # the genuine entry for the same key, now the latest
    assert kept.read_bytes() != evil
    kept.write_bytes(evil)  # rolled back by a store writer
    text = run(demo)
    assert "split_data_node" in ran(text), text[-3000:]
    assert "Cache entry of node split_data_node refused" in text
    assert "rolled back" in text
    assert not marker.exists()
    listed = kedro(demo, "kinetic", "cache", "ls")
    assert "refused" not in listed.stdout  # the node's run wrote the latest entry again
