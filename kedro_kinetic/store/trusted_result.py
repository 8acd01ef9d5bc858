"""The one way the driver and the CLI read a node's result from the store.

A result counts only when it is sealed for its own URI with the key of the
attempt a trusted record names (see :mod:`kedro_kinetic.wire.seal`). Reading it is
total: whatever a store writer planted at its URI ends as one refusal naming
the object, never another exception in the driver.
"""

from __future__ import annotations

from kedro_kinetic import store
from kedro_kinetic.errors import KineticError, SealError, StoreError, StoreObjectError
from kedro_kinetic.wire.result import MAX_RESULT_BYTES, NodeResult, read_sealed


def read_trusted(uri: str, key: bytes | None) -> NodeResult | None:
    """:func:`read_stored_result` without the bytes (see there)."""
    found = read_stored_result(uri, key)
    return None if found is None else found[0]


def read_stored_result(uri: str, key: bytes | None) -> tuple[NodeResult, bytes] | None:
    """The result at ``uri`` if it is sealed with ``key`` (its attempt's), with the bytes it
    was read from; ``None`` if there is no object there. The one way the driver and the CLI
    read a result.

    Total: whatever a store writer planted there (a folder, a FIFO, a link, a huge or
    unreadable file, garbage) ends as one :class:`StoreObjectError` naming the object,
    never another exception.

    Raises:
        SealError: Not sealed for ``uri`` with ``key`` (forged, replayed from another node,
            run or attempt, altered), or no attempt key to check it with.
        StoreObjectError: Unreadable, too large, or authentic but malformed.
        StoreError: The store could not be reached.
    """
    if key is None:
        raise SealError(f"result {uri}: no attempt of its Job is recorded, so no result "
                        "there can be trusted")
    try:
        data = store.read_bytes(uri, MAX_RESULT_BYTES)
    except store.ObjectNotFound:
        return None
    except (StoreObjectError, StoreError):
        raise
    except KineticError as exc:
        raise StoreObjectError(f"cannot read result {uri}: {exc}") from None
    except Exception as exc:  # planted shapes: never a crash of the driver
        raise StoreObjectError(f"cannot read result {uri}: {type(exc).__name__}: "
                               f"{exc}") from None
    return read_sealed(data, key, uri), data
