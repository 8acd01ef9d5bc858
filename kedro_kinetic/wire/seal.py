"""Seal documents with the run's key, so that a store writer cannot forge them.

The store (a GCS bucket, a local folder) is untrusted: whoever can write it
could otherwise replace a pod's result and, with it, the digest that the next
pod trusts before it unpickles an intermediate. Every document the driver
trusts from the store is therefore *sealed*: an HMAC-SHA256 over the document
and the place it belongs to (its ``context``, e.g. the result's URI, so that a
sealed result cannot be replayed as another node's).

The run key is random per run and never stored in the store. Results are not
sealed with it but with a key **per attempt** (:func:`attempt_key`): every Job
submission pins a fresh random nonce in its container args (``--attempt``), and
the result key is ``HMAC(run key, nonce)``. The driver accepts a result only
under the key of the attempt it is waiting for (or, on resume, the attempt the
run recorded in a trusted place), so a genuine result of an earlier attempt,
kept by a store writer and written back later, is refused like a forgery.

On Kubernetes the run key is held in a Secret and reaches the pod through
``env.valueFrom.secretKeyRef`` (:data:`KEY_ENV`); the entrypoint derives the
attempt key and drops the run key before any node code runs. On the local
backend the run key sits in an owner-only file outside the store and never
reaches a node process: the backend derives the attempt key and hands only
that to the process (:data:`ATTEMPT_KEY_ENV`).

Sealed bytes are ``HEADER + hex(mac) + "\\n" + body``: the MAC is checked on
the raw bytes before the body is parsed at all.

Shared by the driver and the pod; standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from kedro_kinetic.errors import SealError

#: Environment variable that carries the run's key (hex) into a pod (from its Secret).
KEY_ENV = "KINETIC_RESULT_KEY"
#: Environment variable that carries one attempt's key (hex) into a local node process.
ATTEMPT_KEY_ENV = "KINETIC_ATTEMPT_KEY"
#: Every variable that may carry a key: never in a fork server's environment or a log.
KEY_ENVS = (KEY_ENV, ATTEMPT_KEY_ENV)
#: The key's name inside the run's Kubernetes Secret.
SECRET_DATA_KEY = "result-key"  # noqa: S105 - the name of a key in the Secret, not a secret
HEADER = b"kedro-kinetic/sealed@1 "
KEY_BYTES = 32
_MAC_HEX = 64
_ATTEMPT_CONTEXT = b"kedro-kinetic/attempt@1\0"
#: Hex characters of an attempt nonce (128 random bits).
NONCE_HEX = 32


def new_key() -> bytes:
    """A fresh random key for one run (the driver's job: the pod never imports secrets)."""
    import secrets

    return secrets.token_bytes(KEY_BYTES)


def new_attempt() -> str:
    """A fresh random nonce for one Job submission (hex)."""
    import secrets

    return secrets.token_hex(NONCE_HEX // 2)


def is_attempt(text: object) -> bool:
    """Whether ``text`` has the shape of an attempt nonce."""
    return (isinstance(text, str) and len(text) == NONCE_HEX
            and all(c in "0123456789abcdef" for c in text))


def attempt_key(run_key: bytes, attempt: str) -> bytes:
    """The key that seals the results of one attempt (one Job submission).

    Raises:
        SealError: ``attempt`` is not a nonce.
    """
    if not is_attempt(attempt):
        raise SealError(f"{attempt!r} is not an attempt nonce ({NONCE_HEX} hex characters)")
    return hmac.new(run_key, _ATTEMPT_CONTEXT + attempt.encode("ascii"),
                    hashlib.sha256).digest()


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


def take_key_from_env(attempt: str | None) -> bytes | None:
    """Remove every key from this process's environment; return this attempt's key.

    The pod calls this first, so node code and its subprocesses never see a key, not
    even in ``/proc/self/environ`` (the block the process started with). A run key
    (:data:`KEY_ENV`, a pod's Secret) is turned into the attempt's key at once and
    dropped; an attempt key (:data:`ATTEMPT_KEY_ENV`, the local backend) is used as is.

    Raises:
        SealError: A key is malformed, or a run key came without an attempt nonce.
    """
    texts = {name: os.environ.pop(name, "") for name in KEY_ENVS}
    for name, text in texts.items():
        if text:
            _scrub_initial_environment(name)
    if texts[ATTEMPT_KEY_ENV]:
        return key_from_hex(texts[ATTEMPT_KEY_ENV], f"${ATTEMPT_KEY_ENV}")
    if not texts[KEY_ENV]:
        return None
    run_key = key_from_hex(texts[KEY_ENV], f"${KEY_ENV}")
    if attempt is None:
        raise SealError("the Job pins no attempt (--attempt), so its results could not be "
                        "told from an earlier attempt's; nothing was run")
    return attempt_key(run_key, attempt)


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
                        "another node, run or attempt); refusing to trust it")
    return body
