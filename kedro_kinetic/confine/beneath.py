"""Open, list and delete paths beneath a folder without following a link anywhere.

Linux ``openat2(2)`` with ``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`` resolves a
path only inside a directory descriptor and never through a link (kernel 5.6
and later; called through ``ctypes``). Where the kernel, the machine or a
seccomp filter lacks it, the same guarantee comes from a walk one component
at a time from the opened folder with ``O_NOFOLLOW | O_DIRECTORY`` (as the
local store walks). Either way a link at any component fails with ``ELOOP``.
The last component of a file is opened ``O_NOFOLLOW`` and, for reads,
``O_NONBLOCK`` so that a FIFO cannot block the caller before its type is seen.
A file written anew (:class:`ReplacingFile`) is a new file in the same folder,
renamed over the name when it is closed.

Callers pass components already split and free of ``..`` (see
:mod:`kedro_kinetic.wire.data_paths`). Standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import io
import os
import platform
import secrets
import stat
from typing import Any

#: Folders deeper than this below a deleted folder are refused, and not listed.
MAX_DEPTH = 64

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_AT_FDCWD = -100
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437, "arm64": 437}


class TooDeep(OSError):
    """A folder to delete holds folders more than :data:`MAX_DEPTH` deep."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


@functools.cache
def _syscall() -> Any:
    function = ctypes.CDLL(None, use_errno=True).syscall
    function.restype = ctypes.c_long
    return function


