"""The store against fake-gcs-server: content-addressed writes are create-if-absent."""

from __future__ import annotations

import uuid

import pytest

from kedro_kinetic import store

pytestmark = pytest.mark.bench


def test_write_new_creates_once_and_never_replaces(gcs_emulator):
    uri = f"gs://{gcs_emulator.bucket}/store-test/{uuid.uuid4().hex}/obj"
    store.write_new(uri, b"first")
    store.write_new(uri, b"second")  # already there: left alone, no error
    assert store.read_bytes(uri) == b"first"
    store.write_bytes(uri, b"third")  # a plain write replaces
    assert store.read_bytes(uri) == b"third"
    with pytest.raises(store.ObjectNotFound):
        store.read_bytes(uri + "-missing")


def test_write_new_on_a_local_folder(tmp_path):
    uri = (tmp_path / "objects" / "x").as_uri()
    store.write_new(uri, b"first")
    store.write_new(uri, b"second")
    assert store.read_bytes(uri) == b"first"
    assert [p.name for p in (tmp_path / "objects").iterdir()] == ["x"]  # no temp file left
