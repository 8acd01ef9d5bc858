"""Turn the project's catalog configuration into per-node dataset specs (data).

One resolver serves both the catalog hook (which checks the whole catalog
before Kedro builds any dataset) and the planner (which resolves the datasets
a node reads and writes, factory patterns included, and sends them to the pod).
Credentials stay *names*; Kedro's own ``CatalogConfigResolver`` does the
pattern matching, with credential references masked so it never sees a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kedro_kinetic.allowlist import CatalogSpecError, check_catalog, check_entry

_CRED_MARK = "__kinetic_credentials_name__"
MEMORY_TYPES = {"MemoryDataset", "kedro.io.MemoryDataset", "io.MemoryDataset"}


def _mask(value: Any, key: str = "") -> Any:
    if key == "credentials" and isinstance(value, str):
        return {_CRED_MARK: value}
    if isinstance(value, Mapping):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _unmask(value: Any) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {_CRED_MARK}:
            return value[_CRED_MARK]
        return {k: _unmask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unmask(v) for v in value]
    return value


def credential_names(config: Any) -> set[str]:
    """Every credential name an entry refers to (nested entries included)."""
    names: set[str] = set()
    if isinstance(config, Mapping):
        for key, value in config.items():
            if key == "credentials" and isinstance(value, str):
                names.add(value)
            else:
                names |= credential_names(value)
    elif isinstance(config, list):
        for value in config:
            names |= credential_names(value)
    return names


def is_parameter(name: str) -> bool:
    """Tell whether a dataset name is a Kedro parameter."""
    return name == "parameters" or name.startswith("params:")


class CatalogResolver:
    """Resolve and check dataset configurations from raw catalog config."""

    def __init__(self, raw_catalog: Mapping[str, Any], allowed: frozenset[str]) -> None:
        """Check the whole configuration, then prepare pattern resolution.

        Raises:
            CatalogSpecError: An entry or pattern names a disallowed class.
        """
        self._allowed = allowed
        self._raw = {k: v for k, v in raw_catalog.items() if not str(k).startswith("_")}
        check_catalog(self._raw, allowed)
        from kedro.io.catalog_config_resolver import CatalogConfigResolver

        self._kedro = CatalogConfigResolver(
            config=_mask(self._raw),
            credentials={},
            default_runtime_patterns={"{default}": {"type": "kedro.io.MemoryDataset"}},
        )

    def declares(self, name: str) -> bool:
        """Whether the configuration has ``name``: an entry, or a pattern it matches."""
        return name in self._raw or bool(self._kedro.match_dataset_pattern(name)
                                         or self._kedro.match_user_catch_all_pattern(name))

    def config_for(self, name: str) -> dict[str, Any] | None:
        """The checked config of a dataset, or ``None`` if only memory would hold it."""
        if name in self._raw:
            config = self._raw[name]
        elif (self._kedro.match_dataset_pattern(name)
              or self._kedro.match_user_catch_all_pattern(name)):
            config = _unmask(self._kedro.resolve_pattern(name))
        else:
            return None
        checked = check_entry(name, config, self._allowed)
        if checked.get("type") in MEMORY_TYPES:
            return None
        return checked


def plain_value(name: str, value: Any) -> Any:
    """Return a parameter value if it is plain JSON data, else raise.

    Raises:
        CatalogSpecError: The value cannot travel as data.
    """
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise CatalogSpecError(
            f"parameter '{name}' is not plain data and cannot be sent to a pod: {exc}"
        ) from exc
    return value
