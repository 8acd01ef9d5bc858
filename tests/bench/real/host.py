"""What the real bench changes on the host, and how it puts it back.

containerd, runc, CNI and the kubelet write to a few paths that no flag moves (``/run/containerd``
for shim sockets, ``/var/lib/kubelet/device-plugins``, ``/var/log/containers``, ``/var/lib/cni``,
``/run/netns``), the kubelet sets kernel sysctls at start, and containers leave mounts behind if
they are not torn down in order. :class:`HostGuard` records the state first and restores it:
paths the bench did not find are removed, sysctls get their old values back, every mount below
the bench's folders is lazily unmounted, the cgroups made for the pods are removed, and the
iptables rules must be as they were. A machine-wide lock keeps a second real bench (another
pytest session) from sharing those fixed paths at the same time.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: Paths outside the work folder that the runtime pieces create.
SYSTEM_PATHS = (
    "/run/containerd",          # containerd-shim sockets (/run/containerd/s)
    "/var/lib/kubelet",         # device-plugins, pod-resources (fixed in the kubelet)
    "/var/log/containers",      # the kubelet's symlinks to container logs
    "/var/log/pods",
    "/var/lib/cni",             # CNI result cache
    "/run/netns",               # pod network namespaces (non-hostNetwork pods)
    "/var/lib/containers",      # containers/image's blob-info cache (buildah, skopeo)
    "/run/containers",
    "/etc/cni",
)
#: What the kubelet sets when it starts (``protectKernelDefaults: false``).
SYSCTLS = (
    "vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
)
#: A work folder kept with ``KINETIC_BENCH_KEEP=1`` holds this file (not reaped).
KEEP_MARK = ".kept"
#: One real bench per machine at a time (kept in the user's cache, not in a system path).
LOCK_PATH = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
    "kedro-kinetic" / "real-bench.lock"
#: The host's state as a running real bench recorded it; deleted once it is restored, so a
#: session that starts and finds it knows the last one died first, and restores that baseline.
STATE_PATH = LOCK_PATH.with_name("real-bench-host.json")


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls(names: Iterable[str] = SYSCTLS) -> dict[str, str]:
    """Current values of the named sysctls (those this kernel has)."""
    values = {}
    for name in names:
        try:
            values[name] = _sysctl_path(name).read_text().strip()
        except OSError:
            pass
    return values


def firewall_rules() -> list[str]:
    """``iptables-save`` without its packet counters ([] when iptables is not installed):
    the kubelet (``makeIPTablesUtilChains``) and CNI (``ipMasq``) could add chains and rules."""
    if shutil.which("iptables-save") is None:
        return []
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False).stdout
    return sorted(re.sub(r"\[\d+:\d+\]", "", line) for line in out.splitlines()
                  if line and not line.startswith("#"))


def cgroup_dirs() -> set[str]:
    """Top-level directories of every mounted cgroup hierarchy (containerd creates
    ``k8s.io`` in each one for the pods)."""
    found = set()
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] in ("cgroup", "cgroup2"):
            root = Path(fields[1])
            try:
                found |= {str(p) for p in root.iterdir() if p.is_dir()}
            except OSError:
                continue
    return found


def remove_cgroup(path: str) -> bool:
    """Remove an (empty of processes) cgroup directory and its children, deepest first."""
    for parent, dirs, _files in os.walk(path, topdown=False):
        for name in dirs:
            try:
                os.rmdir(os.path.join(parent, name))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        return False
    return True


def mounts_below(roots: Iterable[Path | str]) -> list[str]:
    """Mount points at or below any of ``roots``, deepest first."""
    prefixes = [str(r).rstrip("/") for r in roots]
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_below(roots: Iterable[Path | str]) -> list[str]:
    """Lazily unmount everything at or below ``roots``; return what was unmounted."""
    done = []
    for _ in range(5):  # a lazy unmount can reveal a mount that was under it
        points = mounts_below(roots)
        if not points:
            break
        for point in points:
            if subprocess.run(["umount", "-l", point], capture_output=True,
                              check=False).returncode == 0:
                done.append(point)
    return done


class HostGuard:
    """Records the host's state before the real bench starts; :meth:`restore` puts it back.

    Args:
        work: The bench's own folder (everything mounted below it is unmounted at the end).
        paths: System paths to remove at the end when they did not exist at the start.
        lock_path: The machine-wide lock file.
        state_path: Where the recorded state waits for :meth:`restore`.
    """

    def __init__(self, work: Path, paths: Iterable[str] = SYSTEM_PATHS,
                 lock_path: Path = LOCK_PATH, state_path: Path = STATE_PATH) -> None:
        self.work = Path(work)
        self.paths = tuple(paths)
        self.lock_path = Path(lock_path)
        self.state_path = Path(state_path)
        self.absent: list[str] = []
        self.sysctls: dict[str, str] = {}
        self.cgroups: set[str] = set()
        self.firewall: list[str] = []
        self._lock_handle = None

    def record(self) -> None:
        """Record the host's state (call :meth:`lock` first).

        When a session died before its restore, what it recorded is still in
        :attr:`state_path`: its missing paths and its sysctl values are the baseline this
        session restores (the paths and sysctls it left changed are not the host's own).
        """
        self.absent = [p for p in self.paths if not os.path.lexists(p)]
        self.sysctls = read_sysctls()
        try:
            earlier = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            earlier = {}
        if earlier:
            self.absent = sorted(set(self.absent) | set(earlier.get("absent", [])) &
                                 set(self.paths))
            self.sysctls.update({k: v for k, v in earlier.get("sysctls", {}).items()
                                 if k in self.sysctls})
        self.state_path.write_text(json.dumps({"absent": self.absent, "sysctls": self.sysctls}))
        self.cgroups = cgroup_dirs()
        self.firewall = firewall_rules()

    def lock(self, timeout: float = 1800.0) -> None:
        """Take the machine-wide lock, waiting (up to ``timeout``) for another real bench."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "w")  # noqa: SIM115 - held until release()
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not announced:
                    print(f"[real bench] waiting for {self.lock_path} (another real bench runs)",
                          file=sys.__stderr__, flush=True)
                    announced = True
                if time.monotonic() > deadline:
                    handle.close()
                    raise TimeoutError(
                        f"another real bench held {self.lock_path} for {timeout:.0f} s") from None
                time.sleep(1)
        self._lock_handle = handle

    def changed_sysctls(self) -> dict[str, tuple[str, str]]:
        """``{name: (before, now)}`` for sysctls that differ from the recorded values."""
        now = read_sysctls(self.sysctls)
        return {k: (v, now[k]) for k, v in self.sysctls.items() if now.get(k) != v}

    def restore(self) -> list[str]:
        """Unmount, restore sysctls, remove created system paths, release the lock.

        Returns:
            What could not be restored (empty when the host is as it was).
        """
        problems = []
        unmount_below([self.work, *self.paths])
        for name, (before, _now) in self.changed_sysctls().items():
            try:
                _sysctl_path(name).write_text(before)
            except OSError as exc:
                problems.append(f"sysctl {name}: {exc}")
        for path in sorted(cgroup_dirs() - self.cgroups):
            if not remove_cgroup(path):
                problems.append(f"could not remove cgroup {path} (processes left in it?)")
        for path in self.absent:
            if os.path.lexists(path):
                unmount_below([path])
                shutil.rmtree(path, ignore_errors=True)
                if os.path.lexists(path):
                    problems.append(f"could not remove {path}")
        problems += [f"still mounted: {p}" for p in mounts_below([self.work, *self.paths])]
        if firewall_rules() != self.firewall:
            problems.append("iptables rules changed: "
                            f"{sorted(set(firewall_rules()) ^ set(self.firewall))[:10]}")
        problems += [f"sysctl {k} is {now}, was {before}"
                     for k, (before, now) in self.changed_sysctls().items()]
        if not problems:  # else the next session tries again from the same baseline
            self.state_path.unlink(missing_ok=True)
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None
        return problems


@contextmanager
def created_paths_removed(paths: Iterable[str]) -> Iterator[None]:
    """Remove, on exit, those of ``paths`` that did not exist on entry (image builds)."""
    absent = [p for p in paths if not os.path.lexists(p)]
    try:
        yield
    finally:
        for path in absent:
            shutil.rmtree(path, ignore_errors=True)
