"""The local backend's fork server, end to end: nodes are forked, and nothing else changes.

Node processes that run the default entrypoint are children of a warm fork server. These
tests prove that path was taken (the node's parent is the server; its private record says
``fork``) and that what the exec path guaranteed still holds through it: verification before
unpickling, outputs equal to SequentialRunner's, retries in a fresh process, deadlines that
kill the node's whole process group, the run key only inside the node's own environment.
A command other than the default entrypoint is still exec'd.

``kedro kinetic cancel`` from another terminal and resume adoption after a killed driver are
proved here for forked nodes; Ctrl-C and fail-fast are covered by ``test_failures_local.py``,
which goes through the fork server too (every Job there runs the default entrypoint).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from tests.conftest import copy_demo, kedro_cmd, local_run_folder, subprocess_env
from tests.e2e.bench_kit import hashes, patch_node
from tests.e2e.test_cli_runs import kinetic, run_ids
from tests.kedro_run import kedro_popen, run_id_of
from tests.pod_kit import evil_pickle

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

SERVER_MODULE = "kedro_kinetic.backends.local.forkserver"
STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"
PRODUCT_SIG = "def compute_product_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"

#: Node code that records how its process was started (appends one JSON line per attempt).
WHO_AM_I = """
import json, os, pathlib
_parent = pathlib.Path(f"/proc/{{os.getppid()}}/cmdline").read_bytes().replace(b"\\0", b" ")
with open({path!r}, "a") as _f:
    _f.write(json.dumps({{"pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0),
                         "parent": _parent.decode(), "key": "KINETIC_RESULT_KEY" in os.environ}})
             + "\\n")
