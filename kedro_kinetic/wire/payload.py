"""The code payload: a node and what it needs, serialised with cloudpickle.

The project's own package is pickled by value, so a pod needs only the
installed packages (Kedro, kedro-datasets, the libraries the nodes import),
which are pickled by reference. The pod verifies the payload's SHA-256 against
the pin in its Job spec before :func:`load` unpickles a single byte.
"""

from __future__ import annotations

import pickle
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_kinetic.wire.digest import verify

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from kedro.pipeline.node import Node

PAYLOAD_FORMAT = "kedro-kinetic/payload@2"


@dataclass(frozen=True)
class Payload:
    """What the pod gets from a verified payload: the function and its declarations."""

    name: str
    func: Callable[..., Any]
    inputs: Any
    outputs: Any
    confirms: tuple[str, ...]
    allow: tuple[str, ...]



def dump(node: Node, allow: Iterable[str], by_value: Iterable[str] = ()) -> bytes:
    """Serialise ``node``'s function and declarations with cloudpickle.

    The ``Node`` object itself is not pickled, so the pod needs no Kedro
    import to call it (see :mod:`kedro_kinetic.pod.node_call`).

    Args:
        node: The Kedro node (its function is what runs in the pod).
        allow: Extra allowlisted class paths, chosen in code by the author.
        by_value: Top-level package names to pickle by value (the project).
    A generator node's function is pickled like any other: the pod saves its
    chunks as they come (:mod:`kedro_kinetic.pod.chunks`).
    """
    with _by_value(by_value):
        return _dumps(_document(node, allow))


def code_identity(node: Node, allow: Iterable[str], by_value: Iterable[str] = ()) -> str:
    """The SHA-256 of what :func:`dump` writes with every code object's first line number
    left out: the node's code as the cache key sees it (a line added above a function
    moves it, which changes its payload but not what it does)."""
    import hashlib

    with _by_value(by_value):
        return hashlib.sha256(_dumps(_document(node, allow), line_numbers=False)).hexdigest()


def _document(node: Node, allow: Iterable[str]) -> dict[str, Any]:
    return {
        "format": PAYLOAD_FORMAT,
        "name": node.name,
        "func": node.func,
        "inputs": node._inputs,  # as declared: None, a name, a list or a mapping
        "outputs": node._outputs,
        "confirms": list(node.confirms),
        "allow": sorted(set(allow)),
    }


@contextmanager
def _by_value(names: Iterable[str]) -> Iterator[None]:
    """Pickle the named top-level packages by value while the block runs."""
    import cloudpickle

    registered = []
    for name in sorted(set(names)):
        module = sys.modules.get(name)
        if module is None:
            continue
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:
            continue
        registered.append(module)
    try:
        yield
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def _source_path(filename: str) -> str:
    """Where a by-value code object's source lives, relative to the project (the working
    directory of the driver and of every pod), so remote tracebacks name it and show its
    lines; the payload stays independent of where the project is checked out."""
    import os

    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def _dumps(document: dict[str, Any], line_numbers: bool = True) -> bytes:
    """cloudpickle, keeping the source path of by-value code (cloudpickle writes
    ``<dynamic-code>``, which leaves remote tracebacks without file or source lines);
    without ``line_numbers``, each code object's first line is written as 0 (its other
    lines are stored relative to it)."""
    import io
    import types

    import cloudpickle
    from cloudpickle import cloudpickle as implementation

    def code_reduce(code: types.CodeType) -> Any:
        if not line_numbers:
            code = code.replace(co_firstlineno=0)
        rebuild, args = implementation._code_reduce(code)
        path = _source_path(code.co_filename)
        return rebuild, tuple(path if arg == "<dynamic-code>" else arg for arg in args)

    class _Pickler(cloudpickle.Pickler):  # the C pickler reads dispatch_table at __init__
        dispatch_table = {**cloudpickle.Pickler.dispatch_table,  # noqa: RUF012
                          types.CodeType: code_reduce}

    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.DEFAULT_PROTOCOL).dump(document)
    return buffer.getvalue()


def load(data: bytes, pinned_sha256: str | None) -> Payload:
    """Verify ``data`` against its pin, then unpickle it.

    Raises:
        VerificationError: Missing pin or mismatch; nothing was unpickled.
        ValueError: The verified document is not a kedro-kinetic payload.
    """
    verify(data, pinned_sha256, "payload")
    document: Any = pickle.loads(data)  # noqa: S301 - verified against its pin
    if not isinstance(document, dict) or document.get("format") != PAYLOAD_FORMAT:
        raise ValueError("the verified object is not a kedro-kinetic payload")
    return Payload(
        name=document["name"], func=document["func"], inputs=document["inputs"],
        outputs=document["outputs"], confirms=tuple(document.get("confirms", ())),
        allow=tuple(document.get("allow", ())),
    )
