"""Arguments of allowlisted dataset classes that choose code by name, and their allowed values.

Allowlisting a class is not enough: some of its arguments are themselves names
of code. ``pickle.PickleDataset(backend=...)`` imports the module it names,
``IncrementalDataset``'s ``checkpoint.comparison_func`` goes through
``load_obj``, ``MatplotlibDataset``'s ``save_args.backend: module://x``
imports ``x``, polars' ``file_format`` and plotly's ``plotly_args.type`` pick
a function by ``getattr``, and the protocol of a path picks an fsspec
filesystem class. Each such argument of each audited class has a rule here
listing the exact values it may take; anything else (other strings, case or
whitespace variants, non-strings, factory placeholders) is refused before
anything is imported. ``docs/allowlist-audit.md`` records the audit.

Projects add values **in code only**, as strings in ``settings.py``'s
``KINETIC_DATASET_ALLOWLIST`` of the form ``"<scope>:<argument>=<value>"``,
for example ``"kedro_datasets.pickle.PickleDataset:backend=my_pkg.serialiser"``
or ``"fsspec:protocol=sftp"`` (see :func:`allow_argument`). Such strings
travel with the rest of the allowlist to the pod, which checks again.

This module imports only the standard library: the pod imports it before
anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kedro_kinetic.wire import dataset_hosts as hosts

#: Scope of the filesystem-protocol rule in extension strings (``fsspec:protocol=X``).
PROTOCOL_SCOPE = "fsspec"
INCREMENTAL = "kedro_datasets.partitions.IncrementalDataset"
#: The class ``IncrementalDataset`` uses for a ``checkpoint`` mapping without ``type``.
DEFAULT_CHECKPOINT_TYPE = "kedro_datasets.text.TextDataset"
#: Keys of a ``checkpoint`` mapping that IncrementalDataset pops before building it.
CHECKPOINT_OWN_KEYS = ("comparison_func", "force_checkpoint")

#: fsspec protocols a path may use: Kedro's cloud protocols, local and memory. ``http`` and
#: ``https`` fetch whatever URL configuration names, so code must allow them
#: (``fsspec:protocol=https``), and even then never from the pod's own or its cloud's
#: metadata hosts (:mod:`kedro_kinetic.wire.dataset_hosts`).
PROTOCOLS = ("file", "memory", "gs", "gcs", "s3", "s3a", "s3n",
             "abfs", "abfss", "az", "adl", "gdrive", "oci", "oss")
PICKLE_BACKENDS = ("pickle", "joblib", "dill", "cloudpickle", "compress_pickle")
COMPARISON_FUNCS = tuple(f"operator.{name}" for name in ("gt", "ge", "lt", "le", "eq", "ne"))
PLOTLY_EXPRESS = (
    "area", "bar", "bar_polar", "box", "choropleth", "choropleth_map", "choropleth_mapbox",
    "density_contour", "density_heatmap", "density_map", "density_mapbox", "ecdf", "funnel",
    "funnel_area", "histogram", "icicle", "imshow", "line", "line_3d", "line_geo", "line_map",
    "line_mapbox", "line_polar", "line_ternary", "parallel_categories",
    "parallel_coordinates", "pie", "scatter", "scatter_3d", "scatter_geo", "scatter_map",
    "scatter_mapbox", "scatter_matrix", "scatter_polar", "scatter_ternary", "strip",
    "sunburst", "timeline", "treemap", "violin",
)
WINDOW_FUNCTIONS = ("mean", "median", "sum", "min", "max", "std", "var", "count", "sem",
                    "skew", "kurt", "quantile")
MPL_BACKENDS = ("agg", "cairo", "pdf", "ps", "svg")
MPL_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff",
               "webp", "pgf", "raw", "rgba")
SPARK_CODECS = ("none", "uncompressed", "bzip2", "deflate", "gzip", "lz4", "lz4_raw",
                "snappy", "zstd", "zlib", "lzo", "brotli", "xz", "zstandard")


@dataclass(frozen=True)
class Rule:
    """One argument that chooses code, and the values it may take.

    Attributes:
        scope: Class path (or ``fsspec``) that extension strings name.
        name: Argument name in extension strings (``backend``, ``load_args.engine``).
        at: Dotted key path inside the dataset's configuration.
        values: Values accepted exactly as written.
        does: What the library does with the value (for messages and the audit).
        kind: ``value`` (the value itself), ``protocol`` (the protocol of a path)
            or ``keys`` (the option names of a mapping; dotted names are refused).
    """

    scope: str
    name: str
    at: str
    values: tuple[str, ...]
    does: str
    kind: str = "value"


def _rules(scope: str, *specs: tuple[Any, ...]) -> tuple[Rule, ...]:
    """Build a class's rules; a spec is ``(key, values, does)`` or ``("protocol", key)``."""
    rules = []
    for spec in specs:
        if spec[0] == "protocol":
            rules.append(Rule(PROTOCOL_SCOPE, "protocol", spec[1], PROTOCOLS,
                              "fsspec picks the filesystem class by the path's protocol",
                              "protocol"))
        elif spec[0] == "keys":
            rules.append(Rule(scope, spec[1], spec[1], (), spec[2], "keys"))
        else:
            rules.append(Rule(scope, spec[0], spec[0], tuple(spec[1]), spec[2]))
    return tuple(rules)


