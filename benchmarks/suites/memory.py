"""Driver memory: peak RSS of planning + render + dry run, no execution.

Each size runs ``render_project`` (what ``kedro kinetic render`` does:
``GKERunner.prepare(dry_run=True)`` then every manifest finalised) in a fresh
process with a kubernetes-backend config; ``ru_maxrss`` is read at the end.
``before_render`` is the same process after its imports (Kedro, kedro-kinetic,
cloudpickle), so ``increment`` is what the N nodes cost.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from benchmarks import projects
from benchmarks.bench_cluster import IMAGE
from benchmarks.stats import ratio

K8S_BLOCK = {
    "backend": "kubernetes", "image": IMAGE, "image_policy": "require_digest",
    "namespace": "kinetic-bench", "store": "gs://kinetic-bench/memory",
    "max_parallel": 8,
    "defaults": {"cpu": "100m", "memory": "512Mi"},
}


def run(ctx: Any) -> dict[str, Any]:
    rows = []
    for n in ctx.sizes["memory_sizes"]:
        ctx.log(f"memory: render {n} nodes")
        project = projects.trivial_project(ctx.workdir / f"mem-{n}", projects.chains_for(n),
                                           K8S_BLOCK)
        report = ctx.drive("render", project, label=f"mem-{n}")
        ru = report["rusage"]
        peak = ru["after_render"]["vmhwm_kib"] / 1024
        base = ru["before_render"]["vmrss_kib"] / 1024
        rows.append({
            "nodes": report["nodes"], "peak_rss_mib": round(peak, 1),
            "rss_after_imports_mib": round(base, 1), "increment_mib": round(peak - base, 1),
            "rss_at_end_mib": round(ru["after_render"]["vmrss_kib"] / 1024, 1),
            "ru_maxrss_mib": round(ru["after_render"]["maxrss_kib"] / 1024, 1),
            "render_wall_s": round(report["wall"]["render"], 3),
            "render_cpu_ms_per_node": round(
                1000 * (ru["after_render"]["cpu"] - ru["before_render"]["cpu"]) / n, 2),
            "manifest_json_bytes_per_node": round(report["manifest_json_bytes"] / n),
        })
    for prev, row in pairwise(rows):
        row["marginal_kib_per_node"] = round(
            1024 * (row["peak_rss_mib"] - prev["peak_rss_mib"]) / (row["nodes"] - prev["nodes"]), 1)
    return {"config": "backend kubernetes (rendered, not submitted)", "sizes": rows,
            "ratio_largest_over_smallest": ratio(rows[-1]["peak_rss_mib"],
                                                 rows[0]["peak_rss_mib"])}
