"""Which attempt of each node counts, as the Kubernetes API records it.

Results are sealed per attempt (:mod:`kedro_kinetic.wire.seal`). On Kubernetes the
trusted record of an attempt is the Job itself: its container args pin the
attempt's nonce, and a Job name is reused only after the earlier Job was
deleted. A finished Job may be deleted later (``ttlSecondsAfterFinished``), so
the driver also keeps, in the run's key Secret, the attempts whose results it
accepted (written when the run ends) and drops the entries of nodes that run
again before any of them is submitted. A store writer can touch neither.

Pure functions over plain JSON objects, plus the Secret's patch body.
"""

from __future__ import annotations

from typing import Any

from kedro_kinetic.backends.kubernetes.secret_data import json_field, json_patch, text_field
from kedro_kinetic.backends.run_results import parse_cached
from kedro_kinetic.planning.manifest import CONTAINER, attempt_of, result_keys
from kedro_kinetic.wire import seal

#: The key, in the run's Secret, of the accepted attempts (JSON ``{node key: attempt}``).
SECRET_ATTEMPTS_KEY = "attempts"  # noqa: S105 - a key name in the Secret, not a secret
#: The key, in the run's Secret, of the nodes it reused from the node cache.
SECRET_CACHED_KEY = "cached"  # noqa: S105 - a key name in the Secret, not a secret


def from_jobs(jobs: list[dict[str, Any]]) -> dict[str, str]:
    """``{node key: attempt}`` pinned by the Jobs as the API returned them."""
    found: dict[str, str] = {}
    for job in jobs:
        containers = ((((job.get("spec") or {}).get("template") or {}).get("spec") or {})
                      .get("containers") or [])
        container = next((c for c in containers if isinstance(c, dict)
                          and c.get("name") == CONTAINER), None)
        attempt = attempt_of(container) if container is not None else None
        if attempt is not None:
            for key in result_keys(job):
                found[key] = attempt
    return found


def from_secret(secret: dict[str, Any]) -> dict[str, str]:
    """The accepted attempts recorded in the run's Secret (malformed entries skipped)."""
    recorded = json_field(secret, SECRET_ATTEMPTS_KEY)
    return {k: v for k, v in recorded.items() if isinstance(k, str) and seal.is_attempt(v)}


def secret_patch(attempts: dict[str, str]) -> dict[str, Any]:
    """The patch that replaces the Secret's record with ``attempts``."""
    return json_patch(SECRET_ATTEMPTS_KEY, attempts)


def cached_from_secret(secret: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The nodes the run reused from the cache, as the driver recorded them in its Secret."""
    return parse_cached(text_field(secret, SECRET_CACHED_KEY))


def cached_patch(cached: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The patch that replaces the Secret's record of reused nodes with ``cached``."""
    return json_patch(SECRET_CACHED_KEY, cached)


def counted(jobs: list[dict[str, Any]], secret: dict[str, Any]) -> dict[str, str]:
    """The attempt that counts per node: a Job's (the latest attempt while it exists),
    else the one the Secret records as accepted."""
    return {**from_secret(secret), **from_jobs(jobs)}