_COPY = ("copy_mode", ("deepcopy", "copy", "assign"), "selects how data is copied")
_PANDAS = "kedro_datasets.pandas."
_STYLESHEET = "lxml runs the XSLT program it names, which may read and write files"
_PLOTLY_JSON = (
    ("load_args.engine", ("json", "orjson", "auto"), "plotly picks its JSON decoder by name"),
    ("save_args.engine", ("json", "orjson", "auto"), "plotly picks its JSON encoder by name"),
    ("load_args.output_type", ("Figure", "FigureWidget"),
     "plotly picks the figure class by name"),
)
_MPL = (
    ("protocol", "filepath"),
    ("save_args.backend", MPL_BACKENDS,
     "savefig imports matplotlib.backends.backend_<name>, or any module given as "
     "'module://<name>'"),
    ("save_args.format", MPL_FORMATS, "savefig calls the canvas method print_<format>"),
)
_POLARS_FORMATS = ("csv", "parquet", "ipc", "ipc_stream", "json", "ndjson", "avro",
                   "excel", "ods")
_SPARK_OPTIONS = ("dotted option names become Spark/Hadoop configuration, where many "
                  "keys name JVM classes to load")

#: Rules by class path. Classes absent here (project classes) have no argument rules:
#: allowlisting them in code makes their arguments the author's responsibility.
ARGUMENT_RULES: dict[str, tuple[Rule, ...]] = {
    "kedro.io.MemoryDataset": _rules("kedro.io.MemoryDataset", _COPY),
    "kedro.io.CachedDataset": _rules("kedro.io.CachedDataset", _COPY),
    _PANDAS + "CSVDataset": _rules(
        _PANDAS + "CSVDataset", ("protocol", "filepath"),
        ("load_args.engine", ("c", "python", "pyarrow"), "pandas picks its CSV parser by name")),
    _PANDAS + "ParquetDataset": _rules(
        _PANDAS + "ParquetDataset", ("protocol", "filepath"),
        ("load_args.engine", ("auto", "pyarrow", "fastparquet"),
         "pandas imports the Parquet library it names"),
        ("save_args.engine", ("auto", "pyarrow", "fastparquet"),
         "pandas imports the Parquet library it names")),
    _PANDAS + "JSONDataset": _rules(
        _PANDAS + "JSONDataset", ("protocol", "filepath"),
        ("load_args.engine", ("ujson", "pyarrow"), "pandas picks its JSON parser by name")),
    _PANDAS + "ExcelDataset": _rules(
        _PANDAS + "ExcelDataset", ("protocol", "filepath"),
        ("engine", ("openpyxl", "xlsxwriter", "odf"), "pandas picks its Excel writer by name"),
        ("save_args.writer.engine", ("openpyxl", "xlsxwriter", "odf"),
         "pandas picks its Excel writer by name"),
        ("load_args.engine", ("openpyxl", "xlrd", "odf", "pyxlsb", "calamine"),
         "pandas imports the Excel reader it names")),
    _PANDAS + "FeatherDataset": _rules(_PANDAS + "FeatherDataset", ("protocol", "filepath")),
    _PANDAS + "XMLDataset": _rules(
        _PANDAS + "XMLDataset", ("protocol", "filepath"),
        ("load_args.parser", ("lxml", "etree"), "pandas picks its XML parser by name"),
        ("save_args.parser", ("lxml", "etree"), "pandas picks its XML writer by name"),
        ("load_args.stylesheet", (), _STYLESHEET),
        ("save_args.stylesheet", (), _STYLESHEET)),
    _PANDAS + "GenericDataset": _rules(
        _PANDAS + "GenericDataset", ("protocol", "filepath"),
        ("file_format", ("csv", "parquet", "json", "feather", "orc", "excel", "xml"),
         "calls pandas.read_<file_format> and DataFrame.to_<file_format>"),
        ("load_args.stylesheet", (), _STYLESHEET),
        ("save_args.stylesheet", (), _STYLESHEET)),
    "kedro_datasets.polars.CSVDataset": _rules(
        "kedro_datasets.polars.CSVDataset", ("protocol", "filepath")),
    "kedro_datasets.polars.EagerPolarsDataset": _rules(
        "kedro_datasets.polars.EagerPolarsDataset", ("protocol", "filepath"),
        ("file_format", _POLARS_FORMATS,
         "calls polars.read_<file_format> and DataFrame.write_<file_format>"),
        ("load_args.engine", ("calamine", "openpyxl", "xlsx2csv"),
         "polars imports the Excel reader it names")),
    "kedro_datasets.polars.LazyPolarsDataset": _rules(
        "kedro_datasets.polars.LazyPolarsDataset", ("protocol", "filepath"),
        ("file_format", ("csv", "parquet"),
         "calls polars.scan_<file_format> and DataFrame.write_<file_format>")),
    "kedro_datasets.json.JSONDataset": _rules(
        "kedro_datasets.json.JSONDataset", ("protocol", "filepath")),
    "kedro_datasets.yaml.YAMLDataset": _rules(
        "kedro_datasets.yaml.YAMLDataset", ("protocol", "filepath")),
    "kedro_datasets.text.TextDataset": _rules(
        "kedro_datasets.text.TextDataset", ("protocol", "filepath")),
    "kedro_datasets.pickle.PickleDataset": _rules(
        "kedro_datasets.pickle.PickleDataset", ("protocol", "filepath"),
        ("backend", PICKLE_BACKENDS, "importlib.import_module imports the module it names")),
    "kedro_datasets.redis.PickleDataset": _rules(
        "kedro_datasets.redis.PickleDataset",
        ("backend", ("pickle", "dill", "cloudpickle", "compress_pickle"),
         "importlib.import_module imports the module it names")),
    "kedro_datasets.partitions.PartitionedDataset": _rules(
        "kedro_datasets.partitions.PartitionedDataset", ("protocol", "path"),
        ("filepath_arg", ("filepath", "path"),
         "names the nested dataset's argument that receives each partition's file name")),
    INCREMENTAL: _rules(
        INCREMENTAL, ("protocol", "path"),
        ("filepath_arg", ("filepath", "path"),
         "names the nested dataset's argument that receives each partition's file name")),
    "kedro_datasets.matplotlib.MatplotlibWriter": _rules(
        "kedro_datasets.matplotlib.MatplotlibWriter", *_MPL),
    "kedro_datasets.matplotlib.MatplotlibDataset": _rules(
        "kedro_datasets.matplotlib.MatplotlibDataset", *_MPL),
    "kedro_datasets.pillow.ImageDataset": _rules(
        "kedro_datasets.pillow.ImageDataset", ("protocol", "filepath")),
    "kedro_datasets.plotly.JSONDataset": _rules(
        "kedro_datasets.plotly.JSONDataset", ("protocol", "filepath"), *_PLOTLY_JSON),
    "kedro_datasets.plotly.PlotlyDataset": _rules(
        "kedro_datasets.plotly.PlotlyDataset", ("protocol", "filepath"), *_PLOTLY_JSON,
        ("plotly_args.type", PLOTLY_EXPRESS, "calls getattr(plotly.express, type)"),
        ("plotly_args.fig.trendline_options.function", WINDOW_FUNCTIONS,
         "plotly calls getattr(<pandas window>, function)")),
    "kedro_datasets.networkx.JSONDataset": _rules(
        "kedro_datasets.networkx.JSONDataset", ("protocol", "filepath")),
    "kedro_datasets.spark.SparkDataset": _rules(
        "kedro_datasets.spark.SparkDataset",
        ("file_format", ("parquet", "csv", "json", "orc", "text", "avro", "delta"),
         "Spark loads the data source it names, or any JVM class given by its full name"),
        ("keys", "load_args", _SPARK_OPTIONS), ("keys", "save_args", _SPARK_OPTIONS),
        ("load_args.compression", SPARK_CODECS, "Hadoop loads a codec class by name"),
        ("save_args.compression", SPARK_CODECS, "Hadoop loads a codec class by name"),
        ("load_args.codec", SPARK_CODECS, "Hadoop loads a codec class by name"),
        ("save_args.codec", SPARK_CODECS, "Hadoop loads a codec class by name")),
}

