from __future__ import annotations

import pytest

from kedro_kinetic.wire.allowlist import (
    CatalogSpecError,
    build_allowlist,
    check_catalog,
    check_entry,
    class_path,
)

ALLOWED = build_allowlist(["my_project.datasets.SpecialDataset"])


def test_short_type_names_are_canonicalised_like_kedro_resolves_them():
    checked = check_entry("x", {"type": "pandas.CSVDataset", "filepath": "a.csv"}, ALLOWED)
    assert checked == {"type": "kedro_datasets.pandas.CSVDataset", "filepath": "a.csv"}
    assert check_entry("m", {"type": "MemoryDataset"}, ALLOWED)["type"] == "kedro.io.MemoryDataset"


def test_project_class_allowed_by_name_in_code():
    assert check_entry("s", {"type": "my_project.datasets.SpecialDataset"}, ALLOWED)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"type": "os.system"}, "type"),
        ({"type": "pandas.CSVDataset", "validator": "builtins.exec"}, "validator"),
        ({"type": "pandas.CSVDataset", "validator": {"class": "os.system"}}, "validator.class"),
        ({"type": "partitions.PartitionedDataset", "path": "p", "dataset": "evil.Mod"}, "dataset"),
        ({"type": "partitions.PartitionedDataset", "path": "p",
          "dataset": {"type": "evil.Mod"}}, "dataset.type"),
        ({"type": "CachedDataset", "dataset": {"type": "pandas.CSVDataset",
                                               "validator": "os.system"}}, "dataset.validator"),
        ({"type": "partitions.IncrementalDataset", "path": "p", "dataset": "pandas.CSVDataset",
          "checkpoint": {"type": "evil.Checkpoint"}}, "checkpoint.type"),
        ({"type": "pandas.GenericDataset", "file_format": "pickle"}, "type"),
        ({"type": 42}, "type"),
        ({"filepath": "no-type.csv"}, "type"),
    ],
)
def test_disallowed_references_name_the_entry_and_key(config, key):
    with pytest.raises(CatalogSpecError) as info:
        check_entry("bad_entry", config, ALLOWED)
    assert "catalog entry 'bad_entry'" in str(info.value)
    assert f"key '{key}'" in str(info.value)


def test_patterns_with_placeholder_types_are_refused():
    with pytest.raises(CatalogSpecError, match="factory placeholder"):
        check_catalog({"{name}_data": {"type": "{name}"}}, ALLOWED)
    checked = check_catalog({"{name}_data": {"type": "pandas.CSVDataset",
                                             "filepath": "{name}.csv"}, "_anchor": 1}, ALLOWED)
    assert set(checked) == {"{name}_data"}


def test_allowlist_extensions_must_be_objects_not_strings():
    from kedro.io import MemoryDataset

    assert class_path(MemoryDataset) == "kedro.io.memory_dataset.MemoryDataset"
    with pytest.raises(TypeError, match="not strings"):
        class_path("os.system")


# -- arguments that choose code (kedro_kinetic.wire.dataset_arguments) ----------------------

from kedro_kinetic.wire import dataset_arguments as args  # noqa: E402
from kedro_kinetic.wire.allowlist import DEFAULT_ALLOWLIST, canonical_type  # noqa: E402

#: Non-default classes a project may allowlist; their rules still apply.
NON_DEFAULT = ("kedro_datasets.redis.PickleDataset", "kedro_datasets.pandas.GenericDataset",
               "kedro_datasets.polars.LazyPolarsDataset", "kedro_datasets.spark.SparkDataset")
WITH_EXTRAS = build_allowlist(NON_DEFAULT)
VALUE_RULES = [(cls, rule) for cls, rules in args.ARGUMENT_RULES.items() for rule in rules
               if rule.kind == "value"]
PROTOCOL_CLASSES = sorted({cls for cls, rules in args.ARGUMENT_RULES.items()
                           for rule in rules if rule.kind == "protocol"})


def nest(at: str, value, base: dict | None = None) -> dict:
    """``nest("a.b", 1)`` -> ``{"a": {"b": 1}}``, merged into ``base``."""
    config = dict(base or {})
    node = config
    *parents, last = at.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return config


def spellings(cls: str) -> list[str]:
    """The ways a catalog can name a class: short (Kedro prefixes), full, defining module."""
    short = cls.removeprefix("kedro_datasets.").removeprefix("kedro.io.")
    return [short, cls]


