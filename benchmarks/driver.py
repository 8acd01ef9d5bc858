"""The measured driver: one Kedro run (or render) in its own process, reported as JSON.

Usage::

    python -m benchmarks.driver run    PROJECT OUT.json [--env ENV] [--runner gke|sequential]
                                        [--pipeline NAME] [--trace-io]
    python -m benchmarks.driver render PROJECT OUT.json [--env ENV]

(``--profile FILE.pstats`` adds cProfile of every thread: a diagnostic, not a measurement.)

``run`` uses ``KedroSession`` with ``GKERunner`` (or ``SequentialRunner``) and reports
the process's own CPU time (``getrusage(RUSAGE_SELF)``: not its children), its peak
RSS, wall times, the runner's timeline, the pods' results and each node's payload
size. ``--trace-io`` wraps the store's read/write (and the catalog's load/save) to
count the bytes that pass through this process. ``render`` plans and renders every
Job manifest as ``kedro kinetic render`` does (``prepare(dry_run=True)`` + finalise),
with no execution and no store writes.
"""

from __future__ import annotations

import resource
import time

_T0_WALL = time.time()
_T0_PERF = time.perf_counter()


def _status_kib() -> dict:
    """VmHWM (peak RSS of this process image) and VmRSS, from /proc/self/status."""
    out = {}
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out[line[:5].lower() + "_kib"] = int(line.split()[1])
    except OSError:
        pass
    return out


def _usage() -> dict:
    """CPU (RUSAGE_SELF), peak RSS and a perf_counter stamp.

    ``maxrss_kib`` is ``ru_maxrss``. Linux carries the forking parent's RSS peak into a
    child's ``ru_maxrss`` across exec (the benchmark process hosts the bench kubelet,
    ~170 MiB), so the memory numbers use ``vmhwm_kib`` (VmHWM), which starts afresh
    with the new process image.
    """
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"utime": ru.ru_utime, "stime": ru.ru_stime, "cpu": ru.ru_utime + ru.ru_stime,
            "maxrss_kib": ru.ru_maxrss, **_status_kib(), "perf": time.perf_counter()}


_U0 = _usage()

import argparse
import json
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any


class IOTrace:
    """Counts store and catalog traffic in this process."""

    def __init__(self) -> None:
        self.store: list[dict] = []
        self.catalog: list[dict] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        from kedro.io import DataCatalog

        from kedro_kinetic import store

        trace = self

        def wrap_store(cls: type, op: str) -> None:
            original = getattr(cls, op)

            def wrapper(self: object, uri: str, *args: object, **kwargs: object) -> object:
                out = original(self, uri, *args, **kwargs)
                size = len(args[0]) if op == "write" else len(out) if op == "read" else 0
                with trace._lock:
                    trace.store.append({"op": op, "uri": uri, "bytes": size})
                return out

            setattr(cls, op, wrapper)

        for cls in (store.LocalStore, store._GCSStore):
            for op in ("read", "write", "exists", "list", "delete"):
                wrap_store(cls, op)

        def wrap_catalog(op: str) -> None:
            original = getattr(DataCatalog, op)

            def wrapper(self: object, name: str, *args: object, **kwargs: object) -> object:
                if not str(name).startswith("params:") and name != "parameters":
                    with trace._lock:
                        trace.catalog.append({"op": op, "dataset": name})
                return original(self, name, *args, **kwargs)

            setattr(DataCatalog, op, wrapper)

        for op in ("load", "save"):
            wrap_catalog(op)


class ThreadProfiles:
    """cProfile in every thread (watch and log threads too), timed in thread CPU time."""

    def __init__(self) -> None:
        import cProfile

        self._cprofile = cProfile
        self.profiles: list = []
        self._lock = threading.Lock()

    def install(self) -> None:
        profiles = self

        original = threading.Thread.run

        def run(thread: threading.Thread) -> None:
            prof = profiles._cprofile.Profile(time.thread_time)
            with profiles._lock:
                profiles.profiles.append(prof)
            prof.enable()
            try:
                original(thread)
            finally:
                prof.disable()

        threading.Thread.run = run  # type: ignore[method-assign]
        main = self._cprofile.Profile(time.thread_time)
        self.profiles.append(main)
        main.enable()
        self._main = main

    def dump(self, path: Path) -> None:
        import pstats

        self._main.disable()
        with self._lock:
            stats = pstats.Stats(self.profiles[0])
            for prof in self.profiles[1:]:
                try:
                    stats.add(prof)
                except TypeError:  # a thread still running with no data yet
                    continue
        stats.dump_stats(str(path))


