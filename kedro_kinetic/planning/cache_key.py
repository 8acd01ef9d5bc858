"""A node's cache key: everything that decides what the node writes, hashed.

Two executions of a node with the same key read the same bytes with the same code under
the same settings, so the second may reuse what the first wrote (see
:mod:`kedro_kinetic.driver.cache`). The key covers, each for a reason:

* ``code``: the SHA-256 of the node's payload, i.e. its function (by value for the
  project's code, by reference for installed packages) and its declared inputs and outputs,
  with line numbers left out (a function moved by an edit above it is the same code);
* ``inputs``: per input, a parameter's value, a pinned intermediate's SHA-256 (reported by
  its producer), or a catalog entry's configuration with a fingerprint of what its path
  holds now (a local file or folder's bytes; a GCS object or prefix's generations);
* ``outputs``: each output's kind and catalog configuration (another format or path is
  another result);
* ``environment``: the image, the container command, the node's environment variables and
  Secret references, and the accelerators it asks for (a GPU can change results; CPU and
  memory requests cannot);
* ``format``: this module's version, so that a change to the rules invalidates old keys.

A node the key cannot describe is not cached, with the reason: an input whose bytes cannot
be fingerprinted cheaply (a database, an HTTP URL, a versioned dataset), a missing input
file, or a node tagged ``no-cache`` (non-deterministic code).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_kinetic.wire.data_paths import PathProblem, local_path
from kedro_kinetic.wire.dataset_arguments import path_protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kedro_kinetic.config import NodeSettings, RunConfig
    from kedro_kinetic.planning.node_plan import NodePlan

FORMAT = "kedro-kinetic/cache-key@1"
#: A node tagged with this is never cached (its code is not deterministic).
NO_CACHE_TAG = "no-cache"
_FINGERPRINTABLE = ("file", "local", "gs", "gcs")


MODES = ("on", "off", "read", "write")


def cache_mode(cfg: RunConfig) -> str:
    """The run's cache mode: ``kinetic.cache`` (or ``--runner-params cache=``); by default
    on for the local backend and off for Kubernetes (see docs/caching.md)."""
    mode = getattr(cfg, "cache", None)
    if mode in MODES:
        return str(mode)
    return "on" if cfg.backend == "local" else "off"


@dataclass(frozen=True)
class CacheKey:
    """A node's key, or why it has none."""

    key: str | None
    reason: str = ""


def dataset_uri(config: Mapping[str, Any], project: Path) -> str | None:
    """Where a catalog dataset's bytes are (a ``file://`` or ``gs://`` URI), or ``None``
    when they cannot be fingerprinted cheaply."""
    if config.get("versioned"):
        return None
    path = config.get("filepath", config.get("path"))
    if not isinstance(path, str) or not path:
        return None
    protocol = path_protocol(path)
    if protocol not in _FINGERPRINTABLE:
        return None
    if protocol in ("gs", "gcs"):
        return "gs://" + path.split("://", 1)[1].rstrip("/")
    try:
        local = local_path(path)  # as Kedro and fsspec open it (file:, local:, file:///)
    except PathProblem:
        return None
    if local is None:
        return None
    full = Path(local) if Path(local).is_absolute() else project / local
    return full.as_uri()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def _environment(settings: NodeSettings, run: RunConfig) -> dict[str, Any]:
    return {"image": settings.image, "command": list(run.command),
            "env": dict(sorted(settings.env.items())),
            "secret_env": {k: dict(v) for k, v in sorted(settings.secret_env.items())},
            "gpu": _canonical(settings.gpu), "tpu": _canonical(settings.tpu)}


def compute(plan: NodePlan, digests: Mapping[str, str], run: RunConfig, project: Path,
            fingerprint: Callable[[str], str | None]) -> CacheKey:
    """The node's key (see the module's docstring), or why it has none.

    Args:
        plan: The node's plan.
        digests: The pinned digests of intermediates produced so far.
        run: The run's configuration.
        project: The project folder (relative catalog paths are under it).
        fingerprint: What a dataset's URI holds now (``store.fingerprint``).
    """
    if NO_CACHE_TAG in plan.node.tags:
        return CacheKey(None, f"tagged {NO_CACHE_TAG}")
    if not plan.settings.cache:
        return CacheKey(None, "cache: false in its settings")
    inputs: dict[str, Any] = {}
    for name, entry in plan.inputs.items():
        kind = entry["kind"]
        if kind == "param":
            inputs[name] = {"param": _canonical(entry["value"])}
        elif kind == "pickle":
            digest = entry.get("sha256") or digests.get(name)
            if digest is None:
                return CacheKey(None, f"input '{name}' has no pinned digest yet")
            inputs[name] = {"pickle": digest}
        elif kind == "catalog":
            uri = dataset_uri(entry["config"], project)
            content = fingerprint(uri) if uri is not None else None
            if content is None:
                why = "is missing" if uri is not None else "cannot be fingerprinted cheaply"
                return CacheKey(None, f"input '{name}' {why}")
            inputs[name] = {"config": _canonical(entry["config"]), "content": content}
        else:  # in a group's memory: the group caches only as a whole
            return CacheKey(None, f"input '{name}' comes from its group's memory")
    outputs = {name: {"kind": e["kind"], "config": _canonical(e.get("config"))}
               for name, e in sorted(plan.outputs.items())}
    document = {"format": FORMAT, "code": plan.code_sha256 or plan.payload_sha256,
                "inputs": inputs,
                "outputs": outputs, "environment": _environment(plan.settings, run)}
    return CacheKey(hashlib.sha256(_canonical(document).encode()).hexdigest())
