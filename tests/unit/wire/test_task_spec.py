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
