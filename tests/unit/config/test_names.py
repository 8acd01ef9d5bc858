"""Names the kinetic block uses are checked like keys: a misspelt node, tag, pipeline,
group or key is an error naming the closest known name."""

from __future__ import annotations

import pytest

from kedro_kinetic import config
from kedro_kinetic.config.names import KnownNames, check_names, group_errors, name_problems

DEMO = KnownNames(
    {"train_model_node": frozenset({"heavy"}), "split_data_node": frozenset(),
     "clean_sales_node": frozenset({"cleaning"})},
    frozenset({"__default__", "data_science", "data_processing"}),
    "the project's pipelines")


def test_an_unknown_key_names_the_closest_known_one():
    with pytest.raises(config.ConfigError) as info:
        config.load({"max_paralel": 2, "defaults": {"memroy": "1Gi", "gpu": {"typ": "x"}}})
    text = str(info.value)
    assert "kinetic.max_paralel: unknown key; did you mean 'max_parallel'?" in text
    assert "kinetic.defaults.memroy: unknown key; did you mean 'memory'?" in text
    assert "kinetic.defaults.gpu.typ: unknown key; did you mean 'type'?" in text


def test_runner_params_keys_include_resume():
    with pytest.raises(config.ConfigError) as info:
        config.load({}, overrides={"resum": "2026-01-01T00.00.00.000Z", "xyz_unrelated": 1})
    text = str(info.value)
    assert "--runner-params.resum: unknown key; did you mean 'resume'?" in text
    line = next(li for li in text.splitlines() if "xyz_unrelated" in li)
    assert "did you mean" not in line
    assert "resume" in line.split("known keys:")[1]
    with pytest.raises(config.ConfigError) as block_error:
        config.load({"resum": 1})
    assert "resume" not in str(block_error.value).split("known keys:")[1]  # not a block key


def test_misspelt_node_and_tag_names_in_runner_params_name_the_closest():
    overrides = {"nodes": {"train_modle_node": {"memory": "4Gi"}},
                 "tags": {"haevy": {"cpu": "2"}}}
    cfg = config.load({}, overrides=overrides)
    with pytest.raises(config.ConfigError) as info:
        check_names({}, overrides, cfg, DEMO)
    text = str(info.value)
    assert ("--runner-params.nodes.train_modle_node: no node named 'train_modle_node' in the "
            "project's pipelines; did you mean 'train_model_node'?") in text
    assert ("--runner-params.tags.haevy: no node of the project's pipelines is tagged "
            "'haevy'; did you mean 'heavy'?") in text


def test_names_in_every_section_of_the_block_are_checked():
    block = {"nodes": {"split_data_nod": {}}, "tags": {"cleaning": {}},
             "pipelines": {"data_sceince": {"nodes": {"train_model_node": {}}},
                           "data_processing": {"tags": {"heavvy": {}}}}}
    errors, warnings = name_problems(block, {}, DEMO)
    assert warnings == []
    assert errors == [
        "kinetic.nodes.split_data_nod: no node named 'split_data_nod' in the project's "
        "pipelines; did you mean 'split_data_node'?",
        "kinetic.pipelines.data_processing.tags.heavvy: no node of the project's pipelines "
        "is tagged 'heavvy'; did you mean 'heavy'?",
        "kinetic.pipelines.data_sceince: the project registers no pipeline named "
        "'data_sceince'; did you mean 'data_science'?",
    ]


def test_a_name_with_no_near_match_lists_known_names():
    [error], _ = name_problems({"nodes": {"zzz": {}}}, {}, DEMO)
    assert "(known: clean_sales_node, split_data_node, train_model_node)" in error


def test_pipelines_are_not_checked_when_the_registry_is_unknown():
    known = KnownNames({"a": frozenset()})
    assert name_problems({"pipelines": {"anything": {}}}, {}, known) == ([], [])
    [error], _ = name_problems({"nodes": {"b": {}}}, {}, known)
    assert "in the run's pipeline" in error


def test_a_lone_group_near_a_shared_group_is_a_likely_typo():
    known = KnownNames({"a": frozenset(), "b": frozenset(), "c": frozenset(),
                        "d": frozenset({"gpu"})})
    block = {"nodes": {"a": {"group": "training"}, "b": {"group": "training"},
                       "c": {"group": "trainng"}},
             "tags": {"gpu": {"group": "solo"}}}
    cfg = config.load(block)
    assert group_errors(cfg, known) == [
        "group 'trainng' (node 'c'): no other node is in this group; did you mean "
        "'training' (the group of a, b)?"]
    ok = config.load({"nodes": {"a": {"group": "x1"}, "b": {"group": "x2"}}})
    assert group_errors(ok, known) == []  # two lone groups: nothing to compare with


def test_known_names_pass():
    block = {"nodes": {"train_model_node": {"memory": "4Gi"}}, "tags": {"heavy": {}},
             "pipelines": {"data_science": {"defaults": {"cpu": "1"}}}}
    check_names(block, {"nodes": {"split_data_node": {"cpu": "1"}}}, config.load(block), DEMO)


def test_when_kedro_loaded_only_some_pipelines_block_names_are_only_warned_about(caplog):
    """`kedro run --pipelines data_processing`: Kedro loads only that pipeline, so a name of
    the block may belong to another one; runner params still apply to this run only."""
    known = KnownNames({"clean_sales_node": frozenset({"cleaning"})},
                       scope="pipeline(s) data_processing", complete=False)
    block = {"nodes": {"train_model_node": {}, "clean_sales_nod": {}},
             "tags": {"heavy": {}}, "pipelines": {"data_science": {}}}
    errors, warnings = name_problems(block, {"nodes": {"train_model_node": {}}}, known)
    assert warnings == [
        "kinetic.nodes.clean_sales_nod: no node named 'clean_sales_nod' in pipeline(s) "
        "data_processing; did you mean 'clean_sales_node'? (not an error: the pipelines "
        "Kedro did not load may have it)"]
    assert errors == [
        "--runner-params.nodes.train_model_node: no node named 'train_model_node' in "
        "pipeline(s) data_processing (known: clean_sales_node)"]
    check_names(block, {}, config.load(block), known)  # warns, runs
    assert "did you mean 'clean_sales_node'?" in caplog.text