#: Rules for a ``checkpoint`` mapping, whatever class holds it and whether or not
#: it has ``type``: IncrementalDataset pops these keys and resolves the function.
CHECKPOINT_RULES = (
    Rule(INCREMENTAL, "checkpoint.comparison_func", "comparison_func", COMPARISON_FUNCS,
         "kedro.utils.load_obj imports the module and calls the function it names"),
)


def rule_scope(class_path: str) -> str:
    """Map a class path to the key of its rules (``a.b.module.Cls`` -> ``a.b.Cls``).

    Kedro's classes are also importable from their defining module, which is
    the path :func:`kedro_kinetic.wire.allowlist.class_path` gives for a class
    object; both spellings get the same rules.
    """
    if class_path in ARGUMENT_RULES or class_path.count(".") < 3:
        return class_path
    parts = class_path.split(".")
    short = ".".join(parts[:-2] + parts[-1:])
    return short if short in ARGUMENT_RULES else class_path


def rules_for(class_path: str) -> tuple[Rule, ...]:
    """The argument rules of a (canonical) class path; empty for unknown classes."""
    return ARGUMENT_RULES.get(rule_scope(class_path), ())


def allow_argument(cls: Any, argument: str, value: str) -> str:
    """Return the ``KINETIC_DATASET_ALLOWLIST`` string that allows one more value.

    Example (in ``settings.py``)::

        from kedro_datasets.pickle import PickleDataset
        KINETIC_DATASET_ALLOWLIST = [allow_argument(PickleDataset, "backend", "my_pkg.ser")]
    """
    scope = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
    return f"{scope}:{argument}={value}"


