"""Off a terminal (CI logs, files): one line per transition, Kedro's own log lines and
wording (``Completed node``, ``--only-missing-outputs``), and no contradiction between
kedro-viz and kedro-kinetic about the Workflow view."""

from __future__ import annotations

import importlib.util
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.conftest import kedro_cmd, subprocess_env

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

NODES = ("calendar_features_node", "clean_sales_node", "create_model_input_table_node",
         "create_sales_primary_node", "preprocess_stores_node", "product_features_node",
         "sales_summary_node", "store_features_node")


def gke_run(project: Path, *args: str) -> str:
    proc = subprocess.run([*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner",
                           "--pipelines=data_processing", *args], cwd=project,
                          capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def driver_lines(output: str, node: str) -> list[str]:
    """Lines about ``node`` written by the driver (not the node's own output or records)."""
    return [line for line in output.splitlines()
            if node in line and f"[{node}]" not in line]


def test_one_line_per_transition_and_kedro_wording(demo):
    output = gke_run(demo)
    for node in NODES:
        lines = driver_lines(output, node)
        assert len(lines) == 3, lines  # submitted, running, Completed node
        assert f"] {node}: submitted (" in lines[0] and f"] {node}: running" in lines[1]
        assert f"Completed node: {node}" in lines[2]
    assert "Workflow tracking is disabled for non-sequential runners" not in output
    if importlib.util.find_spec("kedro_viz") is not None:  # recorded, without a word
        assert (demo / ".viz" / "kedro_pipeline_events.json").is_file()
        assert "recorded for kedro-viz's Workflow view" not in output

    status = subprocess.run([*kedro_cmd(), "kinetic", "status"], cwd=demo, capture_output=True,
                            text=True, env=subprocess_env(), timeout=300)
    [row] = [line.split("\t") for line in status.stdout.splitlines() if "\t" in line]
    assert row[1:4] == ["data_processing", "succeeded", "8/0/8"], row  # the run's pipeline
    assert status.stderr.splitlines()[-1].startswith("# run id\tpipeline\tstate")

    nothing = gke_run(demo, "--only-missing-outputs")
    assert "Skipping all 8 nodes (all persistent outputs exist)" in nothing
    assert "Pipeline execution completed successfully" in nothing
    assert "0/0 succeeded" not in nothing and "kedro-kinetic run" not in nothing

    (demo / "data" / "08_reporting" / "sales_summary.json").unlink()
    one = gke_run(demo, "--only-missing-outputs")
    assert "Running 1 out of 8 nodes" in one
    assert "Completed node: sales_summary_node" in one
    assert (demo / "data" / "08_reporting" / "sales_summary.json").exists()
