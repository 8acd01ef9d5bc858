"""The local store: a folder of objects that never follows a symlink or ``..``.

The store is writable by others than the run (that is the threat model), so
every path is walked one component at a time from ``/`` with ``O_NOFOLLOW``: a
planted symlink (to a file or folder outside the store) or FIFO is refused
instead of being read, truncated or appended to. Store roots are resolved when
configured (``store.to_uri``), so a legitimately symlinked data folder still
works. What a planted shape can cost is bounded too: a read stops at the size
its caller allows, a listing goes at most :data:`MAX_DEPTH` folders deep, and
an entry that cannot be read is skipped instead of ending the listing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from kedro_kinetic.confine import beneath
from kedro_kinetic.errors import ObjectNotFound, StoreError, StoreObjectError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator

#: Folders deeper than this below a listed prefix are not kedro-kinetic's: a listing
#: skips them, and deleting a tree that has them is refused with a message.
MAX_DEPTH = 64

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
#: The walk itself takes path-only descriptors (Linux ``O_PATH``): they resolve names but
#: read nothing, so a node process confined to its data roots (Landlock) can still walk
#: from ``/`` to the store; a folder is opened for reading only where it is listed.
_WALK_FLAGS = _DIR_FLAGS & ~os.O_RDONLY | getattr(os, "O_PATH", 0)


def path_of(uri: str) -> Path:
    """The path of a ``file://`` URI."""
    return Path(unquote(urlparse(uri).path))