def parse_extension(entry: str) -> tuple[str, str, str] | None:
    """Split an argument extension ``scope:argument=value``; ``None`` for class paths.

    Raises:
        ValueError: The entry looks like an extension but names no known rule.
    """
    if ":" not in entry and "=" not in entry:
        return None
    scope, _, rest = entry.partition(":")
    name, eq, value = rest.partition("=")
    scope = rule_scope(scope)
    known = {(r.scope, r.name) for rules in (*ARGUMENT_RULES.values(), CHECKPOINT_RULES,
                                             (ENDPOINT_RULE,)) for r in rules}
    if not eq or not value or value != value.strip() or (scope, name) not in known:
        raise ValueError(
            f"allowlist entry {entry!r} is neither a dotted class path nor "
            "'<class path>:<argument>=<value>' for an argument kedro-kinetic checks "
            "(see docs/allowlist-audit.md)")
    return scope, name, value


def _extra_values(rule: Rule, allowed: Iterable[str]) -> set[str]:
    values = set()
    for entry in allowed:
        if ":" in entry:
            scope, _, rest = entry.partition(":")
            name, _, value = rest.partition("=")
            if rule_scope(scope) == rule.scope and name == rule.name:
                values.add(value)
    return values


def _lookup(config: Mapping[str, Any], at: str) -> tuple[bool, Any]:
    node: Any = config
    for part in at.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def path_protocol(path: str) -> str:
    """The protocol Kedro (and fsspec's ``infer_storage_options``) reads from a path.

    Raises:
        ValueError: The path is not a valid URL.
    """
    if re.match(r"^[a-zA-Z]:[\\/]", path) or re.match(r"^[a-zA-Z0-9]+://", path) is None:
        return "file"
    return urlsplit(path).scheme or "file"


def _allowed_text(rule: Rule, extra: set[str]) -> str:
    values = sorted(set(rule.values) | extra)
    allowed = ", ".join(values) if values else "none"
    example = f"{rule.scope}:{rule.name}=VALUE"
    return (f"allowed: {allowed}; nothing was imported. To allow another value, add "
            f"'{example}' to KINETIC_DATASET_ALLOWLIST in settings.py (code only)")


def check_rule(rule: Rule, config: Mapping[str, Any], allowed: Iterable[str], *,
               subject: str, pattern: bool = False) -> tuple[str, str] | None:
    """Check one rule against a dataset configuration.

    Returns:
        ``(key path, message)`` for a refused value, else ``None``.
    """
    found, value = _lookup(config, rule.at)
    if not found:
        return None
    extra = _extra_values(rule, allowed)
    if rule.kind == "keys":
        if not isinstance(value, Mapping):
            return None
        for key in value:
            if isinstance(key, str) and "." in key and key not in extra:
                return (f"{rule.at}.{key}", f"option {key!r} is not allowed for {subject} "
                        f"{rule.name} ({rule.does}); {_allowed_text(rule, extra)}")
        return None
    if rule.kind == "protocol":
        return (_check_protocol(rule, value, extra, subject, pattern)
                or hosts.header_problem(config)
                or _endpoint_problem(config, _extra_values(ENDPOINT_RULE, allowed), subject))
    if pattern and isinstance(value, str) and "{" in value:
        return (rule.at, _placeholder(value, subject, rule))
    if isinstance(value, str) and (value in rule.values or value in extra):
        return None
    return (rule.at, f"{value!r} is not allowed for {subject} argument '{rule.at}' "
            f"({rule.does}); {_allowed_text(rule, extra)}")


