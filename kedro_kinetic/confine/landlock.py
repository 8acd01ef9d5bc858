"""Landlock: confine a local node process to the folders it needs (Linux 5.13+).

A node process of the local backend can otherwise open any file its user can:
the run's key in the private state folder, other runs' logs, the project's own
code. :func:`confine` asks the kernel (``landlock_create_ruleset``,
``landlock_add_rule``, ``landlock_restrict_self``) to allow this process, and
every process it starts, only some hierarchies:

* read (and execute): the interpreter and its ``sys.path``, the system folders,
  ``/proc`` and ``/sys``, the project;
* read and write: the data roots, the local store, the run's temporary folder,
  ``/dev/shm`` and a few device files (``/dev/null``, ``/dev/urandom``, ...).

Everything else is refused with ``PermissionError``, whoever opens it: node code,
or a library that opens a path by itself. Landlock also keeps the process from
tracing (``ptrace``, ``/proc/<pid>/mem``, ``/proc/<pid>/environ``) any process
outside its own domain, such as the driver or the fork server.

The local backend computes the run's lists and hands them to the node process in
:data:`CONFINE_ENV` (configuration can never set a ``KINETIC_*`` name); the pod
entrypoint calls :func:`confine_from_env` before it fetches, verifies, unpickles or
runs anything. Where the kernel has no Landlock the process runs unconfined and
the functions return a one-line note saying so, for the caller to print.

Standard library only: the pod imports it first.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import stat
import sys
import tempfile
from typing import TYPE_CHECKING

from kedro_kinetic.errors import BackendError

if TYPE_CHECKING:
    from collections.abc import Iterable

#: The environment variable that asks a node process to confine itself (JSON, set by the
#: local backend): ``{"read_only": [...], "read_write": [...], "list_only": [...],
#: "private": path}``.
CONFINE_ENV = "KINETIC_CONFINE"

# Syscall numbers: the same on x86_64 and aarch64 (and every other architecture since
# the syscall table was unified in 5.x).
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

#: Filesystem access rights, from ``include/uapi/linux/landlock.h``.
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2: link or rename into another folder
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5: ioctl on device files
_ABI_1 = (1 << 13) - 1
#: The rights each ABI version can handle (a later ABI adds to the earlier ones).
_RIGHTS_BY_ABI = {1: _ABI_1, 2: _ABI_1 | REFER, 3: _ABI_1 | REFER | TRUNCATE,
                  4: _ABI_1 | REFER | TRUNCATE}
_ALL_RIGHTS = _ABI_1 | REFER | TRUNCATE | IOCTL_DEV
#: The only rights a rule on a file (not a folder) may carry.
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
#: What a read-only hierarchy allows.
READ_ONLY = EXECUTE | READ_FILE | READ_DIR
#: What a read-write hierarchy allows: everything but executing a file from it.
READ_WRITE = _ALL_RIGHTS & ~EXECUTE

#: Folders every Python process reads (those that exist), besides its ``sys.path``.
SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt",
               "/proc", "/sys")
#: Files the system folders hold only as links to elsewhere (DNS: often ``/run/...``).
LINKED_SYSTEM_FILES = ("/etc/resolv.conf",)
#: What every process writes: shared memory (semaphores of joblib/loky) and devices.
SYSTEM_WRITE = ("/dev/shm", "/dev/null",  # noqa: S108 - allowed, not used as a temp folder "/dev/zero", "/dev/full", "/dev/random",
                "/dev/urandom")


class _PathBeneath(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed: __u64 allowed_access; __s32 parent_fd
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _syscall(number: int, *args: object) -> int:
    """Call a syscall (integer arguments passed as full registers); return its result, or
    ``-errno`` on failure."""
    wide = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result = int(_libc().syscall(ctypes.c_long(number), *wide))
    return -ctypes.get_errno() if result < 0 else result


def abi_version() -> int:
    """The Landlock ABI version the kernel offers (``0``: none, or not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = _syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):  # no libc syscall(): treat as no Landlock
        return 0
    return max(version, 0)


def handled_rights(abi: int) -> int:
    """The filesystem rights a ruleset handles (denies unless a rule allows) at ``abi``."""
    return 0 if abi < 1 else _RIGHTS_BY_ABI.get(abi, _ALL_RIGHTS)


def unavailable_note(abi: int | None = None) -> str | None:
    """Why node processes cannot be confined here (``None``: they can)."""
    abi = abi_version() if abi is None else abi
    if abi >= 1:
        return None
    if not sys.platform.startswith("linux"):
        return f"node processes are not confined: Landlock is Linux-only (this is {sys.platform})"
    return ("node processes are not confined: this kernel has no Landlock (Linux 5.13+, "
            "enabled in the kernel's lsm= list)")


def _add_rule(ruleset: int, path: str, rights: int) -> bool:
    """Allow ``rights`` beneath ``path``; ``False`` if the path does not exist.

    Raises:
        BackendError: The kernel refused the rule.
    """
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return False  # missing, or out of this user's reach anyway
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        code = _syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        os.close(fd)
    if code < 0:
        raise BackendError(f"Landlock refused a rule for {path}: {os.strerror(-code)}")
    return True


def _thread_count() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 1


