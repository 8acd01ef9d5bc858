"""What a local run's node processes may reach: the driver's half of their confinement.

The local backend asks each node process to confine itself with Landlock
(:mod:`kedro_kinetic.confine.landlock`, applied by the pod entrypoint before anything is
fetched or run). This module works out the run's lists, once per run:

* read only: the project folder, its configuration folder, matplotlib's
  configuration and font cache, and (for a GCS store) the Google
  application-default credentials file;
* read and write: the data roots (settings.py ``KINETIC_DATA_ROOTS``), the local
  store folder, and a private temporary folder for the run, which node processes
  get as ``$TMPDIR`` (and ``$TEMP``, ``$TMP``) and which is removed when the run ends.

The node process adds the interpreter's own folders and the system folders
itself. The private state folder (run keys, logs, process records) is never on
the lists; if one of them holds it, the run warns once and names the fix.

Folders beyond these come from the driver's own environment, never from
configuration: ``$KINETIC_NODE_READABLE`` and ``$KINETIC_NODE_WRITABLE``
(``os.pathsep``-separated). A data root is the settings.py way to let nodes write
a folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kedro_kinetic.confine import landlock

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kedro_kinetic.config import RunConfig

logger = logging.getLogger(__name__)

#: The variables that name a process's temporary folder (``tempfile`` reads them in order).
TMP_ENVS = ("TMPDIR", "TEMP", "TMP")
#: What only a node process reads, after it was forked: a fork server that started
#: without them (or with other values) still serves the run.
CHILD_ONLY_ENV = frozenset((landlock.CONFINE_ENV, *TMP_ENVS))
_TMP_PREFIX = "kinetic-node-tmp-"
#: Extra folders node processes may read, or read and write (the driver's environment).
READABLE_ENV = "KINETIC_NODE_READABLE"
WRITABLE_ENV = "KINETIC_NODE_WRITABLE"

#: Folders node processes may list (names only, no file read). None: the local store walks
#: from ``/`` down to an object with path-only descriptors (``O_PATH``), which Landlock does
#: not check, and opens for listing only folders of the store itself.
LIST_ONLY: tuple[str, ...] = ()

_WITHOUT = ("the catalog's path rules and the per-attempt result key still hold, but a "
            "library that opens a path by itself can read the private state folder and "
            "write the project (see SECURITY.md)")


@dataclass
class NodeConfinement:
    """A run's confinement request for its node processes, and its temporary folder."""

    read_only: list[str]
    read_write: list[str]
    private: str
    list_only: list[str] = field(default_factory=list)
    tmp: str = ""
    notes: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The variables every node process of the run gets."""
        request = {"read_only": self.read_only, "read_write": self.read_write,
                   "list_only": self.list_only, "private": self.private}
        env = {landlock.CONFINE_ENV: json.dumps(request)}
        if self.tmp:
            env.update(dict.fromkeys(TMP_ENVS, self.tmp))
        return env

    def close(self) -> None:
        """Remove the run's temporary folder (its node processes have ended)."""
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _listed(name: str) -> list[str]:
    return [p for p in os.environ.get(name, "").split(os.pathsep) if p]


def _folder(path: Path) -> str:
    """``path`` resolved, created if it is missing (a rule needs it to exist)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        logger.debug("Could not create %s for node processes: %s", path, exc)
    return str(path.resolve())


def _google_credentials() -> list[str]:
    """The files google-auth reads for application-default credentials."""
    config = os.environ.get("CLOUDSDK_CONFIG") or str(Path.home() / ".config" / "gcloud")
    files = [os.path.join(config, "application_default_credentials.json")]
    return files + _listed("GOOGLE_APPLICATION_CREDENTIALS")


def _matplotlib_folders() -> list[str]:
    """matplotlib's configuration and font cache folders: read, a node imports matplotlib
    without building its font cache again (or warning that it cannot write one)."""
    if os.environ.get("MPLCONFIGDIR"):
        return [os.environ["MPLCONFIGDIR"]]
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [os.path.join(config, "matplotlib"), os.path.join(cache, "matplotlib")]


def run_temporary_folder(run_root: str) -> str:
    """The run's temporary folder for its node processes: owner-only, named after the run so
    that a resumed run (whose adopted processes use it) removes it when it ends; a fresh
    random one if that name is taken by anything else."""
    if run_root:
        digest = hashlib.sha256(run_root.encode()).hexdigest()[:24]
        path = os.path.join(tempfile.gettempdir(), f"{_TMP_PREFIX}{digest}")
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not (
                info.st_mode & 0o077):
            return path
    return tempfile.mkdtemp(prefix=_TMP_PREFIX)


def plan(project: Path, store_path: Path | None, data_roots: Iterable[str],
         conf_source: str | None, private: Path, run_root: str = "") -> NodeConfinement:
    """The run's confinement request; logs once what holds without Landlock, or an overlap.

    Args:
        project: The project folder (read only).
        store_path: The local store folder (read and write); ``None`` for a GCS store.
        data_roots: settings.py ``KINETIC_DATA_ROOTS`` (relative to the project or absolute).
        conf_source: The project's configuration folder or archive (read only).
        private: The private state folder: never reachable, warned about if it is.
        run_root: The run's folder in the store (names its temporary folder).
    """
    project = project.resolve()
    read_only = [str(project), str(Path(conf_source or project / "conf").resolve())]
    read_only += [*_matplotlib_folders(), *_listed(READABLE_ENV)]
    read_write = [_folder(project / root) for root in data_roots]
    if store_path is not None:  # not created here: planning stores the run's objects first
        read_write.append(str(store_path.resolve()))
    else:
        read_only += _google_credentials()
    read_write += _listed(WRITABLE_ENV)
    result = NodeConfinement(read_only, read_write, str(private), list_only=list(LIST_ONLY),
                             tmp=run_temporary_folder(run_root))
    result.read_write.append(result.tmp)
    note = landlock.unavailable_note()
    if note:  # once per run: what holds without it
        result.notes.append(f"{note}; {_WITHOUT}")
        logger.info(_sentence(result.notes[-1]))
    everything = [*read_only, *read_write, *landlock.SYSTEM_READ, *landlock.SYSTEM_WRITE,
                  *landlock.interpreter_paths()]
    warning = landlock.overlap_warning(everything, str(private))
    if warning:
        result.notes.append(warning)
        logger.warning(_sentence(warning))
    return result


def _sentence(line: str) -> str:
    return line[:1].upper() + line[1:]


def for_run(cfg: RunConfig, project: Path, conf_source: str | None,
            data_roots: tuple[str, ...], run_root: str = "") -> NodeConfinement:
    """:func:`plan` for a run: its store, the project's data roots, the state folder."""
    from kedro_kinetic import store
    from kedro_kinetic.store.layout import state_dir

    store_path = store.local_path(store.to_uri(cfg.store, project))
    return plan(project, store_path, data_roots, conf_source, state_dir(), run_root)
