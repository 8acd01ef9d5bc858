from __future__ import annotations

import json

import pytest

from kedro_kinetic.errors import SpecError
from kedro_kinetic.wire.task_spec import SPEC_FORMAT, safe_load, validate_spec


def test_python_tags_are_refused_by_the_safe_loader(tmp_path):
    marker = tmp_path / "marker"
    text = f'format: x\nboom: !!python/object/apply:os.system ["touch {marker}"]\n'
    with pytest.raises(SpecError, match="not plain YAML data"):
        safe_load(text, "task spec")
    assert not marker.exists()


def _spec(**over):
    spec = {"format": SPEC_FORMAT, "run_id": "r", "node": "n",
            "inputs": {"a": {"kind": "param", "value": 1}},
            "outputs": {"b": {"kind": "pickle", "uri": "file:///tmp/b"}}, "credentials": []}
    spec.update(over)
    return spec


def test_valid_spec_round_trips_through_json():
    assert validate_spec(safe_load(json.dumps(_spec()), "spec"))["node"] == "n"


@pytest.mark.parametrize(
    ("over", "message"),
    [({"format": "other"}, "not a kedro-kinetic"),
     ({"inputs": {"a": {"kind": "code"}}}, "inputs.a: 'kind'"),
     ({"outputs": {"p": {"kind": "param", "value": 1}}}, "cannot be outputs"),
     ({"inputs": {"c": {"kind": "catalog", "config": "x"}}}, "'config' must be a mapping"),
     ({"credentials": "name"}, "list of names")],
)
def test_malformed_specs_name_the_key(over, message):
    with pytest.raises(SpecError, match=message):
        validate_spec(_spec(**over))


def test_a_spec_of_another_format_names_the_drivers_and_the_pods_versions():
    from kedro_kinetic import __version__

    with pytest.raises(SpecError) as error:
        validate_spec(_spec(format="kedro-kinetic/task@2", kinetic_version="0.3.0"))
    assert str(error.value) == (
        "task spec format 'kedro-kinetic/task@2', written by the driver's kedro-kinetic 0.3.0, "
        f"is not a {SPEC_FORMAT} document, the format this image's kedro-kinetic {__version__} "
        "reads: build the image with the driver's kedro-kinetic (kedro kinetic build --push "
        f"--write) or run the driver with kedro-kinetic {__version__}")



@pytest.mark.parametrize("grouping", ["none", "chains"])
def test_the_driver_writes_its_version_into_every_spec_and_group_spec(inprocess, grouping):
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.pipeline import Pipeline, node

    from kedro_kinetic import __version__, store
    from kedro_kinetic.planning.manifest import container_of

    pipeline = Pipeline([node(abs, "x", "y", name="abs_node"),
                         node(abs, "y", "z", name="abs_again_node")])
    inprocess.run(pipeline, DataCatalog({"x": MemoryDataset(-3)}),
                  kinetic={"grouping": grouping})
    [manifest, *_] = inprocess.backends[-1].submitted
    args = container_of(manifest)["args"]
    flag = "--group" if grouping == "chains" else "--spec"
    document = json.loads(store.read_bytes(args[args.index(flag) + 1]))
    assert document["kinetic_version"] == __version__
