"""Seal documents with the run's key, so that a store writer cannot forge them.

The store (a GCS bucket, a local folder) is untrusted: whoever can write it
could otherwise replace a pod's result and, with it, the digest that the next
pod trusts before it unpickles an intermediate. Every document the driver
trusts from the store is therefore *sealed*: an HMAC-SHA256 over the document
and the place it belongs to (its ``context``, e.g. the result's URI, so that a
sealed result cannot be replayed as another node's).

The key is random per run and never stored in the store. On Kubernetes it is
held in a Secret and reaches the pods through ``env.valueFrom.secretKeyRef``;
on the local backend it sits in an owner-only file outside the store and
reaches the node process through its environment. Either way the pod reads it
from :data:`KEY_ENV` and removes it from its environment before any node code
runs.

Sealed bytes are ``HEADER + hex(mac) + "\\n" + body``: the MAC is checked on
the raw bytes before the body is parsed at all.

Shared by the driver and the pod; standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from kedro_kinetic.errors import SealError

#: Environment variable that carries the run's key (hex) into the node process.
KEY_ENV = "KINETIC_RESULT_KEY"
#: The key's name inside the run's Kubernetes Secret.
SECRET_DATA_KEY = "result-key"  # noqa: S105 - the name of a key in the Secret, not a secret
HEADER = b"kedro-kinetic/sealed@1 "
KEY_BYTES = 32
_MAC_HEX = 64


def new_key() -> bytes:
    """A fresh random key for one run (the driver's job: the pod never imports secrets)."""
    import secrets

    return secrets.token_bytes(KEY_BYTES)


def key_from_hex(text: str, where: str) -> bytes:
    """Decode a hex key.

    Raises:
        SealError: The text is not a key of the expected length.
    """
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise SealError(f"the run key from {where} is not {KEY_BYTES} bytes of hex")
    return key


def take_key_from_env() -> bytes | None:
    """Remove the run key from this process's environment and return it.

    The pod calls this first, so node code and its subprocesses never see it, not even
    in ``/proc/self/environ`` (the block the process started with).
    """
    text = os.environ.pop(KEY_ENV, None)
    if text:
        _scrub_initial_environment(KEY_ENV)
    return key_from_hex(text, f"${KEY_ENV}") if text else None


def _scrub_initial_environment(name: str) -> None:
    """Zero ``name=value`` in the environment block the process started with.

    ``os.environ.pop`` removes the variable, but the kernel still shows the block the
    process was started with as ``/proc/self/environ``, which node code (or a dataset
    whose path a config author chose) can read. Linux only; elsewhere nothing to do.
    """
    import ctypes

    try:
        with open("/proc/self/stat", "rb") as stat_file:
            fields = stat_file.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end (proc(5))
    except (OSError, ValueError, IndexError):
        return
    if not 0 < start < end:
        return
    block = ctypes.string_at(start, end - start)
    entry = name.encode() + b"="
    at = block.find(entry)
    while at != -1:
        if at == 0 or block[at - 1] == 0:  # the start of an entry, not inside a value
            stop = block.find(b"\0", at)
            ctypes.memset(start + at, 0, (len(block) if stop == -1 else stop) - at)
        at = block.find(entry, at + 1)


def _mac(key: bytes, context: str, body: bytes) -> str:
    message = context.encode("utf-8") + b"\0" + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal(key: bytes, context: str, body: bytes) -> bytes:
    """Return ``body`` sealed for ``context`` with ``key``."""
    return HEADER + _mac(key, context, body).encode("ascii") + b"\n" + body


def unseal(key: bytes, context: str, data: bytes, what: str) -> bytes:
    """Return the body of sealed ``data`` if its MAC matches, else raise.

    Args:
        key: The run's key.
        context: Where the document belongs (must match what it was sealed for).
        data: The bytes read from the store.
        what: A description of the object for the error message.

    Raises:
        SealError: Not sealed, sealed with another key, for another context,
            or altered since.
    """
    if not data.startswith(HEADER):
        raise SealError(f"{what} is not sealed with the run's key (written by someone "
                        "other than the run's pods or driver); refusing to trust it")
    start = len(HEADER)
    given = data[start:start + _MAC_HEX]
    body = data[start + _MAC_HEX + 1:]
    if data[start + _MAC_HEX:start + _MAC_HEX + 1] != b"\n" or not hmac.compare_digest(
            given, _mac(key, context, body).encode("ascii")):
        raise SealError(f"{what} failed authentication (forged, altered, or sealed for "
                        "another node or run); refusing to trust it")
    return body