def confine(read_only: Iterable[str], read_write: Iterable[str],
            list_only: Iterable[str] = ()) -> str | None:
    """Allow this process (and what it starts) only these hierarchies, for good.

    Paths that do not exist are skipped. ``read_only`` hierarchies may be read and
    executed; ``read_write`` ones read, written, created in and removed from (not
    executed from); in ``list_only`` ones folders may be opened and listed, and no
    file read. Every right the kernel's ABI knows is handled, so what no rule allows
    is refused.

    Args:
        read_only: Files and folders to read.
        read_write: Files and folders to read and write.
        list_only: Folders whose folders may be listed (names, never contents).

    Returns:
        ``None`` once the whole process is confined; otherwise a one-line note: the
        kernel has no Landlock (nothing was restricted), or threads that were already
        running stay unconfined (this thread and everything it starts are confined).

    Raises:
        BackendError: The kernel refused the ruleset, a rule or the restriction: the
            process is not confined, and must not run node code as if it were.
    """
    abi = abi_version()
    note = unavailable_note(abi)
    if note:
        return note
    handled = handled_rights(abi)
    attr = _RulesetAttr(handled)
    ruleset = _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if ruleset in (-errno.ENOSYS, -errno.EOPNOTSUPP):
        return unavailable_note(0)
    if ruleset < 0:
        raise BackendError(f"Landlock refused a ruleset: {os.strerror(-ruleset)}")
    try:
        for path in read_only:
            _add_rule(ruleset, path, READ_ONLY & handled)
        for path in read_write:
            _add_rule(ruleset, path, READ_WRITE & handled)
        for path in list_only:
            _add_rule(ruleset, path, READ_DIR)
        threads = _thread_count()
        if _libc().prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS),
                         *(ctypes.c_ulong(a) for a in (1, 0, 0, 0))) != 0:
            raise BackendError("prctl(PR_SET_NO_NEW_PRIVS) failed: "
                               f"{os.strerror(ctypes.get_errno())}")
        code = _syscall(_SYS_RESTRICT_SELF, ruleset, 0)
        if code < 0:
            raise BackendError(f"Landlock could not restrict the process: {os.strerror(-code)}")
    finally:
        os.close(ruleset)
    if threads > 1:
        return (f"confined, but {threads - 1} thread(s) started before confinement are "
                "not (Landlock restricts the calling thread and what it starts)")
    return None


def _package_folders() -> list[str]:
    """Where imported top-level packages and editable installs live (outside ``sys.path``:
    an editable install is found by its own finder, from the folder it maps a name to)."""
    found: list[str] = []
    for name, module in list(sys.modules.items()):
        if name.startswith("__editable__") and name.endswith("_finder"):
            found += [str(p) for p in (getattr(module, "MAPPING", None) or {}).values()]
            for paths in (getattr(module, "NAMESPACES", None) or {}).values():
                found += [str(p) for p in paths]
        elif "." not in name:
            found += [str(p) for p in getattr(module, "__path__", None) or ()]
    return [path for path in found if os.path.isabs(path)]


def interpreter_paths() -> list[str]:
    """What this interpreter reads: its prefixes, every ``sys.path`` entry, and the
    folders of the packages it imported or can import through an editable install."""
    paths = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(sys.executable)]
    paths += [entry for entry in sys.path if entry and os.path.isabs(entry)]
    return list(dict.fromkeys(paths + _package_folders()))


def covering(paths: Iterable[str], private: str) -> list[str]:
    """The allowed hierarchies that hold ``private`` (or are it): they would expose it."""
    target = os.path.realpath(private)
    found = []
    for path in paths:
        real = os.path.realpath(path)
        if os.path.exists(real) and os.path.commonpath([real, target]) == real:
            found.append(path)
    return found


def overlap_warning(paths: Iterable[str], private: str) -> str | None:
    """One line naming the allowed hierarchies that hold the private state folder."""
    over = covering(paths, private)
    if not over:
        return None
    return (f"node processes may reach the private state folder {private} (it lies beneath "
            f"{', '.join(over)}), so they can read run keys and logs; set "
            "$KINETIC_STATE_DIR to a folder outside the project, the data roots and the "
            "store")


def confine_from_env() -> str | None:
    """Confine this node process as :data:`CONFINE_ENV` asks (nothing if it is unset).

    The interpreter's own folders (:func:`interpreter_paths`) and the system folders are
    added to the read-only list. Python's cached temporary folder is forgotten, so that
    ``tempfile`` uses the run's (``$TMPDIR``, set with the request).

    Returns:
        A one-line note for the node's log, or ``None`` (confined as asked, or not asked).

    Raises:
        BackendError: The request is malformed, or the kernel refused it.
    """
    text = os.environ.pop(CONFINE_ENV, None)
    if not text:
        return None
    try:
        spec = json.loads(text)
        read_only = [str(p) for p in spec["read_only"]]
        read_write = [str(p) for p in spec["read_write"]]
        list_only = [str(p) for p in spec.get("list_only", [])]
        private = str(spec.get("private") or "")
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"${CONFINE_ENV} is not a confinement request: {exc}") from exc
    read_only += [*SYSTEM_READ, *map(os.path.realpath, LINKED_SYSTEM_FILES),
                  *interpreter_paths()]
    read_write += list(SYSTEM_WRITE)
    warning = overlap_warning([*read_only, *read_write], private) if private else None
    tempfile.tempdir = None
    note = confine(read_only, read_write, list_only)
    return "; ".join(filter(None, [note, warning])) or None