"""

TAMPER_HOOK = '''
import pathlib
from urllib.parse import unquote, urlparse
from kedro.framework.hooks import hook_impl

EVIL = {evil!r}  # unpickling it writes the marker's .unpickled file (tests.pod_kit)


class Tamper:
    @hook_impl
    def kinetic_job_manifest(self, manifest, node, settings, run_id):
        if node.name != "clean_sales_node":
            return None
        args = manifest["spec"]["template"]["spec"]["containers"][0]["args"]
        payload = pathlib.Path(unquote(urlparse(args[args.index("--payload") + 1]).path))
        payload.unlink()  # a store writer replaces the pinned payload after planning
        payload.write_bytes(EVIL)
        return None
'''


def run(project: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner",
                           "--pipeline=data_processing", *args], cwd=project,
                          capture_output=True, text=True, env=subprocess_env(COLUMNS="2000"),
                          timeout=timeout)


def records(project: Path, run_id: str) -> dict[str, dict]:
    """The private process records of a run, by node."""
    folder = local_run_folder(project, run_id) / "pids"
    out = {}
    for path in folder.iterdir():
        record = json.loads(path.read_text())
        out[record["node"]] = record
    return out


def start_driver(project: Path, out: Path) -> subprocess.Popen:
    with out.open("w") as handle:
        return subprocess.Popen([*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner",
                                 "--pipeline=data_processing"], cwd=project,
                                env=subprocess_env(), stdout=handle, stderr=subprocess.STDOUT)


def wait_for_file(path: Path, log: Path, ceiling: float = 300) -> None:
    deadline = time.monotonic() + ceiling
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.exists(), log.read_text()[-3000:]


def wait_until_gone(pids: list[int], ceiling: float = 120) -> None:
    deadline = time.monotonic() + ceiling
    while time.monotonic() < deadline:
        if all(_state(pid) in (None, "Z") for pid in pids):
            return
        time.sleep(0.2)
    pytest.fail(f"processes still run: {pids}")


def attempts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_nodes_are_forked_by_the_server_and_outputs_match_sequential(demo, tmp_path):
    who = tmp_path / "who.jsonl"
    patch_node(demo, "def clean_sales(", WHO_AM_I.format(path=str(who)))
    proc = run(demo)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    assert "by exec" not in output
    [node] = attempts(who)
    assert SERVER_MODULE in node["parent"], node  # a child of the fork server
    assert node["sid"] == node["pid"]  # in its own session: cancel kills its group
    assert node["key"] is False  # the entrypoint took the key before the node ran
    run_id = run_id_of(output)
    recorded = records(demo, run_id)
    assert {r["via"] for r in recorded.values()} == {"fork"}
    assert recorded["clean_sales_node"]["pid"] == node["pid"]
    folder = local_run_folder(demo, run_id)
    key = (folder / "key").read_text().strip()
    for log in (folder / "logs").iterdir():  # node logs (and a later server's own)
        assert key not in log.read_text()
    # forked by the server started while Kedro loaded the project (backends/forkstart.py)
    assert node["parent"].split()[-1] == "early", node
    reference = copy_demo(tmp_path / "seq")
    subprocess.run([*kedro_cmd(), "run", "--pipeline=data_processing"], cwd=reference,
                   env=subprocess_env(), capture_output=True, timeout=900, check=True)
    assert hashes(demo) == hashes(reference)


def test_a_payload_replaced_in_the_store_is_refused_by_the_forked_node(demo, tmp_path):
    marker = demo / "data" / "MARKER"  # where a confined node process could write
    patch_node(demo, "def clean_sales(",
               f"__import__('pathlib').Path({str(marker)!r}).write_text('ran')")
    package = demo / "src" / "demo_project"
    evil = evil_pickle(marker.with_suffix(".unpickled"))
    (package / "tamper.py").write_text(TAMPER_HOOK.format(evil=evil))
    settings = package / "settings.py"
    settings.write_text(settings.read_text() + "\nfrom demo_project.tamper import Tamper\n"
                        "HOOKS = (Tamper(),)\n")
    proc = run(demo)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "node 'clean_sales_node' failed remotely (verification failed)" in output
    assert "payload: SHA-256 mismatch" in output
    assert records(demo, run_id_of(output))["clean_sales_node"]["via"] == "fork"
    assert not marker.exists() and not marker.with_suffix(".unpickled").exists()


def test_a_retry_runs_in_a_fresh_forked_process(demo, tmp_path):
    who = tmp_path / "who.jsonl"
    patch_node(demo, PRODUCT_SIG, WHO_AM_I.format(path=str(who)) + (
        f"if len(open({str(who)!r}).readlines()) == 1:\n"
        "    raise RuntimeError('first attempt fails')\n"))
    proc = run(demo, "--runner-params", "nodes.product_features_node.retries=1")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    assert "retrying (1/1)" in output
    first, second = attempts(who)
    assert first["pid"] != second["pid"]
    assert first["ppid"] == second["ppid"] and SERVER_MODULE in second["parent"]
    logs = subprocess.run([*kedro_cmd(), "kinetic", "logs", run_id_of(output),
                           "product_features_node"], cwd=demo, env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert logs.returncode == 0, logs.stderr[-3000:]
    separator = "----- attempt 2 (attempt 1 exited with code "
    assert logs.stdout.count(separator) == 1, logs.stdout[-3000:]
    assert logs.stdout.index("first attempt fails") < logs.stdout.index(separator)


def test_a_deadline_kills_the_forked_nodes_whole_group(demo, tmp_path):
    pids = tmp_path / "pids.json"
    patch_node(demo, STORE_SIG, f"""
               import json, os, subprocess, time
               child = subprocess.Popen(["sleep", "300"])
               with open({str(pids)!r}, "w") as f:
                   json.dump({{"node": os.getpid(), "grandchild": child.pid}}, f)
               time.sleep(300)
               """)
    (demo / "conf" / "local" / "parameters.yml").write_text(
        "kinetic:\n  nodes:\n    store_features_node:\n      deadline_seconds: 5\n")
    proc = run(demo)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "ran longer than its deadline_seconds" in output
    assert records(demo, run_id_of(output))["store_features_node"]["via"] == "fork"
    started = json.loads(pids.read_text())
    wait_until_gone([started["node"], started["grandchild"]])


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_a_custom_command_is_execd_not_forked(demo, tmp_path):
    who = tmp_path / "who.jsonl"
    patch_node(demo, "def clean_sales(", WHO_AM_I.format(path=str(who)))
    settings = demo / "src" / "demo_project" / "settings.py"
    settings.write_text(settings.read_text() + "\nKINETIC_COMMAND = "
                        "['python', '-X', 'utf8', '-m', 'kedro_kinetic.entrypoint']\n")
    proc = run(demo)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    assert "Starting node processes by exec, not from a fork server" in output
    [node] = attempts(who)
    assert SERVER_MODULE not in node["parent"] and "kedro" in node["parent"]
    assert {r["via"] for r in records(demo, run_id_of(output)).values()} == {"exec"}


SLEEPER = """
import json, os, subprocess, time
child = subprocess.Popen(["sleep", "300"])
with open({path!r}, "w") as f:
    json.dump({{"node": os.getpid(), "grandchild": child.pid}}, f)
