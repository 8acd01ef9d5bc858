"""The result a pod writes last: JSON only, never pickle.

The driver reads results with :func:`json.loads`; nothing in a result can
become code on the driver's side.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

RESULT_FORMAT = "kedro-kinetic/result@1"

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
    status: str = "failed"
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

    @classmethod
    def from_json(cls, data: bytes) -> NodeResult:
        """Parse a result; unknown keys are ignored, wrong shapes refused.

        Raises:
            ValueError: The bytes are not a kedro-kinetic result.
        """
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("format") != RESULT_FORMAT:
            raise ValueError("not a kedro-kinetic result document")
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        if not isinstance(known.get("node"), str):
            raise ValueError("result has no node name")
        return cls(**known)

    @property
    def duration(self) -> float | None:
        """Seconds between the pod's own start and end, if both are known."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - self.started_at)