def within(uri: str, data: bytes, max_bytes: int | None) -> bytes:
    """``data``, read with one byte more than ``max_bytes`` allowed, unless it has that many.

    Raises:
        StoreObjectError: The object is larger than ``max_bytes``.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise StoreObjectError(f"refusing {uri}: more than the {max_bytes} bytes such an "
                               "object may have")
    return data


def _split(uri: str) -> tuple[list[str], str]:
    path = path_of(uri)
    parts = list(path.parts[1:]) if path.is_absolute() else []
    if not parts or any(part in ("..", ".") for part in parts):
        raise StoreError(f"refusing store path {uri!r}: it must be absolute, without '..'")
    return parts[:-1], parts[-1]


def _open_dir(uri: str, parts: list[str], create: bool, readable: bool = False) -> int:
    """A descriptor of the folder ``/parts...``, walked without following any link.

    ``readable``: open the last folder for listing (else a path-only descriptor).
    """
    fd = os.open("/", _WALK_FLAGS)
    try:
        for part in parts:
            try:
                child = os.open(part, _WALK_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise ObjectNotFound(f"no object at {uri}") from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
                child = os.open(part, _WALK_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        if readable:
            child = os.open(".", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except (ObjectNotFound, StoreError):
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise StoreError(f"refusing {uri}: a component of its path is a symlink or "
                             "not a folder (the local store never follows links)") from None
        raise StoreError(f"cannot open the folder of {uri}: {exc}") from exc
    return fd


def _entries(fd: int) -> list[tuple[str, bool]]:
    """``(name, is a folder)`` of each entry of an open folder; none if it cannot be read."""
    try:
        with os.scandir(fd) as entries:
            return [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    except OSError:
        return []


def _walk(folder: int) -> Iterator[tuple[str, list[str], int]]:
    """``(relative folder, file names, folder fd)`` of a tree, depth first and without
    recursion, at most :data:`MAX_DEPTH` deep (so at most that many folders open at
    once); folders that cannot be opened or read are skipped."""
    listed = _entries(folder)
    yield ".", [n for n, is_dir in listed if not is_dir], folder
    stack = [(".", os.dup(folder), iter([n for n, is_dir in listed if is_dir]))]
    try:
        while stack:
            top, fd, subfolders = stack[-1]
            name = next(subfolders, None)
            if name is None:
                stack.pop()
                os.close(fd)
                continue
            if len(stack) >= MAX_DEPTH:
                continue
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                continue
            listed = _entries(child)
            stack.append((f"{top}/{name}", child, iter([n for n, d in listed if d])))
            yield f"{top}/{name}", [n for n, is_dir in listed if not is_dir], child
    finally:
        for _top, fd, _subfolders in stack:
            os.close(fd)


def _read_regular(uri: str, fd: int, max_bytes: int | None) -> bytes:
    """Read an open descriptor if it is a regular file, at most ``max_bytes + 1`` bytes."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise StoreObjectError(f"refusing {uri}: not a regular file (a folder, FIFO, socket "
                               "or device was planted there)")
    if max_bytes is not None and info.st_size > max_bytes:
        raise StoreObjectError(f"refusing {uri}: {info.st_size} bytes, more than "
                               f"the {max_bytes} such an object may have")
    os.set_blocking(fd, True)
    limit = info.st_size + 1 if max_bytes is None else max_bytes + 1
    chunks, total = [], 0
    try:
        while total < limit:
            chunk = os.read(fd, min(limit - total, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if max_bytes is None and total == limit:  # it grew while we read: read the rest
            chunks.append(_rest(fd))
    except (MemoryError, OverflowError, OSError) as exc:
        raise StoreError(f"cannot read {uri}: {type(exc).__name__}") from None
    return b"".join(chunks)


def _replace(folder: int, tmp: str, name: str, uri: str) -> None:
    """Rename ``tmp`` over ``name``; a folder planted at ``name`` is removed first (without
    following anything in it), so a planted shape can never block a write for good."""
    try:
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError as exc:
        if exc.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
            raise
        _remove_tree(folder, name, uri)
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)


def _rest(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


class LocalStore:
    """Objects in a local folder, by ``file://`` URI (see the module's docstring)."""

    def read(self, uri: str, max_bytes: int | None = None) -> bytes:
        """The object's bytes, read no further than ``max_bytes`` (+1, to tell it is larger).

        Raises:
            ObjectNotFound: Nothing there.
            StoreObjectError: Something planted there that is not an object: a link (at
                the object or a folder above it), a folder, a FIFO, a socket, a device,
                an unreadable or too large file.
            StoreError: The file system failed otherwise.
        """
        parents, name = _split(uri)
        try:
            folder = _open_dir(uri, parents, create=False)
        except ObjectNotFound:
            raise
        except StoreError as exc:  # a link or a file where a folder should be: planted
            raise StoreObjectError(str(exc)) from None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                         | getattr(os, "O_CLOEXEC", 0), dir_fd=folder)
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"no object at {uri}") from exc
        except OSError as exc:
            raise StoreObjectError(f"refusing {uri}: {exc.strerror} (the local store never "
                                   "follows a link nor opens a FIFO or socket)") from None
        finally:
            os.close(folder)
        try:
            return within(uri, _read_regular(uri, fd, max_bytes), max_bytes)
        finally:
            os.close(fd)

    def write(self, uri: str, data: bytes) -> None:
        parents, name = _split(uri)
        folder = _open_dir(uri, parents, create=True)
        tmp = f".{name}.{secrets.token_hex(6)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                         dir_fd=folder)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                _replace(folder, tmp, name, uri)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=folder)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write {uri}: {exc}") from exc
        finally:
            os.close(folder)

    def write_new(self, uri: str, data: bytes) -> None:
        """Write unless the same bytes are there already (anything else is replaced)."""
        try:
            if self.read(uri, max_bytes=len(data)) == data:
                return
        except (StoreError, StoreObjectError):  # absent, planted, too large: written anew
            pass
        self.write(uri, data)

    def exists(self, uri: str) -> bool:
        parents, name = _split(uri)
        try:
            folder = _open_dir(uri, parents, create=False)
        except StoreError:
            return False
        try:
            return stat.S_ISREG(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
        except OSError:
            return False
        finally:
            os.close(folder)

    def list(self, prefix: str) -> list[str]:
        return sorted(self.versions(prefix))

    def versions(self, prefix: str, names: Collection[str] | None = None) -> dict[str, str]:
        parents, name = _split(prefix.rstrip("/"))
        try:
            folder = _open_dir(prefix, [*parents, name], create=False, readable=True)
        except StoreError:
            return {}
        root = path_of(prefix.rstrip("/"))
        found = {}
        try:  # given names: a stat each, right below the prefix; else the whole tree
            tree = ([(".", [n for n in names if "/" not in n], folder)] if names is not None
                    else _walk(folder))
            for top, files, top_fd in tree:
                for file in files:
                    if file.startswith("."):
                        continue  # a write in progress
                    try:
                        info = os.stat(file, dir_fd=top_fd, follow_symlinks=False)
                    except OSError:  # gone, or planted unreadable: not an object of ours
                        continue
                    if stat.S_ISREG(info.st_mode):
                        # a write replaces the file (a new inode), so this changes with it
                        found[(root / top / file).as_uri()] = (
                            f"{info.st_ino}:{info.st_mtime_ns}:{info.st_size}")
        finally:
            os.close(folder)
        return found

    def delete(self, uri: str) -> None:
        self._remove(uri, lambda folder, name: os.unlink(name, dir_fd=folder))

    def delete_tree(self, uri: str) -> None:
        def remove(folder: int, name: str) -> None:
            if stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                _remove_tree(folder, name, uri)  # fd-based: never leaves the folder
            else:
                os.unlink(name, dir_fd=folder)  # a planted link or file: remove it only

        self._remove(uri, remove)

    @staticmethod
    def _remove(uri: str, remove: Callable[[int, str], None]) -> None:
        """``remove(folder fd, name)`` for the object at ``uri``; nothing if it is gone."""
        parents, name = _split(uri.rstrip("/"))
        try:
            folder = _open_dir(uri, parents, create=False)
        except ObjectNotFound:
            return
        try:
            remove(folder, name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot delete {uri}: {exc.strerror or exc}") from None
        finally:
            os.close(folder)


def _remove_tree(parent: int, name: str, uri: str) -> None:
    """Delete the folder ``name`` of ``parent`` and all below it, descriptor-relative and
    without recursion (:func:`kedro_kinetic.confine.beneath.remove_tree`); a tree deeper
    than :data:`MAX_DEPTH` is refused before anything is deleted."""
    try:
        beneath.remove_tree(parent, name)
    except beneath.TooDeep:
        raise StoreError(
            f"refusing to delete {uri}: it holds folders more than {MAX_DEPTH} deep, which "
            "kedro-kinetic never makes; delete it by hand") from None


def fingerprint(uri: str) -> str | None:
    """A SHA-256 standing for the bytes at ``uri`` (a file, or a folder: every regular file
    below it by relative path), read without following any link; ``None`` if nothing is
    there. What the node cache compares (:mod:`kedro_kinetic.driver.cache`)."""
    import hashlib

    parents, name = _split(uri.rstrip("/"))
    try:
        folder = _open_dir(uri, parents, create=False)
    except (ObjectNotFound, StoreError):
        return None
    try:
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(info.st_mode):
            return _file_digest(folder, name)
        if not stat.S_ISDIR(info.st_mode):
            return None
        top = os.open(name, _DIR_FLAGS, dir_fd=folder)
    finally:
        os.close(folder)
    digest = hashlib.sha256()
    try:
        for relative, files, fd in _walk(top):
            for file in sorted(files):
                if not file.startswith("."):
                    digest.update(f"{relative}/{file}\0{_file_digest(fd, file)}\n".encode())
    finally:
        os.close(top)
    return digest.hexdigest()


def _file_digest(folder: int, name: str) -> str:
    import hashlib

    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                     | getattr(os, "O_CLOEXEC", 0), dir_fd=folder)
    except OSError:
        return "unreadable"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not-a-file"
        os.set_blocking(fd, True)
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)
