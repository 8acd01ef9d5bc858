"""Skip what has not changed: a node whose cache key matches an authenticated earlier
execution, and whose outputs still hold what that execution wrote, is not run again.

The key (:mod:`kedro_kinetic.planning.cache_key`) is computed when the node is ready (its
inputs' digests are pinned then). Its entry (:mod:`kedro_kinetic.wire.cache_entry`) is read
from ``<store>/cache/`` and trusted only if it is sealed with the project's cache key
(held by the backend where run keys are, never in the store) for that very key, and be
the latest entry written for it (the backend also keeps each key's latest entry digest, so
an older authentic entry written back is refused as rolled back); then every
output it records must still match: an intermediate's or a local file's bytes by SHA-256,
a GCS object's generation (nothing large is downloaded). Anything else (no entry, a forged,
replayed or rolled-back one, an output changed since) runs the node, with the reason in the
run's output. After a node succeeds its entry is written, off the scheduler's thread.

Modes (``kinetic.cache`` or ``--runner-params cache=…``): ``on`` reads and writes, ``read``
only reuses, ``write`` only records, ``off`` neither.
"""

from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_kinetic import store
from kedro_kinetic.errors import KineticError
from kedro_kinetic.planning.cache_key import CacheKey, cache_mode, compute, dataset_uri
from kedro_kinetic.wire import cache_entry
from kedro_kinetic.wire.result import NodeResult, Status

if TYPE_CHECKING:
    from concurrent.futures import Future
    from pathlib import Path

    from kedro_kinetic.backends.base import Backend
    from kedro_kinetic.config import RunConfig
    from kedro_kinetic.planning.node_plan import NodePlan
    from kedro_kinetic.planning.plan import Planner

logger = logging.getLogger(__name__)
#: The reason of a node settled from the cache (its events, its row in the table).
CACHED = "Cached"


@dataclass(frozen=True)
class Hit:
    """A node settled from the cache: the result it stands for and the run it came from."""

    result: NodeResult
    run_id: str
    locations: dict[str, str]  # intermediate name -> where that run keeps it


def cache_prefix(store_root: str) -> str:
    """Where a store keeps its cache entries (beside ``runs/``)."""
    return store.join(store_root, "cache")


def read_entry(uri: str, project_key: bytes, key: str,
               index: dict[str, str]) -> cache_entry.CacheEntry:
    """The entry at ``uri`` for cache key ``key``, authenticated with the project's cache
    key, and the latest recorded for it in ``index`` (cache key -> SHA-256 of its latest
    entry; a key the index lacks has no older entry to tell apart).

    Raises:
        store.ObjectNotFound: No entry.
        KineticError: Forged, replayed, malformed, too large, or rolled back.
    """
    data = store.read_bytes(uri, cache_entry.MAX_ENTRY_BYTES)
    entry = cache_entry.read(data, project_key, key, f"cache entry {uri}")
    latest = index.get(key)
    if latest is not None and latest != hashlib.sha256(data).hexdigest():
        raise KineticError(f"cache entry {uri}: rolled back (not the latest entry recorded "
                           "for this key: an older one written back)")
    return entry


