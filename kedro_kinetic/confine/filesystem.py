"""An fsspec local filesystem that stays under the data roots and never follows a link.

fsspec's ``LocalFileSystem`` (and pandas, for local paths) open a path with
plain ``open()``: whoever can write ``data/`` can plant a link there and make
a dataset read a run key or write into the project's source code.
:class:`ConfinedFileSystem` resolves every path only beneath one of the data
roots (:mod:`kedro_kinetic.wire.data_paths`), with no link at any component
(:mod:`kedro_kinetic.confine.beneath`):

* reads open regular files only (a FIFO, device or socket is refused);
* writes go to a temporary file in the same folder, renamed over the name on
  close, so a link planted at the destination is replaced, never written
  through;
* ``rm``/``rm_file``/``rmdir`` delete only inside a root (never a root
  itself), folder descriptor by folder descriptor;
* ``ls``/``find``/``glob``/``info``/``exists``/``isdir``/``isfile`` report a
  link as absent and never list one, nor the local store or the private state
  folder.

A refused path raises :class:`PathRefused` naming the dataset (the
filesystem's ``label``) and the path. Pod side: standard library and fsspec.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from typing import TYPE_CHECKING, Any

from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem
from fsspec.utils import stringify_path

from kedro_kinetic.confine import beneath
from kedro_kinetic.errors import CatalogSpecError
from kedro_kinetic.wire.data_paths import PathProblem, ResolvedRoots, strip_prefix

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Flags of the modes that change a file in place (``w`` writes a new file instead).
_IN_PLACE = {
    "a": os.O_WRONLY | os.O_APPEND | os.O_CREAT,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    "+r": os.O_RDWR,
    "+w": os.O_RDWR | os.O_CREAT | os.O_TRUNC,
    "+a": os.O_RDWR | os.O_APPEND | os.O_CREAT,
    "+x": os.O_RDWR | os.O_CREAT | os.O_EXCL,
}
_LINK = "a component of it is a symbolic link"


class PathRefused(CatalogSpecError, PermissionError):
    """A dataset's local path was refused when it was opened, listed or deleted."""


