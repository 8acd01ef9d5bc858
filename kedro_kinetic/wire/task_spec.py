"""The task spec: what one node's pod is told to do, as plain data.

A spec is written by the driver as JSON and read by the pod with PyYAML's
safe loader (JSON is YAML), after its SHA-256 has been checked against the pin
in the Job's container args. It names the node's datasets; it never holds
pickled objects or credential values (only credential *names*).

Dataset kinds:

``catalog``
    ``{"kind": "catalog", "config": {...}}``: a catalog entry, class paths
    already checked against the allowlist (the pod checks them again).
``param``
    ``{"kind": "param", "value": ...}``: a parameter value (plain data).
``pickle``
    ``{"kind": "pickle", "uri": ..., "sha256": ..., "bytes": ...}``: an
    intermediate that only lived in memory in a normal Kedro run. As an input,
    its digest and size (as reported by the producing pod) are pinned here, and
    the pod reads no more than that size; as an output the pod computes and
    reports both.
``memory``
    ``{"kind": "memory"}``: an intermediate between two nodes of one group,
    kept in the pod's memory (the earlier node of the same pod produced it).

A catalog input may carry ``"sha256"`` (a pickle pinned by its producer's
digest or the project), ``"trusted": true`` (opted in by the project's code)
or ``"from_group": true`` (a pickle an earlier node of the same pod wrote,
pinned by the digest the pod recorded when it wrote it).

``kinetic_version`` is the driver's kedro-kinetic version: a pod whose kedro-kinetic reads
another format names both versions when it refuses the spec.

``data_roots`` (``{"roots": [...], "excluded": [...]}``) says where local
catalog paths may lie: folders relative to the project (the pod's working
folder) or absolute (see :class:`kedro_kinetic.wire.data_paths.DataRoots`). A spec
without it lets no local catalog path be read or written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from kedro_kinetic.errors import SpecError
from kedro_kinetic.version import __version__
from kedro_kinetic.wire.data_paths import DataRoots, PathProblem
from kedro_kinetic.wire.digest import is_digest

SPEC_FORMAT = "kedro-kinetic/task@1"
DATASET_KINDS = ("catalog", "param", "pickle", "memory")

try:  # the C loader is faster; both are safe loaders
    _SafeLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _SafeLoader = yaml.SafeLoader


def safe_load(text: bytes | str, what: str) -> Any:
    """Parse YAML/JSON with the safe loader; tags such as ``!!python/object`` fail.

    Raises:
        SpecError: The text is not plain YAML data.
    """
    try:
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        raise SpecError(f"{what} is not plain YAML data: {exc}") from exc


def format_refused(what: str, document: Any, expected: str) -> str:
    """Why a pod refuses a ``what`` document of another format, naming both kedro-kinetics.

    The document names its format and the driver's kedro-kinetic version (``format``,
    ``kinetic_version``); this pod knows its own.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("format"), str):
        return f"{what} is not a {expected} mapping"
    written = document.get("kinetic_version")
    driver = (f"the driver's kedro-kinetic {written[:40]}" if isinstance(written, str)
              else "a driver whose kedro-kinetic names no version")
    return (f"{what} format {str(document['format'])[:60]!r}, written by {driver}, is not a "
            f"{expected} document, the format this image's kedro-kinetic {__version__} reads: "
            "build the image with the driver's kedro-kinetic (kedro kinetic build --push "
            f"--write) or run the driver with kedro-kinetic {__version__}")


def validate_spec(spec: Any) -> dict[str, Any]:
    """Check the shape of a task spec read by the pod.

    Raises:
        SpecError: Naming the offending key (a spec of another format names the driver's
            kedro-kinetic version and this pod's).
    """
    if not isinstance(spec, Mapping) or spec.get("format") != SPEC_FORMAT:
        raise SpecError(format_refused("task spec", spec, SPEC_FORMAT))
    for key in ("node", "run_id"):
        if not isinstance(spec.get(key), str):
            raise SpecError(f"task spec key '{key}' must be a string")
    for side in ("inputs", "outputs"):
        datasets = spec.get(side)
        if not isinstance(datasets, Mapping):
            raise SpecError(f"task spec key '{side}' must be a mapping")
        for name, entry in datasets.items():
            _validate_dataset(side, str(name), entry)
    level = spec.get("log_level", 20)
    if type(level) is not int or not 0 <= level <= 50:
        raise SpecError("task spec key 'log_level' must be a logging level from 0 to 50")
    creds = spec.get("credentials", [])
    if not isinstance(creds, list) or not all(isinstance(c, str) for c in creds):
        raise SpecError("task spec key 'credentials' must be a list of names")
    if "data_roots" in spec:
        try:
            DataRoots.from_spec(spec["data_roots"])
        except PathProblem as exc:
            raise SpecError(f"task spec key 'data_roots' {exc}") from None
    return dict(spec)


def _validate_dataset(side: str, name: str, entry: Any) -> None:
    where = f"task spec {side}.{name}"
    if not isinstance(entry, Mapping) or entry.get("kind") not in DATASET_KINDS:
        raise SpecError(f"{where}: 'kind' must be one of {DATASET_KINDS}")
    kind = entry["kind"]
    if kind == "catalog" and not isinstance(entry.get("config"), Mapping):
        raise SpecError(f"{where}: 'config' must be a mapping")
    if "sha256" in entry and not is_digest(entry["sha256"]):
        raise SpecError(f"{where}: 'sha256' must be a lower-case hex SHA-256")
    if "bytes" in entry and (type(entry["bytes"]) is not int or entry["bytes"] < 0):
        raise SpecError(f"{where}: 'bytes' must be a size in bytes")
    for flag in ("trusted", "from_group"):
        if flag in entry and not isinstance(entry[flag], bool):
            raise SpecError(f"{where}: '{flag}' must be true or false")
    if kind == "param" and side != "inputs":
        raise SpecError(f"{where}: parameters cannot be outputs")
    if kind == "pickle" and not isinstance(entry.get("uri"), str):
        raise SpecError(f"{where}: 'uri' must be a string")
