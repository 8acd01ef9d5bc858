"""Failures on the local backend: remote tracebacks, hooks in the driver, fail-fast, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from tests.conftest import copy_demo, kedro_cmd, local_run_folder, subprocess_env
from tests.e2e.bench_kit import hashes, patch_node

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


RECORDER = '''
import json, pathlib
from kedro.framework.hooks import hook_impl

LOG = pathlib.Path(__file__).resolve().parents[2] / "hook_calls.jsonl"


class Recorder:
    def _write(self, **record):
        with LOG.open("a") as handle:
            handle.write(json.dumps(record) + "\\n")

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async, run_id):
        self._write(hook="before", node=node.name, inputs=sorted(inputs), run_id=run_id)

    @hook_impl
    def after_node_run(self, node, catalog, inputs, outputs, is_async, run_id):
        self._write(hook="after", node=node.name, outputs=sorted(outputs))

    @hook_impl
    def on_node_error(self, error, node, catalog, inputs, is_async, run_id):
        self._write(hook="error", node=node.name, error=str(error))
'''


def install_recorder(project: Path) -> Path:
    package = project / "src" / "demo_project"
    (package / "recorder.py").write_text(RECORDER)
    settings = package / "settings.py"
    settings.write_text(settings.read_text() + "\nfrom demo_project.recorder import Recorder\n"
                        "HOOKS = (Recorder(),)\n")
    return project / "hook_calls.jsonl"


def run(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner",
                           "--pipeline=data_processing", *args], cwd=project,
                          capture_output=True, text=True, env=subprocess_env(), timeout=600)


def test_node_error_carries_remote_traceback_resume_hint_and_fires_hooks(demo):
    patch_node(demo, "def compute_product_features(sales_primary: pd.DataFrame) -> pd.DataFrame:",
               'raise ValueError("product features exploded")')
    calls_file = install_recorder(demo)
    proc = run(demo, "--runner-params", "max_parallel=1")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'product_features_node' failed remotely (node raised)" in output
    assert "ValueError: product features exploded" in output
    assert "--- remote traceback ---" in output and "compute_product_features" in output
    assert '--from-nodes "' in output  # Kedro's resume hint
    calls = [json.loads(line) for line in calls_file.read_text().splitlines()]
    errors = [c for c in calls if c["hook"] == "error"]
    assert [e["node"] for e in errors] == ["product_features_node"]
    assert "product features exploded" in errors[0]["error"]
    befores = {c["node"]: c for c in calls if c["hook"] == "before"}
    assert befores["create_sales_primary_node"]["inputs"] == ["cleaned_sales",
                                                             "preprocessed_stores"]
    afters = {c["node"] for c in calls if c["hook"] == "after"}
    assert "product_features_node" not in afters and "clean_sales_node" in afters
    # no node started after the failure: the fan-in node never ran
    assert "create_model_input_table_node" not in befores


def test_fail_fast_stops_running_siblings(demo):
    patch_node(demo, "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:",
               "import time; time.sleep(120)")
    patch_node(demo, "def compute_product_features(sales_primary: pd.DataFrame) -> pd.DataFrame:",
               "import time; time.sleep(3); raise RuntimeError('fail fast please')")
    start = time.monotonic()
    proc = run(demo)
    assert proc.returncode != 0
    assert time.monotonic() - start < 90, "the sleeping sibling should have been cancelled"
    assert "RuntimeError: fail fast please" in proc.stdout + proc.stderr
    assert "Stopping" in proc.stdout + proc.stderr


def test_deadline_is_enforced(demo):
    patch_node(demo, "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:",
               "import time; time.sleep(120)")
    (demo / "conf" / "local" / "parameters.yml").write_text(
        "kinetic:\n  nodes:\n    store_features_node:\n      deadline_seconds: 3\n")
    proc = run(demo)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'store_features_node' failed remotely" in output
    assert "ran longer than its deadline_seconds" in output


def test_sigint_kills_every_node_process(demo):
    pid_file = demo / "sleeper.pid"
    patch_node(demo, "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:",
               f"import os, pathlib, time; pathlib.Path({str(pid_file)!r}).write_text("
               "str(os.getpid())); time.sleep(300)")
    proc = subprocess.Popen([*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner",
                             "--pipeline=data_processing"], cwd=demo, env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pid_file.exists(), "the sleeping node never started"
    node_pid = int(pid_file.read_text())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "Cancelled" in out
    for _ in range(50):
        try:
            os.kill(node_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"node process {node_pid} still alive after Ctrl-C")


def test_killed_driver_leaves_node_processes_running_and_resume_adopts_them(demo, tmp_path):
    marks = demo / "executions"
    marks.mkdir()
    patch_node(demo, "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:",
               f"""
               import pathlib, time
               with open(pathlib.Path({str(marks)!r}) / "store_features_node", "a") as f:
                   f.write("ran\\n")
               time.sleep(8)
               print("still alive after the driver died", flush=True)
               """)
    patch_node(demo, "def clean_sales(", f"""
               import pathlib
               with open(pathlib.Path({str(marks)!r}) / "clean_sales_node", "a") as f:
                   f.write("ran\\n")
               """)
    first = tmp_path / "first.log"
    with first.open("w") as out:
        driver = subprocess.Popen(
            [*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner",
             "--pipeline=data_processing"], cwd=demo, env=subprocess_env(), stdout=out,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not (marks / "store_features_node").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (marks / "store_features_node").exists(), first.read_text()[-3000:]
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    run_id = re.search(r"kedro-kinetic run (\S+): \d+ nodes", first.read_text()).group(1)

    resumed = run(demo, "--runner-params", f"resume={run_id}")
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-5000:]
    assert "Adopted process" in output and "left running by an earlier driver" in output
    assert "already finished" in output
    assert (marks / "store_features_node").read_text() == "ran\n"  # ran once, not twice
    assert (marks / "clean_sales_node").read_text() == "ran\n"
    logs = list(local_run_folder(demo, run_id).glob("logs/store-features-node*.log"))
    assert len(logs) == 1 and "still alive after the driver died" in logs[0].read_text()
    reference = copy_demo(tmp_path / "seq")
    subprocess.run([*kedro_cmd(), "run", "--pipeline=data_processing"], cwd=reference,
                   env=subprocess_env(), capture_output=True, timeout=600, check=True)
    assert hashes(demo) == hashes(reference)
