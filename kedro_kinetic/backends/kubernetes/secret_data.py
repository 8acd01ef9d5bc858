"""The JSON records kedro-kinetic keeps under one key of a Secret's ``data``.

A run's Secret records accepted attempts, cancelled Jobs and reused nodes; the cache
Secret its index. Each is a JSON object, base64-encoded as Secret data is. Reading is
lenient (a missing, undecodable or non-object field reads as empty: callers then check
each row); writing replaces the field with the object's keys in order.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kedro_kinetic.backends.run_results import json_object


def text_field(secret: dict[str, Any] | None, key: str) -> str:
    """The decoded text under ``key`` of ``secret``'s data ("" when absent or malformed)."""
    try:
        return base64.b64decode(((secret or {}).get("data") or {})[key]).decode()
    except (KeyError, ValueError, TypeError):
        return ""


def json_field(secret: dict[str, Any] | None, key: str) -> dict[str, Any]:
    """The JSON object under ``key`` of ``secret``'s data ({} when absent or malformed)."""
    return json_object(text_field(secret, key))


def encoded(text: str) -> str:
    """``text`` as Secret data holds it."""
    return base64.b64encode(text.encode()).decode()


def json_patch(key: str, record: dict[str, Any]) -> dict[str, Any]:
    """The patch that replaces ``key`` of a Secret's data with ``record``."""
    text = json.dumps(dict(sorted(record.items())), separators=(",", ":"))
    return {"data": {key: encoded(text)}}
