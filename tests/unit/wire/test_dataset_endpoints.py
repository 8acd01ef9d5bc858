"""Config may not redirect a dataset's filesystem to another endpoint (with its credentials)."""

from __future__ import annotations

import pytest

from kedro_kinetic.errors import CatalogSpecError
from kedro_kinetic.wire.allowlist import build_allowlist, check_entry


@pytest.mark.parametrize("config", [
    {"fs_args": {"endpoint_url": "http://attacker.example"}},
    {"fs_args": {"client_kwargs": {"endpoint_url": "https://attacker.example"}}},
    {"load_args": {"storage_options": {"client_kwargs": {"ENDPOINT_URL": "x"}}}},
    {"fs_args": {"api_endpoint": "https://attacker.example"}},
    {"fs_args": {"client_options": {"api_endpoint": "https://attacker.example"}}},
    {"fs_args": {"proxy": "http://attacker.example:3128"}},
    {"save_args": {"storage_options": {"account_host": "attacker.blob.example"}}},
])
def test_an_endpoint_chosen_by_config_is_refused(config):
    entry = {"type": "pandas.CSVDataset", "filepath": "gs://bucket/data.csv", **config}
    with pytest.raises(CatalogSpecError, match="to the endpoint it names"):
        check_entry("sales", entry, build_allowlist())


def test_code_may_allow_one_endpoint_but_never_an_internal_host():
    entry = {"type": "pandas.CSVDataset", "filepath": "s3://bucket/data.csv",
             "fs_args": {"client_kwargs": {"endpoint_url": "https://minio.example.com"}}}
    allowed = build_allowlist(["fsspec:endpoint=https://minio.example.com"])
    assert check_entry("sales", entry, allowed)["fs_args"]  # exactly that value
    other = {**entry, "fs_args": {"endpoint_url": "https://other.example.com"}}
    with pytest.raises(CatalogSpecError, match="endpoint"):
        check_entry("sales", other, allowed)
    internal = {**entry, "fs_args": {"endpoint_url": "http://169.254.169.254"}}
    with pytest.raises(CatalogSpecError, match=r"169\.254\.169\.254"):
        check_entry("sales", internal, build_allowlist(["fsspec:endpoint=http://169.254.169.254"]))


def test_ordinary_fs_args_stay_allowed():
    entry = {"type": "pandas.CSVDataset", "filepath": "gs://bucket/data.csv",
             "fs_args": {"open_args_load": {"encoding": "utf-8"}, "project": "p"}}
    assert check_entry("sales", entry, build_allowlist())
