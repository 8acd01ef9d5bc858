"""Local backend cost: a trivial node's wall time vs a bare entrypoint import.

* ``bare_import``: wall time of ``python -c "import kedro_kinetic.entrypoint"``
  (median of repeats, same interpreter, same moment), plus ``python -c pass``.
* ``node``: a chain of trivial nodes with ``max_parallel: 1`` on the local
  backend; per node ``finished_seen - submitted`` on the driver clock (process
  start to the driver noticing its end), split into: process start to the
  entrypoint's first line (``started_at - submitted``), work in the pod
  (``finished_at - started_at``), and exit to noticed (``finished_seen - finished_at``).
  ``reaction`` is upstream end -> next node's process started (``submitted``).
* ``demo``: demo_project's wall time with ``GKERunner`` (local backend) vs
  ``SequentialRunner`` (median of repeats; ``session.run`` only and whole process).
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


def _chain(ctx: Any) -> dict[str, Any]:
    length = ctx.sizes["local_chain"]
    project = projects.trivial_project(
        ctx.workdir / "local-chain", {"kind": "chains", "width": 1, "length": length},
        {"backend": "local", "max_parallel": 1})
    report = ctx.drive("run", project, label="local-chain")
    tl, res = report["timeline"], report["results"]
    per = {"node_wall": [], "start_lag": [], "in_pod": [], "exit_to_noticed": []}
    for name, t in tl.items():
        r = res[name]
        per["node_wall"].append(t["finished_seen"] - t["submitted"])
        per["start_lag"].append(r["started_at"] - t["submitted"])
        per["in_pod"].append(r["finished_at"] - r["started_at"])
        per["exit_to_noticed"].append(t["finished_seen"] - r["finished_at"])
    reaction = [tl[n]["submitted"] - res[ups[0]]["finished_at"]
                for n, ups in report["deps"].items() if ups]
    out = {k: summary(v) for k, v in per.items()}
    out["reaction"] = summary(reaction)
    out["nodes"] = report["nodes"]
    out["session_run_s"] = round(report["wall"]["session_run"], 3)
    return out


def _demo(ctx: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ctx.sizes["demo_repeats"] < 1:
        return {"skipped": "demo_repeats is 0"}
    runs: dict[str, list[dict[str, float]]] = {"gke": [], "sequential": []}
    for rep in range(ctx.sizes["demo_repeats"]):
        for runner, items in runs.items():  # interleaved, so that load drift hits both alike
            ctx.log(f"local_cost: demo_project with {runner} runner, repeat {rep + 1}")
            project = projects.copy_demo(ctx.workdir / f"demo-{runner}-{rep}")
            # The store I/O trace costs microseconds (~80 calls); datapath reuses it
            # when the bench is not running.
            report = ctx.drive("run", project, runner=runner, label=f"demo-{runner}",
                               pipeline=ctx.sizes["demo_pipeline"], trace_io=runner == "gke")
            items.append({"session_run_s": report["wall"]["session_run"],
                                 "process_wall_s": report["process_wall"]})
            if runner == "gke" and "demo_local_report" not in ctx.cache:
                ctx.cache["demo_local_report"] = (project, report)
    out["pipeline"] = ctx.sizes["demo_pipeline"] or "__default__"
    for runner, items in runs.items():
        out[runner] = {k: round(median(r[k] for r in items), 3) for k in items[0]}
        out[runner]["all_session_run_s"] = [round(r["session_run_s"], 3) for r in items]
        out[runner]["repeats"] = len(items)
    out["ratio_gke_local_over_sequential"] = {
        k: ratio(out["gke"][k], out["sequential"][k]) for k in ("session_run_s",
                                                             "process_wall_s")}
    return out


def run(ctx: Any) -> dict[str, Any]:
    ctx.log("local_cost: bare entrypoint import, then a chain of trivial nodes, then again")
    before = _bare(ctx, ctx.workdir)
    chain = _chain(ctx)
    after = _bare(ctx, ctx.workdir)  # load drifts: sample on both sides of the chain
    bare = {k: summary(before[k] + after[k]) for k in before}
    imp, node = bare["import_entrypoint_s"], chain["node_wall"]
    return {
        "bare_import": bare,
        "trivial_node": chain,
        "ratio_node_over_bare_import": ratio(node["p50"], imp["p50"]),
        "ratio_node_over_bare_import_min": ratio(node["min"], imp["min"]),
        "demo": _demo(ctx),
    }
