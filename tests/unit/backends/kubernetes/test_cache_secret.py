"""The node cache's Secret on Kubernetes: its key, created once, and the index of each cache
key's latest entry, merged under optimistic concurrency and capped. A fake CoreV1Api keeps
Secrets as plain JSON with resourceVersions, as the API server does (no cluster)."""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kedro_kinetic.backends.kubernetes import cache_secret
from kedro_kinetic.backends.kubernetes.cache_secret import CacheSecret
from kedro_kinetic.errors import BackendError


class FakeCore:
    """Secrets by name, each patch checked against its resourceVersion."""

    def __init__(self, conflicts: int = 0, forbid: bool = False) -> None:
        self.secrets: dict[str, dict[str, Any]] = {}
        self.conflicts = conflicts  # patches that lose a race to another writer first
        self.forbid = forbid
        self.patches = 0

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> dict:
        if self.forbid:
            raise ApiException(status=HTTPStatus.FORBIDDEN, reason="Forbidden")
        name = body["metadata"]["name"]
        if name in self.secrets:
            raise ApiException(status=HTTPStatus.CONFLICT, reason="AlreadyExists")
        self.secrets[name] = {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}}
        return self.secrets[name]

    def read_namespaced_secret(self, name: str, namespace: str) -> dict:
        if name not in self.secrets:
            raise ApiException(status=HTTPStatus.NOT_FOUND, reason="NotFound")
        return json.loads(json.dumps(self.secrets[name]))

    def patch_namespaced_secret(self, name: str, namespace: str, body: dict) -> dict:
        self.patches += 1
        secret = self.secrets[name]
        if self.conflicts:
            self.conflicts -= 1
            secret["metadata"]["resourceVersion"] = str(int(
                secret["metadata"]["resourceVersion"]) + 1)  # someone else wrote first
        if body["metadata"]["resourceVersion"] != secret["metadata"]["resourceVersion"]:
            raise ApiException(status=HTTPStatus.CONFLICT, reason="Conflict")
        secret["data"].update(body["data"])
        secret["metadata"]["resourceVersion"] = str(int(
            secret["metadata"]["resourceVersion"]) + 1)
        return secret


def call(method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return method(*args)


def secret(core: FakeCore) -> CacheSecret:
    return CacheSecret(core, "ns", "gs://bucket/kinetic", call)


def test_the_key_is_created_once_and_read_back_the_same():
    core = FakeCore()
    first = secret(core).key(create=True)
    assert secret(core).key(create=True) == first == secret(core).key(create=False)
    assert list(core.secrets) == [cache_secret.secret_name("gs://bucket/kinetic")]
    assert secret(FakeCore()).key(create=False) is None  # an inspector never creates it


def test_the_index_merges_runs_and_survives_a_concurrent_writer():
    core = FakeCore()
    secret(core).key(create=True)
    assert secret(core).index() == {}
    secret(core).record({"k1": "a", "k2": "b"})
    core.conflicts = 2
    secret(core).record({"k2": "c", "k3": "d"})
    assert secret(core).index() == {"k1": "a", "k2": "c", "k3": "d"}
    assert core.patches == 4  # two lost races, then written


def test_the_index_keeps_the_newest_rows_within_its_cap(monkeypatch):
    monkeypatch.setattr(cache_secret, "MAX_INDEX_ROWS", 3)
    core = FakeCore()
    secret(core).key(create=True)
    secret(core).record({"k1": "a", "k2": "b", "k3": "c"})
    secret(core).record({"k1": "a2", "k4": "d"})  # k1 rewritten: newest again
    assert secret(core).index() == {"k3": "c", "k1": "a2", "k4": "d"}


def test_an_index_planted_with_bad_rows_is_read_as_what_it_can_be():
    core = FakeCore()
    secret(core).key(create=True)
    [name] = core.secrets
    planted = json.dumps({"k1": "a", "k2": 3, "k3": ["x"]})
    core.secrets[name]["data"]["index"] = base64.b64encode(planted.encode()).decode()
    assert secret(core).index() == {"k1": "a"}
    core.secrets[name]["data"]["index"] = base64.b64encode(b"[not json").decode()
    assert secret(core).index() == {}


def test_a_driver_without_rights_gets_one_error_naming_the_secret_and_the_fix():
    with pytest.raises(BackendError, match=r"cannot create Secret ns/kinetic-cache-.*"
                                           r"create, get and patch on secrets"):
        secret(FakeCore(forbid=True)).key(create=True)
