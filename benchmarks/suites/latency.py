"""Reaction latency on the bench: upstream pod end -> downstream Job created.

For every node with upstreams, the edge that made it ready is the one from its
last-finishing upstream ``u``. Its reaction latency is the driver's
``submitted`` time of the downstream Job (taken right after the create call
returned) minus ``u``'s ``finished_at`` (written by ``u``'s pod just before it
exits; pods are processes on this machine, so both clocks are the same clock).
``max_parallel`` is set at least as high as the widest layer, so only
dependencies gate a submission. Pods run under ``nice`` (size setting
``pod_nice``, via ``kinetic.command``): on the bench they share this machine's
cores with the driver, on GKE they run on other machines.

The observer (see ``bench_cluster.Observer``) splits each latency into hops:
pod end -> pod seen terminated at the API -> Job seen Complete -> the driver
saw it (``finished_seen``) -> the downstream Job was created. The API server's
``creationTimestamp`` has 1 s resolution; it is reported as a cross-check only.

Three sources, measured in the same run: results first (the default: a listing
of the run's ``results/`` every 0.2 s settles a node as soon as its sealed result
is in), the watch alone (``results_first: false``: the pod's and Job's status,
as the kubelet reports them), and ``event_source: poll`` every 5 s (baseline).

With ``--backends ...,real`` the shapes also run on the real bench (tests/bench/real),
results first and the watch alone: a real kubelet runs each pod in a runc container, so
the first hop is the kubelet's own report of the container's exit (its PLEG relist), not
the test kubelet's. Those pods are not niced (``kinetic.command`` stays the image's
default) and share the two cores with the driver as containers; the hops are reported
beside the test kubelet's (``real``), with their ratios, from the same benchmark run.
"""

from __future__ import annotations

from typing import Any

from benchmarks import projects
from benchmarks.stats import ratio, summary

POLL_INTERVAL = 5
#: How the driver learns that a node ended: its sealed result in the store (results first,
#: the default), the pod/Job watch alone (the kubelet's status), or a listing every 5 s.
SOURCES = ("results-first", "watch", "poll")
REAL_SOURCES = ("results-first", "watch")  # the real bench: the 5 s poll adds nothing new


