"""What a run's fork servers import ahead: plain names, checked, never read from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def catalog_classes(config: Any, allowed: frozenset[str]) -> list[str]:
    """The allowlisted dataset classes a checked catalog entry names (nested ones too),
    as the full paths Kedro resolves them to (``pandas.CSVDataset`` is kedro_datasets')."""
    from kedro_kinetic.wire.allowlist import canonical_type

    if isinstance(config, str):  # a nested ``dataset: pandas.CSVDataset``
        found = canonical_type(config, allowed)
        return [found] if found else []
    if not isinstance(config, dict):
        return []
    out = catalog_classes(config["type"], allowed) if isinstance(config.get("type"), str) else []
    for key in ("dataset", "checkpoint"):
        out += catalog_classes(config.get(key), allowed)
    return out


@dataclass
class Warm:
    """What a run's fork servers import beyond the entrypoint (in pipeline order)."""

    modules: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
