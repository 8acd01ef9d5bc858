"""The pod entrypoint refuses anything it did not verify; the node never runs.

Each refusal test uses a node (or a tampered object) that would write a marker
file if it were executed or unpickled, and asserts the marker is absent.
"""

from __future__ import annotations

import os
import pickle
import signal
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.wire import result as results
from kedro_kinetic.wire.digest import sha256_hex
from tests.pod_kit import Task, evil_pickle

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


def test_verified_node_runs_and_reports_output_digest(tmp_path, marker):
    task = Task(tmp_path, marker)
    proc = task.run(task.args())
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text() == "node ran"
    res = task.result()
    assert res["status"] == "succeeded" and res["exit_code"] == 0
    out = (tmp_path / "out.pkl").read_bytes()
    assert res["outputs"]["out"]["sha256"] == sha256_hex(out)
    assert pickle.loads(out)["value"] == 42
    assert res["started_at"] <= res["finished_at"]


def test_the_pod_rings_its_doorbell_after_each_result_even_a_refusal(tmp_path, marker):
    task = Task(tmp_path, marker)
    bell = tmp_path / "notices" / "00000000000000000001-job"
    proc = task.run([*task.args(), "--notice", bell.as_uri()])
    assert proc.returncode == 0, proc.stderr
    assert bell.read_bytes() == b"" and task.result()["status"] == "succeeded"
    # the result is there before the doorbell, so a driver that saw the bell can read it
    assert (tmp_path / "result.json").stat().st_mtime_ns <= bell.stat().st_mtime_ns
    bell.unlink()
    (tmp_path / "payload.pkl").write_bytes(evil_pickle(marker))
    marker.unlink()
    proc = task.run([*task.args(), "--notice", bell.as_uri()])
    assert proc.returncode == results.EXIT_VERIFICATION_FAILED and not marker.exists()
    assert bell.exists() and task.result()["error_type"].endswith("VerificationError")


def test_payload_with_one_byte_flipped_never_runs(tmp_path, marker):
    task = Task(tmp_path, marker)
    blob = bytearray((tmp_path / "payload.pkl").read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (tmp_path / "payload.pkl").write_bytes(bytes(blob))
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_VERIFICATION_FAILED
    assert "payload: SHA-256 mismatch" in proc.stderr
    assert not marker.exists()
    assert task.result()["error_type"].endswith("VerificationError")


def test_payload_replaced_by_malicious_pickle_is_never_unpickled(tmp_path, marker):
    task = Task(tmp_path, marker)
    (tmp_path / "payload.pkl").write_bytes(evil_pickle(marker))
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_VERIFICATION_FAILED
    assert not marker.exists()


@pytest.mark.parametrize("missing", ["payload_sha256", "spec_sha256"])
def test_missing_digest_means_the_node_never_runs(tmp_path, marker, missing):
    task = Task(tmp_path, marker)
    proc = task.run(task.args(**{missing: True}))
    assert proc.returncode == results.EXIT_VERIFICATION_FAILED
    assert "no valid SHA-256 pin" in proc.stderr
    assert not marker.exists()


def test_tampered_intermediate_is_refused_before_unpickling(tmp_path, marker):
    good = pickle.dumps({"rows": [1, 2, 3]})
    data_uri = (tmp_path / "intermediate.pkl").as_uri()
    evil_marker = tmp_path / "UNPICKLED"
    evil = evil_pickle(evil_marker).ljust(len(good), b"\n")  # the pinned size: read whole
    task = Task(tmp_path, marker, extra_inputs={
        "cleaned": {"kind": "pickle", "uri": data_uri, "sha256": sha256_hex(good),
                    "bytes": max(len(good), len(evil))}})
    (tmp_path / "intermediate.pkl").write_bytes(evil)
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_VERIFICATION_FAILED
    assert "intermediate dataset 'cleaned': SHA-256 mismatch" in proc.stderr
    assert not evil_marker.exists() and not marker.exists()
    # the untampered intermediate is accepted and reaches the node
    (tmp_path / "intermediate.pkl").write_bytes(good)
    proc = task.run(task.args())
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()


def test_spec_with_python_tag_is_refused_even_when_pinned(tmp_path, marker):
    task = Task(tmp_path, marker)
    evil_marker = tmp_path / "YAML_RAN"
    yaml_text = (f"format: {task.spec['format']}\nnode: touch_node\nrun_id: r\n"
                 f"inputs: !!python/object/apply:os.system ['touch {evil_marker}']\n"
                 "outputs: {}\n").encode()
    task.write_spec(yaml_text)
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_BAD_SPEC
    assert "not plain YAML data" in proc.stderr
    assert not evil_marker.exists() and not marker.exists()


@pytest.fixture
def evil_module(tmp_path: Path) -> tuple[Path, Path]:
    """An importable module whose import (or call) writes a marker."""
    side = tmp_path / "IMPORTED"
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "evil_mod.py").write_text(textwrap.dedent(f"""
        import pathlib
        pathlib.Path({str(side)!r}).write_text("imported")
        class Thing:
            def __init__(self, **kw): pass
        def validate(data):
            pathlib.Path({str(side)!r}).write_text("called")
    """))
    return pkg, side


