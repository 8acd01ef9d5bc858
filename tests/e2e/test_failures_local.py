"""Failures on the local backend: remote tracebacks, hooks in the driver, fail-fast, Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import time
from typing import TYPE_CHECKING

import pytest

from tests.conftest import copy_demo, local_run_folder
from tests.e2e.bench_kit import hashes, hold_until, patch_node
from tests.kedro_run import (
    START_CEILING,
    STOP_CEILING,
    kedro,
    kedro_popen,
    pid_alive,
    wait_until,
)

if TYPE_CHECKING:
    import subprocess
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


RUN_ARGS = ("run", "--runner=kedro_kinetic.GKERunner", "--pipeline=data_processing")
STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"
PRODUCT_SIG = "def compute_product_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return kedro(project, *RUN_ARGS, *args)


def write_pid(path: Path) -> str:
    """Node code that writes its process id to ``path`` (the test waits for the file): to a
    temporary name first, then renamed, so the file never appears empty."""
    return (f"import os, pathlib; pathlib.Path({str(path)!r} + '.tmp')"
            f".write_text(str(os.getpid())); os.replace({str(path)!r} + '.tmp', {str(path)!r})")


def test_node_error_carries_remote_traceback_resume_hint_and_fires_hooks(demo):
    patch_node(demo, PRODUCT_SIG, 'raise ValueError("product features exploded")')
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
    sibling = demo / "sibling.pid"
    # the sibling would sleep 900 s; the failing node raises once the sibling runs
    patch_node(demo, STORE_SIG, f"{write_pid(sibling)}\nimport time; time.sleep(900)")
    patch_node(demo, PRODUCT_SIG, hold_until(sibling) + "raise RuntimeError('fail fast please')")
    start = time.monotonic()
    proc = run(demo)
    assert proc.returncode != 0
    assert sibling.exists(), "the sibling never ran"
    assert time.monotonic() - start < 600, "the sleeping sibling should have been cancelled"
    assert "RuntimeError: fail fast please" in proc.stdout + proc.stderr
    assert "Stopping" in proc.stdout + proc.stderr
    pid = int(sibling.read_text())
    wait_until(lambda: not pid_alive(pid), STOP_CEILING,
               message=f"the sibling's process {pid} outlived the run")


def test_deadline_is_enforced(demo):
    patch_node(demo, STORE_SIG, "import time; time.sleep(120)")
    (demo / "conf" / "local" / "parameters.yml").write_text(
        "kinetic:\n  nodes:\n    store_features_node:\n      deadline_seconds: 3\n")
    proc = run(demo)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'store_features_node' failed remotely" in output
    assert "ran longer than its deadline_seconds" in output


def test_sigint_kills_every_node_process(demo):
    pid_file = demo / "sleeper.pid"
    patch_node(demo, STORE_SIG, f"{write_pid(pid_file)}\nimport time; time.sleep(900)")
    with kedro_popen(demo, *RUN_ARGS) as proc:
        wait_until(pid_file.exists, START_CEILING, process=proc,
                   message="the sleeping node never started")
        node_pid = int(pid_file.read_text())
        proc.signal(signal.SIGINT)
        proc.wait(STOP_CEILING)
    assert proc.returncode != 0
    assert "Cancelled" in proc.output
    wait_until(lambda: not pid_alive(node_pid), STOP_CEILING,
               message=f"node process {node_pid} still alive after Ctrl-C")


def test_killed_driver_leaves_node_processes_running_and_resume_adopts_them(demo, tmp_path):
    marks = demo / "executions"
    marks.mkdir()
    go = tmp_path / "store-features.go"  # the node runs on until the resume adopted it

    def mark(node: str) -> str:
        return (f"import pathlib\nwith open(pathlib.Path({str(marks)!r}) / {node!r}, 'a') as f:"
                "\n    f.write('ran\\n')\n")

    patch_node(demo, STORE_SIG, mark("store_features_node") + hold_until(go)
               + "print('still alive after the driver died', flush=True)\n")
    patch_node(demo, "def clean_sales(", mark("clean_sales_node"))
    with kedro_popen(demo, *RUN_ARGS) as driver:
        wait_until((marks / "store_features_node").exists, START_CEILING, process=driver)
        driver.signal(signal.SIGKILL)
        driver.wait(STOP_CEILING)
    run_id = re.search(r"kedro-kinetic run (\S+): \d+ nodes", driver.output).group(1)

    with kedro_popen(demo, *RUN_ARGS, "--runner-params", f"resume={run_id}") as resumed:
        resumed.wait_for_output(re.compile(r"Adopted process \d+ of job store-features-node"),
                                flat=True)
        go.write_text("go")
        resumed.wait()
    output = resumed.output
    assert resumed.returncode == 0, output[-5000:]
    assert "Adopted process" in output and "left running by an earlier driver" in output
    assert "already finished" in output
    assert (marks / "store_features_node").read_text() == "ran\n"  # ran once, not twice
    assert (marks / "clean_sales_node").read_text() == "ran\n"
    logs = list(local_run_folder(demo, run_id).glob("logs/store-features-node*.log"))
    assert len(logs) == 1 and "still alive after the driver died" in logs[0].read_text()
    reference = copy_demo(tmp_path / "seq")
    sequential = kedro(reference, "run", "--pipeline=data_processing")
    assert sequential.returncode == 0, sequential.stderr[-3000:]
    assert hashes(demo) == hashes(reference)
