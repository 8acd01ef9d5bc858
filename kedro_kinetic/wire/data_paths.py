"""Where catalog datasets may read and write on the local disk: under the data roots.

A configuration author chooses every ``filepath`` and ``path`` of the catalog,
so without a limit a dataset could read the private state folder (run keys),
``/proc/self/environ`` or a home folder, and a ``PartitionedDataset`` with
``overwrite: true`` could delete any folder. Every local path a dataset
configuration names (nested ``dataset`` and ``checkpoint`` configurations
included) must therefore lie under one of the project's **data roots**
(settings.py ``KINETIC_DATA_ROOTS``, default ``["data"]``), and neither inside
nor above a folder kedro-kinetic keeps to itself (the local store, the private
state folder). ``~``, ``..`` components, a URL host, ``/proc``, ``/dev`` and
``/sys`` are refused outright. Paths of other protocols (``gs://``, ...) are
not local and not checked here.

The check is lexical, as Kedro and fsspec read a path: links inside the roots
are dealt with when a file is opened (:mod:`kedro_kinetic.confine.filesystem`). The
driver checks every dataset of a run before anything is submitted; the roots
travel in each task spec (:meth:`DataRoots.to_spec`) and the pod checks again.

Standard library only: the pod imports it before it builds a catalog.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kedro_kinetic.errors import CatalogSpecError
from kedro_kinetic.wire import dataset_arguments as arguments

#: The settings.py name that allows more folders.
SETTING = "KINETIC_DATA_ROOTS"
#: Protocols whose paths are files of this machine.
LOCAL_PROTOCOLS = ("file", "local")
#: Kernel and device folders no dataset may name, whatever the roots.
SYSTEM_FOLDERS = ("/proc", "/dev", "/sys")
#: Keys that hold a path in any dataset configuration.
PATH_KEYS = ("filepath", "path")
#: Keys that hold a nested dataset configuration.
NESTED_KEYS = ("dataset", "checkpoint")
_URL = re.compile(r"^[a-zA-Z0-9]+://")
_PREFIXES = ("file:", "local:")


class PathProblem(ValueError):
    """A local path is refused; the message says why (without the path itself)."""


def local_path(value: str) -> str | None:
    """The local path a catalog path names, as Kedro and fsspec open it.

    ``file:///x`` and ``local:///x`` give ``/x``; a ``file:``/``local:`` prefix
    without ``//`` is dropped as fsspec drops it.

    Returns:
        The path, or ``None`` when ``value`` is not local (another protocol).

    Raises:
        PathProblem: A local URL with a host (Kedro and fsspec read it differently).
    """
    try:
        protocol = arguments.path_protocol(value)
    except ValueError:
        return None  # not a URL Kedro can read: the protocol rule refuses it
    if protocol not in LOCAL_PROTOCOLS:
        return None
    if _URL.match(value):
        parts = urlsplit(value)
        if parts.netloc:
            raise PathProblem(f"names a host ({parts.netloc!r}); write a local path as "
                              "file:///absolute/path or as a relative path")
        path = parts.path
        path += f"?{parts.query}" if parts.query else ""
        return path + (f"#{parts.fragment}" if parts.fragment else "")
    return strip_prefix(value)


def strip_prefix(path: str) -> str:
    """``path`` without one ``file:``/``local:`` prefix (what fsspec strips)."""
    for prefix in _PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def normalise(path: str, base: str) -> str:
    """The absolute, normalised form of a local path (relative ones from ``base``).

    Raises:
        PathProblem: ``~``, a ``..`` component, a NUL byte, or a first component
            that reads as a URL scheme or drive.
    """
    if "\x00" in path:
        raise PathProblem("holds a NUL character")
    if path.startswith("~"):
        raise PathProblem("starts with '~' (a home folder)")
    parts = path.split("/")
    if ".." in parts:
        raise PathProblem("has a '..' component")
    if not path:
        raise PathProblem("is empty")
    if ":" in parts[0]:
        raise PathProblem("starts with a component holding ':' (read as a URL scheme "
                          "or a drive)")
    joined = path if path.startswith("/") else f"{base.rstrip('/')}/{path}"
    return "/" + posixpath.normpath(joined).lstrip("/")


def under(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both absolute and normalised)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class Place:
    """A root or an excluded folder: as given, and both absolute forms."""

    given: str
    lexical: str
    real: str

    def holds(self, path: str) -> bool:
        return under(path, self.lexical) or under(path, self.real)

    def inside(self, path: str) -> bool:
        """Whether this folder lies at or below ``path``."""
        return under(self.lexical, path) or under(self.real, path)

    def relative(self, path: str) -> tuple[str, ...] | None:
        """The components of ``path`` below this folder (``None``: not below it)."""
        for form in (self.lexical, self.real):
            if under(path, form):
                return tuple(p for p in path[len(form):].split("/") if p)
        return None


def _place(given: str, base: str) -> Place:
    lexical = "/" + posixpath.normpath(os.path.join(base, given)).lstrip("/")
    return Place(given, lexical, os.path.realpath(lexical))


@dataclass(frozen=True)
class ResolvedRoots:
    """Data roots and excluded folders made absolute in one process."""

    base: str
    roots: tuple[Place, ...]
    excluded: tuple[Place, ...]

    def problem(self, path: str, whole: bool = True) -> str | None:
        """Why a local path (already without its protocol) is refused, or ``None``."""
        try:
            self.locate(path, whole)
        except PathProblem as exc:
            return str(exc)
        return None

    def locate(self, path: str, whole: bool = True) -> tuple[Place, tuple[str, ...]]:
        """The root a local path lies under and its components below that root.

        Args:
            path: A local path, without its protocol.
            whole: The path stands for everything below it too (a dataset's path,
                a deletion), so it may not hold an excluded folder either; a
                listing (``False``) may, and leaves the excluded folders out.

        Raises:
            PathProblem: The path is refused (see :func:`normalise`), outside every
                root, in a system folder, or inside or above an excluded folder.
        """
        norm = normalise(path, self.base)
        homes = sorted(((place, rel) for place in self.roots
                        if (rel := place.relative(norm)) is not None),
                       key=lambda home: len(home[1]))
        forms = {norm, *(posixpath.join(form, *rel) for place, rel in homes
                         for form in (place.lexical, place.real))}
        for system in SYSTEM_FOLDERS:
            if any(under(form, system) for form in forms):
                raise PathProblem(f"is in {system}, a kernel or device folder")
        if not homes:
            raise PathProblem("is outside the data roots")
        for place in self.excluded:
            if any(place.holds(form) for form in forms):
                raise PathProblem(f"is inside {place.given}, which kedro-kinetic keeps to "
                                  "itself (the local store or the private state folder)")
            if whole and any(place.inside(form) for form in forms):
                raise PathProblem(f"holds {place.given}, which kedro-kinetic keeps to itself "
                                  "(the local store or the private state folder)")
        return homes[0]

    def describe(self) -> str:
        """The roots and excluded folders, for messages."""
        roots = ", ".join(p.given for p in self.roots) or "none"
        text = f"{SETTING}: {roots}"
        if self.excluded:
            text += f"; never inside {', '.join(p.given for p in self.excluded)}"
        return text


@dataclass(frozen=True)
class DataRoots:
    """The data roots of a run as they travel in task specs.

    Paths are relative to the project where they lie inside it (the pod resolves
    them against its working folder), else absolute.
    """

    roots: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    def to_spec(self) -> dict[str, list[str]]:
        return {"roots": list(self.roots), "excluded": list(self.excluded)}

    @classmethod
    def from_spec(cls, value: Any) -> DataRoots:
        """Read the ``data_roots`` of a task spec.

        Raises:
            PathProblem: Not a mapping of ``roots`` and ``excluded`` lists of strings.
        """
        if not isinstance(value, Mapping) or set(value) != {"roots", "excluded"}:
            raise PathProblem("must be a mapping with exactly 'roots' and 'excluded'")
        lists = []
        for key in ("roots", "excluded"):
            items = value[key]
            if not isinstance(items, list) or not all(
                    isinstance(i, str) and i and "\x00" not in i for i in items):
                raise PathProblem(f"'{key}' must be a list of non-empty path strings")
            lists.append(tuple(items))
        return cls(lists[0], lists[1])

    def resolve(self, base: str) -> ResolvedRoots:
        """Make the folders absolute from ``base`` (the project, or the working folder)."""
        base = "/" + posixpath.normpath(base).lstrip("/")
        return ResolvedRoots(base, tuple(_place(r, base) for r in self.roots),
                             tuple(_place(e, base) for e in self.excluded))


def for_project(path: str, project: str) -> str:
    """``path`` relative to ``project`` when it lies inside it, else absolute."""
    absolute = "/" + posixpath.normpath(os.path.join(project, path)).lstrip("/")
    for given in (project, os.path.realpath(project)):
        form = "/" + posixpath.normpath(given).lstrip("/")
        if under(absolute, form):
            return posixpath.relpath(absolute, form)
    return absolute


def path_entries(config: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(key path, value)`` of every path a dataset configuration names, nested ones too."""
    keys = set(PATH_KEYS)
    if isinstance(config.get("type"), str):
        keys |= {r.at for r in arguments.rules_for(config["type"]) if r.kind == "protocol"}
    for key in sorted(keys):
        if key in config:
            yield prefix + key, config[key]
    for key in NESTED_KEYS:
        nested = config.get(key)
        if isinstance(nested, Mapping):
            yield from path_entries(nested, f"{prefix}{key}.")


