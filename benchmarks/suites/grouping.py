"""Node grouping on the bench: wall time and Jobs created, ``grouping: none`` vs ``chains``.

Two pipelines, each run both ways in the same run (interleaved): demo_project
(13 nodes; chains fuse the one linear link it has, and an explicit ``training``
group of ``split_data_node`` + ``train_model_node`` is added to show a real
group) and a chain-heavy generated pipeline (``grouping_chains``: 4 chains of 10
trivial nodes, 40 nodes). On GKE every Job pays seconds of pod start; on the
bench (pods are processes, no image pull) the saving is smaller, so the Job
count is the number that carries over. With ``--backends ...,real`` the chain-heavy
pipeline also runs both ways on the real bench (runc containers of demo_project's
image, started by a real kubelet), where each Job pays a real container start.
"""

from __future__ import annotations

from typing import Any

from benchmarks import projects
from benchmarks.stats import ratio

TRAINING = {"split_data_node": {"group": "training"}, "train_model_node": {"group": "training"}}


def _one(ctx: Any, name: str, kind: str, mode: str, bench: Any = None) -> dict[str, Any]:
    bench = bench or ctx.bench
    real = bench.kind == "real kubelet"
    label = f"group-{'real-' if real else ''}{name}-{mode}"
    if kind == "demo":
        project = projects.copy_demo(ctx.workdir / label)
        extra: dict[str, Any] = {"grouping": mode, "max_parallel": 8}
        if mode != "none":
            extra["nodes"] = TRAINING
    else:
        shape = {"kind": "chains", **ctx.sizes["grouping_chains"]}
        project = projects.trivial_project(ctx.workdir / label, shape, {"backend": "local"})
        extra = {"grouping": mode, "max_parallel": 8}
    env = bench.write_env(project, label, **extra)
    with bench.workdir(project):
        report = ctx.drive("run", project, env=env, label=label, timeout=1800,
                           environ=bench.environ)
    from kedro_kinetic.wire import naming

    bench.delete_run(naming.run_label(report["session_id"]))
    jobs = {plan["job_name"] for plan in report["plans"].values()}
    return {"nodes": report["nodes"], "jobs": len(jobs),
            "session_run_s": round(report["wall"]["session_run"], 3)}


def _compare(ctx: Any, name: str, kind: str, bench: Any = None) -> dict[str, Any]:
    """``none`` and ``chains`` interleaved, ``grouping_repeats`` times each."""
    where = " (real kubelet)" if bench is not None else ""
    rows: dict[str, list[dict[str, Any]]] = {"none": [], "chains": []}
    for rep in range(ctx.sizes["grouping_repeats"]):
        for mode in ("none", "chains"):  # interleaved
            ctx.log(f"grouping{where}: {name}, grouping={mode}, repeat {rep + 1}")
            rows[mode].append(_one(ctx, f"{name}{rep}", kind, mode, bench))
    walls = {m: sorted(r["session_run_s"] for r in rows[m])[len(rows[m]) // 2]
             for m in rows}
    return {
        "nodes": rows["none"][0]["nodes"],
        "jobs": {m: rows[m][0]["jobs"] for m in rows},
        "wall_s_median": walls,
        "wall_ratio_chains_over_none": ratio(walls["chains"], walls["none"]),
        "runs": rows,
    }


def run(ctx: Any) -> dict[str, Any]:
    if ctx.bench is None:
        return {"skipped": ctx.bench_error or "the bench is not running (--backends local)"}
    out: dict[str, Any] = {"pipelines": {name: _compare(ctx, name, kind)
                                         for name, kind in (("demo", "demo"),
                                                            ("chains", "chains"))}}
    if ctx.real_bench is not None:
        out["real"] = {"chains": _compare(ctx, "chains", "chains", ctx.real_bench)}
    elif ctx.real_bench_error:
        out["real"] = {"skipped": ctx.real_bench_error}
    return out