def _placeholder(value: str, subject: str, rule: Rule) -> str:
    return (f"{value!r} depends on a factory placeholder; GKERunner only accepts literal "
            "values for arguments that choose code, so that they can be checked before "
            f"import ({subject} argument '{rule.at}': {rule.does})")


def _check_protocol(rule: Rule, value: Any, extra: set[str], subject: str,
                    pattern: bool) -> tuple[str, str] | None:
    """Check the protocol of a path; in a factory pattern, only its literal part.

    A placeholder after the protocol (``gs://b/{name}.csv``) is fine; one that
    could supply the protocol (``{x}://...``) is refused. The values a pattern
    resolves to are checked again by the planner and in the pod.
    """
    if not isinstance(value, str):
        return (rule.at, f"{value!r} is not allowed for {subject} argument '{rule.at}' "
                f"(expected a path string); {_allowed_text(rule, extra)}")
    if "::" in value:
        return (rule.at, f"{value!r} is a chained fsspec URL, which picks further "
                f"filesystem classes by name; not allowed for {subject}")
    literal = value
    if pattern and "{" in value:
        literal = value[:value.index("{")]
        if "://" in value and "://" not in literal:
            return (rule.at, _placeholder(value, subject, rule))
    try:
        protocol = path_protocol(literal)
    except ValueError:
        protocol = literal
    if protocol in hosts.HTTP_PROTOCOLS and (protocol in rule.values or protocol in extra):
        why = hosts.url_problem(value, pattern=pattern)
        return (rule.at, f"{why} ({subject})") if why else None
    if protocol in rule.values or protocol in extra:
        return None
    return (rule.at, f"protocol {protocol!r} of {value!r} is not allowed for {subject} "
            f"({rule.does}); {_allowed_text(rule, extra)}")


#: Where a filesystem sends its requests, and with them the credentials it holds (on GKE the
#: pod's Google token from the metadata server): an argument of every fsspec dataset.
ENDPOINT_RULE = Rule(
    PROTOCOL_SCOPE, "endpoint", "fs_args", (),
    "the filesystem sends the dataset's requests, and the credentials it holds (a pod's "
    "Google token), to the endpoint it names", "endpoint")
#: Option names, at any depth of a dataset's configuration, that name such an endpoint.
ENDPOINT_KEYS = frozenset({
    "endpoint_url", "endpoint", "endpoint_override", "api_endpoint", "base_url",
    "account_host", "host", "proxy", "proxies", "http_proxy", "https_proxy", "proxy_url",
    "client_options", "custom_endpoint", "service_endpoint", "storage_endpoint",
})


def _endpoints(config: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(config, Mapping):
        for key, value in config.items():
            where = f"{path}{key}"
            if isinstance(key, str) and key.lower() in ENDPOINT_KEYS:
                yield where, value
            else:
                yield from _endpoints(value, where + ".")
    elif isinstance(config, (list, tuple)):
        for i, item in enumerate(config):
            yield from _endpoints(item, f"{path}[{i}].")


def _endpoint_problem(config: Mapping[str, Any], extra: set[str],
                      subject: str) -> tuple[str, str] | None:
    """``(key path, message)`` for an endpoint the project's code did not allow."""
    for where, value in _endpoints(config):
        if isinstance(value, str) and value in extra:
            why = hosts.url_problem(value) if "://" in value else None
            if why is None:
                continue
            return (where, f"{why} ({subject})")
        return (where, f"{value!r} is not allowed for {subject} option '{where}' "
                f"({ENDPOINT_RULE.does}); {_allowed_text(ENDPOINT_RULE, extra)}")
    return None


def first_problem(class_path: str, config: Mapping[str, Any], allowed: Iterable[str], *,
                  pattern: bool = False) -> tuple[str, str] | None:
    """Check every code-choosing argument of a class; return the first refusal."""
    subject = class_path.rsplit(".", 1)[-1]
    for rule in rules_for(class_path):
        problem = check_rule(rule, config, allowed, subject=subject, pattern=pattern)
        if problem:
            return problem
    return None