class ConfinedFileSystem(LocalFileSystem):
    """Local files under the data roots only, never through a link (see the module)."""

    protocol = ("file", "local")
    local_file = False  # nobody gets a raw path to open by itself (fsspec.open_local)
    cachable = False
    #: The roots of instances made without ``roots`` (see :func:`filesystem_class`).
    default_roots: ResolvedRoots | None = None

    def __init__(self, auto_mkdir: bool = False, roots: ResolvedRoots | None = None,
                 label: str | None = None, **kwargs: Any) -> None:
        """Args:
            auto_mkdir: Create missing folders of a file opened for writing.
            roots: The data roots (default: the class's :attr:`default_roots`).
            label: The dataset using this filesystem, named in refusals.
        """
        super().__init__(auto_mkdir=auto_mkdir, **kwargs)
        self.roots = roots if roots is not None else self.default_roots
        self.label = label

    # -- where a path lies ----------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        """The absolute path, as fsspec gives it, except that ``~`` is never expanded."""
        text = stringify_path(path)
        for prefix in ("file://", "local://"):
            if text.startswith(prefix):
                text = text[len(prefix):]
                break
        else:
            text = strip_prefix(text)
        if not text.startswith(("/", "~")):
            text = f"{os.getcwd()}/{text}"
        return text.rstrip("/") or "/"

    def refused(self, path: str, reason: str) -> PathRefused:
        """The error for a refused path, naming the dataset and the data roots."""
        who = f"dataset '{self.label}': " if self.label else ""
        roots = self.roots.describe() if self.roots else "no data roots are configured"
        return PathRefused(f"{who}refusing {path!r}: {reason}; catalog files are read and "
                           f"written only under the data roots ({roots}), never through a "
                           "link")

    def _where(self, path: Any, whole: bool) -> tuple[str, tuple[str, ...], str]:
        shown = self._strip_protocol(path)
        if self.roots is None:
            raise self.refused(shown, "no data roots are configured")
        try:
            place, parts = self.roots.locate(shown, whole)
        except PathProblem as exc:
            raise self.refused(shown, str(exc)) from None
        return place.real, parts, shown

    @contextlib.contextmanager
    def _root(self, path: Any, create: bool = False, whole: bool = False
              ) -> Iterator[tuple[int, tuple[str, ...], str]]:
        """``(root fd, components, shown path)``, with OS errors told for this path.

        ``whole``: the operation reaches everything below the path (a deletion).
        """
        real, parts, shown = self._where(path, whole)
        try:
            fd = beneath.open_root(real, create=create)
        except OSError as exc:
            raise self._error(exc, shown) from None
        try:
            yield fd, parts, shown
        except PathRefused:
            raise
        except OSError as exc:
            raise self._error(exc, shown) from None
        finally:
            os.close(fd)

    def _error(self, exc: OSError, shown: str) -> OSError:
        if isinstance(exc, PathRefused):
            return exc
        if isinstance(exc, beneath.TooDeep):
            return self.refused(shown, str(exc.strerror))
        if exc.errno in (errno.ELOOP, errno.EXDEV):
            return self.refused(shown, _LINK)
        if exc.errno == errno.ENXIO:
            return self.refused(shown, "is not a regular file (a FIFO or a socket)")
        return type(exc)(exc.errno, exc.strerror, shown)

    # -- files ----------------------------------------------------------------------
    def _open(self, path: Any, mode: str = "rb", block_size: Any = None,
              autocommit: bool = True, cache_options: Any = None, **kwargs: Any) -> Any:
        key = "".join(sorted(set(mode) - {"b", "t"}))
        writing = key != "r"
        with self._root(path, create=writing and self.auto_mkdir) as (root, parts, shown):
            if not parts:
                raise self.refused(shown, "is a data root itself, a folder")
            if not writing:
                return os.fdopen(self._regular(root, parts, os.O_RDONLY, shown), "rb")
            if key not in _IN_PLACE and key != "w":
                raise ValueError(f"unsupported file mode {mode!r}")
            folder = beneath.open_dir(root, parts[:-1], create=self.auto_mkdir)
            if key == "w":
                return self._replacing(folder, parts[-1], shown)  # it owns the folder fd
            try:
                fd = self._regular(folder, parts[-1:], _IN_PLACE[key], shown)
            finally:
                os.close(folder)
            return os.fdopen(fd, mode.replace("t", "") + ("" if "b" in mode else "b"))

    def _regular(self, folder: int, parts: tuple[str, ...], flags: int, shown: str) -> int:
        """Open a regular file (``O_NONBLOCK`` first, so a FIFO cannot block)."""
        fd = beneath.open_file(folder, parts, flags | os.O_NONBLOCK)
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a folder", shown)
            if not stat.S_ISREG(info.st_mode):
                raise self.refused(shown, "is not a regular file (a FIFO, device or socket)")
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _replacing(self, folder: int, name: str, shown: str) -> beneath.ReplacingFile:
        try:
            if stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a folder", shown)
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(folder)
            raise
        return beneath.ReplacingFile(folder, name)

    def touch(self, path: Any, truncate: bool = True, **kwargs: Any) -> None:
        with self._root(path, create=self.auto_mkdir) as (root, parts, shown):
            folder = beneath.open_dir(root, parts[:-1], create=self.auto_mkdir)
            try:
                fd = self._regular(folder, parts[-1:], os.O_WRONLY | os.O_CREAT, shown)
            finally:
                os.close(folder)
            try:
                os.ftruncate(fd, 0) if truncate else os.utime(fd)
            finally:
                os.close(fd)

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        with self.open(path1, "rb") as source, self.open(path2, "wb") as target:
            shutil.copyfileobj(source, target)

    def mv(self, path1: Any, path2: Any, recursive: bool = True, maxdepth: Any = None,
           **kwargs: Any) -> None:
        AbstractFileSystem.mv(self, path1, path2, recursive=recursive, maxdepth=maxdepth)

    def _outside(self, path: Any, *_: Any, **__: Any) -> None:
        raise self.refused(self._strip_protocol(path), "copying files in or out of the data "
                           "roots, links and permission changes are not supported")

    get_file = put_file = link = symlink = chmod = _outside

    # -- what is there --------------------------------------------------------------
    def _info(self, name: str, info: os.stat_result) -> dict[str, Any]:
        kind = ("directory" if stat.S_ISDIR(info.st_mode)
                else "file" if stat.S_ISREG(info.st_mode) else "other")
        out = {"name": name, "size": info.st_size, "type": kind, "created": info.st_ctime,
               "islink": False}
        for field in ("mode", "uid", "gid", "mtime", "ino", "nlink"):
            out[field] = getattr(info, f"st_{field}")
        return out

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        with self._root(path) as (root, parts, shown):
            try:
                status = beneath.lstat(root, parts)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # through a link: absent
                    raise FileNotFoundError(errno.ENOENT, _LINK, shown) from None
                raise
        if stat.S_ISLNK(status.st_mode):
            raise FileNotFoundError(errno.ENOENT, "a symbolic link counts as absent", shown)
        return self._info(shown, status)

    def _probe(self, path: Any) -> dict[str, Any] | None:
        try:
            return self.info(path)
        except PathRefused:
            raise
        except OSError:
            return None

    def exists(self, path: Any, **kwargs: Any) -> bool:
        return self._probe(path) is not None

    def isdir(self, path: Any) -> bool:
        return (self._probe(path) or {}).get("type") == "directory"

    def isfile(self, path: Any) -> bool:
        return (self._probe(path) or {}).get("type") == "file"

    def lexists(self, path: Any, **kwargs: Any) -> bool:
        return self.islink(path) or self.exists(path)

    def islink(self, path: Any) -> bool:
        with self._root(path) as (root, parts, _shown):
            try:
                return stat.S_ISLNK(beneath.lstat(root, parts).st_mode)
            except OSError:
                return False

    def ls(self, path: Any, detail: bool = False, **kwargs: Any) -> list[Any]:
        top = self.info(path)
        if top["type"] != "directory":
            return [top] if detail else [top["name"]]
        shown = top["name"]
        with self._root(shown) as (root, parts, _shown):
            folder = beneath.open_dir(root, parts)
            try:
                listed = beneath.entries(folder)
            finally:
                os.close(folder)
        out: list[Any] = []
        for name, status in sorted(listed):
            full = f"{shown.rstrip('/')}/{name}"
            if (stat.S_ISLNK(status.st_mode) or self.roots is None
                    or self.roots.problem(full, whole=False)):
                continue  # links, and the folders kedro-kinetic keeps to itself
            out.append(self._info(full, status) if detail else full)
        return out

    def find(self, path: Any, maxdepth: int | None = None, withdirs: bool = False,
             detail: bool = False, **kwargs: Any) -> Any:
        """Like fsspec's ``find``, without recursion and at most ``beneath.MAX_DEPTH`` deep."""
        top = self._probe(path)
        out: dict[str, dict[str, Any]] = {}
        if top is not None and top["type"] != "directory":
            out[top["name"]] = top
        elif top is not None:
            if withdirs:
                out[top["name"]] = top
            limit = min(maxdepth or beneath.MAX_DEPTH, beneath.MAX_DEPTH)
            stack = [(top["name"], 1)]
            while stack:
                folder, depth = stack.pop()
                for item in self.ls(folder, detail=True):
                    if item["type"] != "directory":
                        out[item["name"]] = item
                        continue
                    if withdirs:
                        out[item["name"]] = item
                    if depth < limit:
                        stack.append((item["name"], depth + 1))
        names = sorted(out)
        return {name: out[name] for name in names} if detail else names

    # -- folders and deletion -------------------------------------------------------
    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        if not exist_ok and self._probe(path) is not None:
            raise FileExistsError(errno.EEXIST, "exists", self._strip_protocol(path))
        with self._root(path, create=True) as (root, parts, _shown):
            os.close(beneath.open_dir(root, parts, create=True))

    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        if self._probe(path) is not None:
            raise FileExistsError(errno.EEXIST, "exists", self._strip_protocol(path))
        if create_parents:
            self.makedirs(path, exist_ok=True)
            return
        with self._root(path) as (root, parts, shown):
            self._in_parent(root, parts, shown, lambda folder, name: os.mkdir(name, dir_fd=folder))

    def rmdir(self, path: Any) -> None:
        with self._root(path, whole=True) as (root, parts, shown):
            self._in_parent(root, parts, shown, lambda folder, name: os.rmdir(name, dir_fd=folder))

    def rm_file(self, path: Any) -> None:
        def remove(folder: int, name: str) -> None:
            if stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a folder", name)
            os.unlink(name, dir_fd=folder)

        with self._root(path) as (root, parts, shown):
            self._in_parent(root, parts, shown, remove)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        for one in path if isinstance(path, list) else [path]:
            with self._root(one, whole=True) as (root, parts, shown):
                self._in_parent(root, parts, shown, self._remover(recursive, shown))

    def _remover(self, recursive: bool, shown: str) -> Any:
        def remove(folder: int, name: str) -> None:
            if not stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                os.unlink(name, dir_fd=folder)  # a file, or a link itself (never its target)
            elif not recursive:
                raise ValueError(f"cannot delete the folder {shown!r} without recursive=True")
            else:
                beneath.remove_tree(folder, name)

        return remove

    def _in_parent(self, root: int, parts: tuple[str, ...], shown: str, act: Any) -> None:
        """``act(parent folder fd, name)`` for a path inside a root (never the root)."""
        if not parts:
            raise self.refused(shown, "is a data root itself; only what lies inside a root "
                                      "may be changed")
        folder = beneath.open_dir(root, parts[:-1])
        try:
            act(folder, parts[-1])
        finally:
            os.close(folder)


def filesystem_class(roots: ResolvedRoots) -> type[ConfinedFileSystem]:
    """A :class:`ConfinedFileSystem` whose instances default to ``roots`` (for fsspec's
    registry, which builds instances without arguments)."""
    return type("ConfinedFileSystem", (ConfinedFileSystem,), {"default_roots": roots})