def _suffix_problem(config: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    suffix = config.get("filename_suffix")
    if isinstance(suffix, str) and ("/" in suffix or "\x00" in suffix):
        yield (f"key '{prefix}filename_suffix': {suffix!r} has a '/' (a partition's file "
               "must stay in its folder)")
    for key in NESTED_KEYS:
        nested = config.get(key)
        if isinstance(nested, Mapping):
            yield from _suffix_problem(nested, f"{prefix}{key}.")


def _version_problem(config: Mapping[str, Any], name: str,
                     versions: Mapping[str, Any]) -> Iterator[str]:
    if config.get("versioned") is not True:
        return
    chosen = {"save_version": versions.get("save_version"),
              f"load_versions.{name}": (versions.get("load_versions") or {}).get(name)}
    for where, version in chosen.items():
        if version is not None and (not isinstance(version, str) or version in ("", ".", "..")
                                    or any(c in version for c in "/\\\x00")):
            yield (f"version {where} {version!r} is not one plain folder name")


def dataset_problem(name: str, config: Mapping[str, Any], roots: ResolvedRoots,
                    versions: Mapping[str, Any] | None = None) -> str | None:
    """One message for every refused path of one dataset configuration, or ``None``."""
    found = []
    for key, value in path_entries(config):
        if not isinstance(value, str):
            continue  # not a path string: the allowlist's argument rules refuse it
        try:
            path = local_path(value)
            if path is not None:
                roots.locate(path)
        except PathProblem as exc:
            found.append(f"key '{key}': {value!r} {exc}")
    found += _suffix_problem(config)
    found += _version_problem(config, name, versions or {})
    if not found:
        return None
    return (f"catalog entry '{name}', {'; '.join(found)}. Local catalog paths must lie "
            f"under the data roots ({roots.describe()}); allow more folders in settings.py "
            f"{SETTING}")


def check_datasets(configs: Mapping[str, Any], roots: ResolvedRoots,
                   versions: Mapping[str, Any] | None = None) -> None:
    """Check the local paths of every dataset configuration; report all problems at once.

    Args:
        configs: Checked (allowlisted) configurations by dataset name.
        roots: The data roots of this process.
        versions: ``save_version`` and ``load_versions`` of the run, if any.

    Raises:
        CatalogSpecError: One line per refused dataset.
    """
    found = [problem for name in sorted(configs)
             if isinstance(configs[name], Mapping)
             and (problem := dataset_problem(name, configs[name], roots, versions))]
    if len(found) == 1:
        raise CatalogSpecError(found[0])
    if found:
        raise CatalogSpecError(f"{len(found)} catalog entries name refused local paths:\n"
                               + "\n".join(f"  - {line}" for line in found))


def spec_roots(spec: Mapping[str, Any]) -> ResolvedRoots:
    """The data roots a task spec names, resolved from this process's working folder
    (the project). A spec without them allows no local path.

    Raises:
        PathProblem: ``data_roots`` has the wrong shape.
    """
    value = spec.get("data_roots")
    roots = DataRoots(()) if value is None else DataRoots.from_spec(value)
    return roots.resolve(os.getcwd())