def bad_values(good: tuple[str, ...]) -> list:
    """Case, whitespace, trailing-dot and type variants of good values, and hostile names."""
    first = good[0] if good else "pickle"
    return ["os", "builtins", "os.system", "evil_mod", "evil_mod.compare", "module://evil_mod",
            f"{first} ", f" {first}", f"{first}.", f"{first}\n", first.upper(),
            first.capitalize(), f"{first}.evil", [first], {"name": first}, 1, 0.5, True, None,
            ""]


def refused(config: dict, key: str, allowed=WITH_EXTRAS, *, pattern: bool = False) -> str:
    with pytest.raises(CatalogSpecError) as info:
        check_entry("bad_entry", config, allowed, pattern=pattern)
    message = str(info.value)
    assert f"catalog entry 'bad_entry', key '{key}'" in message, message
    assert "Traceback" not in message
    return message


def _rule_id(item) -> str:
    cls, rule = item
    return f"{cls.rsplit('.', 2)[-2]}.{cls.rsplit('.', 1)[-1]}:{rule.at}"


@pytest.mark.parametrize("item", VALUE_RULES, ids=_rule_id)
def test_every_code_choosing_argument_accepts_exactly_its_values(item):
    cls, rule = item
    for spelling in spellings(cls):
        for value in rule.values:
            checked = check_entry("ok", nest(rule.at, value, {"type": spelling}), WITH_EXTRAS)
            assert checked["type"] == cls
        for value in bad_values(rule.values):
            if value in rule.values:
                continue
            message = refused(nest(rule.at, value, {"type": spelling}), rule.at)
            assert repr(value) in message  # the error names what was refused
            assert "nothing was imported" in message
            assert f"{rule.scope}:{rule.name}=VALUE" in message and "settings.py" in message


NESTINGS = {
    "partitioned": lambda inner: {"type": "partitions.PartitionedDataset", "path": "p",
                                  "dataset": inner},
    "incremental": lambda inner: {"type": "partitions.IncrementalDataset", "path": "p",
                                  "dataset": inner},
    "cached": lambda inner: {"type": "kedro.io.CachedDataset", "dataset": inner},
    "cached-partitioned": lambda inner: {
        "type": "CachedDataset",
        "dataset": {"type": "kedro_datasets.partitions.PartitionedDataset", "path": "p",
                    "dataset": inner}},
    "checkpoint": lambda inner: {"type": "partitions.IncrementalDataset", "path": "p",
                                 "dataset": "pandas.CSVDataset", "checkpoint": inner},
}
NESTED_KEY = {"partitioned": "dataset.", "incremental": "dataset.", "cached": "dataset.",
              "cached-partitioned": "dataset.dataset.", "checkpoint": "checkpoint."}


@pytest.mark.parametrize("nesting", list(NESTINGS))
@pytest.mark.parametrize("item", VALUE_RULES, ids=_rule_id)
def test_nested_datasets_get_the_rules_of_their_own_class(item, nesting):
    cls, rule = item
    wrap, prefix = NESTINGS[nesting], NESTED_KEY[nesting]
    good = nest(rule.at, rule.values[0], {"type": cls}) if rule.values else None
    if good is not None:
        check_entry("ok", wrap(good), WITH_EXTRAS)
    for value in ("os", f"{rule.values[0] if rule.values else 'x'} ", ["pickle"], 7):
        refused(wrap(nest(rule.at, value, {"type": cls})), prefix + rule.at)


@pytest.mark.parametrize("cls", PROTOCOL_CLASSES)
def test_path_protocols_pick_filesystems_from_a_fixed_list(cls):
    key = next(r.at for r in args.ARGUMENT_RULES[cls] if r.kind == "protocol")
    for path in ("data/x.csv", "/abs/x.csv", "file:///abs/x", "gs://b/x", "s3://b/x",
                 "GS://b/x", "C:\\data\\x.csv"):
        check_entry("ok", {"type": cls, key: path}, WITH_EXTRAS)
    for path in ("https://example.com/x.csv", "http://example.com/x.csv",  # code allows them
                 "reference://refs.json", "dask://x", "sftp://host/x", "ssh://host/x",
                 "hdfs://nn/x", "dir://x", "simplecache://x", "git://x", "libarchive://x",
                 "gs://b/x::zip://y", "zip://a::file://b.zip", ["gs://b/x"], {"a": 1}, 3):
        refused({"type": cls, key: path}, key)


