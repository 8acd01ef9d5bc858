"""After a failure GKERunner suggests the same ``--from-nodes`` as SequentialRunner, in
Kedro's words, and also ``--runner-params resume=<run id>``.

Each case fails one node of the demo's default pipeline. GKERunner runs one node at
a time (``max_parallel=1``) so that the same nodes have finished when the failure
happens as with SequentialRunner, whose hint is the reference.
"""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.conftest import copy_demo, kedro_cmd, subprocess_env
from tests.e2e.bench_kit import DS_NODES, NODES, patch_node

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

CASES = {  # failing node: (nodes module, signature)
    "product_features_node": (NODES, "def compute_product_features("),
    "evaluate_model_node": (DS_NODES, "def evaluate_model("),
    "train_model_node": (DS_NODES, "def train_model("),
    "clean_sales_node": (NODES, "def clean_sales("),
}
HINT = re.compile(r'--from-nodes "([^"]*)"')
NOT_RUN = re.compile(r"There are (\d+) nodes that have not run\.")
NO_NODES = "No nodes ran. Repeat the previous command to attempt a new run."


def failing_project(tmp_path: Path, node: str) -> Path:
    project = copy_demo(tmp_path)
    module, signature = CASES[node]
    patch_node(project, signature, f'raise RuntimeError("{node} broke")', nodes=module)
    return project


def kedro_run(project: Path, *args: str) -> str:
    proc = subprocess.run([*kedro_cmd(), "run", *args], cwd=project, capture_output=True,
                          text=True, env=subprocess_env(), timeout=900)
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


def hint(output: str) -> tuple[str, ...]:
    """Kedro's suggestion: how many nodes did not run and where to start again."""
    if NO_NODES in output:
        return (NO_NODES,)
    not_run, start = NOT_RUN.search(output), HINT.search(output)
    assert not_run and start, output[-4000:]
    return not_run.group(1), start.group(1)


@pytest.mark.parametrize("node", sorted(CASES))
def test_resume_hint_equals_sequential_runner(tmp_path, node):
    reference = hint(kedro_run(failing_project(tmp_path / "seq", node)))
    output = kedro_run(failing_project(tmp_path / "gke", node),
                       "--runner=kedro_kinetic.GKERunner", "--runner-params", "max_parallel=1")
    assert hint(output) == reference
    run_id = re.search(r"kedro-kinetic run (\S+): \d+ nodes", output).group(1)
    assert f"--runner-params resume={run_id}" in output
