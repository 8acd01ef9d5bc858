"""A kubernetes run's datasets must be on storage its pods share; in-code datasets that hold
Python objects are refused naming the dataset."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kedro_kinetic.errors import CatalogSpecError
from kedro_kinetic.planning import remote_paths
from kedro_kinetic.planning.catalog_spec import CatalogResolver, refuse_objects
from kedro_kinetic.wire.allowlist import build_allowlist

CATALOG = {
    "raw": {"type": "pandas.CSVDataset", "filepath": "data/01_raw/raw.csv"},
    "remote": {"type": "pandas.CSVDataset", "filepath": "gs://bucket/raw.csv"},
    "mounted": {"type": "pandas.CSVDataset", "filepath": "/mnt/shared/x.csv"},
    "url": {"type": "pandas.CSVDataset", "filepath": "file:///srv/data/y.csv"},
    "parts": {"type": "partitions.PartitionedDataset", "path": "gs://bucket/parts",
              "dataset": {"type": "pandas.CSVDataset"}},
    "memory": {"type": "MemoryDataset"},
}


def node(name, inputs, outputs):
    return SimpleNamespace(name=name, inputs=inputs, outputs=outputs)


NODES = [node("load", ["raw", "params:x"], ["mid"]), node("a", ["mid", "remote"], ["mounted"]),
         node("b", ["mounted", "memory"], ["url", "parts"])]


def found(shared=()):
    resolver = CatalogResolver(CATALOG, build_allowlist())
    return remote_paths.local_datasets(remote_paths.uses(NODES), resolver.entry, shared,
                                       "/project")


def test_uses_names_readers_and_writers():
    uses = remote_paths.uses(NODES)
    assert uses["mounted"] == "read by b; written by a"
    assert uses["raw"] == "read by load"
    many = remote_paths.uses([node(f"n{i}", ["x"], []) for i in range(5)])
    assert many["x"] == "read by n0, n1, n2 and 2 more"


def test_local_paths_are_found_and_remote_ones_pass():
    assert [(f.name, f.key, f.path, f.use) for f in found()] == [
        ("mounted", "filepath", "/mnt/shared/x.csv", "read by b; written by a"),
        ("raw", "filepath", "data/01_raw/raw.csv", "read by load"),
        ("url", "filepath", "file:///srv/data/y.csv", "written by b"),
    ]


def test_shared_folders_declared_in_code_pass():
    assert [f.name for f in found(["data", "/mnt/shared"])] == ["url"]
    assert [f.name for f in found(["/project/data", "/srv"])] == ["mounted"]
    assert [f.name for f in found(["data/01_raw/raw"])] == ["mounted", "raw", "url"]  # not a prefix


def test_the_refusal_names_each_dataset_and_the_fix():
    with pytest.raises(CatalogSpecError) as info:
        remote_paths.check(remote_paths.uses(NODES), CatalogResolver(
            CATALOG, build_allowlist()).entry, (), "/project", "gke")
    text = str(info.value)
    assert text.startswith("backend 'kubernetes': 3 datasets of this run are on this "
                           "machine's disk, which the pods do not share:\n")
    assert "  - 'raw' (filepath 'data/01_raw/raw.csv', read by load)\n" in text
    assert "override their filepath in conf/gke/catalog.yml with a gs:// path" in text
    assert "filepath: gs://<bucket>/data/01_raw/raw.csv" in text
    assert "settings.py KINETIC_SHARED_PATHS" in text
    one = remote_paths.message(found()[:1], None)
    assert one.startswith("backend 'kubernetes': dataset 'mounted' (filepath "
                          "'/mnt/shared/x.csv', read by b; written by a) is on this machine's")
    assert "conf/<env>/catalog.yml" in one


def shout(value):
    return value


class Thing:
    pass


@pytest.mark.parametrize(("config", "where", "what"), [
    ({"type": "x.Y", "load": shout}, "load", f"a function ({__name__}.shout)"),
    ({"type": "x.Y", "load_args": {"converters": {"a": str}}}, "load_args.converters.a",
     "a class (builtins.str)"),
    ({"type": "x.Y", "items": [1, Thing()]}, "items[1]", f"a {__name__}.Thing object"),
])
def test_python_objects_in_a_dataset_config_are_refused_naming_it(config, where, what):
    with pytest.raises(CatalogSpecError) as info:
        refuse_objects("features", config)
    text = str(info.value)
    assert text.startswith(f"catalog entry 'features' (x.Y) was built in code with Python "
                           f"objects: argument '{where}' is {what}. ")
    assert "declare it in conf/<env>/catalog.yml with plain values" in text
    assert "SequentialRunner" in text


def test_plain_configs_pass():
    refuse_objects("ok", {"type": "x.Y", "a": [1, 2.5, None, True, {"b": "c"}], "t": (1, 2)})