@pytest.mark.parametrize("checkpoint", [
    {"comparison_func": "os.popen"},  # a checkpoint mapping without `type`
    {"comparison_func": "evil_mod.compare"},
    {"comparison_func": "builtins.eval"},
    {"comparison_func": "operator.gt."},
    {"comparison_func": "operator.GT"},
    {"comparison_func": " operator.gt"},
    {"comparison_func": "operator.gt "},
    {"comparison_func": "operator"},
    {"comparison_func": "operator.attrgetter"},
    {"comparison_func": ["operator.gt"]},
    {"comparison_func": {"func": "operator.gt"}},
    {"comparison_func": 1},
    {"comparison_func": None},
    {"type": "text.TextDataset", "comparison_func": "os.popen"},
    {"type": "kedro_datasets.text.TextDataset", "filepath": "p/CHECKPOINT",
     "comparison_func": "subprocess.getoutput"},
])
def test_checkpoint_comparison_func_is_checked_with_or_without_type(checkpoint):
    config = {"type": "partitions.IncrementalDataset", "path": "p",
              "dataset": "pandas.CSVDataset", "checkpoint": checkpoint}
    refused(config, "checkpoint.comparison_func")
    # ...also as a nested dataset, under a class Kedro looks up by its long name
    outer = {"type": "kedro_datasets.partitions.PartitionedDataset", "path": "q",
             "dataset": dict(config, type="kedro_datasets.partitions.IncrementalDataset")}
    refused(outer, "dataset.checkpoint.comparison_func")


@pytest.mark.parametrize("func", args.COMPARISON_FUNCS)
def test_operator_comparisons_and_force_checkpoint_strings_are_accepted(func):
    for checkpoint in ({"comparison_func": func}, {"comparison_func": func, "force_checkpoint":
                       "2024-01-01"}, {"type": "text.TextDataset", "comparison_func": func},
                       "2024-01-01", None):
        check_entry("ok", {"type": "partitions.IncrementalDataset", "path": "p",
                           "dataset": "pandas.CSVDataset", "checkpoint": checkpoint}, ALLOWED)


@pytest.mark.parametrize(("checkpoint", "key"), [
    ({"type": "evil_mod.Checkpoint"}, "checkpoint.type"),
    ({"type": "pickle.PickleDataset", "backend": "os"}, "checkpoint.backend"),
    ({"filepath": "reference://x"}, "checkpoint.filepath"),  # default TextDataset's rules
    ({"validator": "builtins.exec"}, "checkpoint.validator"),
    ({"dataset": {"type": "pickle.PickleDataset", "backend": "os"}},
     "checkpoint.dataset.backend"),
    (["operator.gt"], "checkpoint"),
    (3, "checkpoint"),
])
def test_checkpoint_configs_are_datasets_too(checkpoint, key):
    refused({"type": "partitions.IncrementalDataset", "path": "p",
             "dataset": "pandas.CSVDataset", "checkpoint": checkpoint}, key)


def test_a_checkpoint_string_of_another_class_is_still_read_as_a_class_path():
    refused({"type": "my_project.datasets.SpecialDataset", "checkpoint": "evil_mod.Thing"},
            "checkpoint", ALLOWED)


@pytest.mark.parametrize("value", ["filepath", "path"])
def test_filepath_arg_cannot_route_file_names_into_code_choosing_arguments(value):
    for cls in ("partitions.PartitionedDataset", "partitions.IncrementalDataset"):
        check_entry("ok", {"type": cls, "path": "p", "dataset": "pickle.PickleDataset",
                           "filepath_arg": value}, ALLOWED)
        for bad in ("backend", "type", "dataset", "load_args", "checkpoint", value.upper()):
            refused({"type": cls, "path": "p", "dataset": "pickle.PickleDataset",
                     "filepath_arg": bad}, "filepath_arg")


