"""What ``kedro kinetic cancel`` records in the run's key Secret before it deletes the Jobs.

A cancel deletes the run's Jobs; the driver's watch then sees each Job deleted before it
finished. So that the driver can tell a cancel from someone else deleting the Job (or a
lost node), the CLI first records, in the run's Secret (which only whoever may read the
run's key can write; never a store object), each unfinished Job it deletes by name and
``uid`` (unique to that very object: a later Job of the same name is not covered). The
same record lets ``kedro kinetic status`` list the cancelled nodes once their Jobs are gone.

Pure functions over plain JSON objects, plus the Secret's patch body.
"""

from __future__ import annotations

from typing import Any

from kedro_kinetic.backends.kubernetes.secret_data import json_field, json_patch
from kedro_kinetic.planning.manifest import ANN_NODE_NAME, LABEL_NODE, result_keys

#: The key, in the run's Secret, of the cancel record (JSON ``{job name: entry}``).
SECRET_CANCEL_KEY = "cancelled"  # noqa: S105 - a key name in the Secret, not a secret


def entries(jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{job name: {"uid", "node", "key", "members"}}`` for Jobs about to be deleted."""
    found = {}
    for job in jobs:
        meta = job.get("metadata") or {}
        key = str((meta.get("labels") or {}).get(LABEL_NODE, ""))
        keys = result_keys(job)
        found[str(meta.get("name", ""))] = {
            "uid": str(meta.get("uid", "")), "key": key,
            "node": str((meta.get("annotations") or {}).get(ANN_NODE_NAME) or key),
            "members": keys if keys != [key] else []}
    return found


def from_secret(secret: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Jobs a cancel recorded in the run's Secret (malformed entries skipped)."""
    found = {}
    for name, entry in json_field(secret, SECRET_CANCEL_KEY).items():
        if not (isinstance(entry, dict) and all(isinstance(entry.get(f), str)
                                                for f in ("uid", "key", "node"))):
            continue
        members = entry.get("members")
        found[name] = {**entry, "members": [m for m in members if isinstance(m, str)]
                       if isinstance(members, list) else []}
    return found


def secret_patch(secret: dict[str, Any], jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The patch that adds ``jobs`` (see :func:`entries`) to the Secret's cancel record."""
    return json_patch(SECRET_CANCEL_KEY, {**from_secret(secret), **jobs})


def cancelled(secret: dict[str, Any], job: dict[str, Any]) -> bool:
    """Whether ``job`` (as the API last showed it) is one that a cancel recorded."""
    meta = job.get("metadata") or {}
    entry = from_secret(secret).get(str(meta.get("name", "")))
    return entry is not None and bool(entry["uid"]) and entry["uid"] == meta.get("uid")
