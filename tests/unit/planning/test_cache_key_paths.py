"""Where the node cache looks for a catalog dataset's bytes: the path Kedro and fsspec open."""

from __future__ import annotations

from pathlib import Path

import pytest

from kedro_kinetic.planning.cache_key import dataset_uri

PROJECT = Path("/project")


@pytest.mark.parametrize(("path", "uri"), [
    ("data/a.csv", "file:///project/data/a.csv"),
    ("file:data/a.csv", "file:///project/data/a.csv"),  # a prefix without // is dropped
    ("local:data/x", "file:///project/data/x"),
    ("file:///project/data/a.csv", "file:///project/data/a.csv"),
    ("gs://bucket/x/", "gs://bucket/x"),
])
def test_local_and_gcs_paths_give_the_uri_their_bytes_are_at(path, uri):
    assert dataset_uri({"filepath": path}, PROJECT) == uri


@pytest.mark.parametrize("config", [
    {"filepath": "file://host/x"},  # a host: not a path of this machine
    {"filepath": "http://example.invalid/y"},
    {"filepath": "data/a.csv", "versioned": True},
    {"type": "pandas.SQLTableDataset"},
])
def test_what_cannot_be_fingerprinted_cheaply_has_no_uri(config):
    assert dataset_uri(config, PROJECT) is None
