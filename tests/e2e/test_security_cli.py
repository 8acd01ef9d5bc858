"""`kedro kinetic …` and resume never act on store files alone (local backend), and text from
nodes or the store reaches the terminal with its control characters escaped.

Each attack is what a store writer can do: plant files, folders, symlinks and pid files under
the run's folder in the store. Runs, processes and logs come from the private run folder (owner
only) and results sealed with the run's key, so none of it is acted on.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.wire import naming
from kedro_kinetic.wire.result import RESULT_FORMAT
from tests.conftest import STATE_DIR
from tests.deep_folders import nest, unnest
from tests.e2e.bench_kit import DS_NODES, patch_node
from tests.kedro_run import START_CEILING, STOP_CEILING, flat, kedro, kedro_popen, wait_until

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e
STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"
CLEAN_SIG = "def clean_sales("


def kinetic(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = kedro(project, "kinetic", *args)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def kedro_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return kedro(project, "run", "--runner=kedro_kinetic.GKERunner", *args, env=env)


def store_runs(project: Path) -> Path:
    return (project / "data" / "kinetic").resolve() / "runs"


def run_ids(project: Path) -> list[str]:
    out = kinetic(project, "status").stdout
    return [line.split("\t")[0] for line in out.splitlines() if "\t" in line]


@pytest.fixture
def victim():
    """A process of the user's that is not a node: a store writer would like it killed."""
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def test_cancel_signals_only_the_runs_own_processes(demo, victim):
    patch_node(demo, STORE_SIG, "import time; time.sleep(900)")  # until cancelled
    with kedro_popen(demo, "run", "--runner=kedro_kinetic.GKERunner",
                     "--pipeline=data_processing") as driver:
        wait_until(lambda: list(STATE_DIR.rglob("pids/store-features*")), START_CEILING,
                   interval=0.3, process=driver, message="the slow node never started")
        # each check starts a `kedro kinetic status`: poll a second apart
        [run_id] = wait_until(lambda: run_ids(demo), START_CEILING, interval=1, process=driver)
        label = naming.run_label(run_id)
        forged = store_runs(demo) / label / "pids"  # where a store writer would put pids
        forged.mkdir(parents=True, exist_ok=True)
        for job in ["x", *(p.name for p in STATE_DIR.rglob("pids/*"))]:
            (forged / job).write_text(json.dumps({"pid": victim.pid, "start": None}))
            (forged / f"{job}.pid").write_text(str(victim.pid))
        out = kinetic(demo, "cancel", run_id).stdout
        assert "cancelled 1 node(s)" in out and "store-features" in out
        driver.wait(STOP_CEILING)
    assert victim.poll() is None  # the planted pids were never signalled


def test_runs_that_exist_only_in_the_store_are_not_listed_cancelled_or_cleaned(demo, victim):
    fake = store_runs(demo) / "2020-01-01T00.00.00.000Z"
    (fake / "manifests").mkdir(parents=True)
    (fake / "results").mkdir()
    (fake / "manifests" / "n.json").write_text(json.dumps({"metadata": {
        "name": "/etc/passwd", "labels": {"kedro-kinetic.io/node": "n"},
        "annotations": {"kedro-kinetic.io/node-name": "forged_node",
                        "kedro-kinetic.io/run-id": "2020-01-01T00.00.00.000Z"}}}))
    (fake / "results" / "n.json").write_text(json.dumps({
        "format": RESULT_FORMAT, "node": "forged_node", "status": "succeeded"}))
    (fake / "pids").mkdir()
    (fake / "pids" / "n").write_text(str(victim.pid))

    status = kinetic(demo, "status")
    assert "2020-01-01" not in status.stdout and "no runs" in status.stderr
    for command in ("cancel", "logs", "status"):
        proc = kinetic(demo, command, "2020-01-01T00.00.00.000Z", check=False)
        assert proc.returncode != 0 and "no run '2020-01-01T00.00.00.000Z'" in proc.stderr
    clean = kinetic(demo, "clean", "--older-than", "1s", "--yes")
    assert "2020-01-01" not in clean.stdout + clean.stderr
    assert (fake / "manifests" / "n.json").exists() and victim.poll() is None


