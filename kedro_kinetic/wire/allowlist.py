"""Which classes and callables a catalog entry may name, checked as data.

Kedro imports the module named by ``type:`` (and by nested ``dataset:``,
``checkpoint:`` and ``validator:`` keys) before it checks what it got, so any
importable module runs its top-level code; some arguments of allowlisted
classes name code too (``backend``, ``checkpoint.comparison_func``, ...; see
:mod:`kedro_kinetic.wire.dataset_arguments`). Here every such reference and value is
read as plain data and compared with an allowlist **before anything is
imported**. The driver (catalog hook and planner) and the pod all call
:func:`check_entry`; the pod never trusts the driver's check.

The allowlist is extended only in code: a project's ``settings.py``
(``KINETIC_DATASET_ALLOWLIST``: class paths, and argument values as
``"<class path>:<argument>=<value>"``) or the ``allow`` argument of ``GKERunner``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kedro_kinetic.errors import CatalogSpecError
from kedro_kinetic.wire import dataset_arguments as arguments

#: Prefixes Kedro tries, in order, when it resolves a ``type:`` string.
KEDRO_TYPE_PREFIXES = ("kedro.io.", "kedro_datasets.", "")

#: Dataset classes any project may use; their code-choosing arguments are limited
#: by :data:`kedro_kinetic.wire.dataset_arguments.ARGUMENT_RULES`. Classes whose
#: configuration chooses code with no sane finite set of values are deliberately
#: absent: ``LambdaDataset``, pandas' ``GenericDataset`` and ``HDFDataset``, and
#: ``spark.SparkDataset`` (its load/save options become Spark and Hadoop
#: configuration, where many keys name JVM classes; see docs/allowlist-audit.md).
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
    }
)


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
    """Return the default allowlist plus ``extra`` entries.

    An entry is a fully qualified class or callable path, or an argument
    value ``"<class path>:<argument>=<value>"`` (see
    :mod:`kedro_kinetic.wire.dataset_arguments`).
    """
    extra = tuple(extra)
    for name in extra:
        if not isinstance(name, str) or not name or name != name.strip(". "):
            raise CatalogSpecError(f"allowlist entry {name!r} is not a dotted class path")
        try:
            arguments.parse_extension(name)
        except ValueError as exc:
            raise CatalogSpecError(str(exc)) from None
    return DEFAULT_ALLOWLIST | frozenset(extra)


def canonical_type(type_name: str, allowed: frozenset[str]) -> str | None:
    """Return the allowlisted full path Kedro would resolve ``type_name`` to."""
    if ":" in type_name or "=" in type_name:  # argument values are not classes
        return None
    for prefix in KEDRO_TYPE_PREFIXES:
        if prefix + type_name in allowed:
            return prefix + type_name
    return None


class _Check:
    """One entry's check: where we are, for messages, and what is allowed."""

    def __init__(self, entry: str, allowed: frozenset[str], pattern: bool) -> None:
        self.entry, self.allowed, self.pattern = entry, allowed, pattern

    def fail(self, key_path: str, problem: str) -> CatalogSpecError:
        return CatalogSpecError(f"catalog entry '{self.entry}', key '{key_path}': {problem}")

    def name(self, key_path: str, kind: str, value: Any) -> str:
        """Check a class (``type``) or callable reference; return its canonical path."""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key_path, f"expected a class path string, got {value!r}")
        if self.pattern and "{" in value:
            raise self.fail(key_path, (
                f"'{value}' depends on a factory placeholder; GKERunner only accepts "
                "literal class paths so that they can be checked before import"))
        if kind == "type":
            resolved = canonical_type(value, self.allowed)
        else:
            resolved = value if value in self.allowed and ":" not in value else None
        if resolved is None:
            raise self.fail(key_path, (
                f"'{value}' is not on the kedro-kinetic allowlist; nothing was imported. "
                "Allow project classes in code (settings.py KINETIC_DATASET_ALLOWLIST or "
                "GKERunner(allow=...))"))
        return resolved

    def dataset(self, config: Mapping[str, Any], checked: dict[str, Any], path: str,
                default_type: str | None = None) -> None:
        """Check one dataset configuration (an entry, or a nested ``dataset``/``checkpoint``).

        ``checked`` is the copy of ``config`` that receives canonical class paths.
        """
        if "type" in config or default_type is None:
            cls = checked["type"] = self.name(f"{path}type", "type", config.get("type"))
        else:
            cls = self.name(f"{path}type", "type", default_type)
        if "validator" in config:
            validator = config["validator"]
            if isinstance(validator, Mapping):
                checked["validator"]["class"] = self.name(
                    f"{path}validator.class", "callable", validator.get("class"))
            else:
                checked["validator"] = self.name(f"{path}validator", "callable", validator)
        problem = arguments.first_problem(cls, config, self.allowed, pattern=self.pattern)
        if problem:
            raise self.fail(path + problem[0], problem[1])
        if "dataset" in config:
            nested = config["dataset"]
            if isinstance(nested, Mapping):
                self.dataset(nested, checked["dataset"], f"{path}dataset.")
            else:
                checked["dataset"] = self.name(f"{path}dataset", "type", nested)
        if "checkpoint" in config:
            self.checkpoint(cls, config["checkpoint"], checked, path)

    def checkpoint(self, cls: str, value: Any, checked: dict[str, Any], path: str) -> None:
        """Check a ``checkpoint``, with or without ``type``.

        For ``IncrementalDataset`` a string is its ``force_checkpoint`` value
        (data) and a mapping is a dataset config (default type ``TextDataset``)
        plus ``comparison_func``/``force_checkpoint``. Any other class's
        checkpoint is checked the same way, except that a string is read as a
        class path.
        """
        incremental = arguments.rule_scope(cls) == arguments.INCREMENTAL
        if isinstance(value, Mapping):
            for rule in arguments.CHECKPOINT_RULES:
                problem = arguments.check_rule(rule, value, self.allowed, pattern=self.pattern,
                                               subject="IncrementalDataset checkpoint")
                if problem:
                    raise self.fail(f"{path}checkpoint.{problem[0]}", problem[1])
            own = {k: v for k, v in value.items() if k not in arguments.CHECKPOINT_OWN_KEYS}
            self.dataset(own, checked["checkpoint"], f"{path}checkpoint.",
                         default_type=arguments.DEFAULT_CHECKPOINT_TYPE)
        elif incremental and (value is None or isinstance(value, str)):
            return
        elif incremental:
            raise self.fail(f"{path}checkpoint", (
                f"expected a mapping or a force_checkpoint string, got {value!r}"))
        else:
            checked["checkpoint"] = self.name(f"{path}checkpoint", "type", value)


def check_entry(
    entry: str, config: Any, allowed: frozenset[str], *, pattern: bool = False
) -> dict[str, Any]:
    """Check one catalog entry and return a copy with canonical class paths.

    Besides every class and callable it names, the values of arguments that
    choose code (``backend``, ``checkpoint.comparison_func``, the protocol of
    ``filepath``, ...) must be on their per-argument lists
    (:mod:`kedro_kinetic.wire.dataset_arguments`), in nested ``dataset:`` and
    ``checkpoint:`` configs too.

    Args:
        entry: The catalog entry name (or factory pattern), for messages.
        config: The entry's configuration, plain data.
        allowed: Fully qualified names that may be imported, and argument values.
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
    _Check(entry, allowed, pattern).dataset(config, checked, "")
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