def edges(report: dict[str, Any], observed: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per node with upstreams: its ready edge and the hops of its latency."""
    timeline, results, deps = report["timeline"], report["results"], report["deps"]
    jobs = {name: plan["job_name"] for name, plan in report["plans"].items()}
    rows = []
    for node, ups in deps.items():
        if not ups or node not in timeline or any(u not in results for u in ups):
            continue
        up = max(ups, key=lambda u: results[u]["finished_at"])
        end = results[up]["finished_at"]
        seen_up = observed.get(jobs[up], {})
        seen_down = observed.get(jobs[node], {})
        row = {
            "node": node, "upstream": up, "fan_in": len(ups),
            "latency": timeline[node]["submitted"] - end,
            "driver_noticed": timeline[up].get("finished_seen", float("nan")) - end,
            "driver_react": timeline[node]["submitted"] - timeline[up].get("finished_seen",
                                                                           float("nan")),
        }
        if "pod_terminated" in seen_up:
            row["api_pod_terminated"] = seen_up["pod_terminated"] - end
        if "cond_Complete" in seen_up:
            row["api_job_complete"] = seen_up["cond_Complete"] - end
        if "seen" in seen_down:
            row["api_job_seen"] = seen_down["seen"] - end
        if "creation_timestamp" in seen_down:
            row["creation_timestamp_minus_end"] = seen_down["creation_timestamp"] - end
        rows.append(row)
    return rows


def _hops(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("latency", "driver_noticed", "driver_react", "api_pod_terminated",
            "api_job_complete", "api_job_seen")
    out = {k: summary(r[k] for r in rows if k in r) for k in keys}
    created = [r["creation_timestamp_minus_end"] for r in rows
               if "creation_timestamp_minus_end" in r]
    # creationTimestamp is truncated to the second: true creation lies in [ts, ts + 1).
    out["creation_timestamp_bounds"] = {
        "note": "creationTimestamp has 1 s resolution: creation - pod end lies in [lo, lo + 1)",
        "lo": summary(created),
    }
    return out


def _run_one(ctx: Any, shape: dict[str, Any], source: str, repeat: int,
             bench: Any = None) -> dict[str, Any]:
    bench = bench or ctx.bench
    real = bench.kind == "real kubelet"
    nodes = projects.node_count(shape)
    width = shape["width"]
    name = f"{'real-' if real else ''}lat-{shape['kind']}{nodes}-{source}-{repeat}"
    root = ctx.workdir / name
    project = projects.trivial_project(root, shape, {"backend": "local"})
    extra: dict[str, Any] = {"max_parallel": max(8, width),
                             "event_source": "poll" if source == "poll" else "watch",
                             "results_first": source == "results-first"}
    if ctx.sizes.get("pod_nice") is not None and not real:
        # Pods share this machine's cores with the driver; on GKE they run elsewhere.
        # The command is code (settings.py), never configuration.
        projects.add_code_settings(project, command=[
            "nice", "-n", str(ctx.sizes["pod_nice"]), "python", "-m",
            "kedro_kinetic.entrypoint"])
    if source == "poll":
        extra["poll_interval_seconds"] = POLL_INTERVAL
    env = bench.write_env(project, name, **extra)
    with bench.workdir(project):
        report = ctx.drive("run", project, env=env, label=name, timeout=1200,
                           environ=bench.environ)
    observed = bench.observer.snapshot()
    run_label = _run_label(report)
    bench.delete_run(run_label)
    rows = edges(report, observed)
    out = {"nodes": nodes, "edges": rows, "session_run_s": report["wall"]["session_run"]}
    if shape["kind"] == "fan":
        burst = sorted(report["timeline"][n]["submitted"] for n in report["timeline"]
                       if n.startswith("w"))
        out["burst_s_per_job"] = (burst[-1] - burst[0]) / (len(burst) - 1)
    return out


def _run_label(report: dict[str, Any]) -> str:
    from kedro_kinetic.wire import naming

    return naming.run_label(report["session_id"])


def _real(ctx: Any, shapes: dict[str, Any], test_runs: dict[str, Any]) -> dict[str, Any]:
    """Results first and the watch alone again on the real bench, and each hop's ratio
    real / test kubelet for the same source."""
    out: dict[str, Any] = {"runs": {}, "ratio_real_over_test": {}}
    for source in REAL_SOURCES:
        for label, shape in shapes.items():
            rows: list[dict[str, Any]] = []
            walls = []
            for rep in range(ctx.sizes["latency_repeats"]):
                ctx.log(f"latency (real kubelet): {label} ({projects.node_count(shape)} "
                        f"nodes), {source}, repeat {rep + 1}")
                one = _run_one(ctx, shape, source, rep, ctx.real_bench)
                rows += one["edges"]
                walls.append(one["session_run_s"])
            hops = _hops(rows)
            out["runs"][f"{label}/{source}"] = {
                "nodes": projects.node_count(shape), "session_run_s": walls, "hops": hops,
                "edges": [{k: (round(v, 4) if isinstance(v, float) else v)
                           for k, v in r.items()} for r in rows],
            }
            test = test_runs[f"{label}/{source}"]["hops"]
            out["ratio_real_over_test"][f"{label}/{source}"] = {
                hop: {q: ratio(hops[hop][q], test[hop][q]) for q in ("p50", "p95")}
                for hop in ("latency", "api_pod_terminated", "driver_noticed", "driver_react")}
    out["summary"] = {source: summary([e["latency"] for label in shapes
                                       for e in out["runs"][f"{label}/{source}"]["edges"]])
                      for source in REAL_SOURCES}
    return out


def run(ctx: Any) -> dict[str, Any]:
    if ctx.bench is None:
        return {"skipped": ctx.bench_error or "the bench is not running (--backends local)"}
    sizes = ctx.sizes
    shapes = {
        "chains": {"kind": "chains", **sizes["latency_chains"]},
        "fan": {"kind": "fan", "width": sizes["latency_fan"]},
    }
    out: dict[str, Any] = {"poll_interval_seconds": POLL_INTERVAL, "shapes": shapes,
                           "pod_nice": sizes.get("pod_nice"), "runs": {}}
    for source in SOURCES:
        for label, shape in shapes.items():
            rows: list[dict[str, Any]] = []
            walls = []
            bursts = []
            for rep in range(sizes["latency_repeats"]):
                ctx.log(f"latency: {label} ({projects.node_count(shape)} nodes), "
                        f"{source}, repeat {rep + 1}")
                one = _run_one(ctx, shape, source, rep)
                rows += one["edges"]
                walls.append(one["session_run_s"])
                if "burst_s_per_job" in one:
                    bursts.append(round(one["burst_s_per_job"], 4))
            out["runs"][f"{label}/{source}"] = {
                "nodes": projects.node_count(shape), "session_run_s": walls,
                "fan_out_burst_s_per_job": bursts or None,
                "hops": _hops(rows),
                "edges": [{k: (round(v, 4) if isinstance(v, float) else v)
                           for k, v in r.items()} for r in rows],
            }
    out["summary"] = {label: _compare({source: out["runs"][f"{label}/{source}"]["hops"]
                                       ["latency"] for source in SOURCES})
                      for label in shapes}
    out["summary"]["all"] = _compare({
        source: summary([e["latency"] for label in shapes
                         for e in out["runs"][f"{label}/{source}"]["edges"]])
        for source in SOURCES})
    if ctx.real_bench is not None:
        out["real"] = _real(ctx, shapes, out["runs"])
    elif ctx.real_bench_error:
        out["real"] = {"skipped": ctx.real_bench_error}
    return out


def _compare(by_source: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The three sources side by side, with the ratios that matter."""
    quantiles = ("p50", "p95", "p99", "max")
    first, watch, poll = (by_source[s] for s in SOURCES)
    return {**by_source,
            "ratio_results_first_over_watch": {q: ratio(first[q], watch[q]) for q in quantiles},
            "ratio_watch_over_poll": {q: ratio(watch[q], poll[q]) for q in quantiles}}
