"""Generator nodes (Kedro 1.x: each yielded chunk is saved as it comes) give the same
outputs on GKERunner as on SequentialRunner: appended catalog files, replaced ones,
pickled catalog files (pinned), and free intermediates (the last chunk, pinned)."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import textwrap
from typing import TYPE_CHECKING

import pytest

from tests.conftest import copy_demo, kedro_cmd, read_result, subprocess_env
from tests.e2e.bench_kit import hashes

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

PIPELINE = '''
from kedro.pipeline import Node, Pipeline


def sales_in_chunks(sales):
    for start in range(0, 30, 10):
        yield sales.iloc[start:start + 10]


def rows_and_counts(sales):
    for start in range(0, 30, 10):
        part = sales.iloc[start:start + 10]
        yield part.iloc[:, :2], {"rows": len(part), "start": start}, {"start": start}


def named_chunks():
    for i in range(3):
        yield {"square": {"i": i, "sq": i * i}, "tag": f"chunk-{i}"}


def summarise(last_count, tag, pickled):
    return {"last_count": last_count, "tag": tag, "pickled": pickled}


def create_pipeline(**kwargs):
    return Pipeline([
        Node(sales_in_chunks, "sales", "chunked_sales", name="sales_in_chunks_node"),
        Node(rows_and_counts, "sales", ["chunked_rows", "last_count", "pickled_chunk"],
             name="rows_and_counts_node"),
        Node(named_chunks, None, {"square": "squares", "tag": "tag"}, name="named_chunks_node"),
        Node(summarise, ["last_count", "tag", "pickled_chunk"], "chunk_summary",
             name="summarise_node"),
    ])
'''

CATALOG = '''
chunked_sales:
  type: pandas.CSVDataset
  filepath: data/02_intermediate/chunked_sales.csv
  save_args: {index: false, header: false}
  fs_args: {open_args_save: {mode: a}}
chunked_rows:
  type: pandas.CSVDataset
  filepath: data/02_intermediate/chunked_rows.csv
  save_args: {index: false, header: false}
  fs_args: {open_args_save: {mode: a}}
pickled_chunk:
  type: pickle.PickleDataset
  filepath: data/06_models/pickled_chunk.pickle
squares:
  type: json.JSONDataset
  filepath: data/08_reporting/squares.json
chunk_summary:
  type: json.JSONDataset
  filepath: data/08_reporting/chunk_summary.json
'''


def generator_project(tmp_path: Path) -> Path:
    project = copy_demo(tmp_path)
    package = project / "src" / "demo_project" / "pipelines" / "chunked"
    package.mkdir()
    (package / "__init__.py").write_text("from .pipeline import create_pipeline\n")
    (package / "pipeline.py").write_text(textwrap.dedent(PIPELINE))
    (project / "conf" / "base" / "catalog_chunked.yml").write_text(CATALOG)
    return project


def kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*kedro_cmd(), "run", "--pipelines=chunked", *args], cwd=project,
                          capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return proc


def test_generator_nodes_give_sequential_runner_outputs(tmp_path):
    reference = generator_project(tmp_path / "seq")
    kedro_run(reference)
    project = generator_project(tmp_path / "gke")
    kedro_run(project, "--runner=kedro_kinetic.GKERunner")
    expected = hashes(reference)
    assert set(expected) >= {"data/02_intermediate/chunked_sales.csv",
                             "data/08_reporting/chunk_summary.json",
                             "data/06_models/pickled_chunk.pickle"}
    assert hashes(project) == expected
    # every chunk was appended (three of ten rows), and the free intermediates are the
    # last chunk, as a MemoryDataset holds it after a generator node
    assert len((project / "data/02_intermediate/chunked_sales.csv").read_text()
               .splitlines()) == 30
    summary = (project / "data/08_reporting/chunk_summary.json").read_text()
    assert '"start": 20' in summary and '"chunk-2"' in summary


def test_generator_intermediate_is_the_last_chunk_pinned_by_its_bytes(tmp_path):
    project = generator_project(tmp_path)
    kedro_run(project, "--runner=kedro_kinetic.GKERunner")
    [results] = (project / "data" / "kinetic" / "runs").glob("*/results")
    by_node = {r.node: r for r in map(read_result, sorted(results.glob("*.json")))}
    output = by_node["rows_and_counts_node"].outputs["last_count"]
    assert output["kind"] == "pickle"
    blob = (project / output["uri"].removeprefix("file://")).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == output["sha256"]  # the bytes written, pinned
    assert pickle.loads(blob) == {"rows": 10, "start": 20}
    pickled = by_node["rows_and_counts_node"].outputs["pickled_chunk"]
    file = project / "data" / "06_models" / "pickled_chunk.pickle"
    assert pickled["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()  # last write
