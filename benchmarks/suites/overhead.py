"""Client overhead per node: the driver process's own CPU time / node count.

CPU is ``getrusage(RUSAGE_SELF)`` of the driver process (user + system, not its
children, not wall). Three numbers per size:

* ``total``: the whole process (interpreter start, imports, Kedro session, run);
* ``run``: ``session.run`` only (planning, payloads, scheduling, hooks, Kedro's
  own run overhead, kedro-viz recording);
* ``cpu_by_thread``: the process's CPU split by thread kind (main thread: planning,
  submission, hooks, logging; watch threads; log-stream threads; ...);
* ``marginal``: the slope of ``run`` CPU between consecutive sizes, i.e. what
  one more node costs once fixed costs are paid;
* ``over_sequential``: ``run`` CPU minus that of ``SequentialRunner`` on the same
  pipeline in the same invocation (the baseline: Kedro's own session, catalog,
  hooks and logging, with the trivial nodes run in-process), per node: what the
  runner itself adds.

Pipelines are 10 independent chains of trivial nodes (``projects.chains_for``).
``local_exec`` is the local backend with every node exec'd (no fork server), the
same-run baseline of the driver's CPU with the fork server; ``kubernetes_watch`` is
the bench with ``results_first: false`` (Jobs followed by the watch alone), the
same-run baseline of what results first costs the driver.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from benchmarks import projects
from benchmarks.stats import median


def _measure(ctx: Any, backend: str, n: int, repeat: int) -> dict[str, Any]:
    shape = projects.chains_for(n)
    label = f"ovh-{backend}-{n}-{repeat}"
    root = ctx.workdir / label
    if backend == "sequential":
        project = projects.trivial_project(root, shape, {"backend": "local"})
        report = ctx.drive("run", project, runner="sequential", label=label, timeout=1800)
    elif backend in ("local", "local_exec"):
        project = projects.trivial_project(
            root, shape, {"backend": "local", "max_parallel": ctx.sizes["local_max_parallel"]})
        report = ctx.drive("run", project, label=label, timeout=1800,
                           no_fork=backend == "local_exec")
    else:
        project = projects.trivial_project(root, shape, {"backend": "local"})
        env = ctx.bench.write_env(project, label,
                                  max_parallel=ctx.sizes["bench_max_parallel"],
                                  results_first=backend != "kubernetes_watch")
        with ctx.bench.workdir(project):
            report = ctx.drive("run", project, env=env, label=label, timeout=1800)
        from kedro_kinetic.wire import naming

        ctx.bench.delete_run(naming.run_label(report["session_id"]))
    ru = report["rusage"]
    run_cpu = ru["after_run"]["cpu"] - ru["before_run"]["cpu"]
    return {
        "nodes": report["nodes"],
        "cpu_total_s": round(ru["end"]["cpu"], 4),
        "cpu_run_s": round(run_cpu, 4),
        "cpu_before_session_s": round(ru["before_session"]["cpu"], 4),
        "wall_session_run_s": round(report["wall"]["session_run"], 3),
        "maxrss_mib": round(ru["end"].get("vmhwm_kib", ru["end"]["maxrss_kib"]) / 1024, 1),
        "threads_at_end": report.get("threads_at_end"),
        "cpu_by_thread": report.get("cpu_by_thread"),
    }


def _baseline(ctx: Any) -> dict[int, float]:
    """``session.run`` CPU of SequentialRunner per size (median of the repeats)."""
    out = {}
    for n in ctx.sizes["overhead_sizes"]:
        repeats = ctx.sizes["overhead_repeats"] if n <= ctx.sizes["overhead_repeat_up_to"] else 1
        ctx.log(f"overhead: SequentialRunner baseline, {n} nodes")
        out[n] = median(_measure(ctx, "sequential", n, rep)["cpu_run_s"]
                        for rep in range(repeats))
    return out


def run(ctx: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": "10 independent chains of trivial nodes", "backends": {}}
    baseline = _baseline(ctx)
    out["sequential_cpu_run_s"] = {str(n): round(v, 4) for n, v in baseline.items()}
    variants = {"local": ("local", "local_exec"), "kubernetes": ("kubernetes", "kubernetes_watch")}
    backends = [b for name in ctx.backends for b in variants.get(name, (name,))]
    for backend in backends:
        if backend.startswith("kubernetes") and ctx.bench is None:
            out["backends"][backend] = {"skipped": ctx.bench_error or "bench not running"}
            continue
        mp = ctx.sizes["local_max_parallel" if backend.startswith("local")
                       else "bench_max_parallel"]
        rows = []
        for n in ctx.sizes["overhead_sizes"]:
            reps = []
            # repeats where they are cheap (small N is where noise matters most)
            small = n <= ctx.sizes["overhead_repeat_up_to"]
            repeats = ctx.sizes["overhead_repeats"] if small else 1
            for rep in range(repeats):
                ctx.log(f"overhead: {backend} backend, {n} nodes, repeat {rep + 1}")
                reps.append(_measure(ctx, backend, n, rep))
            row = {k: median(r[k] for r in reps) for k in reps[0] if k != "cpu_by_thread"}
            row["cpu_by_thread"] = reps[len(reps) // 2]["cpu_by_thread"]
            row["repeats"] = len(reps)
            row["cpu_total_ms_per_node"] = round(1000 * row["cpu_total_s"] / n, 2)
            row["cpu_run_ms_per_node"] = round(1000 * row["cpu_run_s"] / n, 2)
            row["cpu_over_sequential_ms_per_node"] = round(
                1000 * (row["cpu_run_s"] - baseline[n]) / n, 2)
            rows.append(row)
        for prev, row in pairwise(rows):
            dn = row["nodes"] - prev["nodes"]
            row["cpu_marginal_ms_per_node"] = round(
                1000 * (row["cpu_run_s"] - prev["cpu_run_s"]) / dn, 2)
        per_node = [r["cpu_run_ms_per_node"] for r in rows]
        out["backends"][backend] = {
            "max_parallel": mp, "sizes": rows,
            "run_ms_per_node_max": max(per_node),
            "over_sequential_ms_per_node_max": max(
                r["cpu_over_sequential_ms_per_node"] for r in rows),
            "flatness_largest_over_smallest": round(per_node[-1] / per_node[0], 3)
            if per_node[0] else None,
        }
    return out
