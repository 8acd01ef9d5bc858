"""Whole GKERunner runs in-process (tests/driver_kit.py) that configuration or the catalog
gets wrong: misspelt names, local paths on a kubernetes run, datasets holding functions, a
missing input. Each ends with one message naming the culprit."""

from __future__ import annotations

from typing import Any

import pytest
from kedro.io import AbstractDataset, DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro_datasets.pandas import CSVDataset

from kedro_kinetic.config.project_settings import ProjectSettings
from kedro_kinetic.driver.outcome import RemoteNodeError
from kedro_kinetic.errors import CatalogSpecError, ConfigError

IMAGE = "europe-docker.pkg.dev/kinetic-demo/kedro/demo@sha256:" + "a" * 64
KUBERNETES = {"backend": "kubernetes", "image": IMAGE, "store": "gs://bucket/kinetic"}


def ident(x: Any) -> Any:
    return x


def pipeline() -> Pipeline:
    return Pipeline([node(ident, "x", "features", name="split_data_node"),
                     node(ident, "features", "model", name="train_model_node",
                          tags=["heavy"])])


class CallableDataset(AbstractDataset):
    """A dataset built in code around functions (as Kedro's old LambdaDataset was)."""

    def __init__(self, load: Any, save: Any = None) -> None:
        self._load_func, self._save_func = load, save

    def _load(self) -> Any:
        return self._load_func()

    def _save(self, data: Any) -> None:
        self._save_func(data)

    def _describe(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def code_settings(monkeypatch):
    """settings.py of the run (the image's repository declared, as code declares it)."""
    from kedro_kinetic.driver.activation import STATE

    def use(**settings: Any) -> None:
        settings.setdefault("image_repositories", ("europe-docker.pkg.dev/kinetic-demo/",))
        monkeypatch.setattr(STATE, "settings", ProjectSettings(**settings))
    return use


def test_misspelt_node_and_tag_names_stop_the_run_naming_the_closest(inprocess, monkeypatch):
    from kedro_kinetic.driver.activation import STATE

    monkeypatch.setattr(STATE, "package_name", None)  # a pipeline given in code, no project
    with pytest.raises(ConfigError) as info:
        inprocess.run(pipeline(), DataCatalog({"x": MemoryDataset(1)}),
                      nodes={"train_modle_node": {"memory": "4Gi"}},
                      tags={"haevy": {"cpu": 2}})
    text = str(info.value)
    assert "--runner-params.nodes.train_modle_node: no node named 'train_modle_node' in the " \
           "run's pipeline; did you mean 'train_model_node'?" in text
    assert "--runner-params.tags.haevy: no node of the run's pipeline is tagged 'haevy'; " \
           "did you mean 'heavy'?" in text
    assert inprocess.backends[-1].record is None  # refused before the run's key was made
    assert not inprocess.store.exists()


def test_names_of_other_registered_pipelines_are_accepted(inprocess, monkeypatch):
    """A node of another pipeline of the project (or one --nodes filtered out) is a name the
    project has: its settings apply when that pipeline runs."""
    from kedro.framework import project

    from kedro_kinetic.driver.activation import STATE

    other = Pipeline([node(ident, "model", "score", name="evaluate_model_node",
                           tags=["reporting"])])
    monkeypatch.setattr(project, "PACKAGE_NAME", "fake_project")
    monkeypatch.setattr(project, "pipelines", {"__default__": pipeline() + other,
                                               "data_science": pipeline(), "reporting": other})
    monkeypatch.setattr(STATE, "package_name", "fake_project")
    kinetic = {"nodes": {"evaluate_model_node": {"cpu": "1"}},
               "pipelines": {"reporting": {"tags": {"reporting": {"cpu": "2"}}}}}
    outputs = inprocess.run(pipeline(), DataCatalog({"x": MemoryDataset(1)}), kinetic=kinetic)
    assert outputs["model"].load() == 1
    with pytest.raises(ConfigError, match="did you mean 'reporting'"):
        inprocess.run(pipeline(), DataCatalog({"x": MemoryDataset(1)}), run_id="run-2",
                      kinetic={"pipelines": {"reportnig": {}}})


def test_a_kubernetes_run_with_local_catalog_paths_is_refused_before_anything(
        inprocess, code_settings):
    code_settings()
    catalog = DataCatalog({"x": CSVDataset(filepath="data/01_raw/x.csv"),
                           "model": CSVDataset(filepath="data/06_models/model.csv")})
    with pytest.raises(CatalogSpecError) as info:
        inprocess.run(pipeline(), catalog, kinetic=KUBERNETES, allow=[CSVDataset])
    text = str(info.value)
    assert "backend 'kubernetes': 2 datasets of this run are on this machine's disk" in text
    assert "  - 'x' (filepath 'data/01_raw/x.csv', read by split_data_node)" in text
    assert "'model' (filepath 'data/06_models/model.csv', written by train_model_node)" in text
    assert "gs://" in text and "KINETIC_SHARED_PATHS" in text
    assert inprocess.backends[-1].record is None  # no key, no Secret: nothing was created


def test_a_local_run_keeps_local_paths(inprocess, code_settings):
    code_settings()
    (inprocess.data / "x.csv").write_text("a\n1\n")
    outputs = inprocess.run(pipeline(), DataCatalog({"x": CSVDataset(filepath="data/x.csv")}),
                            allow=[CSVDataset])
    assert list(outputs["model"].load()["a"]) == [1]


def test_a_dataset_holding_functions_is_named_with_what_to_do(inprocess):
    catalog = DataCatalog({"x": CallableDataset(load=lambda: 3)})
    with pytest.raises(CatalogSpecError) as info:
        inprocess.run(pipeline(), catalog, allow=[CallableDataset])
    text = str(info.value)
    assert text.startswith(f"catalog entry 'x' ({__name__}.CallableDataset) was built in "
                           "code with Python objects: argument 'load' is a function")
    assert "declare it in conf/<env>/catalog.yml" in text and "SequentialRunner" in text
    assert not inprocess.backends[-1].submitted


def test_a_missing_input_is_one_line_naming_the_dataset_and_its_path(inprocess):
    catalog = DataCatalog({"x": CSVDataset(filepath="data/01_raw/sales.csv")})
    with pytest.raises(RemoteNodeError) as info:
        inprocess.run(pipeline(), catalog, allow=[CSVDataset])
    first, *rest = str(info.value).splitlines()
    assert first.startswith("node 'split_data_node' failed remotely (dataset load/save "
                            "failed): kedro.io.core.DatasetError: input 'x' not found: "
                            "'data/01_raw/sales.csv' (looked for ")
    assert first.endswith("does not exist; write it first (run the node that produces it, "
                          "or upload it there) or correct its path in the catalog")
    assert rest[0] == "--- remote traceback ---"
    assert any(line.startswith("FileNotFoundError") for line in rest)
    assert info.value.result.error_message == first.split("DatasetError: ", 1)[1]


class PartialRegistry(dict):
    """Kedro's registry after `kedro run --pipelines data_science`: only what was asked."""

    _requested_pipelines = ["data_science"]


def test_after_selective_loading_the_names_are_partial(monkeypatch):
    from kedro.framework import project

    from kedro_kinetic.driver.activation import RunState
    from kedro_kinetic.driver.run_setup import known_names

    monkeypatch.setattr(project, "PACKAGE_NAME", "fake_project")
    monkeypatch.setattr(project, "pipelines", PartialRegistry(
        {"__default__": pipeline(), "data_science": pipeline()}))
    known = known_names(pipeline(), RunState(package_name="fake_project"))
    assert not known.complete and known.pipelines is None
    assert known.scope == "pipeline(s) data_science"
    assert set(known.nodes) == {"split_data_node", "train_model_node"}
    monkeypatch.setattr(PartialRegistry, "_requested_pipelines", None)
    assert known_names(pipeline(), RunState(package_name="fake_project")).complete
    assert not known_names(pipeline(), RunState(package_name="other")).pipelines
