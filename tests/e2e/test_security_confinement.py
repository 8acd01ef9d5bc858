"""Node processes of the local backend are confined (Landlock): attacks from inside a node.

A node's code stands here for a library that opens a path by itself. It finds the run's key
in the private state folder (where the layout puts it, from the node's own arguments, and
any others a listing shows), tries to read each and to carry what it read into its output
dataset; it tries to append to the project's source, and to open its parent's memory (the
fork server, or the driver when exec'd). Each test proves the attempt was made (the node logs the
``PermissionError`` naming the path) and that nothing came of it: the run's key is in no
file under ``data/``, the source is unchanged. Both ways a node process starts are covered:
forked by the fork server, and exec'd (a custom ``KINETIC_COMMAND`` ending in the
entrypoint).

Skipped where the kernel has no Landlock: there the node runs unconfined, as SECURITY.md
says.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from kedro_kinetic.confine import landlock
from tests.conftest import STATE_DIR, kedro_cmd, local_run_folder, subprocess_env
from tests.e2e.bench_kit import NODES, patch_node
from tests.kedro_run import flat, run_id_of

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(landlock.abi_version() < 1, reason="no Landlock here")]

PREPROCESS_SIG = "def preprocess_stores("

ATTACK = """
import glob, os, pathlib, sys, tempfile
from kedro_kinetic.backends.local.run_folder import LocalRunFolder
_stolen = []
_result = sys.argv[sys.argv.index("--result") + 1]  # <store>/runs/<label>/results/<node>
_run = LocalRunFolder(_result.rsplit("/", 2)[0], base=pathlib.Path({state!r}))
_keys = [str(_run.path / "key"), *sorted(glob.glob({state!r} + "/runs/*/key"))]
for _key in _keys:
    try:
        _stolen.append(pathlib.Path(_key).read_text())
    except PermissionError as _exc:
        print("ATTACK key refused:", _exc, flush=True)
try:
    with open({source!r}, "a") as _f:
        _f.write("\\nOWNED = True\\n")
    print("ATTACK source appended", flush=True)
except PermissionError as _exc:
    print("ATTACK source refused:", _exc, flush=True)
try:
    os.close(os.open(f"/proc/{{os.getppid()}}/mem", os.O_RDONLY))
    print("ATTACK parent memory opened", flush=True)
except PermissionError as _exc:
    print("ATTACK parent memory refused:", _exc, flush=True)
print("ATTACK tmp:", tempfile.gettempdir(), flush=True)
stores = stores.assign(stolen=" ".join(_stolen) or "nothing")
"""


def run(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``kedro run`` of the data_processing pipeline; nodes may write only what a run allows
    (not the tests' temporary folders, which the other tests' nodes may write)."""
    return subprocess.run([*kedro_cmd(), "run", "--runner=kedro_kinetic.GKERunner",
                           "--pipeline=data_processing"], cwd=project, capture_output=True,
                          text=True, timeout=900,
                          env=subprocess_env(COLUMNS="2000", KINETIC_NODE_WRITABLE="", **env))


def files_holding(root: Path, text: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and text in p.read_bytes()]


@pytest.mark.parametrize("how", ["fork", "exec"])
def test_a_node_can_neither_read_the_run_key_nor_write_the_project_code(demo, how):
    source = demo / NODES
    patch_node(demo, PREPROCESS_SIG, ATTACK.format(state=str(STATE_DIR), source=str(source)))
    if how == "exec":  # not the default command: exec'd, and the entrypoint confines it
        settings = demo / "src" / "demo_project" / "settings.py"
        settings.write_text(settings.read_text() + "\nKINETIC_COMMAND = "
                            "['python', '-X', 'utf8', '-m', 'kedro_kinetic.entrypoint']\n")
    before = hashlib.sha256(source.read_bytes()).hexdigest()

    proc = run(demo)
    output = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-5000:]
    if how == "exec":
        assert "Starting node processes by exec" in output
    key_path = local_run_folder(demo, run_id_of(output)) / "key"
    key = key_path.read_bytes().strip()
    # delivered: the node tried this run's key (where the layout puts it), the source, the parent
    assert f"ATTACK key refused: [Errno 13] Permission denied: '{key_path}'" in output
    assert f"ATTACK source refused: [Errno 13] Permission denied: '{source}'" in output
    assert "ATTACK parent memory refused: [Errno 13] Permission denied: '/proc/" in output
    # ... and nothing came of it
    assert "ATTACK source appended" not in output
    assert "ATTACK parent memory opened" not in output
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    assert not source.read_text().endswith("OWNED = True\n")
    stolen = (demo / "data" / "02_intermediate" / "preprocessed_stores.csv").read_text()
    assert "nothing" in stolen  # the node's output was written, without a key in it
    assert files_holding(demo / "data", key) == []
    # the node's temporary folder was the run's own, and is gone with the run
    tmp = Path(re.search(r"ATTACK tmp: (\S+)", output).group(1))
    assert tmp.name.startswith("kinetic-node-tmp-")
    assert not tmp.exists()


def test_a_state_folder_inside_the_project_is_confined_anyway_with_one_warning(demo):
    state = demo / ".kinetic-state"
    proc = run(demo, KINETIC_STATE_DIR=str(state))
    output = flat(proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-5000:]
    warning = f"Node processes may reach the private state folder {state}"
    assert output.count(warning) == 1, output[-5000:]
    assert "set $KINETIC_STATE_DIR to a folder outside the project" in output
