"""Clear what a real bench left when its session died without a teardown (SIGKILL, a crash).

A killed pytest leaves the bench's daemons running (they have their own sessions), the shims,
and the containers' own processes (a dead shim does not take them along), plus their mounts and
cgroups. The next real bench calls :func:`reap_stale` under the machine-wide lock, so nothing
it finds belongs to a running bench.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from tests.bench.real.host import (
    KEEP_MARK,
    cgroup_dirs,
    mounts_below,
    remove_cgroup,
    unmount_below,
)


def _processes_under(folders: list[str]) -> list[int]:
    """Pids whose command line names a path inside one of ``folders``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(f"{folder}/" in arg for arg in argv for folder in folders):
            pids.append(int(entry.name))
    return pids


def reap_stale(current: Path) -> list[str]:
    """End what an earlier real bench left when its session died without a teardown.

    Called under the machine-wide lock, so no other real bench is running: every other
    ``kinetic-real-*`` work folder is stale. Its containerd, kubelet and shims (found by the
    folder in their command line) are killed by pid, and everything mounted below it is
    unmounted, then the folder is deleted unless it was kept on purpose (``KINETIC_BENCH_KEEP=1``
    marks it with :data:`KEEP_MARK`).
    Empty ``k8s.io`` cgroups are removed too. Returns the stale folders found.
    """
    stale = [str(p) for p in Path(tempfile.gettempdir()).glob("kinetic-real-*")
             if p.is_dir() and p != current]
    if stale:
        # the daemons and shims, then the containers' own processes: a killed shim leaves
        # them running, found through the cgroups named after the stale containerd's tasks
        pids = _processes_under(stale)
        for folder in stale:
            tasks = Path(folder, "containerd", "state", "io.containerd.runtime.v2.task", "k8s.io")
            ids = [t.name for t in tasks.iterdir()] if tasks.is_dir() else []
            for parent in cgroup_dirs():
                for task in ids:
                    try:
                        pids += [int(p) for p in Path(parent, task, "cgroup.procs")
                                 .read_text().split()]
                    except (OSError, ValueError):
                        continue
        for pid in set(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
        unmount_below(stale)
        for folder in stale:  # a crashed session's folder holds ~1 GiB of image layers
            if not Path(folder, KEEP_MARK).exists() and not mounts_below([folder]):
                shutil.rmtree(folder, ignore_errors=True)
    for path in cgroup_dirs():
        if path.endswith("/k8s.io"):
            remove_cgroup(path)  # only succeeds when no process is left in it
    remove_dead_sockets(Path("/run/containerd/s"))
    return stale


def remove_dead_sockets(folder: Path) -> None:
    """Remove socket files nobody listens on from ``folder`` (containerd's shim sockets),
    then the folder and its parent when they end up empty."""
    try:
        listening = {line.split()[-1] for line in Path("/proc/net/unix").read_text()
                     .splitlines()[1:] if len(line.split()) >= 8}
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_socket() and str(entry) not in listening:
            entry.unlink(missing_ok=True)
    for path in (folder, folder.parent):
        try:
            path.rmdir()
        except OSError:
            return
