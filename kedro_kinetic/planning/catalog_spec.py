"""Turn the project's catalog configuration into per-node dataset specs (data).

One resolver serves both the catalog hook (which checks the whole catalog
before Kedro builds any dataset) and the planner (which resolves the datasets
a node reads and writes, factory patterns included, and sends them to the pod).
Credentials stay *names*; Kedro's own ``CatalogConfigResolver`` does the
pattern matching, with credential references masked so it never sees a value.
Every local path a resolved dataset names must lie under the project's data
roots (:mod:`kedro_kinetic.wire.data_paths`), checked for a whole run at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kedro_kinetic.wire import data_paths
from kedro_kinetic.wire.allowlist import CatalogSpecError, check_catalog, check_entry

if TYPE_CHECKING:
    from pathlib import Path

    from kedro_kinetic.config.project_settings import ProjectSettings

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


def project_data_roots(settings: ProjectSettings, project: Path,
                       store_location: str) -> data_paths.DataRoots:
    """The data roots of a run: settings.py ``KINETIC_DATA_ROOTS``, less the local store
    (when the store is local) and the private state folder.

    Each folder is given relative to the project where it lies inside it (a node
    process resolves it against its working folder, the project), else absolute.
    """
    from kedro_kinetic import store
    from kedro_kinetic.store import layout

    folder = str(project.absolute())
    excluded: list[str] = []
    if not store_location.startswith("gs://"):  # as configured, and with links resolved
        given = store.local_path(store_location) or os.path.expanduser(store_location)
        excluded += [str(given), str(store.local_path(store.to_uri(store_location, project)))]
    state = os.path.abspath(layout.state_dir())
    excluded += [state, os.path.realpath(state)]

    def relative(paths: Iterable[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(data_paths.for_project(p, folder) for p in paths))

    return data_paths.DataRoots(relative(os.path.expanduser(r) for r in settings.data_roots),
                                relative(excluded))


class CatalogResolver:
    """Resolve and check dataset configurations from raw catalog config."""

    def __init__(self, raw_catalog: Mapping[str, Any], allowed: frozenset[str],
                 data_roots: data_paths.DataRoots | None = None,
                 project: Path | None = None) -> None:
        """Check the whole configuration, then prepare pattern resolution.

        Args:
            raw_catalog: The catalog configuration, plain data.
            allowed: The allowlist.
            data_roots: Where local catalog paths may lie (``None``: not checked;
                only for callers that send no dataset anywhere).
            project: The project folder, which relative paths start from.

        Raises:
            CatalogSpecError: An entry or pattern names a disallowed class.
        """
        self._allowed = allowed
        self.data_roots = data_roots
        self.local_roots = (data_roots.resolve(str(project or os.getcwd()))
                            if data_roots is not None else None)
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

    def entry(self, name: str) -> dict[str, Any] | None:
        """The checked config of a dataset (its paths not checked), or ``None`` if only
        memory would hold it.

        Raises:
            CatalogSpecError: A disallowed class or argument, or Python objects.
        """
        return self._checked(name)

    def config_for(self, name: str) -> dict[str, Any] | None:
        """The checked config of a dataset, or ``None`` if only memory would hold it.

        Raises:
            CatalogSpecError: A disallowed class or argument, or a refused local path.
        """
        checked = self._checked(name)
        if checked is not None and self.local_roots is not None:
            data_paths.check_datasets({name: checked}, self.local_roots)
        return checked

    def check_paths(self, names: Iterable[str],
                    versions: Mapping[str, Any] | None = None) -> None:
        """Check the local paths of every named dataset; report every refused one at once.

        Args:
            names: The datasets of a run (parameters are skipped).
            versions: The run's ``save_version`` and ``load_versions``.

        Raises:
            CatalogSpecError: One line per refused dataset (or a disallowed class).
        """
        if self.local_roots is None:
            return
        configs = {name: config for name in names if not is_parameter(name)
                   and (config := self._checked(name)) is not None}
        data_paths.check_datasets(configs, self.local_roots, versions)

    def _checked(self, name: str) -> dict[str, Any] | None:
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
        refuse_objects(name, checked)
        return checked


def _describe(value: Any) -> str:
    if callable(value) and hasattr(value, "__qualname__"):
        kind = "a class" if isinstance(value, type) else "a function"
        module = getattr(value, "__module__", None)
        return f"{kind} ({f'{module}.' if module else ''}{value.__qualname__})"
    return f"a {type(value).__module__}.{type(value).__qualname__} object"


def _first_object(value: Any, path: str) -> tuple[str, Any] | None:
    """The key path and value of the first part of ``value`` that is not plain data."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}{key!r}", key
            found = _first_object(item, f"{path}{key}.")
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _first_object(item, f"{path.rstrip('.')}[{index}].")
            if found is not None:
                return found
        return None
    return path.rstrip("."), value


def in_code_fix(many: bool = False) -> str:
    """What to do with datasets that exist only as Python objects (see catalog_objects)."""
    them = "them" if many else "it"
    return (f"declare {them} in conf/<env>/catalog.yml with plain values (or match a dataset "
            f"factory pattern) instead of creating {them} in code, or run the nodes that use "
            f"{them} in the driver with another runner (e.g. SequentialRunner) and give this "
            "run their results")


def refuse_objects(name: str, config: Mapping[str, Any]) -> None:
    """Refuse a dataset configuration that holds Python objects (functions, classes,
    instances): it cannot travel to a pod as data.

    Raises:
        CatalogSpecError: Naming the dataset, its class, the first such argument and the fix.
    """
    found = _first_object(config, "")
    if found is None:
        return
    key, value = found
    kind = config.get("type")
    raise CatalogSpecError(
        f"catalog entry '{name}'{f' ({kind})' if isinstance(kind, str) else ''} was built "
        f"in code with Python objects: argument '{key}' is {_describe(value)}. GKERunner "
        "rebuilds each dataset in its node's pod from plain configuration (strings, numbers, "
        f"lists, mappings), so it cannot send this one: {in_code_fix()}")


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