time.sleep(300)
"""


def test_kinetic_cancel_kills_a_forked_node_and_its_group(demo, tmp_path):
    pids, log = tmp_path / "pids.json", tmp_path / "driver.log"
    patch_node(demo, STORE_SIG, SLEEPER.format(path=str(pids)))
    driver = start_driver(demo, log)
    try:
        wait_for_file(pids, log)
        [run_id] = run_ids(demo)
        assert records(demo, run_id)["store_features_node"]["via"] == "fork"
        out = kinetic(demo, "cancel", run_id).stdout
        assert "cancelled 1 node(s)" in out and "store-features" in out
        assert driver.wait(timeout=300) != 0
        started = json.loads(pids.read_text())
        wait_until_gone([started["node"], started["grandchild"]])
    finally:
        if driver.poll() is None:
            driver.kill()


def test_a_forked_node_outlives_a_killed_driver_and_the_resumed_run_adopts_it(demo, tmp_path):
    marks, log = tmp_path / "marks", tmp_path / "driver.log"
    marks.mkdir()
    patch_node(demo, STORE_SIG, f"""
               import os, pathlib, time
               (pathlib.Path({str(marks)!r}) / "pid").write_text(str(os.getpid()))
               with open(pathlib.Path({str(marks)!r}) / "ran", "a") as f:
                   f.write("ran\\n")
               go = pathlib.Path({str(marks)!r}) / "go"
               deadline = time.monotonic() + 600
               while not go.exists() and time.monotonic() < deadline:  # until adopted
                   time.sleep(0.1)
               print("still alive after the driver died", flush=True)
               """)
    driver = start_driver(demo, log)
    wait_for_file(marks / "ran", log)
    run_id = run_id_of(log.read_text())
    assert records(demo, run_id)["store_features_node"]["via"] == "fork"
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=60)
    node = int((marks / "pid").read_text())
    assert _state(node) not in (None, "Z"), "the forked node died with its driver"
    resumed = kedro_popen(demo, "run", "--runner=kedro_kinetic.GKERunner",
                          "--pipeline=data_processing", "--runner-params", f"resume={run_id}",
                          env={"COLUMNS": "2000"})
    try:
        resumed.wait_for_output(f"Adopted process {node} of job")
        (marks / "go").write_text("go")  # the node ends only once the resumed run adopted it
        resumed.wait()
    finally:
        (marks / "go").write_text("go")
        resumed.kill()
    output = resumed.output
    assert resumed.returncode == 0, output[-5000:]
    assert (marks / "ran").read_text() == "ran\n"  # ran once, not twice
    logs = list(local_run_folder(demo, run_id).glob("logs/store-features-node*.log"))
    assert len(logs) == 1 and "still alive after the driver died" in logs[0].read_text()
