"""Results read back by the driver: sealed, strictly typed, and one clear error otherwise."""

from __future__ import annotations

import json

import pytest

from kedro_kinetic.errors import KineticError, SealError, StoreObjectError
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.result import RESULT_FORMAT, NodeResult, read_sealed

KEY = seal.new_key()
URI = "gs://bucket/kinetic/runs/run-1/results/node-a-1234.json"
GOOD = {"format": RESULT_FORMAT, "node": "a", "status": "succeeded", "exit_code": 0,
        "phase": "done", "outputs": {"x": {"kind": "pickle", "uri": "gs://b/x.pkl",
                                           "sha256": "a" * 64, "bytes": 3}}}


def sealed(body: object) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return seal.seal(KEY, URI, data)


def test_a_sealed_result_round_trips():
    result = NodeResult(node="a", status="succeeded", exit_code=0, outputs=GOOD["outputs"])
    back = read_sealed(result.sealed(KEY, URI), KEY, URI)
    assert back == result and back.output_digest("x") == "a" * 64


# Each shape must raise one of kedro-kinetic's own errors, naming the object: never an
# AttributeError, TypeError, KeyError or RecursionError from deep inside the driver.
MALFORMED_BODIES = {
    "not json": b"\xff\xfe not json",
    "json list": [1, 2, 3],
    "json string": "succeeded",
    "json null": None,
    "no format": {k: v for k, v in GOOD.items() if k != "format"},
    "other format": {**GOOD, "format": "kedro-kinetic/result@0"},
    "node missing": {k: v for k, v in GOOD.items() if k != "node"},
    "node a number": {**GOOD, "node": 7},
    "status unknown": {**GOOD, "status": "maybe"},
    "status a list": {**GOOD, "status": ["succeeded"]},
    "exit code a string": {**GOOD, "exit_code": "0"},
    "exit code a bool": {**GOOD, "exit_code": False},
    "outputs a list": {**GOOD, "outputs": [{"kind": "pickle"}]},
    "outputs a string": {**GOOD, "outputs": "x"},
    "output entry a list": {**GOOD, "outputs": {"x": ["pickle"]}},
    "output kind unknown": {**GOOD, "outputs": {"x": {"kind": "python", "sha256": "a" * 64}}},
    "output digest short": {**GOOD, "outputs": {"x": {"kind": "pickle", "sha256": "abc"}}},
    "output digest upper": {**GOOD, "outputs": {"x": {"kind": "pickle", "sha256": "A" * 64}}},
    "output digest a dict": {**GOOD, "outputs": {"x": {"kind": "pickle", "sha256": {}}}},
    "output bytes a string": {**GOOD, "outputs": {"x": {"kind": "pickle", "bytes": "3"}}},
    "output uri a number": {**GOOD, "outputs": {"x": {"kind": "pickle", "uri": 5}}},
    "timings a list": {**GOOD, "timings": [1, 2]},
    "timing a string": {**GOOD, "timings": {"run": "fast"}},
    "started_at a string": {**GOOD, "started_at": "yesterday"},
    "error message a dict": {**GOOD, "error_message": {"x": 1}},
    "traceback a list": {**GOOD, "traceback": ["frame"]},
    "phase a number": {**GOOD, "phase": 3},
    "deeply nested": b'{"format": "kedro-kinetic/result@1", "node": "a", "outputs": '
                     + b"[" * 100000 + b"]" * 100000 + b"}",
    "huge": b'{"node": "' + b"a" * (5 * 1024 * 1024) + b'"}',
}


@pytest.mark.parametrize("shape", list(MALFORMED_BODIES))
def test_malformed_sealed_results_give_one_clear_error(shape):
    with pytest.raises(StoreObjectError) as info:
        read_sealed(sealed(MALFORMED_BODIES[shape]), KEY, URI)
    assert URI in str(info.value)


@pytest.mark.parametrize("shape", list(MALFORMED_BODIES))
def test_unsealed_results_are_refused_before_they_are_parsed(shape):
    body = MALFORMED_BODIES[shape]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(KineticError) as info:
        read_sealed(data, KEY, URI)
    assert URI in str(info.value)


