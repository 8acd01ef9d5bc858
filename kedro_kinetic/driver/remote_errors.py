"""A failed node's error keeps its type in the driver, as it does with Kedro's runners.

A node raising ``ValueError`` makes ``SequentialRunner`` (so ``kedro run`` and
``session.run``) raise that ``ValueError``; code that catches it by type must work
the same with GKERunner. The pod reports the type as text in its (sealed) result;
here the driver raises a :class:`~kedro_kinetic.driver.outcome.RemoteNodeError` that is
*also* an instance of that type, carrying the remote traceback.

The result is data, so its type name never makes the driver import anything: the
name is looked up in modules already imported (``sys.modules``), and only plain
exception classes qualify (subclasses of ``Exception``, built by ``type``, with no
``__init_subclass__`` of their own, which would run code when subclassed).
Anything else gives a plain ``RemoteNodeError``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from kedro_kinetic.driver.outcome import RemoteNodeError

if TYPE_CHECKING:
    from kedro_kinetic.wire.result import NodeResult

_TYPED: dict[type, type[RemoteNodeError]] = {}


def _lookup(qualified: str) -> type | None:
    """The class named ``module.qualname`` if its module is already imported."""
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj: object = module
        for attr in parts[cut:]:
            if attr.startswith("_") and attr != "__main__":
                return None
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        return obj if isinstance(obj, type) else None
    return None


def _plain_exception(cls: type) -> bool:
    """Whether subclassing ``cls`` runs no code of its own."""
    if type(cls) is not type or not issubclass(cls, Exception):
        return False
    return not any("__init_subclass__" in vars(k) for k in cls.__mro__ if k is not object)


def local_type(error_type: str | None) -> type | None:
    """The driver's own class for a pod's ``error_type``, or ``None``."""
    if not error_type or "." not in error_type:
        return None
    cls = _lookup(error_type)
    if cls is None or issubclass(cls, RemoteNodeError) or not _plain_exception(cls):
        return None
    return cls


def _typed(base: type) -> type[RemoteNodeError]:
    if base not in _TYPED:
        try:
            _TYPED[base] = type(f"Remote{base.__name__}", (RemoteNodeError, base),
                                {"__module__": __name__})
        except TypeError:  # a base that cannot be combined (layout, final)
            _TYPED[base] = RemoteNodeError
    return _TYPED[base]


def remote_error(node_name: str, result: NodeResult, reason: str | None,
                 next_step: str = "") -> RemoteNodeError:
    """The error for a failed node: a ``RemoteNodeError`` that is also an instance of the
    node's own exception type when the driver has that type already."""
    base = local_type(result.error_type)
    cls = RemoteNodeError if base is None else _typed(base)
    return cls(node_name, result, reason, next_step)
