from __future__ import annotations

import pytest

from kedro_kinetic.allowlist import (
    CatalogSpecError,
    build_allowlist,
    check_catalog,
    check_entry,
    class_path,
)

ALLOWED = build_allowlist(["my_project.datasets.SpecialDataset"])


def test_short_type_names_are_canonicalised_like_kedro_resolves_them():
    checked = check_entry("x", {"type": "pandas.CSVDataset", "filepath": "a.csv"}, ALLOWED)
    assert checked == {"type": "kedro_datasets.pandas.CSVDataset", "filepath": "a.csv"}
    assert check_entry("m", {"type": "MemoryDataset"}, ALLOWED)["type"] == "kedro.io.MemoryDataset"


def test_project_class_allowed_by_name_in_code():
    assert check_entry("s", {"type": "my_project.datasets.SpecialDataset"}, ALLOWED)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"type": "os.system"}, "type"),
        ({"type": "pandas.CSVDataset", "validator": "builtins.exec"}, "validator"),
        ({"type": "pandas.CSVDataset", "validator": {"class": "os.system"}}, "validator.class"),
        ({"type": "partitions.PartitionedDataset", "path": "p", "dataset": "evil.Mod"}, "dataset"),
        ({"type": "partitions.PartitionedDataset", "path": "p",
          "dataset": {"type": "evil.Mod"}}, "dataset.type"),
        ({"type": "CachedDataset", "dataset": {"type": "pandas.CSVDataset",
                                               "validator": "os.system"}}, "dataset.validator"),
        ({"type": "partitions.IncrementalDataset", "path": "p", "dataset": "pandas.CSVDataset",
          "checkpoint": {"type": "evil.Checkpoint"}}, "checkpoint.type"),
        ({"type": "pandas.GenericDataset", "file_format": "pickle"}, "type"),
        ({"type": 42}, "type"),
        ({"filepath": "no-type.csv"}, "type"),
    ],
)
def test_disallowed_references_name_the_entry_and_key(config, key):
    with pytest.raises(CatalogSpecError) as info:
        check_entry("bad_entry", config, ALLOWED)
    assert "catalog entry 'bad_entry'" in str(info.value)
    assert f"key '{key}'" in str(info.value)


def test_patterns_with_placeholder_types_are_refused():
    with pytest.raises(CatalogSpecError, match="factory placeholder"):
        check_catalog({"{name}_data": {"type": "{name}"}}, ALLOWED)
    checked = check_catalog({"{name}_data": {"type": "pandas.CSVDataset",
                                             "filepath": "{name}.csv"}, "_anchor": 1}, ALLOWED)
    assert set(checked) == {"{name}_data"}


def test_allowlist_extensions_must_be_objects_not_strings():
    from kedro.io import MemoryDataset

    assert class_path(MemoryDataset) == "kedro.io.memory_dataset.MemoryDataset"
    with pytest.raises(TypeError, match="not strings"):
        class_path("os.system")
