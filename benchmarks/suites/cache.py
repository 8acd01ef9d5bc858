"""The node cache: an unchanged second run of demo_project, and what the cache costs a run
that has no hits.

* ``demo``: per repeat, a fresh copy of demo_project run twice with ``GKERunner`` on the
  local backend (cache on, its default there): the first run executes and records every node,
  the second, unchanged, reuses every node. Ratios second / first of the driver process's
  whole wall, of ``session.run`` and of ``GKERunner.run`` (what is left of ``session.run``
  once Kedro has loaded the pipelines, which imports every node's module: sklearn and scipy
  for the demo, about 2 s that any runner pays); the second run's count of node processes
  (0 expected).
* ``no_hits``: the cost of the cache on a run without hits (a fresh store), on demo_project
  and on a project of trivial chains: the CPU the driver spends in the cache (every ready
  node's key and lookup, the code identity at planning, entry writes on the cache's writer
  thread, opening and closing; wrapped and timed per thread in the measured driver) as a
  share of the driver process's CPU; beside it, the same project run with ``cache=off`` in
  the same invocation (interleaved), as a cross-check of the difference in driver CPU.
"""

from __future__ import annotations

from typing import Any

from benchmarks import projects
from benchmarks.stats import median, ratio


def _demo(ctx: Any) -> dict[str, Any]:
    pairs = []
    for rep in range(ctx.sizes["cache_repeats"]):
        ctx.log(f"cache: demo_project, first and unchanged second run, repeat {rep + 1}")
        project = projects.copy_demo(ctx.workdir / f"cache-demo-{rep}")
        first = ctx.drive("run", project, label="cache-demo-first", cache="on")
        second = ctx.drive("run", project, label="cache-demo-second", cache="on")
        pairs.append({
            "first_wall_s": first["process_wall"], "second_wall_s": second["process_wall"],
            "first_session_run_s": first["wall"]["session_run"],
            "second_session_run_s": second["wall"]["session_run"],
            "first_runner_run_s": first["wall"]["runner_run"],
            "second_runner_run_s": second["wall"]["runner_run"],
            "second_nodes_run": sum(1 for r in second["results"].values()
                                    if r.get("phase") != "cached"),
            "second_nodes_cached": sum(1 for r in second["results"].values()
                                       if r.get("phase") == "cached"),
        })
    out: dict[str, Any] = {k: round(median(p[k] for p in pairs), 3) for k in pairs[0]}
    out["ratio_second_over_first_wall"] = round(median(
        ratio(p["second_wall_s"], p["first_wall_s"]) for p in pairs), 3)
    out["ratio_second_over_first_session_run"] = round(median(
        ratio(p["second_session_run_s"], p["first_session_run_s"]) for p in pairs), 3)
    out["ratio_second_over_first_runner_run"] = round(median(
        ratio(p["second_runner_run_s"], p["first_runner_run_s"]) for p in pairs), 3)
    out["repeats"] = len(pairs)
    out["nodes"] = pairs[0]["second_nodes_run"] + pairs[0]["second_nodes_cached"]
    return out


def _no_hits(ctx: Any, name: str, make: Any) -> dict[str, Any]:
    rows = []
    for rep in range(ctx.sizes["cache_repeats"]):
        ctx.log(f"cache: {name} without hits, cache on then off, repeat {rep + 1}")
        on = ctx.drive("run", make(f"cache-{name}-on-{rep}"), label=f"cache-{name}-on",
                       cache="on", cache_cost=True)
        off = ctx.drive("run", make(f"cache-{name}-off-{rep}"), label=f"cache-{name}-off",
                        cache="off")
        cost = on["cache_cost"]
        rows.append({"cache_cpu_s": cost["total_cpu_s"],
                     "driver_cpu_on_s": on["rusage"]["end"]["cpu"],
                     "driver_cpu_off_s": off["rusage"]["end"]["cpu"],
                     "share": ratio(cost["total_cpu_s"], on["rusage"]["end"]["cpu"]),
                     "parts": cost["cpu_s"], "calls": cost["calls"],
                     "nodes": on["nodes"]})
    out: dict[str, Any] = {k: round(median(r[k] for r in rows), 4)
                           for k in ("cache_cpu_s", "driver_cpu_on_s", "driver_cpu_off_s",
                                     "share")}
    out["ratio_driver_cpu_on_over_off"] = round(median(
        ratio(r["driver_cpu_on_s"], r["driver_cpu_off_s"]) for r in rows), 3)
    out["nodes"] = rows[0]["nodes"]
    out["parts_cpu_s"] = rows[len(rows) // 2]["parts"]
    out["calls"] = rows[0]["calls"]
    out["repeats"] = len(rows)
    return out


def run(ctx: Any) -> dict[str, Any]:
    n = ctx.sizes["cache_chain_nodes"]
    shape = projects.chains_for(n)

    def chains(label: str) -> Any:
        return projects.trivial_project(ctx.workdir / label, shape,
                                        {"backend": "local",
                                         "max_parallel": ctx.sizes["local_max_parallel"]})

    def demo(label: str) -> Any:
        return projects.copy_demo(ctx.workdir / label)

    return {"demo": _demo(ctx),
            "no_hits": {"demo": _no_hits(ctx, "demo", demo),
                        f"chains_{n}": _no_hits(ctx, "chains", chains)}}
