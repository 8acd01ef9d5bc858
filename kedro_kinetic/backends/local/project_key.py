"""The project's node-cache key on this machine: an owner-only file in the private state
folder, one per store (the store never holds it; see :mod:`kedro_kinetic.driver.cache`)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from kedro_kinetic.backends.local.run_folder import _private_dir, _write_private
from kedro_kinetic.store.layout import state_dir
from kedro_kinetic.wire import seal

if TYPE_CHECKING:
    from pathlib import Path


def cache_key(store_root: str, base: Path | None = None) -> bytes:
    """The cache key of the store at ``store_root`` (created owner-only on first use).

    Raises:
        BackendError: The private state folder is not owner-only.
        SealError: The key file was altered.
    """
    folder = _private_dir((base or state_dir()) / "cache")
    path = folder / hashlib.sha256(store_root.encode()).hexdigest()[:24]
    if not path.exists():
        _write_private(path, seal.new_key().hex().encode())
    return seal.key_from_hex(path.read_text(), str(path))
