"""The store against fake-gcs-server: content-addressed writes create, or repair what a store
writer planted under the name; reads stop at the size their caller allows."""

from __future__ import annotations

import uuid

import pytest

from kedro_kinetic import store
from kedro_kinetic.errors import StoreObjectError

pytestmark = pytest.mark.bench


def _generation(uri: str) -> str:
    return store.list_versions(uri.rsplit("/", 1)[0])[uri]


def test_write_new_creates_once_and_replaces_only_other_bytes(gcs_emulator):
    uri = f"gs://{gcs_emulator.bucket}/store-test/{uuid.uuid4().hex}/obj"
    store.write_new(uri, b"first")
    generation = _generation(uri)
    store.write_new(uri, b"first")  # the same bytes: left alone, no error
    assert _generation(uri) == generation
    store.write_bytes(uri, b"PLANTED")  # a store writer's object under the name
    store.write_new(uri, b"first")
    assert store.read_bytes(uri) == b"first"
    with pytest.raises(store.ObjectNotFound):
        store.read_bytes(uri + "-missing")


def test_a_gcs_read_stops_at_the_size_its_caller_allows(gcs_emulator):
    uri = f"gs://{gcs_emulator.bucket}/store-test/{uuid.uuid4().hex}/result.json"
    store.write_bytes(uri, b"x" * 5000)
    with pytest.raises(StoreObjectError, match="more than the 4096 bytes"):
        store.read_bytes(uri, max_bytes=4096)
    assert store.read_bytes(uri, max_bytes=5000) == b"x" * 5000
    assert store.read_bytes(uri) == b"x" * 5000


def test_write_new_on_a_local_folder(tmp_path):
    uri = (tmp_path / "objects" / "x").as_uri()
    store.write_new(uri, b"first")
    store.write_new(uri, b"first")
    assert store.read_bytes(uri) == b"first"
    assert [p.name for p in (tmp_path / "objects").iterdir()] == ["x"]  # no temp file left
