"""The project's node-cache key on this machine: an owner-only file in the private state
folder, one per store (the store never holds it; see :mod:`kedro_kinetic.driver.cache`)."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from kedro_kinetic.backends.local.run_folder import _private_dir, _write_private
from kedro_kinetic.store.layout import state_dir
from kedro_kinetic.wire import seal

if TYPE_CHECKING:
    from pathlib import Path


def _path(store_root: str, base: Path | None) -> Path:
    folder = _private_dir((base or state_dir()) / "cache")
    return folder / hashlib.sha256(store_root.encode()).hexdigest()[:24]


def cache_index(store_root: str, base: Path | None = None) -> dict[str, str]:
    """The latest entry per cache key this machine recorded for the store (private)."""
    path = _path(store_root, base).with_suffix(".index")
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return ({k: v for k, v in recorded.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(recorded, dict) else {})


def record_cache_index(store_root: str, latest: dict[str, str],
                       base: Path | None = None) -> None:
    """Merge ``latest`` into the private index (owner-only, written by rename)."""
    if latest:
        merged = {**cache_index(store_root, base), **latest}
        _write_private(_path(store_root, base).with_suffix(".index"),
                       json.dumps(merged, sort_keys=True).encode())


def cache_key(store_root: str, base: Path | None = None) -> bytes:
    """The cache key of the store at ``store_root`` (created owner-only on first use).

    Raises:
        BackendError: The private state folder is not owner-only.
        SealError: The key file was altered.
    """
    path = _path(store_root, base)
    if not path.exists():
        _write_private(path, seal.new_key().hex().encode())
    return seal.key_from_hex(path.read_text(), str(path))