def _syscall_openat2(dir_fd: int, path: str, flags: int, mode: int,
                     beneath: bool = True) -> int:
    number = _SYS_OPENAT2.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, "openat2 is not known on this machine")
    resolve = _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
    how = _OpenHow(flags, mode if flags & os.O_CREAT else 0,
                   resolve | _RESOLVE_BENEATH if beneath else resolve)
    fd = _syscall()(ctypes.c_long(number), ctypes.c_int(dir_fd),
                    ctypes.c_char_p(os.fsencode(path)), ctypes.byref(how),
                    ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


@functools.cache
def openat2_available() -> bool:
    """Whether ``openat2`` works here (probed once; seccomp may refuse it). The probe opens
    only a path handle of the working folder, which a Landlock ruleset never refuses."""
    try:
        os.close(_syscall_openat2(_AT_FDCWD, ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0))
    except (OSError, AttributeError):
        return False
    return True


def open_root(path: str, create: bool = False) -> int:
    """Open the folder at an absolute path that holds no link (a resolved root).

    With ``openat2`` the path is resolved at once, refusing any link (so nothing
    above the root needs to be opened, which a Landlock ruleset may refuse); without
    it, one component at a time from ``/``.

    Raises:
        OSError: ``ELOOP``/``ENOTDIR`` if a component became a link, ``ENOENT`` if
            it is missing (created first when ``create``).
    """
    if create:
        with contextlib.suppress(OSError):
            os.makedirs(path, exist_ok=True)
    if openat2_available():
        return _syscall_openat2(_AT_FDCWD, path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
                                0, beneath=False)
    top = os.open("/", _DIR_FLAGS)
    try:
        return open_dir(top, [p for p in path.split("/") if p])
    finally:
        os.close(top)


def open_dir(folder: int, parts: list[str] | tuple[str, ...], create: bool = False) -> int:
    """Open the folder ``parts`` beneath the open folder ``folder`` (made when ``create``)."""
    if not parts:
        return os.dup(folder)
    if not create and openat2_available():
        return _syscall_openat2(folder, "/".join(parts),
                                os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0)
    fd = os.dup(folder)
    try:
        for part in parts:
            try:
                child = _open_child(fd, part)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
                child = _open_child(fd, part)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_child(folder: int, name: str) -> int:
    """Open the folder ``name`` of ``folder``; a link there fails with ``ELOOP``."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=folder)
    except NotADirectoryError:  # O_DIRECTORY may say so first for a link
        if stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "a symbolic link", name) from None
        raise


def open_file(folder: int, parts: list[str] | tuple[str, ...], flags: int,
              mode: int = 0o666) -> int:
    """Open the file ``parts`` beneath ``folder``; no component may be a link."""
    if not parts:
        raise IsADirectoryError(errno.EISDIR, "a data root is a folder")
    flags |= _FILE_FLAGS
    if openat2_available() and not flags & os.O_CREAT:
        return _syscall_openat2(folder, "/".join(parts), flags, 0)
    parent = open_dir(folder, parts[:-1])
    try:
        return os.open(parts[-1], flags, mode, dir_fd=parent)
    finally:
        os.close(parent)


def lstat(folder: int, parts: list[str] | tuple[str, ...]) -> os.stat_result:
    """The status of ``parts`` beneath ``folder`` itself (a link is not followed)."""
    if not parts:
        return os.fstat(folder)
    parent = open_dir(folder, parts[:-1])
    try:
        return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(parent)


def entries(folder: int) -> list[tuple[str, os.stat_result]]:
    """``(name, status)`` of each entry of an open folder, links not followed."""
    found = []
    with os.scandir(folder) as listing:
        for entry in listing:
            try:
                found.append((entry.name, entry.stat(follow_symlinks=False)))
            except OSError:  # gone since, or unreadable: not listed
                continue
    return found


def remove_tree(parent: int, name: str) -> None:
    """Delete the folder ``name`` of ``parent`` and all below it, never through a link.

    A link inside is removed itself. A tree deeper than :data:`MAX_DEPTH` is
    refused before anything is deleted.

    Raises:
        TooDeep: The tree is deeper than :data:`MAX_DEPTH`.
    """
    _tree(parent, name, delete=False)
    _tree(parent, name, delete=True)


def _tree(parent: int, name: str, delete: bool) -> None:
    def open_listed(above: int, folder_name: str) -> tuple[int, list[str]]:
        fd = _open_child(above, folder_name)
        try:
            folders = []
            for entry, info in entries(fd):
                if stat.S_ISDIR(info.st_mode):
                    folders.append(entry)
                elif delete:
                    os.unlink(entry, dir_fd=fd)
        except BaseException:
            os.close(fd)
            raise
        return fd, folders

    stack = [(parent, name, *open_listed(parent, name))]
    try:
        while stack:
            above, folder_name, fd, folders = stack[-1]
            if not folders:
                stack.pop()
                os.close(fd)
                if delete:
                    os.rmdir(folder_name, dir_fd=above)
                continue
            if len(stack) >= MAX_DEPTH:
                raise TooDeep(errno.ELOOP, f"it holds folders more than {MAX_DEPTH} deep, "
                                           "which no dataset writes; delete it by hand")
            below = folders.pop()
            stack.append((fd, below, *open_listed(fd, below)))
    finally:
        for _above, _name, fd, _folders in stack:
            os.close(fd)


class ReplacingFile(io.BufferedWriter):
    """A new file in the destination's folder, renamed over the destination on close.

    A link planted at the destination is replaced by the rename, never written
    through; the file takes ownership of the open ``folder`` descriptor.
    """

    def __init__(self, folder: int, name: str) -> None:
        self._folder = -1  # closing a half-made file does nothing
        temporary = f".{secrets.token_hex(8)}.kinetic-partial"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o666, dir_fd=folder)
        except BaseException:
            os.close(folder)
            raise
        super().__init__(io.FileIO(fd, "wb"))
        self._folder, self._temporary, self._name = folder, temporary, name
        self._keep = True

    def close(self) -> None:
        if self._folder < 0:
            return
        folder, self._folder = self._folder, -1
        try:
            super().close()
            if self._keep:
                os.replace(self._temporary, self._name, src_dir_fd=folder, dst_dir_fd=folder)
            else:  # discarded: the destination stays as it was
                os.unlink(self._temporary, dir_fd=folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(self._temporary, dir_fd=folder)
            raise
        finally:
            os.close(folder)

    def discard(self) -> None:
        """Close without replacing the destination."""
        self._keep = False
        self.close()

    def commit(self) -> None:
        """fsspec transactions: the file is committed when it is closed."""

    def __exit__(self, kind: Any, *rest: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()