@pytest.mark.parametrize(("config", "key"), [
    ({"type": "pickle.PickleDataset", "filepath": "data/{name}.pkl", "backend": "{name}"},
     "backend"),
    ({"type": "pickle.PickleDataset", "filepath": "x", "backend": "pickle{suffix}"}, "backend"),
    ({"type": "partitions.IncrementalDataset", "path": "p", "dataset": "pandas.CSVDataset",
      "checkpoint": {"comparison_func": "{name}.compare"}}, "checkpoint.comparison_func"),
    ({"type": "partitions.PartitionedDataset", "path": "p",
      "dataset": {"type": "pickle.PickleDataset", "backend": "{name}"}}, "dataset.backend"),
    ({"type": "pandas.CSVDataset", "filepath": "{proto}://bucket/{name}.csv"}, "filepath"),
    ({"type": "pandas.CSVDataset", "filepath": "g{s}://bucket/{name}.csv"}, "filepath"),
    ({"type": "plotly.PlotlyDataset", "filepath": "x", "plotly_args": {"type": "{name}"}},
     "plotly_args.type"),
])
def test_factory_patterns_cannot_leave_code_choosing_values_to_a_placeholder(config, key):
    message = refused(config, key, pattern=True)
    assert "factory placeholder" in message
    checked = check_catalog({"{name}_csv": {"type": "pandas.CSVDataset",
                                            "filepath": "gs://b/{name}.csv"},
                             "{name}_local": {"type": "pandas.CSVDataset",
                                              "filepath": "{name}.csv"}}, ALLOWED)
    assert set(checked) == {"{name}_csv", "{name}_local"}


def test_check_catalog_applies_argument_rules_to_patterns_and_entries():
    with pytest.raises(CatalogSpecError, match=r"catalog entry '\{name\}_model', key 'backend'"):
        check_catalog({"{name}_model": {"type": "pickle.PickleDataset",
                                        "filepath": "data/{name}.pkl", "backend": "os"}},
                      ALLOWED)
    with pytest.raises(CatalogSpecError, match="catalog entry 'model', key 'backend'"):
        check_catalog({"model": {"type": "pickle.PickleDataset", "filepath": "m.pkl",
                                 "backend": "builtins"}}, ALLOWED)


def test_argument_values_are_extended_in_settings_strings_only_for_their_class():
    extended = build_allowlist([
        "kedro_datasets.pickle.PickleDataset:backend=my_project.serialiser",
        # the spelling class_path() gives for the class object works too
        "kedro_datasets.partitions.incremental_dataset.IncrementalDataset:"
        "checkpoint.comparison_func=my_project.compare",
        "fsspec:protocol=sftp",
        args.allow_argument("kedro_datasets.pickle.PickleDataset", "backend", "my_ser"),
    ])
    for backend in ("my_project.serialiser", "my_ser"):
        check_entry("ok", {"type": "pickle.PickleDataset", "filepath": "x", "backend": backend},
                    extended)
    check_entry("ok", {"type": "partitions.IncrementalDataset", "path": "sftp://h/p",
                       "dataset": "pandas.CSVDataset",
                       "checkpoint": {"comparison_func": "my_project.compare"}}, extended)
    # not for another class, and not as a class
    refused({"type": "kedro_datasets.redis.PickleDataset", "key": "k",
             "backend": "my_project.serialiser"}, "backend",
            extended | {"kedro_datasets.redis.PickleDataset"})
    refused({"type": "kedro_datasets.pickle.PickleDataset:backend=my_project.serialiser"},
            "type", extended)
    assert canonical_type("pickle.PickleDataset:backend=my_ser", extended) is None


@pytest.mark.parametrize("entry", [
    "kedro_datasets.pickle.PickleDataset:backend=",
    "kedro_datasets.pickle.PickleDataset:backend= os",
    "kedro_datasets.pickle.PickleDataset:bakend=os",
    "kedro_datasets.pickle.PickleDataset:backend",
    "kedro_datasets.text.TextDataset:backend=os",
    "fsspec:protocols=sftp",
])
def test_malformed_argument_extensions_are_refused(entry):
    with pytest.raises(CatalogSpecError, match="allowlist entry"):
        build_allowlist([entry])


def test_classes_allowlisted_by_their_defining_module_get_the_same_rules():
    from kedro_datasets.pickle import PickleDataset

    allowed = build_allowlist([class_path(PickleDataset)])
    refused({"type": class_path(PickleDataset), "filepath": "x", "backend": "os"}, "backend",
            allowed)
    assert args.rules_for("kedro.io.cached_dataset.CachedDataset")


