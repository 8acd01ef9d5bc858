"""node_call reproduces kedro.pipeline.Node.run for every declaration shape."""

from __future__ import annotations

import pytest
from kedro.pipeline import node

from kedro_kinetic.pod import node_call


def add(a, b=0):
    return a + b


def pair(a, b):
    return [a, b]


def named(a, b):
    return {"sum": a + b, "diff": a - b}


@pytest.mark.parametrize(
    ("func", "inputs", "outputs", "data"),
    [
        (lambda: 7, None, "seven", {}),
        (add, "x", "y", {"x": 2}),
        (add, ["x", "z"], "y", {"x": 2, "z": 3}),
        (add, {"b": "z", "a": "x"}, "y", {"x": 2, "z": 3}),
        (pair, ["x", "z"], ["first", "second"], {"x": 1, "z": 2}),
        (named, ["x", "z"], {"sum": "s", "diff": "d"}, {"x": 5, "z": 3}),
        (add, "x", None, {"x": 1}),
    ],
)
def test_same_outputs_as_kedro(func, inputs, outputs, data):
    kedro_node = node(func, inputs, outputs, name="n")
    value = node_call.call("n", kedro_node.func, kedro_node._inputs, data)
    assert node_call.outputs_of("n", kedro_node._outputs, value) == kedro_node.run(dict(data))


def test_mismatches_are_clear_errors():
    with pytest.raises(ValueError, match="expected input"):
        node_call.call("n", add, ["x", "z"], {"x": 1})
    with pytest.raises(ValueError, match="list or tuple of 2"):
        node_call.outputs_of("n", ["a", "b"], [1])
    with pytest.raises(ValueError, match="dictionary with keys"):
        node_call.outputs_of("n", {"k": "a"}, {"other": 1})
