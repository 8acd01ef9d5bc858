"""Catalog paths: every local path a dataset names lies under the data roots (lexically)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.config.project_settings import ProjectSettings
from kedro_kinetic.errors import CatalogSpecError, SpecError
from kedro_kinetic.planning.catalog_spec import CatalogResolver, project_data_roots
from kedro_kinetic.wire import data_paths
from kedro_kinetic.wire.data_paths import DataRoots, PathProblem

if TYPE_CHECKING:
    from pathlib import Path

ALLOW = frozenset({"kedro_datasets.text.TextDataset", "kedro_datasets.pandas.CSVDataset",
                   "kedro_datasets.partitions.PartitionedDataset",
                   "kedro_datasets.partitions.IncrementalDataset", "kedro.io.CachedDataset",
                   "kedro.io.MemoryDataset"})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "proj" / "data" / "kinetic").mkdir(parents=True)
    (tmp_path / "state").mkdir()
    return tmp_path / "proj"


@pytest.fixture
def roots(project: Path) -> data_paths.ResolvedRoots:
    state = str(project.parent / "state")
    return DataRoots(("data",), ("data/kinetic", state)).resolve(str(project))


def problem(roots: data_paths.ResolvedRoots, value: str) -> str | None:
    try:
        path = data_paths.local_path(value)
    except PathProblem as exc:
        return str(exc)
    return None if path is None else roots.problem(path)


@pytest.mark.parametrize(("value", "why"), [
    ("~/data/x.csv", "'~'"),
    ("~user/x.csv", "'~'"),
    ("~", "'~'"),
    ("./../x.csv", "'..'"),
    ("../data/x.csv", "'..'"),
    ("data/../../etc/passwd", "'..'"),
    ("data/../data/x.csv", "'..'"),  # even where it would stay inside
    ("/proc/self/environ", "/proc"),
    ("file:///proc/self/environ", "/proc"),
    ("/dev/zero", "/dev"),
    ("/sys/kernel/notes", "/sys"),
    ("data/kinetic/runs/r/data/x.pkl", "inside data/kinetic"),
    ("data/kinetic", "inside data/kinetic"),
    ("data", "holds data/kinetic"),
    ("./data/", "holds data/kinetic"),
    ("/etc/passwd", "outside the data roots"),
    ("file:///etc/passwd", "outside the data roots"),
    ("file:/etc/passwd", "outside the data roots"),  # fsspec strips 'file:'
    ("local:/etc/passwd", "outside the data roots"),
    ("file://data/x.csv", "names a host"),  # Kedro reads /x.csv, fsspec data/x.csv
    ("c:/x.csv", "':'"),
    ("file:file:/etc/passwd", "':'"),
    ("data/x\x00.csv", "NUL"),
    ("", "empty"),
])
def test_refused_shapes(roots, value, why):
    assert why in (problem(roots, value) or "")


def test_the_state_folder_is_refused_by_its_absolute_path(project, roots):
    key = project.parent / "state" / "runs" / "abc" / "key"
    assert problem(roots, str(key)) == "is outside the data roots"
    wide = DataRoots((str(project.parent),), (str(project.parent / "state"),)).resolve(
        str(project))  # a root that holds the state folder still never reaches it
    assert "inside" in problem(wide, str(key))
    assert "holds" in problem(wide, str(project.parent))


@pytest.mark.parametrize("value", [
    "data/01_raw/sales.csv", "./data/01_raw/sales.csv", "data//01_raw/./sales.csv",
    "data/kinetic-other/x.csv", "data/kinetic_backup", "data/01_raw/~x.csv",
])
def test_paths_under_the_roots_pass(roots, value):
    assert problem(roots, value) is None


def test_absolute_and_file_url_forms_of_a_root_pass(project, roots):
    inside = project / "data" / "01_raw" / "x.csv"
    assert problem(roots, str(inside)) is None
    assert problem(roots, inside.as_uri()) is None


@pytest.mark.parametrize("value", ["gs://b/../../x", "s3://b/x", "memory://x",
                                   "https://example.com/x.csv"])
def test_other_protocols_are_not_local(roots, value):
    assert data_paths.local_path(value) is None


def test_a_symlinked_root_is_legitimate_and_the_store_behind_it_is_still_refused(tmp_path):
    real = tmp_path / "big-disk" / "data"
    (real / "kinetic").mkdir(parents=True)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "data").symlink_to(real)
    roots = DataRoots(("data",), ("data/kinetic",)).resolve(str(project))
    assert problem(roots, "data/01_raw/x.csv") is None
    assert problem(roots, str(real / "01_raw" / "x.csv")) is None  # the root's real form
    assert "inside" in problem(roots, str(real / "kinetic" / "x"))
    place, parts = roots.locate("data/01_raw/x.csv")
    assert place.real == str(real) and parts == ("01_raw", "x.csv")


def test_an_absolute_root_outside_the_project(tmp_path, project):
    shared = tmp_path / "shared"
    roots = DataRoots(("data", str(shared)), ()).resolve(str(project))
    assert problem(roots, str(shared / "x.csv")) is None
    assert problem(roots, str(tmp_path / "sharedx" / "x.csv")) == "is outside the data roots"


def test_no_roots_allow_no_local_path(project):
    roots = data_paths.spec_roots({})
    assert roots.roots == ()
    assert problem(roots, "data/x.csv") == "is outside the data roots"


def test_one_message_per_dataset_naming_keys_paths_and_the_setting(roots):
    config = {"type": "kedro_datasets.partitions.IncrementalDataset", "path": "~",
              "dataset": {"type": "kedro_datasets.text.TextDataset", "filepath": "/etc/x"},
              "checkpoint": {"filepath": "data/kinetic/CHECKPOINT"},
              "filename_suffix": "/../../x"}
    message = data_paths.dataset_problem("parts", config, roots)
    assert message.startswith("catalog entry 'parts', key 'path': '~' starts with '~'")
    for part in ("key 'dataset.filepath': '/etc/x' is outside the data roots",
                 "key 'checkpoint.filepath': 'data/kinetic/CHECKPOINT' is inside",
                 "key 'filename_suffix'", "KINETIC_DATA_ROOTS: data",
                 "allow more folders in settings.py KINETIC_DATA_ROOTS"):
        assert part in message
    assert message.count("catalog entry") == 1


def test_every_refused_dataset_is_reported_at_once(roots):
    configs = {"a": {"type": "T", "filepath": "/etc/a"}, "b": {"type": "T", "path": "~"},
               "ok": {"type": "T", "filepath": "data/x"}, "gcs": {"filepath": "gs://b/x"},
               "odd": {"filepath": ["not", "a", "path"]}}
    with pytest.raises(CatalogSpecError) as caught:
        data_paths.check_datasets(configs, roots)
    text = str(caught.value)
    assert text.startswith("2 catalog entries name refused local paths")
    assert "catalog entry 'a'" in text and "catalog entry 'b'" in text
    assert "'ok'" not in text and "'gcs'" not in text
    data_paths.check_datasets({"ok": configs["ok"]}, roots)


def test_versions_must_be_one_plain_folder_name(roots):
    config = {"type": "T", "filepath": "data/x.csv", "versioned": True}
    versions = {"save_version": "2026-01-01T00.00.00.000Z", "load_versions": {"x": "../../k"}}
    assert "load_versions.x '../../k'" in data_paths.dataset_problem("x", config, roots,
                                                                      versions)
    assert data_paths.dataset_problem("y", config, roots, versions) is None
    assert data_paths.dataset_problem("x", {**config, "versioned": False}, roots,
                                      versions) is None


def test_roots_travel_as_data_and_bad_shapes_are_refused(project):
    roots = DataRoots(("data",), ("data/kinetic", "/state"))
    assert DataRoots.from_spec(roots.to_spec()) == roots
    for bad in ([], {"roots": ["data"]}, {"roots": "data", "excluded": []},
                {"roots": [""], "excluded": []}, {"roots": ["data"], "excluded": [1]},
                {"roots": [], "excluded": [], "more": []}):
        with pytest.raises(PathProblem):
            DataRoots.from_spec(bad)
    from kedro_kinetic.wire.task_spec import SPEC_FORMAT, validate_spec

    spec = {"format": SPEC_FORMAT, "node": "n", "run_id": "r", "inputs": {}, "outputs": {}}
    validate_spec({**spec, "data_roots": roots.to_spec()})
    with pytest.raises(SpecError, match="data_roots"):
        validate_spec({**spec, "data_roots": {"roots": "data"}})


def test_folders_are_sent_relative_to_the_project_where_they_lie_inside_it(tmp_path, project,
                                                                          monkeypatch):
    assert data_paths.for_project("data/kinetic", str(project)) == "data/kinetic"
    assert data_paths.for_project(str(project / "data"), str(project)) == "data"
    assert data_paths.for_project("/elsewhere", str(project)) == "/elsewhere"
    linked = tmp_path / "link-to-proj"
    linked.symlink_to(project)
    assert data_paths.for_project(str(project / "data"), str(linked)) == "data"
    monkeypatch.setenv("KINETIC_STATE_DIR", str(tmp_path / "state"))
    settings = ProjectSettings(data_roots=("data", str(tmp_path / "shared")))
    roots = project_data_roots(settings, project, "data/kinetic")
    assert roots.roots == ("data", str(tmp_path / "shared"))
    assert roots.excluded == ("data/kinetic", str(tmp_path / "state"))
    gcs = project_data_roots(ProjectSettings(), project, "gs://bucket/prefix")
    assert gcs.excluded == (str(tmp_path / "state"),)


def _resolver(raw: dict, project: Path) -> CatalogResolver:
    roots = DataRoots(("data",), ("data/kinetic",))
    return CatalogResolver(raw, ALLOW, roots, project)


def test_resolved_factory_patterns_are_checked_per_dataset(project, monkeypatch):
    monkeypatch.chdir(project)
    raw = {"{name}_csv": {"type": "pandas.CSVDataset", "filepath": "data/{name}.csv"},
           "{root}_abs": {"type": "text.TextDataset", "filepath": "{root}/notes.txt"}}
    resolver = _resolver(raw, project)
    assert resolver.config_for("sales_csv")["filepath"] == "data/sales.csv"
    with pytest.raises(CatalogSpecError, match=re.escape(
            "catalog entry '../../etc/passwd_csv', key 'filepath': 'data/../../etc/passwd.csv'")):
        resolver.config_for("../../etc/passwd_csv")
    with pytest.raises(CatalogSpecError) as caught:
        resolver.check_paths(["/etc_abs", "~_abs", "sales_csv", "params:x", "memory"])
    assert "2 catalog entries" in str(caught.value)
    assert "'/etc_abs'" in str(caught.value) and "'~_abs'" in str(caught.value)


def test_memory_datasets_and_unchecked_resolvers_pass(project):
    raw = {"m": {"type": "MemoryDataset"}, "bad": {"type": "text.TextDataset",
                                                   "filepath": "/etc/passwd"}}
    _resolver(raw, project).check_paths(["m"])
    assert CatalogResolver(raw, ALLOW).config_for("bad")["filepath"] == "/etc/passwd"
    assert os.path.isdir(project)