@pytest.mark.parametrize(("options", "key"), [
    ({"load_args": {"fs.file.impl": "evil.FS"}}, "load_args.fs.file.impl"),
    ({"save_args": {"parquet.crypto.factory.class": "evil.F"}},
     "save_args.parquet.crypto.factory.class"),
    ({"save_args": {"compression": "com.evil.Codec"}}, "save_args.compression"),
    ({"file_format": "jdbc"}, "file_format"),
    ({"file_format": "org.evil.DefaultSource"}, "file_format"),
])
def test_spark_when_allowlisted_refuses_class_naming_options(options, key):
    assert "kedro_datasets.spark.SparkDataset" not in DEFAULT_ALLOWLIST
    refused({"type": "spark.SparkDataset", "filepath": "x", **options}, key)
    check_entry("ok", {"type": "spark.SparkDataset", "filepath": "x", "file_format": "csv",
                       "load_args": {"header": True, "compression": "gzip"}}, WITH_EXTRAS)


def test_every_default_class_has_audited_rules_and_only_audited_scopes_exist():
    for cls in DEFAULT_ALLOWLIST:
        assert cls in args.ARGUMENT_RULES, f"{cls} has no audit entry"
    for cls, rules in args.ARGUMENT_RULES.items():
        for rule in rules:
            assert rule.scope in (cls, args.PROTOCOL_SCOPE)
            assert all(isinstance(v, str) and v == v.strip() and v for v in rule.values)


def test_arguments_that_only_carry_data_are_untouched():
    config = {"type": "pandas.CSVDataset", "filepath": "data/x.csv",
              "load_args": {"sep": ";", "encoding": "utf-8", "compression": "gzip"},
              "save_args": {"index": False}, "fs_args": {"open_args_load": {"mode": "rb"}},
              "credentials": "dev", "metadata": {"kedro-viz": {"layer": "raw"}},
              "versioned": True}
    checked = check_entry("ok", config, ALLOWED)
    assert checked == dict(config, type="kedro_datasets.pandas.CSVDataset")


def test_the_audit_page_lists_every_rule():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[3] / "docs" / "allowlist-audit.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    for cls, rules in args.ARGUMENT_RULES.items():
        short = cls.removeprefix("kedro_datasets.")
        mine = [row for row in rows if f"`{short}`" in row.split("|")[1]]
        assert mine, f"{cls} is missing from docs/allowlist-audit.md"
        for rule in rules:
            if rule.kind == "value":
                assert any(f"`{rule.at}`" in row for row in mine), f"{cls} {rule.at}"


@pytest.mark.parametrize(("config", "loads"), [
    ({"type": "kedro_datasets.partitions.IncrementalDataset", "path": "p",
      "dataset": "kedro_datasets.pandas.CSVDataset",
      "checkpoint": {"type": "kedro_datasets.pickle.PickleDataset", "filepath": "c"}}, True),
    ({"type": "kedro.io.CachedDataset", "dataset": {
        "type": "kedro_datasets.partitions.IncrementalDataset", "path": "p",
        "dataset": "kedro_datasets.pandas.CSVDataset",
        "checkpoint": {"type": "kedro_datasets.pickle.PickleDataset", "filepath": "c"}}}, True),
    ({"type": "kedro_datasets.partitions.IncrementalDataset", "path": "p",
      "dataset": "kedro_datasets.pandas.CSVDataset",
      "checkpoint": {"type": "kedro_datasets.text.TextDataset", "filepath": "c"}}, False),
    ({"type": "kedro_datasets.partitions.IncrementalDataset", "path": "p",
      "dataset": "kedro_datasets.pandas.CSVDataset", "checkpoint": "2026-01-01"}, False),
    ({"type": "kedro_datasets.partitions.PartitionedDataset", "path": "p",
      "dataset": "kedro_datasets.pickle.PickleDataset"}, True),
])
def test_every_config_a_dataset_holds_counts_for_whether_it_loads_code(config, loads):
    """``checkpoint`` is walked by the allowlist check; it must count here too (a pickle
    checkpoint of IncrementalDataset was unpickled without a pin)."""
    from kedro_kinetic.wire.pinned_files import loads_code

    assert loads_code(config) is loads