@pytest.mark.parametrize("tamper", [
    "another key", "another uri", "body changed", "mac changed", "header only", "mac only",
    "no newline", "empty",
])
def test_forged_or_replayed_seals_are_refused(tamper):
    good = sealed(GOOD)
    forged = {
        "another key": lambda: seal.seal(seal.new_key(), URI, json.dumps(GOOD).encode()),
        "another uri": lambda: seal.seal(KEY, URI.replace("node-a", "node-b"),
                                         json.dumps(GOOD).encode()),
        "body changed": lambda: good.replace(b'"a" * 64'[:1], b"").replace(b"aaaa", b"bbbb", 1),
        "mac changed": lambda: good[:30] + (b"0" if good[30:31] != b"0" else b"1") + good[31:],
        "header only": lambda: seal.HEADER,
        "mac only": lambda: good.split(b"\n", 1)[0],
        "no newline": lambda: good.replace(b"\n", b" ", 1),
        "empty": lambda: b"",
    }[tamper]()
    with pytest.raises(SealError, match="result gs://bucket"):
        read_sealed(forged, KEY, URI)


def test_a_malformed_key_is_one_clear_error():
    with pytest.raises(SealError, match="not 32 bytes of hex"):
        seal.key_from_hex("zz", "$KINETIC_RESULT_KEY")


@pytest.mark.parametrize("variable", ["KINETIC_RESULT_KEY", "KINETIC_ATTEMPT_KEY"],
                         ids=["run-key", "attempt-key"])  # not in PYTEST_CURRENT_TEST
def test_a_key_leaves_the_environment_block_the_process_started_with(variable):
    """os.environ.pop left the key in /proc/self/environ, which node code, or a dataset
    whose path a config author points there, can read (then results could be forged).
    A run key (a pod's Secret) comes out as the attempt's key: the run key itself is
    never kept."""
    import os
    import subprocess
    import sys

    key, attempt = "ab" * 32, "cd" * 16
    code = ("from kedro_kinetic.wire import seal\n"
            "before = open('/proc/self/environ', 'rb').read()\n"
            f"taken = seal.take_key_from_env({attempt!r})\n"
            "after = open('/proc/self/environ', 'rb').read()\n"
            f"print({key!r}.encode() in before, len(taken), {key!r}.encode() in after,\n"
            f"      b'{variable}' in after, b'NEIGHBOUR=kept' in after, taken.hex())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, variable: key, "NEIGHBOUR": "kept"},
                          timeout=120, check=True)
    expected = (seal.attempt_key(bytes.fromhex(key), attempt).hex()
                if variable == "KINETIC_RESULT_KEY" else key)
    assert proc.stdout.split() == ["True", "32", "False", "False", "True", expected]


def test_attempt_keys_differ_per_attempt_and_a_run_key_needs_an_attempt(monkeypatch):
    run_key = seal.new_key()
    first, second = seal.new_attempt(), seal.new_attempt()
    assert seal.is_attempt(first) and first != second
    assert seal.attempt_key(run_key, first) != seal.attempt_key(run_key, second)
    assert seal.attempt_key(run_key, first) != run_key
    with pytest.raises(SealError, match="not an attempt nonce"):
        seal.attempt_key(run_key, "../x")
    monkeypatch.setenv("KINETIC_RESULT_KEY", run_key.hex())
    with pytest.raises(SealError, match="pins no attempt"):
        seal.take_key_from_env(None)


def test_a_result_of_another_attempt_is_refused():
    run_key = seal.new_key()
    earlier, now = (seal.attempt_key(run_key, seal.new_attempt()) for _ in range(2))
    uri = "gs://b/runs/r/results/n.json"
    data = NodeResult(node="n", status="succeeded", exit_code=0).sealed(earlier, uri)
    with pytest.raises(SealError, match="failed authentication"):
        read_sealed(data, now, uri)
