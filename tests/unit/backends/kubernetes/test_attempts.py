"""Which attempt counts per node, as the Kubernetes API records it (pure functions)."""

from __future__ import annotations

import base64
import json

from kedro_kinetic.backends.kubernetes import attempts
from kedro_kinetic.planning.manifest import ANN_GROUP_NODES, CONTAINER, LABEL_NODE
from kedro_kinetic.wire import naming

A, B, C = "a" * 32, "b" * 32, "c" * 32


def job(node_key: str, attempt: str | None, group: list[str] | None = None) -> dict:
    args = ["--result", "r"] + (["--attempt", attempt] if attempt else [])
    meta = {"labels": {LABEL_NODE: node_key},
            "annotations": {ANN_GROUP_NODES: json.dumps(group)} if group else {}}
    return {"metadata": meta, "spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "args": ["--attempt", C]}, {"name": CONTAINER, "args": args}]}}}}


def test_a_job_pins_the_attempt_of_its_node_or_of_every_node_of_its_group():
    found = attempts.from_jobs([job("n1", A), job("g", B, ["x", "y"]), job("n2", None),
                                {"metadata": {}}])
    assert found == {"n1": A, naming.node_key("x"): B, naming.node_key("y"): B}


def test_the_secrets_record_round_trips_and_skips_malformed_entries():
    patch = attempts.secret_patch({"n1": A, "n2": B})
    assert attempts.from_secret(patch) == {"n1": A, "n2": B}
    planted = {"data": {attempts.SECRET_ATTEMPTS_KEY: base64.b64encode(json.dumps(
        {"n1": A, "n2": "../../x", "n3": 7}).encode()).decode()}}
    assert attempts.from_secret(planted) == {"n1": A}
    for broken in ({}, {"data": {attempts.SECRET_ATTEMPTS_KEY: "%%%"}},
                   {"data": {attempts.SECRET_ATTEMPTS_KEY: base64.b64encode(b"[1]").decode()}}):
        assert attempts.from_secret(broken) == {}


def test_a_live_job_counts_before_the_secrets_record():
    secret = attempts.secret_patch({"n1": A, "n2": B})
    assert attempts.counted([job("n1", C)], secret) == {"n1": C, "n2": B}
