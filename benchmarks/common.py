"""Shared plumbing: the run context, sizes, and running the measured driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.machine import REPO

DRIVER = Path(__file__).with_name("driver.py")

#: Everything a size preset decides. ``small`` is for the smoke test (seconds, local only);
#: its demo runs use demo_project's ``data_processing`` pipeline only (``demo_pipeline``).
SIZES: dict[str, dict[str, Any]] = {
    "small": {
        "latency_chains": {"width": 2, "length": 4}, "latency_fan": 8, "latency_repeats": 1,
        "pod_nice": 19,
        "overhead_sizes": [10, 20], "overhead_repeats": 1,
        "overhead_repeat_up_to": 20,
        "memory_sizes": [10, 100], "local_chain": 4, "bare_import_repeats": 5,
        "demo_repeats": 1, "demo_pipeline": "data_processing",
        "bench_max_parallel": 8, "local_max_parallel": 4,
        "grouping_chains": {"width": 2, "length": 4}, "grouping_repeats": 1,
        "cache_repeats": 1, "cache_chain_nodes": 20,
    },
    "full": {
        "latency_chains": {"width": 4, "length": 10}, "latency_fan": 48, "latency_repeats": 1,
        "pod_nice": 19,
        "overhead_sizes": [10, 100, 500], "overhead_repeats": 3,
        "overhead_repeat_up_to": 10,
        "memory_sizes": [10, 100, 1000], "local_chain": 20, "bare_import_repeats": 20,
        "demo_repeats": 5, "demo_pipeline": None,
        "bench_max_parallel": 8, "local_max_parallel": 4,
        "grouping_chains": {"width": 4, "length": 10}, "grouping_repeats": 2,
        "cache_repeats": 3, "cache_chain_nodes": 100,
    },
}


class DriverFailed(RuntimeError):
    """The measured driver process failed."""


@dataclass
class Context:
    """What every benchmark gets."""

    sizes: dict[str, Any]
    workdir: Path  # throwaway projects
    logdir: Path  # driver logs
    backends: tuple[str, ...] = ("local", "kubernetes")
    bench: Any = None  # benchmarks.bench_cluster.Bench when started
    bench_error: str | None = None
    real_bench: Any = None  # benchmarks.bench_cluster.RealBench (--backends ...,real)
    real_bench_error: str | None = None
    notes: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)
    _count: int = 0

    def log(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def drive(self, mode: str, project: Path, *, env: str | None = None,
              runner: str = "gke", trace_io: bool = False, label: str = "run",
              pipeline: str | None = None, no_fork: bool = False,
              cache: str | None = None, cache_cost: bool = False,
              environ: dict[str, str] | None = None,
              timeout: float = 900) -> dict[str, Any]:
        """Run ``benchmarks/driver.py`` in a subprocess (cwd = project); return its report.

        ``process_wall`` is the driver process's whole life; ``process_tree`` is its
        ``wait4`` resource usage: its own CPU plus that of every descendant it (or they)
        waited for (node processes, fork servers and their children). ``environ`` adds to
        the driver's environment (e.g. ``KUBECONFIG``).
        """
        self._count += 1
        stem = f"{self._count:03d}-{label}"
        out = self.logdir / f"{stem}.json"
        cmd = [sys.executable, str(DRIVER), mode, str(project), str(out), "--runner", runner]
        if env:
            cmd += ["--env", env]
        if trace_io:
            cmd.append("--trace-io")
        if pipeline:
            cmd += ["--pipeline", pipeline]
        if no_fork:
            cmd.append("--no-fork")
        if cache:
            cmd += ["--cache", cache]
        if cache_cost:
            cmd.append("--cache-cost")
        with open(self.logdir / f"{stem}.log", "w") as log:
            code, wall, tree = run_measured(cmd, project, log, timeout, environ)
        if code != 0:
            tail = (self.logdir / f"{stem}.log").read_text()[-3000:]
            raise DriverFailed(f"{label}: driver exited {code}\n{tail}")
        report = json.loads(out.read_text())
        report["process_wall"] = wall
        report["process_tree"] = tree
        out.write_text(json.dumps(report))  # kept beside its log for later analysis
        return report


def run_measured(cmd: list[str], cwd: Path, log: Any, timeout: float,
                 environ: dict[str, str] | None = None) -> tuple[int, float, dict[str, float]]:
    """Run ``cmd``; return its exit code, wall time and whole-tree CPU (``wait4``)."""
    import select

    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**driver_env(), **(environ or {})}, stdout=log,
                            stderr=subprocess.STDOUT)
    pidfd = os.pidfd_open(proc.pid)
    try:
        if not select.select([pidfd], [], [], timeout)[0]:
            proc.kill()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        os.close(pidfd)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    tree = {"cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
            "user_s": round(usage.ru_utime, 4), "sys_s": round(usage.ru_stime, 4),
            "largest_rss_mib": round(usage.ru_maxrss / 1024, 1)}
    return proc.returncode, wall, tree


def driver_env() -> dict[str, str]:
    """Environment of measured processes: no telemetry, the repo importable."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(KEDRO_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1",
               COLUMNS="200")
    return env


def repo_relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)
