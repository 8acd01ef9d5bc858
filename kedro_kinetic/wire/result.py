"""The result a pod writes last: sealed JSON, never pickle.

A result is what the driver trusts about a node: whether it succeeded and the
SHA-256 of each output it wrote (the next pod unpickles only bytes with that
digest). So a result is sealed with the run's key (:mod:`kedro_kinetic.wire.seal`)
for its own URI, and the driver reads it with :func:`read_sealed`: the MAC is
checked on the raw bytes first, then the JSON is parsed with every field's type
checked. A forged, replayed or malformed result is refused with one message
naming the object; nothing in it can become code.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from kedro_kinetic.errors import StoreObjectError
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.digest import is_digest

RESULT_FORMAT = "kedro-kinetic/result@1"
#: The largest result the driver reads (tracebacks included).
MAX_RESULT_BYTES = 4 * 1024 * 1024
class Status(str, enum.Enum):
    """A node's result: the only two states a pod reports (a ``str``, as JSON has it)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


STATUSES = tuple(s.value for s in Status)

#: Exit codes of the pod entrypoint, one per kind of failure.
EXIT_OK = 0
EXIT_VERIFICATION_FAILED = 10
EXIT_BAD_SPEC = 11
EXIT_NODE_RAISED = 12
EXIT_DATA_ERROR = 13
EXIT_INTERNAL = 14
EXIT_PAYLOAD_UNUSABLE = 15

EXIT_MEANINGS = {
    EXIT_OK: "succeeded",
    EXIT_VERIFICATION_FAILED: "verification failed",
    EXIT_BAD_SPEC: "bad catalog spec",
    EXIT_NODE_RAISED: "node raised",
    EXIT_DATA_ERROR: "dataset load/save failed",
    EXIT_INTERNAL: "entrypoint error",
    EXIT_PAYLOAD_UNUSABLE: "payload could not be loaded in this image",
}


@dataclass
class NodeResult:
    """What one node's pod reports back."""

    node: str
    status: str = Status.FAILED.value
    phase: str = "start"
    exit_code: int = EXIT_INTERNAL
    started_at: float | None = None
    finished_at: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    format: str = RESULT_FORMAT

    def to_json(self) -> bytes:
        """Serialise as UTF-8 JSON."""
        return json.dumps(asdict(self), sort_keys=True, default=str).encode()

    def sealed(self, key: bytes, uri: str) -> bytes:
        """The result as the pod stores it: sealed for ``uri`` with the run's key."""
        return seal.seal(key, uri, self.to_json())

    @classmethod
    def from_json(cls, data: bytes, what: str = "result") -> NodeResult:
        """Parse a result's JSON body, checking the type of every field.

        Raises:
            StoreObjectError: The bytes are not a well-formed kedro-kinetic result.
        """
        raw = _load_json(data, what)
        if not isinstance(raw, dict) or raw.get("format") != RESULT_FORMAT:
            raise StoreObjectError(f"{what} is not a {RESULT_FORMAT} document")
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        _check_fields(known, what)
        return cls(**known)

    @property
    def duration(self) -> float | None:
        """Seconds between the pod's own start and end, if both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - self.started_at)

    def output_digest(self, name: str) -> str | None:
        """The SHA-256 the pod reported for output ``name`` (``None`` if none)."""
        entry = self.outputs.get(name) or {}
        return entry.get("sha256")


def read_sealed(data: bytes, key: bytes, uri: str) -> NodeResult:
    """Authenticate, then parse, a result read from ``uri``.

    Raises:
        SealError: Not sealed for ``uri`` with ``key`` (forged, replayed, altered).
        StoreObjectError: Authentic but malformed.
    """
    what = f"result {uri}"
    if len(data) > MAX_RESULT_BYTES:
        raise StoreObjectError(f"{what} is larger than {MAX_RESULT_BYTES} bytes")
    return NodeResult.from_json(seal.unseal(key, uri, data, what), what)


def _load_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise StoreObjectError(f"{what} is nested too deeply to be a result") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise StoreObjectError(f"{what} is not JSON: {exc}") from None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_output(what: str, name: Any, entry: Any) -> None:
    where = f"{what}: outputs[{name!r}]"
    if not isinstance(name, str) or not isinstance(entry, dict):
        raise StoreObjectError(f"{where} must map a dataset name to a mapping")
    if entry.get("kind") not in ("pickle", "catalog"):
        raise StoreObjectError(f"{where}.kind must be 'pickle' or 'catalog'")
    if "sha256" in entry and not is_digest(entry["sha256"]):
        raise StoreObjectError(f"{where}.sha256 is not a SHA-256 hex digest")
    if "bytes" in entry and (not isinstance(entry["bytes"], int)
                             or isinstance(entry["bytes"], bool)):
        raise StoreObjectError(f"{where}.bytes must be an integer")
    if "uri" in entry and not isinstance(entry["uri"], str):
        raise StoreObjectError(f"{where}.uri must be a string")


def _check_fields(known: dict[str, Any], what: str) -> None:
    """Refuse any field of the wrong type, naming it."""
    def bad(key: str, expected: str) -> StoreObjectError:
        return StoreObjectError(f"{what}: '{key}' must be {expected}, "
                                f"got {type(known[key]).__name__}")

    if not isinstance(known.get("node"), str):
        raise StoreObjectError(f"{what} has no node name")
    if known.get("status", "failed") not in STATUSES:
        raise StoreObjectError(f"{what}: 'status' must be one of {list(STATUSES)}")
    for key in ("phase", "format"):
        if key in known and not isinstance(known[key], str):
            raise bad(key, "a string")
    for key in ("error_type", "error_message", "traceback"):
        if known.get(key) is not None and not isinstance(known[key], str):
            raise bad(key, "a string or null")
    if "exit_code" in known and (not isinstance(known["exit_code"], int)
                                 or isinstance(known["exit_code"], bool)):
        raise bad("exit_code", "an integer")
    for key in ("started_at", "finished_at"):
        if known.get(key) is not None and not _number(known[key]):
            raise bad(key, "a number or null")
    timings = known.get("timings", {})
    if not isinstance(timings, dict) or not all(
            isinstance(k, str) and _number(v) for k, v in timings.items()):
        raise StoreObjectError(f"{what}: 'timings' must map names to numbers")
    outputs = known.get("outputs", {})
    if not isinstance(outputs, dict):
        raise bad("outputs", "a mapping")
    for name, entry in outputs.items():
        _check_output(what, name, entry)
