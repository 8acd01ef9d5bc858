"""Kubernetes-safe names and labels for runs and nodes.

Kedro run ids (``2026-11-23T02.36.42.251Z``) and node names
(``train([X,y]) -> [model]``) are not valid DNS-1123 names: they are
sanitised, shortened and suffixed with a hash so that two names never collide.
The full names travel in annotations.
"""

from __future__ import annotations

import hashlib
import re

_INVALID = re.compile(r"[^a-z0-9-]+")
MAX_NAME = 63


def _short_hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def sanitise(text: str, max_length: int = MAX_NAME) -> str:
    """Lower-case ``text`` and keep ``[a-z0-9-]``, trimmed to a valid label."""
    cleaned = _INVALID.sub("-", text.lower()).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)[:max_length].strip("-")
    return cleaned or "x"


def run_label(run_id: str) -> str:
    """A label value for the run, unique per run id (``<= 63`` chars)."""
    clean = sanitise(run_id, 63)
    if clean == run_id:
        return clean
    return f"{sanitise(run_id, 54)}-{_short_hash(run_id, 8)}"


def node_key(node_name: str) -> str:
    """A stable, unique DNS-1123 label for a node (``<= 50`` chars)."""
    return f"{sanitise(node_name, 41)}-{_short_hash(node_name, 8)}"


def job_name(node_name: str, run_id: str) -> str:
    """The Job name: node key plus a run suffix, ``<= 63`` chars, DNS-1123."""
    return f"{node_key(node_name)}-{_short_hash(run_id, 6)}"


def dataset_key(dataset_name: str) -> str:
    """A file-name-safe key for a dataset stored in the run's store."""
    return f"{sanitise(dataset_name, 60)}-{_short_hash(dataset_name, 8)}"


def key_secret(run_label_value: str) -> str:
    """The name of the Kubernetes Secret that holds a run's key."""
    return f"kinetic-run-{run_label_value}"


#: The node-cache Secret of each store is named ``kinetic-cache-<store hash>``.
CACHE_SECRET_PREFIX = "kinetic-cache-"  # noqa: S105 (a name, not a value)


def cache_secret(store_root: str) -> str:
    """The name of the Kubernetes Secret that holds a store's cache key and index."""
    return CACHE_SECRET_PREFIX + _short_hash(store_root, 16)
