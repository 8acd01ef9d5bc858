"""Which classes and callables a catalog entry may name, checked as data.

Kedro imports the module named by ``type:`` (and by nested ``dataset:``,
``checkpoint:`` and ``validator:`` keys) before it checks what it got, so any
importable module runs its top-level code. Here every such reference is read
as a plain string and compared with an allowlist **before anything is
imported**. The driver (catalog hook and runner) and the pod both call
:func:`check_entry`; the pod never trusts the driver's check.

The allowlist is extended only in code: a project's ``settings.py``
(``KINETIC_DATASET_ALLOWLIST``) or the ``allow`` argument of ``GKERunner``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

#: Prefixes Kedro tries, in order, when it resolves a ``type:`` string.
KEDRO_TYPE_PREFIXES = ("kedro.io.", "kedro_datasets.", "")

#: Dataset classes any project may use. Classes whose loading can execute
#: arbitrary code chosen by configuration (``LambdaDataset``, pandas'
#: ``GenericDataset`` and ``HDFDataset``) are deliberately absent.
DEFAULT_ALLOWLIST: frozenset[str] = frozenset(
    {
        "kedro.io.MemoryDataset",
        "kedro.io.CachedDataset",
        "kedro_datasets.pandas.CSVDataset",
        "kedro_datasets.pandas.ParquetDataset",
        "kedro_datasets.pandas.JSONDataset",
        "kedro_datasets.pandas.ExcelDataset",
        "kedro_datasets.pandas.FeatherDataset",
        "kedro_datasets.pandas.XMLDataset",
        "kedro_datasets.polars.CSVDataset",
        "kedro_datasets.polars.ParquetDataset",
        "kedro_datasets.polars.EagerPolarsDataset",
        "kedro_datasets.json.JSONDataset",
        "kedro_datasets.yaml.YAMLDataset",
        "kedro_datasets.text.TextDataset",
        "kedro_datasets.pickle.PickleDataset",
        "kedro_datasets.partitions.PartitionedDataset",
        "kedro_datasets.partitions.IncrementalDataset",
        "kedro_datasets.matplotlib.MatplotlibDataset",
        "kedro_datasets.matplotlib.MatplotlibWriter",
        "kedro_datasets.pillow.ImageDataset",
        "kedro_datasets.plotly.JSONDataset",
        "kedro_datasets.plotly.PlotlyDataset",
        "kedro_datasets.networkx.JSONDataset",
        "kedro_datasets.spark.SparkDataset",
    }
)


class CatalogSpecError(Exception):
    """A catalog entry is malformed or names something not on the allowlist."""


def class_path(obj: Any) -> str:
    """Return ``module.QualName`` for a class or function object given in code."""
    if isinstance(obj, str):
        raise TypeError(
            f"allowlist extensions must be class or function objects given in code, "
            f"not strings ({obj!r}); name strings only in settings.py "
            "(KINETIC_DATASET_ALLOWLIST)"
        )
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname:
        raise TypeError(f"{obj!r} is not a class or function")
    return f"{module}.{qualname}"


def build_allowlist(extra: Iterable[str] = ()) -> frozenset[str]:
    """Return the default allowlist plus ``extra`` fully qualified names."""
    extra = tuple(extra)
    for name in extra:
        if not isinstance(name, str) or not name or name != name.strip(". "):
            raise CatalogSpecError(f"allowlist entry {name!r} is not a dotted class path")
    return DEFAULT_ALLOWLIST | frozenset(extra)


def canonical_type(type_name: str, allowed: frozenset[str]) -> str | None:
    """Return the allowlisted full path Kedro would resolve ``type_name`` to."""
    for prefix in KEDRO_TYPE_PREFIXES:
        if prefix + type_name in allowed:
            return prefix + type_name
    return None


def _refs(config: Mapping[str, Any], path: str) -> Iterator[tuple[str, str, Any]]:
    """Yield ``(key path, kind, value)`` for every class/callable reference."""
    yield f"{path}type", "type", config.get("type")
    if "validator" in config:
        validator = config["validator"]
        if isinstance(validator, Mapping):
            yield f"{path}validator.class", "callable", validator.get("class")
        else:
            yield f"{path}validator", "callable", validator
    for key in ("dataset", "checkpoint"):
        if key not in config:
            continue
        nested = config[key]
        if isinstance(nested, Mapping):
            if key == "checkpoint" and "type" not in nested:
                continue
            yield from _refs(nested, f"{path}{key}.")
        else:
            yield f"{path}{key}", "type", nested


def check_entry(
    entry: str, config: Any, allowed: frozenset[str], *, pattern: bool = False
) -> dict[str, Any]:
    """Check one catalog entry and return a copy with canonical class paths.

    Args:
        entry: The catalog entry name (or factory pattern), for messages.
        config: The entry's configuration, plain data.
        allowed: Fully qualified names that may be imported.
        pattern: The entry is a dataset factory pattern; references that
            depend on a placeholder cannot be checked and are refused.

    Raises:
        CatalogSpecError: Naming the entry and the key of the first problem.
    """
    if not isinstance(config, Mapping):
        raise CatalogSpecError(
            f"catalog entry '{entry}' must be a mapping, got {type(config).__name__}"
        )
    checked = _deep_copy(config)
    for key_path, kind, value in _refs(config, ""):
        where = f"catalog entry '{entry}', key '{key_path}'"
        if not isinstance(value, str) or not value.strip():
            raise CatalogSpecError(f"{where}: expected a class path string, got {value!r}")
        if pattern and "{" in value:
            raise CatalogSpecError(
                f"{where}: '{value}' depends on a factory placeholder; GKERunner only "
                "accepts literal class paths so that they can be checked before import"
            )
        if kind == "type":
            resolved = canonical_type(value, allowed)
        else:
            resolved = value if value in allowed else None
        if resolved is None:
            raise CatalogSpecError(
                f"{where}: '{value}' is not on the kedro-kinetic allowlist; nothing was "
                "imported. Allow project classes in code (settings.py "
                "KINETIC_DATASET_ALLOWLIST or GKERunner(allow=...))"
            )
        _set_path(checked, key_path, resolved)
    return checked


def check_catalog(
    catalog_config: Mapping[str, Any], allowed: frozenset[str]
) -> dict[str, dict[str, Any]]:
    """Check every entry and factory pattern of a raw catalog configuration."""
    checked = {}
    for name, config in catalog_config.items():
        if str(name).startswith("_"):
            continue
        checked[name] = check_entry(
            str(name), config, allowed, pattern="{" in str(name)
        )
    return checked


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_deep_copy(v) for v in value]
    return value


def _set_path(config: dict[str, Any], key_path: str, value: str) -> None:
    *parents, last = key_path.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value