class ThreadCPU:
    """CPU time per kind of thread: finished threads report their own ``thread_time``;
    live ones (and the main thread) are read from ``/proc/self/task`` at the end."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        cpu = self
        original = threading.Thread.run

        def run(thread: threading.Thread) -> None:
            try:
                original(thread)
            finally:
                with cpu._lock:
                    cpu.finished.append((thread.name, time.thread_time()))

        threading.Thread.run = run  # type: ignore[method-assign]

    @staticmethod
    def _kind(name: str) -> str:
        import re

        if "(" in name:
            return name[name.index("(") + 1:].rstrip(")")
        return re.sub(r"[-_]?\d+$", "", name) or name

    def report(self) -> dict[str, dict[str, float]]:
        import os

        tick = os.sysconf("SC_CLK_TCK")
        live: list[tuple[str, float]] = []
        for thread in threading.enumerate():
            tid = getattr(thread, "native_id", None)
            try:
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            live.append((thread.name, (int(fields[11]) + int(fields[12])) / tick))
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            items = self.finished + live
        for name, seconds in items:
            entry = out.setdefault(self._kind(name), {"threads": 0, "cpu_s": 0.0})
            entry["threads"] += 1
            entry["cpu_s"] = round(entry["cpu_s"] + seconds, 4)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["cpu_s"]))


class CacheCost:
    """CPU (each calling thread's ``thread_time``) spent on the node cache: each ready
    node's key and lookup, the code identities computed at planning, the entries written
    (on the cache's writer thread), and opening and closing the cache."""

    TARGETS = (("kedro_kinetic.driver.cache", "NodeCache", "lookup"),
               ("kedro_kinetic.driver.cache", "NodeCache", "record"),
               ("kedro_kinetic.driver.cache", "NodeCache", "_write"),
               ("kedro_kinetic.driver.cache", "NodeCache", "close"),
               ("kedro_kinetic.wire.payload", None, "code_identity"))

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        import importlib

        for module_name, cls_name, attr in self.TARGETS:
            module = importlib.import_module(module_name)
            owner = getattr(module, cls_name) if cls_name else module
            setattr(owner, attr, self._timed(attr, getattr(owner, attr)))
        # planning imported code_identity by module attribute: patched above
        import kedro_kinetic.driver.cache as cache_module

        original_open = cache_module.open_cache
        timed_open = self._timed("open_cache", original_open)
        cache_module.open_cache = timed_open
        import kedro_kinetic.driver.runner as runner_module

        runner_module.open_cache = timed_open

    def _timed(self, name: str, func: Any) -> Any:
        cost = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                spent = time.thread_time() - t0
                with cost._lock:
                    cost.cpu[name] = cost.cpu.get(name, 0.0) + spent
                    cost.calls[name] = cost.calls.get(name, 0) + 1

        return wrapper

    def report(self) -> dict[str, Any]:
        return {"cpu_s": {k: round(v, 5) for k, v in sorted(self.cpu.items())},
                "calls": dict(sorted(self.calls.items())),
                "total_cpu_s": round(sum(self.cpu.values()), 5)}


def _pipeline(name: str | None) -> object:
    from kedro.framework.project import pipelines

    return pipelines[name or "__default__"]


def _pipeline_deps(name: str | None) -> dict[str, list[str]]:
    pipe = _pipeline(name)
    return {n.name: sorted(d.name for d in deps) for n, deps in pipe.node_dependencies.items()}


def _datasets(name: str | None) -> dict[str, list[str]]:
    pipe = _pipeline(name)
    produced = {o for n in pipe.nodes for o in n.outputs}
    consumed = {i for n in pipe.nodes for i in n.inputs}
    return {
        "intermediate": sorted(produced & consumed),
        "free_inputs": sorted(pipe.inputs()),
        "outputs": sorted(pipe.outputs()),
    }


def _time_submit_calls(no_fork: bool) -> dict[str, list[float]]:
    """Record when the local backend's ``submit`` is called and returns, per node.

    The runner's timeline stamps ``submitted`` after ``submit`` returned, which
    leaves out starting the process (exec, or a fork request). With ``no_fork``
    the fork servers are switched off, so every node is exec'd as before they
    existed: the same run's baseline.
    """
    from kedro_kinetic.backends.local import backend as local
    from kedro_kinetic.backends.local import forkpool

    calls: dict[str, list[float]] = {}
    original = local.LocalBackend.submit

    def submit(self: object, manifest: dict, display_name: str) -> None:
        started = time.time()
        original(self, manifest, display_name)  # type: ignore[arg-type]
        calls[display_name] = [started, time.time()]

    local.LocalBackend.submit = submit  # type: ignore[method-assign]
    if no_fork:
        forkpool.ForkServers.start = lambda *args, **kwargs: None  # type: ignore[method-assign]
    return calls


def cmd_run(args: argparse.Namespace) -> dict:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    threads = ThreadCPU()
    threads.install()
    profiles = None
    if args.profile:
        profiles = ThreadProfiles()
        profiles.install()
    trace = None
    if args.trace_io:
        trace = IOTrace()
        trace.install()
    bootstrap_project(args.project)
    submit_calls = _time_submit_calls(args.no_fork) if args.runner == "gke" else {}
    cache_cost = None
    if args.cache_cost:
        cache_cost = CacheCost()
        cache_cost.install()
    if args.runner == "gke":
        from kedro_kinetic import GKERunner

        runner = GKERunner(**({"cache": args.cache} if args.cache else {}))
    else:
        from kedro.runner import SequentialRunner

        runner = SequentialRunner()
    runner_wall: list[float] = []
    _time_runner_run(runner, runner_wall)
    u_before_session = _usage()
    with KedroSession.create(project_path=args.project, env=args.env) as session:
        session_id = session.session_id
        u_before = _usage()
        session.run(runner=runner, pipeline_names=[args.pipeline] if args.pipeline else None)
        u_after = _usage()
    u_end = _usage()
    if profiles is not None:
        profiles.dump(args.profile)
    out: dict = {
        "mode": "run", "runner": args.runner, "env": args.env, "session_id": session_id,
        "rusage": {"start": _U0, "before_session": u_before_session, "before_run": u_before,
                   "after_run": u_after, "end": u_end},
        "wall": {"import_to_session": u_before_session["perf"] - _T0_PERF,
                 "session_run": u_after["perf"] - u_before["perf"],
                 "runner_run": sum(runner_wall),
                 "total_in_process": u_end["perf"] - _T0_PERF},
        "t0_wall": _T0_WALL,
        "pipeline": args.pipeline or "__default__",
        "deps": _pipeline_deps(args.pipeline),
        "datasets": _datasets(args.pipeline),
        "threads_at_end": threading.active_count(),
        "cpu_by_thread": threads.report(),
    }
    if args.runner == "gke":
        out["timeline"] = runner.last_timeline
        out["submit_calls"] = submit_calls
        out["forked"] = not args.no_fork
        out["results"] = {name: {k: v for k, v in asdict(r).items() if k != "traceback"}
                          for name, r in runner.last_results.items()}
        out["plans"] = {
            node.name: {"payload_bytes": p.payload_bytes, "payload_sha256": p.payload_sha256,
                        "payload_uri": p.payload_uri, "job_name": p.ident.job_name,
                        "result_uri": p.result_uri,
                        "spec_sha256": p.pins.spec_sha256 if p.pins else None}
            for node, p in runner.last_plans.items()
        }
    if cache_cost is not None:
        out["cache_cost"] = cache_cost.report()
    out["nodes"] = len(out["deps"])
    if trace is not None:
        out["io"] = {"store": trace.store, "catalog": trace.catalog}
    return out


def cmd_render(args: argparse.Namespace) -> dict:
    # Import what any render needs before taking the baseline, so that the
    # increment is what planning N nodes costs.
    import cloudpickle  # noqa: F401
    import yaml  # noqa: F401
    from kedro.framework.session import KedroSession  # noqa: F401

    from kedro_kinetic.cli.render import render_project
    from kedro_kinetic.driver import runner  # noqa: F401

    u_before = _usage()
    cfg, manifests = render_project(args.project, args.env)
    u_after = _usage()
    text_bytes = sum(len(json.dumps(m)) for m in manifests)
    return {
        "mode": "render", "env": args.env, "nodes": len(manifests),
        "backend": cfg.backend, "manifest_json_bytes": text_bytes,
        "rusage": {"start": _U0, "before_render": u_before, "after_render": u_after},
        "wall": {"render": u_after["perf"] - u_before["perf"]},
    }


def _time_runner_run(runner: Any, walls: list[float]) -> None:
    """Add the wall of each ``runner.run`` call to ``walls``: the runner's share of
    ``session.run``, after Kedro has loaded the pipelines (imported every node's module)."""
    original = runner.run

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            walls.append(time.perf_counter() - start)

    runner.run = timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.driver")
    parser.add_argument("mode", choices=("run", "render"))
    parser.add_argument("project", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--env", default=None)
    parser.add_argument("--runner", choices=("gke", "sequential"), default="gke")
    parser.add_argument("--pipeline", default=None, help="pipeline name (run mode)")
    parser.add_argument("--trace-io", action="store_true")
    parser.add_argument("--no-fork", action="store_true",
                        help="local backend: exec every node process (no fork server)")
    parser.add_argument("--cache", choices=("on", "off", "read", "write"), default=None,
                        help="the node cache mode (default: the project's, on for local)")
    parser.add_argument("--cache-cost", action="store_true",
                        help="measure the CPU the node cache takes (its functions wrapped)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write merged cProfile stats of all threads here (diagnostic; "
                             "it slows the driver, so never combine with measurements)")
    args = parser.parse_args(argv)
    args.project = args.project.resolve()
    report = cmd_run(args) if args.mode == "run" else cmd_render(args)
    args.out.write_text(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