def test_logs_and_status_never_show_planted_files_or_forged_results(demo, tmp_path):
    canary = tmp_path / "secret.txt"
    canary.write_text("CANARY-secret-file-contents")
    proc = kedro_run(demo, "--pipeline=data_processing")
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run_id] = run_ids(demo)
    folder = store_runs(demo) / naming.run_label(run_id)
    (folder / "logs").mkdir()
    for job in ("clean-sales-node", naming.job_name("clean_sales_node", run_id)):
        (folder / "logs" / f"{job}.log").symlink_to(canary)
    result = folder / "results" / f"{naming.node_key('clean_sales_node')}.json"
    result.write_text(json.dumps({"format": RESULT_FORMAT, "node": "clean_sales_node",
                                  "status": "failed", "error_message": "FORGED-STATUS"}))

    logs = kinetic(demo, "logs", run_id)
    assert "kedro.io.data_catalog: Loading data from sales" in logs.stdout  # the genuine log
    assert "CANARY" not in logs.stdout + logs.stderr
    status = kinetic(demo, "status", run_id)
    assert "FORGED-STATUS" not in status.stdout
    assert "clean_sales_node\tstopped" in status.stdout  # its result is no longer authentic
    assert "failed authentication and were ignored" in status.stdout + status.stderr


def test_resume_never_writes_or_reads_through_planted_links(demo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("CANARY")
    patch_node(demo, "def feature_importance(", "import os\nif os.environ.get("
               "'KINETIC_TEST_FAIL'):\n    raise RuntimeError('planned failure')",
               nodes=DS_NODES)
    first = kedro_run(demo, KINETIC_TEST_FAIL="1")
    assert first.returncode != 0
    [run_id] = run_ids(demo)
    folder = store_runs(demo) / naming.run_label(run_id)
    for name in ("data", "results"):
        os.rename(folder / name, tmp_path / f"moved-{name}")
        (folder / name).symlink_to(outside)

    resumed = kedro_run(demo, "--runner-params", f"resume={run_id}")
    text = flat(resumed)
    assert resumed.returncode != 0
    assert "symlink" in text
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "CANARY"


HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mred"


def test_control_characters_from_nodes_reach_the_terminal_escaped(demo):
    patch_node(demo, CLEAN_SIG, f"print({HOSTILE!r}, flush=True)\n"
                                f"raise ValueError({('boom ' + HOSTILE)!r})")
    proc = kedro_run(demo, "--pipeline=data_processing")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "\\x1b]0;PWNED\\x07\\x1b[2J" in output  # the node's output and its error, escaped
    assert "\x1b]" not in output and "\x07" not in output and "\x1b[2J" not in output
    [run_id] = run_ids(demo)
    for args in (("status", run_id), ("logs", run_id, "clean_sales_node")):
        shown = kinetic(demo, *args)
        assert "PWNED" in shown.stdout and "\x1b" not in shown.stdout + shown.stderr


def test_planted_shapes_that_exhaust_memory_or_recursion_give_one_clear_message(demo):
    """A 2 TB sparse file as a result raised MemoryError in `status` and on resume, and 3000
    nested folders under results/ raised RecursionError in `status` and `clean`."""
    proc = kedro_run(demo, "--pipeline=data_processing")
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run_id] = run_ids(demo)
    folder = store_runs(demo) / naming.run_label(run_id)
    result = folder / "results" / f"{naming.node_key('clean_sales_node')}.json"
    os.truncate(result, 2 << 40)  # sparse: no disk used, 2 TB to a reader
    nest(folder / "results", 3000)
    try:
        _planted_shapes_are_refused(demo, run_id, result)
    finally:
        unnest(folder / "results")


def _planted_shapes_are_refused(demo: Path, run_id: str, result: Path) -> None:
    for args in (("status",), ("status", run_id)):
        shown = kinetic(demo, *args)
        assert "Traceback" not in shown.stdout + shown.stderr
    status = flat(kinetic(demo, "status", run_id).stderr)
    assert f"{result.name}: 2199023255552 bytes, more than the" in status  # named, ignored
    resumed = kedro_run(demo, "--pipeline=data_processing", "--runner-params",
                        f"resume={run_id}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]  # the node simply runs again
    assert "Traceback" not in resumed.stdout + resumed.stderr
    cleaned = kinetic(demo, "clean", run_id, "--yes", check=False)
    assert cleaned.returncode != 0 and "Traceback" not in cleaned.stdout + cleaned.stderr
    assert "holds folders more than 64 deep" in flat(cleaned.stdout + cleaned.stderr)
    assert "delete it by hand" in flat(cleaned.stdout + cleaned.stderr)
