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


def _plant(uri: str, data: bytes, content_encoding: str | None = None) -> None:
    """Write an object as a store writer can, with whatever metadata they choose."""
    from kedro_kinetic.store.gcs_client import client_for

    bucket, _, name = uri.removeprefix("gs://").partition("/")
    blob = client_for(uri).bucket(bucket).blob(name)
    blob.content_encoding = content_encoding
    blob.upload_from_string(data)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_planted_content_encoding_is_never_decoded(gcs_emulator, encoding):
    """Garbage stored as gzip raised requests' ContentDecodingError (a traceback in the driver,
    resume and status), and a gzip bomb under the 4 MiB bound grew memory without one."""
    import gzip
    import resource

    base = f"gs://{gcs_emulator.bucket}/store-test/{uuid.uuid4().hex}"
    _plant(f"{base}/garbage.json", b"this is not compressed at all", encoding)
    assert store.read_bytes(f"{base}/garbage.json", max_bytes=4096) == \
        b"this is not compressed at all"  # the stored bytes, as they are: the seal refuses
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in about 64 KiB
    _plant(f"{base}/bomb.json", bomb, "gzip")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert store.read_bytes(f"{base}/bomb.json", max_bytes=len(bomb)) == bomb
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 32 * 1024  # never decompressed (64 MiB if it were)


def test_an_empty_object_read_with_a_bound_is_empty_bytes(gcs_emulator):
    """GCS answers a ranged read of an empty object with 416: that is no reason to stop a
    resume; the empty bytes then fail the seal like any forgery."""
    uri = f"gs://{gcs_emulator.bucket}/store-test/{uuid.uuid4().hex}/empty.json"
    _plant(uri, b"")
    assert store.read_bytes(uri, max_bytes=4096) == b""


def test_a_flood_of_planted_names_stops_a_named_listing_at_its_page_bound(gcs_emulator,
                                                                          monkeypatch):
    """Results first lists the doorbells from the oldest running Job's on; a store writer
    can plant any number of names after it, and each listing paged through all of them."""
    from concurrent.futures import ThreadPoolExecutor

    base = f"gs://{gcs_emulator.bucket}/store-test/{uuid.uuid4().hex}/notices"
    store.write_bytes(f"{base}/000-job", b"")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: store.write_bytes(f"{base}/001-planted-{k:05d}", b""),
                      range(2500)))
    monkeypatch.setattr(store, "NAMED_LISTING_PAGES", 2)
    assert len(store.list_versions(base)) == 2501  # unnamed: the whole prefix
    named = store.list_versions(base, ["000-job"])
    assert f"{base}/000-job" in named and len(named) < 2501
