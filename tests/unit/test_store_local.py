"""The local store never follows a symlink or '..', and refuses FIFOs: a store writer's
planted links cannot make a run read, truncate, append to or delete files outside the store."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic import store
from kedro_kinetic.errors import ObjectNotFound, StoreError

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
    with pytest.raises(StoreError, match="symlink"):
        store.read_bytes(store.join(root.as_uri(), "runs/log.txt"))


def test_a_symlinked_folder_is_never_written_through(root, outside):
    (root / "runs").symlink_to(outside.parent)
    uri = store.join(root.as_uri(), "runs/secret.txt")
    with pytest.raises(StoreError, match="symlink"):
        store.write_bytes(uri, b"overwritten")
    with pytest.raises(StoreError, match="symlink"):
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
    with pytest.raises(StoreError, match="not a regular file"):
        store.read_bytes(store.join(root.as_uri(), "result.json"))


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
