"""The local store never follows a symlink or '..', and refuses FIFOs: a store writer's
planted links cannot make a run read, truncate, append to or delete files outside the store."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic import store
from kedro_kinetic.errors import ObjectNotFound, StoreError, StoreObjectError
from tests.deep_folders import nest, unnest

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    return folder.resolve()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("CANARY-outside")
    return secret


def test_objects_are_written_read_listed_and_deleted(root):
    uri = store.join(root.as_uri(), "runs/r/results/a.json")
    store.write_bytes(uri, b"data")
    assert store.read_bytes(uri) == b"data" and store.exists(uri)
    assert store.list_objects(store.join(root.as_uri(), "runs")) == [uri]
    store.delete(uri)
    assert not store.exists(uri)
    with pytest.raises(ObjectNotFound):
        store.read_bytes(uri)


def test_a_symlinked_file_is_never_read(root, outside):
    (root / "runs").mkdir()
    (root / "runs" / "log.txt").symlink_to(outside)
    with pytest.raises(StoreObjectError, match="never follows a link"):
        store.read_bytes(store.join(root.as_uri(), "runs/log.txt"))


def test_a_symlinked_folder_is_never_written_through(root, outside):
    (root / "runs").symlink_to(outside.parent)
    uri = store.join(root.as_uri(), "runs/secret.txt")
    with pytest.raises(StoreError, match="symlink"):
        store.write_bytes(uri, b"overwritten")
    with pytest.raises(StoreObjectError, match="symlink"):
        store.read_bytes(uri)
    assert outside.read_text() == "CANARY-outside"
    assert store.list_objects(store.join(root.as_uri(), "runs")) == []


def test_writing_over_a_planted_link_replaces_the_link_not_its_target(root, outside):
    (root / "a.pkl").symlink_to(outside)
    store.write_bytes(store.join(root.as_uri(), "a.pkl"), b"new")
    assert outside.read_text() == "CANARY-outside"
    assert not (root / "a.pkl").is_symlink() and (root / "a.pkl").read_bytes() == b"new"


def test_dot_dot_is_refused(root, outside):
    uri = root.as_uri() + "/../outside/secret.txt"
    with pytest.raises(StoreError, match=r"'\.\.'"):
        store.read_bytes(uri)
    with pytest.raises(StoreError, match=r"'\.\.'"):
        store.write_bytes(uri, b"x")
    assert outside.read_text() == "CANARY-outside"


def test_a_fifo_is_refused_instead_of_blocking(root):
    os.mkfifo(root / "result.json")
    with pytest.raises(StoreObjectError, match="not a regular file"):
        store.read_bytes(store.join(root.as_uri(), "result.json"))


@pytest.mark.parametrize("shape", ["folder", "socket", "fifo", "link", "unreadable"])
def test_a_planted_shape_is_one_store_object_error_and_leaks_no_descriptor(root, shape,
                                                                         outside):
    import socket

    path = root / "result.json"
    if shape == "folder":
        path.mkdir()
    elif shape == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
    elif shape == "fifo":
        os.mkfifo(path)
    elif shape == "link":
        path.symlink_to(outside)
    else:
        path.write_text("x")
        path.chmod(0)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        try:
            store.read_bytes(store.join(root.as_uri(), "result.json"), 1024)
        except StoreObjectError as exc:
            assert "result.json" in str(exc)
        else:  # root reads a mode-0 file: an object like any other, not a crash
            assert shape == "unreadable" and os.getuid() == 0
    assert len(os.listdir("/proc/self/fd")) == before


def test_listing_and_deleting_a_tree_never_leave_the_store(root, outside):
    run = root / "runs" / "r"
    (run / "results").mkdir(parents=True)
    (run / "results" / "a.json").write_text("{}")
    (run / "linked").symlink_to(outside.parent)
    (run / "file-link").symlink_to(outside)
    listed = store.list_objects(store.join(root.as_uri(), "runs"))
    assert listed == [(run / "results" / "a.json").as_uri()]
    store.delete_tree(store.join(root.as_uri(), "runs/r"))
    assert not run.exists() and outside.read_text() == "CANARY-outside"


def test_configured_roots_are_resolved_so_a_symlinked_data_folder_still_works(tmp_path):
    real = tmp_path / "big-disk"
    real.mkdir()
    (tmp_path / "data").symlink_to(real)
    uri = store.to_uri("data/kinetic", tmp_path)
    assert uri == (real / "kinetic").as_uri()
    store.write_bytes(store.join(uri, "x"), b"ok")
    assert (real / "kinetic" / "x").read_bytes() == b"ok"
    assert store.to_uri((tmp_path / "data").as_uri()) == real.as_uri()


def test_a_read_stops_at_the_size_its_caller_allows(root):
    """A planted 2 TB sparse file would have been read whole (MemoryError in the driver)."""
    uri = store.join(root.as_uri(), "runs/r/results/a.json")
    store.write_bytes(uri, b"{}")
    os.truncate(store.local_path(uri), 2 << 40)
    with pytest.raises(StoreObjectError, match=r"a\.json: 2199023255552 bytes, more than the "
                                               r"4096 such an object may have"):
        store.read_bytes(uri, max_bytes=4096)
    store.write_bytes(uri, b"x" * 4096)
    assert store.read_bytes(uri, max_bytes=4096) == b"x" * 4096


def test_a_planted_tree_too_deep_is_listed_to_a_depth_and_refused_whole_on_delete(root):
    """os.fwalk and shutil.rmtree recurse: 3000 nested folders raised RecursionError."""
    run = root / "runs" / "r"
    (run / "results").mkdir(parents=True)
    (run / "results" / "a.json").write_text("{}")
    nest(run / "results", 3000)
    try:
        listed = store.list_objects(store.join(root.as_uri(), "runs/r/results"))
        assert listed == [(run / "results" / "a.json").as_uri()]  # below 64 levels: skipped
        with pytest.raises(StoreError, match="more than 64 deep, which kedro-kinetic never "
                                             "makes; delete it by hand"):
            store.delete_tree(store.join(root.as_uri(), "runs/r"))
        assert (run / "results" / "a.json").exists()  # refused before anything was deleted
    finally:
        unnest(run / "results")


def test_a_tree_of_ordinary_depth_is_listed_and_deleted_whole(root):
    run = root / "runs" / "r"
    for name in ("results", "objects", "data/a/b"):
        (run / name).mkdir(parents=True)
    (run / "results" / "a.json").write_text("{}")
    (run / "data" / "a" / "b" / "c.csv").write_text("1")
    nest(run / "data", 40)
    listed = store.list_objects(store.join(root.as_uri(), "runs/r"))
    assert len(listed) == 3 and listed[0].endswith("/data/a/b/c.csv")
    assert listed[1].endswith("/d" * 40 + "/x.json")
    store.delete_tree(store.join(root.as_uri(), "runs/r"))
    assert not run.exists() and root.exists()


def test_an_entry_that_cannot_be_read_is_skipped_not_fatal(root, monkeypatch):
    """A folder planted by another user (mode 0444) made stat raise PermissionError."""
    from kedro_kinetic.store import local as local_store

    results = root / "runs" / "r" / "results"
    results.mkdir(parents=True)
    (results / "a.json").write_text("{}")
    (results / "b.json").write_text("{}")
    real_stat = os.stat

    def stat(name, *args, **kwargs):
        if name == "b.json":
            raise PermissionError(13, "Permission denied", name)
        return real_stat(name, *args, **kwargs)

    monkeypatch.setattr(local_store.os, "stat", stat)
    prefix = store.join(root.as_uri(), "runs/r/results")
    assert store.list_objects(prefix) == [(results / "a.json").as_uri()]
    assert list(store.list_versions(prefix, ["a.json", "b.json"])) == [
        (results / "a.json").as_uri()]


def test_other_bytes_under_a_content_address_are_replaced(root):
    """A planted object under a payload's name made every later resume fail verification."""
    uri = store.join(root.as_uri(), "runs/r/objects/abc")
    store.write_new(uri, b"genuine")
    inode = os.stat(store.local_path(uri)).st_ino
    store.write_new(uri, b"genuine")  # the same bytes: left alone
    assert os.stat(store.local_path(uri)).st_ino == inode
    for planted in (b"PLANTED", b"genuine and longer", b""):
        store.write_bytes(uri, planted)
        store.write_new(uri, b"genuine")
        assert store.read_bytes(uri) == b"genuine"


@pytest.mark.parametrize("shape", ["folder", "fifo", "link"])
def test_a_planted_shape_never_blocks_a_write_and_nothing_outside_is_touched(root, shape,
                                                                          outside):
    path = root / "objects" / "abc"
    path.parent.mkdir()
    if shape == "folder":
        (path / "deep").mkdir(parents=True)
        (path / "deep" / "link").symlink_to(outside)
    elif shape == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(outside)
    uri = store.join(root.as_uri(), "objects/abc")
    store.write_new(uri, b"content")
    assert path.is_file() and not path.is_symlink() and path.read_bytes() == b"content"
    assert outside.read_text() == "CANARY-outside"
