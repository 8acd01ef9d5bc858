"""Call a node's function the way ``kedro.pipeline.Node.run`` does, without Kedro.

The pod receives the function and the node's input/output declarations (a
name, a list, or a mapping), so a node whose datasets are parameters and
pinned intermediates starts without importing Kedro at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

Decl = str | list[str] | dict[str, str] | None


def call(name: str, func: Callable[..., Any], inputs: Decl, data: Mapping[str, Any]) -> Any:
    """Call ``func`` with ``data`` arranged as the node declared its inputs.

    Raises:
        ValueError: ``data`` does not match the declaration.
    """
    if not inputs:
        expected: list[str] = []
    elif isinstance(inputs, str):
        expected = [inputs]
    elif isinstance(inputs, list):
        expected = list(inputs)
    else:
        expected = list(inputs.values())
    if set(expected) != set(data):
        raise ValueError(
            f"node {name} expected input(s) {sorted(set(expected))}, got {sorted(data)}"
        )
    if not inputs:
        return func()
    if isinstance(inputs, str):
        return func(data[inputs])
    if isinstance(inputs, list):
        return func(*(data[item] for item in inputs))
    return func(**{arg: data[alias] for arg, alias in inputs.items()})


def outputs_of(name: str, outputs: Decl, value: Any) -> dict[str, Any]:
    """Map a function's return value to dataset names, as Kedro does.

    Raises:
        ValueError: The value does not match the output declaration.
    """
    if outputs is None:
        return {}
    if isinstance(outputs, str):
        return {outputs: value}
    if isinstance(outputs, dict):
        if not isinstance(value, dict) or set(value) != set(outputs):
            raise ValueError(
                f"Failed to save outputs of node {name}: expected a dictionary with keys "
                f"{sorted(outputs)}, got {type(value).__name__}"
                + (f" with keys {sorted(value)}" if isinstance(value, dict) else "")
            )
        return {outputs[key]: value[key] for key in outputs}
    if not isinstance(value, (list, tuple)) or len(value) != len(outputs):
        raise ValueError(
            f"Failed to save outputs of node {name}: expected a list or tuple of "
            f"{len(outputs)} output(s), got {type(value).__name__}"
            + (f" of length {len(value)}" if isinstance(value, (list, tuple)) else "")
        )
    return dict(zip(outputs, value))