class NodeCache:
    """One run's view of the project's node cache."""

    def __init__(self, mode: str, project_key: bytes | None, store_root: str, project: Path,
                 run: RunConfig, run_id: str, index: dict[str, str] | None = None) -> None:
        self.mode = mode if project_key is not None else "off"
        self._key = project_key
        self._index = dict(index or {})  # cache key -> SHA-256 of its latest entry
        self.written: dict[str, str] = {}  # what this run adds to the index
        self._prefix = cache_prefix(store_root)
        self._store_root = store_root
        self._project = project
        self._run = run
        self._run_id = run_id
        self._keys: dict[str, CacheKey] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kinetic-cache")
        self._pending: list[Future[None]] = []
        self.hits: dict[str, str] = {}  # node name -> the run it came from

    @property
    def reads(self) -> bool:
        return self.mode in ("on", "read")

    @property
    def writes(self) -> bool:
        return self.mode in ("on", "write")

    def key(self, plan: NodePlan, digests: dict[str, str]) -> CacheKey:
        """The node's key now (its inputs' digests pinned), kept for :meth:`record`."""
        found = compute(plan, digests, self._run, self._project, store.fingerprint)
        self._keys[plan.node.name] = found
        if found.key is None and self.mode != "off":
            logger.info("Not cached: node %s (%s)", plan.node.name, found.reason)
        return found

    def lookup(self, plan: NodePlan, digests: dict[str, str]) -> Hit | None:
        """The node's authenticated, still valid earlier execution, or ``None``."""
        if self.mode == "off":
            return None
        found = self.key(plan, digests)
        if not self.reads or found.key is None or self._key is None:
            return None
        uri = store.join(self._prefix, f"{found.key}.json")
        try:
            entry = read_entry(uri, self._key, found.key, self._index)
        except store.ObjectNotFound:
            return None
        except Exception as exc:  # forged, replayed, planted: never trusted, never a crash
            logger.warning("Cache entry of node %s refused (%s); it runs", plan.node.name,
                           exc)
            return None
        changed = self._changed(plan, entry)
        if changed:
            logger.info("Cache of node %s not used: %s; it runs", plan.node.name, changed)
            return None
        self.hits[plan.node.name] = entry.run_id
        return Hit(_result(plan, entry), entry.run_id,
                   {n: o["uri"] for n, o in entry.outputs.items() if o["kind"] == "pickle"})

    def _changed(self, plan: NodePlan, entry: cache_entry.CacheEntry) -> str:
        if entry.node != plan.node.name or set(entry.outputs) != set(plan.outputs):
            return "its entry records other outputs"
        for name, output in entry.outputs.items():
            try:
                now = store.fingerprint(output["uri"])
            except KineticError as exc:
                return f"output '{name}' cannot be read ({exc})"
            if now != output["fingerprint"]:
                return f"output '{name}' changed since run {entry.run_id}"
        return ""

    def record(self, plan: NodePlan, result: NodeResult, digests: dict[str, str],
               sizes: dict[str, int], locations: dict[str, str]) -> None:
        """Write the entry of a node that succeeded (in the background; see :meth:`close`)."""
        found = self._keys.get(plan.node.name)
        if not self.writes or found is None or found.key is None or self._key is None:
            return
        key, project_key = found.key, self._key
        self._pending.append(self._writer.submit(
            self._write, plan, key, project_key, dict(digests), dict(sizes), dict(locations),
            result))

    def _write(self, plan: NodePlan, key: str, project_key: bytes, digests: dict[str, str],
               sizes: dict[str, int], locations: dict[str, str], result: NodeResult) -> None:
        outputs: dict[str, dict[str, Any]] = {}
        for name, spec in plan.outputs.items():
            recorded = _output(name, spec, digests, sizes, locations, self._project)
            if recorded is None:
                logger.info("Not cached: node %s (output '%s' cannot be verified later)",
                            plan.node.name, name)
                return
            outputs[name] = recorded
        entry = cache_entry.CacheEntry(plan.node.name, self._run_id, outputs, time.time())
        sealed = entry.sealed(project_key, key)
        try:
            store.write_bytes(store.join(self._prefix, f"{key}.json"), sealed)
        except KineticError as exc:
            logger.warning("Could not record the cache entry of node %s: %s",
                           plan.node.name, exc)
            return
        self.written[key] = hashlib.sha256(sealed).hexdigest()

    def close(self, backend: Backend | None = None) -> None:
        """Wait for the entries still being written, then record them as each key's latest
        with ``backend`` (where the cache key is kept)."""
        for pending in self._pending:
            try:
                pending.result()
            except Exception as exc:  # a cache entry is an optimisation: say, go on
                logger.warning("Could not record a cache entry: %s", exc)
        self._writer.shutdown(wait=True)
        if backend is not None and self.written:
            try:
                backend.record_cache_index(self._store_root, self.written)
            except KineticError as exc:
                logger.warning("Could not record this run's cache entries as the latest "
                               "(%s); the next run that writes them records them", exc)


