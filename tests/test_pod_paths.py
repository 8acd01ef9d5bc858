"""The pod checks catalog paths itself and opens them without following links.

A task spec is pinned, but the pod never trusts the driver's checks: these specs are written
by hand, as a driver without the path check (or a forged plan) would, and the node must not
run with anything read from outside the data roots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.wire import result as results
from tests.pod_kit import Task

if TYPE_CHECKING:
    from pathlib import Path

SECRET = "a-run-key-0123456789abcdef"
ROOTS = {"roots": ["data"], "excluded": ["data/kinetic"]}


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


def text_input(path: str) -> dict:
    return {"raw": {"kind": "catalog", "config": {"type": "text.TextDataset",
                                                  "filepath": path}}}


@pytest.mark.parametrize(("path", "roots", "why"), [
    ("/proc/self/environ", ROOTS, "is in /proc"),
    ("data/kinetic/runs/r/key", ROOTS, "is inside data/kinetic"),
    ("data/../secret.txt", ROOTS, "has a '..' component"),
    ("data/notes.txt", None, "is outside the data roots"),  # a spec without roots allows none
])
def test_a_spec_naming_a_refused_path_never_runs_the_node(tmp_path, marker, path, roots, why):
    task = Task(tmp_path, marker, extra_inputs=text_input(path))
    if roots is not None:
        task.spec["data_roots"] = roots
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_BAD_SPEC, proc.stderr
    assert f"catalog entry 'raw', key 'filepath': '{path}' {why}" in proc.stderr
    assert not marker.exists()


def test_malformed_data_roots_are_refused(tmp_path, marker):
    task = Task(tmp_path, marker)
    task.spec["data_roots"] = {"roots": "data"}
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_BAD_SPEC
    assert "task spec key 'data_roots'" in proc.stderr
    assert not marker.exists()


def test_a_linked_input_is_refused_and_the_node_never_sees_it(tmp_path, marker):
    (tmp_path / "data").mkdir()
    (tmp_path / "secret.txt").write_text(SECRET)
    (tmp_path / "data" / "notes.txt").symlink_to(tmp_path / "secret.txt")
    assert (tmp_path / "data" / "notes.txt").read_text() == SECRET  # delivered
    task = Task(tmp_path, marker, extra_inputs=text_input("data/notes.txt"))
    task.spec["data_roots"] = ROOTS
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_DATA_ERROR, proc.stderr
    assert "dataset 'raw': refusing" in proc.stderr and "symbolic link" in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout
    assert not marker.exists()


def test_an_input_under_the_roots_is_read(tmp_path, marker):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("plain notes")
    task = Task(tmp_path, marker, extra_inputs=text_input("data/notes.txt"))
    task.spec["data_roots"] = ROOTS
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_OK, proc.stderr
    assert marker.read_text() == "node ran"
