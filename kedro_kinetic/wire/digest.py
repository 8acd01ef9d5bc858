"""SHA-256 digests: the pins that keep data from becoming code.

Shared by the driver (which computes pins) and the pod (which checks them
before anything is parsed or unpickled).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from kedro_kinetic.errors import VerificationError

__all__ = ["VerificationError", "is_digest", "sha256_hex", "verify"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    """Return the lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def is_digest(value: object) -> bool:
    """Tell whether ``value`` is a well-formed lower-case hex SHA-256."""
    return isinstance(value, str) and bool(_HEX64.match(value))


def verify(data: bytes, expected: str | None, what: str) -> bytes:
    """Return ``data`` unchanged if its SHA-256 equals ``expected``.

    Args:
        data: The bytes fetched from the store.
        expected: The pinned digest; ``None`` or malformed is refused.
        what: A description of the object for the error message.

    Raises:
        VerificationError: The pin is missing, malformed or does not match.
    """
    if not is_digest(expected):
        raise VerificationError(
            f"{what}: no valid SHA-256 pin given ({expected!r}); refusing to use it"
        )
    actual = sha256_hex(data)
    if not hmac.compare_digest(actual, str(expected)):
        raise VerificationError(
            f"{what}: SHA-256 mismatch (pinned {expected}, got {actual}); "
            "the object was altered after it was pinned"
        )
    return data