def _output(name: str, spec: dict[str, Any], digests: dict[str, str], sizes: dict[str, int],
            locations: dict[str, str], project: Path) -> dict[str, Any] | None:
    if spec["kind"] == "pickle":
        uri = locations.get(name, spec["uri"])
        now = store.fingerprint(uri)  # its bytes' SHA-256 locally, its generation on GCS
        if name not in digests or name not in sizes or now is None:
            return None
        return {"kind": "pickle", "uri": uri, "sha256": digests[name], "bytes": sizes[name],
                "fingerprint": now}
    if spec["kind"] != "catalog":
        return None
    uri = dataset_uri(spec["config"], project)
    now = store.fingerprint(uri) if uri is not None else None
    if uri is None or now is None:
        return None
    entry: dict[str, Any] = {"kind": "file" if uri.startswith("file://") else "object",
                             "uri": uri, "fingerprint": now}
    if name in digests:  # a pickled catalog file: pinned in its consumers like a report
        entry["sha256"], entry["bytes"] = digests[name], sizes.get(name, 0)
    return entry


def _result(plan: NodePlan, entry: cache_entry.CacheEntry) -> NodeResult:
    """The result a cache hit stands for: succeeded, reporting the recorded digests."""
    outputs = {}
    for name, output in entry.outputs.items():
        if "sha256" in output:
            kind = "pickle" if output["kind"] == "pickle" else "catalog"
            outputs[name] = {"kind": kind, "sha256": output["sha256"],
                             "bytes": output.get("bytes", 0), "uri": output["uri"]}
    return NodeResult(node=plan.node.name, status=Status.SUCCEEDED.value, phase="cached",
                      exit_code=0, outputs=outputs)


def open_cache(cfg: RunConfig, backend: Backend, planner: Planner, project: Path,
               run_id: str) -> NodeCache | None:
    """The run's node cache (``None`` when off, or for a dry run); a backend that keeps no
    project key, or cannot, turns it off with a warning."""
    mode = cache_mode(cfg)
    if mode == "off" or not planner.layout.write:
        return None
    store_root = planner.layout.root.rsplit("/runs/", 1)[0]
    try:
        key = backend.cache_key(store_root)
    except KineticError as exc:
        logger.warning("The node cache is off for this run: %s", exc)
        return None
    if key is None:
        return None
    try:
        index = backend.cache_index(store_root)
    except KineticError as exc:
        logger.warning("The node cache is off for this run: %s", exc)
        return None
    return NodeCache(mode, key, store_root, project, cfg, run_id, index)


@dataclass(frozen=True)
class Listed:
    """One object under ``<store>/cache/``: its key and entry, or why it is refused."""

    key: str
    uri: str
    entry: cache_entry.CacheEntry | None
    refused: str = ""


def list_entries(store_root: str, project_key: bytes | None,
                 index: dict[str, str] | None = None) -> list[Listed]:
    """Every entry in the store's cache, each authenticated (a planted or rolled-back
    object is listed as refused, never trusted)."""
    found = []
    index = index or {}
    for uri in store.list_objects(cache_prefix(store_root)):
        key = uri.rsplit("/", 1)[-1].removesuffix(".json")
        if project_key is None:
            found.append(Listed(key, uri, None, "no cache key on this machine"))
            continue
        try:
            found.append(Listed(key, uri, read_entry(uri, project_key, key, index)))
        except Exception as exc:  # forged, replayed, planted, rolled back: listed as refused
            found.append(Listed(key, uri, None, str(exc).splitlines()[0][:200]))
    return found
