"""A ``kubernetes`` run keeps every persisted dataset on storage its pods share.

Each pod of a Kubernetes run has its own filesystem, and the image that
``kedro kinetic init`` builds leaves ``data/`` out. So a catalog entry that
still points at ``data/...`` (a ``gke`` environment that overrides too little)
makes the node that reads it fail on the cluster (exit code 13), and the output
of a node that writes it vanishes with its pod. This module finds every such
dataset of a run before anything is submitted (``kedro run``, resume,
``kedro kinetic render`` and ``doctor``) and names each one with the fix.

Shared storage is any non-local protocol (``gs://``, ...), or a local folder
that the project's **code** declares every pod sees at the same path
(settings.py ``KINETIC_SHARED_PATHS``: a volume a ``kinetic_job_manifest`` hook
mounts, a disk the test bench's kubelet shares). A local backend runs every
node on this machine, so nothing is checked there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_kinetic.errors import CatalogSpecError
from kedro_kinetic.wire import data_paths

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

#: The settings.py name that declares shared local folders.
SETTING = "KINETIC_SHARED_PATHS"
_NAMES_SHOWN = 3


@dataclass(frozen=True)
class LocalDataset:
    """A dataset of a run whose configuration names a path on the local disk."""

    name: str
    key: str
    path: str
    use: str  # which nodes read or write it, for messages

    def line(self) -> str:
        return f"'{self.name}' ({self.key} '{self.path}', {self.use})"


def uses(nodes: Iterable[Any]) -> dict[str, str]:
    """``dataset -> "read by a, b; written by c"`` for the datasets of Kedro nodes."""
    readers: dict[str, list[str]] = {}
    writers: dict[str, list[str]] = {}
    for node in sorted(nodes, key=lambda n: n.name):
        for name in node.inputs:
            readers.setdefault(name, []).append(node.name)
        for name in node.outputs:
            writers.setdefault(name, []).append(node.name)

    def listed(names: list[str]) -> str:
        more = f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else ""
        return ", ".join(names[:_NAMES_SHOWN]) + more

    out = {}
    for name in {*readers, *writers}:
        parts = [f"{verb} by {listed(found[name])}"
                 for verb, found in (("read", readers), ("written", writers)) if name in found]
        out[name] = "; ".join(parts)
    return out


def _shared(path: str, shared: Iterable[str], base: str) -> bool:
    """Whether a local path lies in one of the shared folders (both from ``base``)."""
    try:
        norm = data_paths.normalise(path, base)
        folders = [data_paths.normalise(folder, base) for folder in shared]
    except data_paths.PathProblem:
        return False  # ~, '..': never shared (the data roots refuse it as well)
    return any(data_paths.under(norm, folder) for folder in folders)


def local_datasets(uses: Mapping[str, str], config_for: Callable[[str], Any],
                   shared: Iterable[str], base: str) -> list[LocalDataset]:
    """The datasets whose configuration names a local path outside every shared folder.

    Args:
        uses: The run's datasets, each with the nodes that read or write it.
        config_for: A dataset's checked configuration (``None``: memory, parameter).
        shared: settings.py ``KINETIC_SHARED_PATHS``.
        base: The folder relative paths start from (the project).
    """
    shared = tuple(shared)
    found = []
    for name in sorted(uses):
        if name == "parameters" or name.startswith("params:"):
            continue
        config = config_for(name)
        if not isinstance(config, dict):
            continue
        for key, value in data_paths.path_entries(config):
            if not isinstance(value, str):
                continue
            try:
                path = data_paths.local_path(value)
            except data_paths.PathProblem:
                path = value  # a file:// URL with a host: still this machine's disk
            if path is not None and not _shared(path, shared, base):
                found.append(LocalDataset(name, key, value, uses[name]))
                break  # one line per dataset
    return found


def message(found: list[LocalDataset], env: str | None) -> str:
    """One refusal naming every dataset, why, and the fix."""
    where = f"conf/{env}/catalog.yml" if env else "conf/<env>/catalog.yml (the run's --env)"
    many = len(found) > 1
    if many:
        head = (f"backend 'kubernetes': {len(found)} datasets of this run are on this "
                "machine's disk, which the pods do not share:\n" + "\n".join(
                    f"  - {item.line()}" for item in found) + "\n")
    else:
        head = (f"backend 'kubernetes': dataset {found[0].line()} is on this machine's disk, "
                "which the pods do not share. ")
    example = next((item.path for item in found if not item.path.startswith("/")),
                   found[0].path.lstrip("/"))
    return (head + "Each pod has its own filesystem: a node reading a local path finds "
            "nothing there, and what it writes is lost with its pod. Put "
            f"{'them' if many else 'it'} on shared storage: override "
            f"{'their' if many else 'its'} filepath in {where} with a gs:// path (e.g. "
            f"filepath: gs://<bucket>/{data_paths.strip_prefix(example)}). A folder every "
            "pod mounts at the same path (a volume your kinetic_job_manifest hook adds) can "
            f"be declared in settings.py {SETTING}. Nothing was submitted.")


def check(uses: Mapping[str, str], config_for: Callable[[str], Any], shared: Iterable[str],
          base: str, env: str | None) -> None:
    """Refuse a ``kubernetes`` run whose datasets are on a disk its pods do not share.

    Raises:
        CatalogSpecError: Naming every such dataset and the fix.
    """
    found = local_datasets(uses, config_for, shared, base)
    if found:
        raise CatalogSpecError(message(found, env))
