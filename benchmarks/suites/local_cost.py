"""Local backend cost: trivial nodes and demo_project against same-run baselines.

* ``bare_import``: wall time of ``python -c "import kedro_kinetic.entrypoint"``
  and of ``python -c pass`` (repeats before and after the chain, pooled).
* ``trivial_node``: a chain of trivial nodes with ``max_parallel: 1`` on the local
  backend (fork server); per node, on the driver clock, from the backend's
  ``submit`` call to the driver noticing the end (``node_wall``), split into:
  ``submit`` call (fork request or exec), call to the entrypoint's first line
  (``start_lag``), work in the pod (``in_pod``) and exit to noticed
  (``exit_to_noticed``). ``reaction`` is upstream end -> next ``submit`` call.
  ``trivial_node_exec`` is the same chain with every node exec'd (``--no-fork``).
* ``demo``: demo_project with ``GKERunner`` (local backend, fork server), with
  ``SequentialRunner`` and with ``GKERunner`` exec'ing every node, interleaved per
  repeat so that load drift hits all alike. Per run: ``session.run`` wall, the
  driver process's whole wall, and the CPU of its whole process tree (``wait4``:
  driver, fork servers, node processes); ratios are medians of the per-repeat ratios.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from benchmarks import projects
from benchmarks.common import driver_env
from benchmarks.stats import median, ratio, summary


def _timed(argv: list[str], repeats: int, cwd: Any = None) -> list[float]:
    times = []
    env = driver_env()
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def _bare(ctx: Any, cwd: Any) -> dict[str, list[float]]:
    """Wall times of a bare entrypoint import and of an empty interpreter (warm caches)."""
    reps = ctx.sizes["bare_import_repeats"]
    _timed([sys.executable, "-c", "import kedro_kinetic.entrypoint"], 1, cwd)  # .pyc warm-up
    return {"import_entrypoint_s": _timed([sys.executable, "-c",
                                           "import kedro_kinetic.entrypoint"], reps, cwd),
            "python_pass_s": _timed([sys.executable, "-c", "pass"], reps, cwd)}


def _chain(ctx: Any, no_fork: bool = False) -> dict[str, Any]:
    length = ctx.sizes["local_chain"]
    label = "local-chain-exec" if no_fork else "local-chain"
    project = projects.trivial_project(
        ctx.workdir / label, {"kind": "chains", "width": 1, "length": length},
        {"backend": "local", "max_parallel": 1})
    report = ctx.drive("run", project, label=label, no_fork=no_fork)
    tl, res, calls = report["timeline"], report["results"], report["submit_calls"]
    per: dict[str, list[float]] = {k: [] for k in (
        "node_wall", "submit", "start_lag", "in_pod", "exit_to_noticed")}
    for name, t in tl.items():
        r, (called, returned) = res[name], calls[name]
        per["node_wall"].append(t["finished_seen"] - called)
        per["submit"].append(returned - called)
        per["start_lag"].append(r["started_at"] - called)
        per["in_pod"].append(r["finished_at"] - r["started_at"])
        per["exit_to_noticed"].append(t["finished_seen"] - r["finished_at"])
    reaction = [calls[n][0] - res[ups[0]]["finished_at"]
                for n, ups in report["deps"].items() if ups]
    first = min(tl, key=lambda n: calls[n][0])
    out: dict[str, Any] = {k: summary(v) for k, v in per.items()}
    out["reaction"] = summary(reaction)
    out["first_node_wall"] = round(tl[first]["finished_seen"] - calls[first][0], 4)
    out["nodes"] = report["nodes"]
    out["session_run_s"] = round(report["wall"]["session_run"], 3)
    out["tree_cpu_s"] = report["process_tree"]["cpu_s"]
    return out


_DEMO_RUNS = {"gke": ("gke", False), "sequential": ("sequential", False),
              "gke_exec": ("gke", True)}
_DEMO_METRICS = ("session_run_s", "process_wall_s", "tree_cpu_s")


def _demo_once(ctx: Any, key: str, rep: int) -> dict[str, float]:
    runner, no_fork = _DEMO_RUNS[key]
    ctx.log(f"local_cost: demo_project, {key}, repeat {rep + 1}")
    project = projects.copy_demo(ctx.workdir / f"demo-{key}-{rep}")
    # The store I/O trace costs microseconds (~80 calls); datapath reuses it
    # when the bench is not running.
    trace = key == "gke" and "demo_local_report" not in ctx.cache
    report = ctx.drive("run", project, runner=runner, label=f"demo-{key}",
                       pipeline=ctx.sizes["demo_pipeline"], trace_io=trace, no_fork=no_fork)
    if trace:
        ctx.cache["demo_local_report"] = (project, report)
    return {"session_run_s": report["wall"]["session_run"],
            "process_wall_s": report["process_wall"],
            "tree_cpu_s": report["process_tree"]["cpu_s"],
            "driver_cpu_s": report["rusage"]["end"]["cpu"],
            "largest_rss_mib": report["process_tree"]["largest_rss_mib"]}


def _demo(ctx: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ctx.sizes["demo_repeats"] < 1:
        return {"skipped": "demo_repeats is 0"}
    runs: dict[str, list[dict[str, float]]] = {key: [] for key in _DEMO_RUNS}
    for rep in range(ctx.sizes["demo_repeats"]):
        for key, items in runs.items():  # interleaved, so that load drift hits all alike
            items.append(_demo_once(ctx, key, rep))
    out["pipeline"] = ctx.sizes["demo_pipeline"] or "__default__"
    for key, items in runs.items():
        out[key] = {k: round(median(r[k] for r in items), 3) for k in items[0]}
        out[key]["all"] = {k: [round(r[k], 3) for r in items] for k in _DEMO_METRICS}
        out[key]["repeats"] = len(items)
    seq = runs["sequential"]
    for key, name in (("gke", "ratio_gke_local_over_sequential"),
                      ("gke_exec", "ratio_gke_exec_over_sequential")):
        out[name] = {k: round(median(ratio(a[k], b[k]) for a, b in zip(runs[key], seq,
                                                                       strict=True)), 3)
                     for k in _DEMO_METRICS}
    return out


def run(ctx: Any) -> dict[str, Any]:
    ctx.log("local_cost: bare imports, a chain of trivial nodes (fork, then exec), again")
    before = _bare(ctx, ctx.workdir)
    chain = _chain(ctx)
    chain_exec = _chain(ctx, no_fork=True)
    after = _bare(ctx, ctx.workdir)  # load drifts: sample on both sides of the chain
    bare = {k: summary(before[k] + after[k]) for k in before}
    imp, node = bare["import_entrypoint_s"], chain["node_wall"]
    return {
        "bare_import": bare,
        "trivial_node": chain,
        "trivial_node_exec": chain_exec,
        "ratio_node_over_bare_import": ratio(node["p50"], imp["p50"]),
        "ratio_node_over_bare_import_min": ratio(node["min"], imp["min"]),
        "ratio_node_over_python_pass": ratio(node["p50"], bare["python_pass_s"]["p50"]),
        "demo": _demo(ctx),
    }
