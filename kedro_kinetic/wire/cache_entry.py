"""A node's cache entry: what an authenticated earlier execution wrote, sealed with a key
the store never holds.

An entry lives in the store (``<store>/cache/<cache key>.json``), so whoever can write the
store can read, replace, delete or replay it. It is therefore sealed (HMAC-SHA256,
:mod:`kedro_kinetic.wire.seal`) with the **project's cache key**, a long-lived random key
kept where run keys are (a Kubernetes Secret, the private local folder), for the context
``cache:<cache key>``: an entry written for one set of inputs never matches another, nor
another project's (another key). The driver writes entries (pods never hold the key) for
nodes whose result it accepted, and trusts one only after every output it records still
holds the recorded bytes (:mod:`kedro_kinetic.driver.cache`): a rolled-back entry whose
outputs were overwritten since is refused, and the node runs again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from kedro_kinetic.errors import StoreObjectError
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.digest import is_digest

FORMAT = "kedro-kinetic/cache@1"
#: The largest entry the driver reads.
MAX_ENTRY_BYTES = 1024 * 1024
OUTPUT_KINDS = ("pickle", "file", "object")


@dataclass
class CacheEntry:
    """What one earlier execution of a node produced.

    Attributes:
        node: The node's name.
        run_id: The run whose execution it records.
        outputs: Per output: ``kind`` (``pickle``: an intermediate in that run's store;
            ``file``: a local catalog file or folder; ``object``: a cloud object or
            prefix), ``uri``, ``fingerprint`` (a SHA-256 of the bytes, or of a cloud
            listing's generations), and for pickles ``sha256`` and ``bytes`` (pinned into
            consumers as a producer's report would be).
        created: When it was written (seconds since the epoch).
    """

    node: str
    run_id: str
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: float = 0.0
    format: str = FORMAT

    def sealed(self, project_key: bytes, key: str) -> bytes:
        body = json.dumps(asdict(self), sort_keys=True).encode()
        return seal.seal(project_key, context(key), body)


def context(key: str) -> str:
    """What an entry for cache key ``key`` is sealed for."""
    return f"cache:{key}"


def read(data: bytes, project_key: bytes, key: str, what: str) -> CacheEntry:
    """Authenticate, then parse, an entry read from the store.

    Raises:
        SealError: Not sealed for ``key`` with the project's cache key.
        StoreObjectError: Authentic but malformed, or too large.
    """
    if len(data) > MAX_ENTRY_BYTES:
        raise StoreObjectError(f"{what} is larger than {MAX_ENTRY_BYTES} bytes")
    body = seal.unseal(project_key, context(key), data, what)
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise StoreObjectError(f"{what} is not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise StoreObjectError(f"{what} is not a {FORMAT} document")
    if not isinstance(raw.get("node"), str) or not isinstance(raw.get("run_id"), str):
        raise StoreObjectError(f"{what} names no node or run")
    outputs = raw.get("outputs")
    if not isinstance(outputs, dict) or not all(
            isinstance(n, str) and _output_ok(o) for n, o in outputs.items()):
        raise StoreObjectError(f"{what}: 'outputs' must map names to recorded outputs")
    created = raw.get("created", 0.0)
    return CacheEntry(node=raw["node"], run_id=raw["run_id"], outputs=outputs,
                      created=float(created) if isinstance(created, (int, float)) else 0.0)


def _output_ok(entry: Any) -> bool:
    if not isinstance(entry, dict) or entry.get("kind") not in OUTPUT_KINDS:
        return False
    if not isinstance(entry.get("uri"), str) or not isinstance(entry.get("fingerprint"), str):
        return False
    if entry["kind"] == "pickle":
        return is_digest(entry.get("sha256")) and type(entry.get("bytes")) is int
    return True
