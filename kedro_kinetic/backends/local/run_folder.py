"""The private folder of a local-backend run: its key, attempts, processes and logs.

Owner-only, outside the store (under :func:`kedro_kinetic.store.layout.state_dir`):
only the user who started the run can write it, so the CLI picks runs and
processes from it, never from the store, and the attempt whose results count is
recorded here before its process starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_kinetic.backends.run_results import json_object, parse_cached
from kedro_kinetic.errors import BackendError, RunNotFound
from kedro_kinetic.planning.manifest import without_attempt
from kedro_kinetic.store.layout import STATE_DIR_ENV, state_dir
from kedro_kinetic.wire import naming, seal

if TYPE_CHECKING:
    from collections.abc import Iterator


def _private_dir(path: Path) -> Path:
    """Create ``path`` owner-only, or check that an existing one is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise BackendError(f"{path} must be a folder owned by you and writable only by you "
                           "(it holds run keys); fix its permissions or set "
                           f"${STATE_DIR_ENV}")
    return path


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _read_text(path: Path) -> str:
    """A private record's text ("" when missing or unreadable)."""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def _read_record(path: Path) -> dict[str, Any]:
    """A private JSON record ({} when missing, unreadable or not a JSON object)."""
    return json_object(_read_text(path))


def argv_digest(argv: list[str]) -> str:
    """What a process record keeps of a Job's command line (it holds the pinned digests)."""
    return hashlib.sha256(json.dumps(argv).encode()).hexdigest()


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or ``None``.

    With the pid it identifies one process for its whole life: a pid reused by
    another process has another start time.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else None


