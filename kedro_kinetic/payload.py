"""The code payload: a node and what it needs, serialised with cloudpickle.

The project's own package is pickled by value, so a pod needs only the
installed packages (Kedro, kedro-datasets, the libraries the nodes import),
which are pickled by reference. The pod verifies the payload's SHA-256 against
the pin in its Job spec before :func:`load` unpickles a single byte.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_kinetic.digest import verify

if TYPE_CHECKING:
    from kedro.pipeline.node import Node

PAYLOAD_FORMAT = "kedro-kinetic/payload@1"


@dataclass(frozen=True)
class Payload:
    """What the pod gets from a verified payload."""

    node: Node
    allow: tuple[str, ...]


def dump(node: Node, allow: Iterable[str], by_value: Iterable[str] = ()) -> bytes:
    """Serialise ``node`` with cloudpickle.

    Args:
        node: The Kedro node (its function is what runs in the pod).
        allow: Extra allowlisted class paths, chosen in code by the author.
        by_value: Top-level package names to pickle by value (the project).
    """
    import cloudpickle

    registered = []
    for name in sorted(set(by_value)):
        module = sys.modules.get(name)
        if module is None:
            continue
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:
            continue
        registered.append(module)
    try:
        document = {
            "format": PAYLOAD_FORMAT,
            "node": node,
            "allow": sorted(set(allow)),
        }
        return cloudpickle.dumps(document, protocol=pickle.DEFAULT_PROTOCOL)
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


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
    return Payload(node=document["node"], allow=tuple(document.get("allow", ())))