@pytest.mark.parametrize(
    "config",
    [
        {"type": "evil_mod.Thing"},
        {"type": "pandas.CSVDataset", "filepath": "x.csv", "validator": "evil_mod.validate"},
        {"type": "pandas.CSVDataset", "filepath": "x.csv", "validator": "builtins.exec"},
        {"type": "pandas.CSVDataset", "filepath": "x.csv", "validator": {"class": "os.system"}},
        {"type": "partitions.PartitionedDataset", "path": "parts",
         "dataset": {"type": "evil_mod.Thing"}},
        {"type": "partitions.PartitionedDataset", "path": "parts", "dataset": "evil_mod.Thing"},
    ],
    ids=["type", "validator-module", "validator-exec", "validator-os-system",
         "nested-dataset", "nested-dataset-string"],
)
def test_disallowed_catalog_classes_are_refused_before_import(tmp_path, marker, evil_module,
                                                              config):
    site, side = evil_module
    task = Task(tmp_path, marker, extra_inputs={"raw": {"kind": "catalog", "config": config}})
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = task.run(task.args(), env=env)
    assert proc.returncode == results.EXIT_BAD_SPEC, proc.stderr
    assert "catalog entry 'raw'" in proc.stderr
    assert "not on the kedro-kinetic allowlist" in proc.stderr
    assert not side.exists() and not marker.exists()


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"type": "pickle.PickleDataset", "filepath": "x.pkl", "backend": "evil_mod"},
         "backend"),
        ({"type": "partitions.PartitionedDataset", "path": "parts",
          "dataset": {"type": "pickle.PickleDataset", "backend": "evil_mod"}}, "dataset.backend"),
        ({"type": "partitions.IncrementalDataset", "path": "parts",
          "dataset": "pandas.CSVDataset", "checkpoint": {"comparison_func": "evil_mod.validate"}},
         "checkpoint.comparison_func"),
        ({"type": "matplotlib.MatplotlibDataset", "filepath": "p.png",
          "save_args": {"backend": "module://evil_mod"}}, "save_args.backend"),
    ],
    ids=["pickle-backend", "nested-backend", "comparison-func", "matplotlib-backend"],
)
def test_code_choosing_arguments_are_refused_in_the_pod_before_import(tmp_path, marker,
                                                                      evil_module, config, key):
    """The pod re-checks argument values itself: a spec written by hand gets no further."""
    site, side = evil_module
    task = Task(tmp_path, marker, extra_inputs={"raw": {"kind": "catalog", "config": config}})
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = task.run(task.args(), env=env)
    assert proc.returncode == results.EXIT_BAD_SPEC, proc.stderr
    assert f"catalog entry 'raw', key '{key}'" in proc.stderr
    assert "nothing was imported" in proc.stderr
    assert not side.exists() and not marker.exists()


def test_payload_for_another_node_is_refused(tmp_path, marker):
    task = Task(tmp_path, marker)
    task.spec["node"] = "other_node"
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_BAD_SPEC
    assert not marker.exists()


def test_node_raising_is_reported_with_type_message_and_traceback(tmp_path, marker):
    task = Task(tmp_path, marker, func="boom")
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_NODE_RAISED
    res = task.result()
    assert res["status"] == "failed" and res["phase"] == "run"
    assert res["error_type"] == "builtins.ValueError"
    assert res["error_message"] == "kaboom from the node"
    assert "in boom" in res["traceback"]
    assert "ValueError: kaboom from the node" in res["traceback"]


def test_sigterm_stops_the_node_at_once_with_exit_code_143_and_no_result(tmp_path, marker):
    """A pod's PID 1 gets no default SIGTERM action, so the entrypoint must handle it: a
    deleted pod or a passed deadline then stops the node instead of waiting for SIGKILL."""
    task = Task(tmp_path, marker, func="hang")
    with task.popen(task.args()) as proc:
        deadline = time.monotonic() + 300
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.read_text() == "node started", proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    assert proc.returncode == 143  # handled: without a handler it would be -SIGTERM
    assert not (tmp_path / "result.json").exists()


@pytest.mark.parametrize("planted", ["payload", "spec", "intermediate"])
def test_a_planted_object_larger_than_its_pin_is_never_read(tmp_path, marker, planted):
    """A store writer replaces a pinned object with a 64 GiB (sparse) file: the pod refuses
    it by its pinned size, before reading it (it would exhaust the pod's memory)."""
    good = pickle.dumps([1, 2, 3])
    data = tmp_path / "intermediate.pkl"
    data.write_bytes(good)
    task = Task(tmp_path, marker, extra_inputs={"cleaned": {
        "kind": "pickle", "uri": data.as_uri(), "sha256": sha256_hex(good),
        "bytes": len(good)}})
    args = task.args()
    target = {"payload": tmp_path / "payload.pkl", "spec": tmp_path / "spec.json",
              "intermediate": data}[planted]
    with target.open("r+b") as handle:
        handle.truncate(64 << 30)  # delivered: the pinned object is now 64 GiB
    assert target.stat().st_size == 64 << 30
    proc = task.run(args)
    assert proc.returncode == results.EXIT_VERIFICATION_FAILED, proc.stderr
    assert f"{64 << 30} bytes, more than the" in proc.stderr
    assert not marker.exists()


def test_missing_input_is_a_data_error_not_a_node_error(tmp_path, marker):
    task = Task(tmp_path, marker, extra_inputs={"missing": {
        "kind": "pickle", "uri": (tmp_path / "nope.pkl").as_uri(), "sha256": "0" * 64,
        "bytes": 10}})
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_DATA_ERROR
    res = task.result()
    assert res["phase"] == "load" and "no object at" in res["error_message"]
    assert "ObjectNotFound: no object at" in res["traceback"]  # our frames add nothing