class LocalRunFolder:
    """The private folder of one local-backend run (key, processes, logs, record)."""

    def __init__(self, run_root: str, base: Path | None = None, pipeline: str = "") -> None:
        self.run_root = run_root
        self.pipeline = pipeline  # recorded by create(), for `kedro kinetic status`
        digest = hashlib.sha256(run_root.encode()).hexdigest()[:24]
        self.path = (base or state_dir()) / "runs" / digest

    # -- the run ------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "run.json").is_file()

    def create(self, run_id: str) -> None:
        """Record a new run (idempotent: resuming keeps the record and the key)."""
        _private_dir(self.path.parent.parent)
        _private_dir(self.path.parent)
        _private_dir(self.path)
        if not (self.path / "key").exists():
            _write_private(self.path / "key", seal.new_key().hex().encode())
        if not self.exists():
            record = {"run_id": run_id, "store_root": self.run_root, "started": time.time(),
                      "pipeline": self.pipeline}
            _write_private(self.path / "run.json", json.dumps(record).encode())

    def record(self) -> dict:
        """``{"run_id", "store_root", "started", "pipeline"}`` of the run.

        Raises:
            RunNotFound: The run has no private folder here.
        """
        try:
            return json.loads((self.path / "run.json").read_text())
        except (OSError, ValueError) as exc:
            raise RunNotFound(f"no local run recorded for {self.run_root}") from exc

    def key(self) -> bytes:
        """The run's key.

        Raises:
            RunNotFound: The run was not started on this machine (or was cleaned).
        """
        try:
            text = (self.path / "key").read_text()
        except OSError as exc:
            raise RunNotFound(f"no key for the run at {self.run_root} on this machine "
                              "(it was started elsewhere, or cleaned)") from exc
        return seal.key_from_hex(text, str(self.path / "key"))

    # -- attempts -------------------------------------------------------------------
    def record_attempt(self, node_keys: list[str], attempt: str) -> None:
        """Record, before its process starts, the attempt whose results count for these
        nodes (a Job's): resume and ``status`` accept a result sealed for it only."""
        folder = _private_dir(self.path / "attempts")
        for key in node_keys:
            _write_private(folder / naming.sanitise(key), attempt.encode())

    def attempts(self) -> dict[str, str]:
        """``{node key: attempt}`` as last recorded (see :meth:`record_attempt`)."""
        folder = self.path / "attempts"
        found = {}
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            try:
                text = path.read_text().strip()
            except (OSError, UnicodeDecodeError):
                continue
            if seal.is_attempt(text):
                found[path.name] = text
        return found

    def forget_attempts(self, node_keys: list[str]) -> None:
        """Drop the records of nodes that run again (their earlier results no longer count)."""
        for key in node_keys:
            (self.path / "attempts" / naming.sanitise(key)).unlink(missing_ok=True)

    def record_cached(self, cached: dict[str, dict[str, str]]) -> None:
        """Add the nodes the run reused from the cache (see :meth:`cached`)."""
        if cached:
            merged = {**self.cached(), **cached}
            _write_private(self.path / "cached.json",
                           json.dumps(merged, sort_keys=True).encode())

    def cached(self) -> dict[str, dict[str, str]]:
        """``{node key: {"node": name, "from": run id}}`` of the nodes the run reused."""
        return parse_cached(_read_text(self.path / "cached.json"))

    # -- node processes -------------------------------------------------------------
    def log_path(self, job: str) -> Path:
        folder = _private_dir(self.path / "logs")
        return folder / f"{naming.sanitise(job)}.log"

    def server_log_path(self) -> Path:
        """Where the run's fork servers write their own output (not a Job's log)."""
        return _private_dir(self.path / "logs") / "forkserver.log"

    def record_process(self, job: str, pid: int, node: str = "", key: str = "", *,
                       start: str | None = None, argv_sha256: str = "",
                       via: str = "", attempt: str | None = None) -> None:
        """Remember the process of ``job`` (pid, kernel start time, node name and key).

        Args:
            start: The kernel start time, when its parent read it (default: read now).
            argv_sha256: Digest of the Job's command line without its attempt. A forked
                process shows its fork server's command line, so a resumed run adopts it
                by pid, start time and this record, which only the user can write.
            via: How it was started: ``"exec"`` or ``"fork"``.
            attempt: The attempt it runs (its results are sealed for it).
        """
        folder = _private_dir(self.path / "pids")
        record = {"job": job, "pid": pid, "start": start or process_start_time(pid),
                  "node": node, "key": key, "argv_sha256": argv_sha256, "via": via,
                  "attempt": attempt}
        _write_private(folder / naming.sanitise(job), json.dumps(record).encode())

    def process(self, job: str) -> dict:
        """What :meth:`record_process` recorded for ``job`` (empty if nothing)."""
        return _read_record(self.path / "pids" / naming.sanitise(job))

    def live_process(self, job: str) -> int | None:
        """The pid of ``job``'s process if that very process still runs."""
        record = self.process(job)
        try:
            pid, start = int(record["pid"]), record["start"]
        except (KeyError, TypeError, ValueError):
            return None
        if start is None or process_start_time(pid) != start:
            return None
        return pid

    def live_process_running(self, job: str, argv: list[str]) -> int | None:
        """The pid of ``job``'s live process if it runs ``argv`` (so it may be adopted),
        in any attempt (``--attempt`` may differ: the process's own is in its record).

        An exec'd process shows its argv in ``/proc/<pid>/cmdline``. A forked one shows
        its fork server's command line, so its record, which only this user can write,
        names the argv that this pid and kernel start time run.
        """
        pid = self.live_process(job)
        if pid is None:
            return None
        argv = without_attempt(argv)
        if self.process(job).get("via") == "fork":
            return pid if self.process(job).get("argv_sha256") == argv_digest(argv) else None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        running = without_attempt([part.decode(errors="replace")
                                   for part in cmdline.split(b"\0") if part])
        # the arguments carry the pinned digests; the command may appear resolved
        # (a console script runs as "python /path/kinetic-pod ...")
        if len(argv) < 2 or running[-(len(argv) - 1):] != argv[1:]:
            return None
        return pid

    # -- the driver, and `kedro kinetic cancel` ------------------------------------------
    def record_driver(self) -> None:
        """Record this process as the run's driver (pid and kernel start time), so that
        ``kedro kinetic`` knows the run goes on between its nodes."""
        pid = os.getpid()
        _write_private(_private_dir(self.path) / "driver.json",
                       json.dumps({"pid": pid, "start": process_start_time(pid)}).encode())

    def driver_ended(self) -> None:
        """Drop the driver's record, if it is this process's (the run is over)."""
        if self._driver().get("pid") == os.getpid():
            (self.path / "driver.json").unlink(missing_ok=True)

    def _driver(self) -> dict:
        return _read_record(self.path / "driver.json")

    def driver_running(self) -> bool:
        """Whether the recorded driver of the run is that very process, still running."""
        record = self._driver()
        try:
            pid, start = int(record["pid"]), record["start"]
        except (KeyError, TypeError, ValueError):
            return False
        return start is not None and process_start_time(pid) == start

    def record_cancel(self, processes: dict[str, tuple[int, str | None]]) -> None:
        """Record, before they are signalled, that ``kedro kinetic cancel`` stops these
        processes (``{job: (pid, kernel start time)}``) and, from now on, the run.

        The driver's backend reads it when a process ends: a process found here ended by
        the cancel, not by a failure (see :meth:`cancelled`).
        """
        record = self.cancel_record()
        stopped = dict(record.get("processes") or {})
        stopped.update({job: {"pid": pid, "start": start}
                        for job, (pid, start) in processes.items()})
        _write_private(_private_dir(self.path) / "cancel.json",
                       json.dumps({"time": time.time(), "processes": stopped}).encode())

    def cancel_record(self) -> dict:
        """What :meth:`record_cancel` recorded (``{}`` if the run was never cancelled)."""
        return _read_record(self.path / "cancel.json")

    def cancelled(self, job: str) -> bool:
        """Whether ``job``'s recorded process is one that ``kedro kinetic cancel`` stopped
        (same pid and kernel start time: a later attempt of the Job is not)."""
        stopped = self.cancel_record().get("processes")
        entry = stopped.get(job) if isinstance(stopped, dict) else None
        process = self.process(job)
        return (isinstance(entry, dict) and entry.get("start") is not None
                and (entry.get("pid"), entry.get("start"))
                == (process.get("pid"), process.get("start")))

    def cancelled_since(self, since: float) -> bool:
        """Whether ``kedro kinetic cancel`` stopped the run at ``since`` (epoch) or later."""
        when = self.cancel_record().get("time")
        return isinstance(when, (int, float)) and when >= since

    def jobs(self) -> list[str]:
        """Jobs whose processes this run started."""
        folder = self.path / "pids"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def remove(self) -> None:
        """Delete the private folder (key, logs, records) of the run."""
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)


def local_runs(base: Path | None = None) -> Iterator[LocalRunFolder]:
    """Every local run recorded in the private folder."""
    runs = (base or state_dir()) / "runs"
    if not runs.is_dir():
        return
    for folder in sorted(runs.iterdir()):
        try:
            record = json.loads((folder / "run.json").read_text())
        except (OSError, ValueError):
            continue
        run = LocalRunFolder(str(record.get("store_root", "")), base)
        if run.path == folder:
            yield run
