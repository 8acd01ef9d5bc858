"""Data path: bytes of intermediate datasets that pass through the driver process.

demo_project runs on the bench (backend kubernetes, store in fake GCS) with the
driver's store calls wrapped (``LocalStore``/``_GCSStore`` read, write, exists,
list, delete: everything ``store.read_bytes``/``write_bytes`` reach) and its
``DataCatalog.load``/``save`` calls counted (parameters aside). Store URIs are
classified by their place in the run's layout: ``/data/`` (datasets travelling
through the store: intermediates, driver-held pipeline inputs, free outputs),
``/results/`` (result JSON), ``/objects/`` (payloads and task specs),
``/manifests/`` (the Job as submitted). Target: 0 intermediate bytes.
Without the bench the same run is made on the local backend (labelled so).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchmarks import projects


def classify(report: dict[str, Any]) -> dict[str, Any]:
    from kedro_kinetic.wire import naming

    kind_of = {}
    for kind in ("outputs", "free_inputs", "intermediate"):  # intermediate wins
        for name in report["datasets"][kind]:
            kind_of[naming.dataset_key(name)] = kind
    totals: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    names: dict[str, set[str]] = defaultdict(set)
    for op in report["io"]["store"]:
        # <store>/runs/<run label>/<section>/<name>; the store itself may sit below data/
        parts = op["uri"].split("/runs/", 1)[-1].split("/")
        section = parts[1] if len(parts) > 2 else ""
        if section == "data":
            key = parts[-1].removesuffix(".pkl")
            cls = f"data:{kind_of.get(key, 'unknown')}"
            names[cls].add(key)
        elif section in ("results", "objects", "manifests"):
            cls = section
        else:
            cls = f"other:{section or op['uri']}"
        totals[cls][op["op"]][0] += 1
        totals[cls][op["op"]][1] += op["bytes"]
    table = {cls: {op: {"calls": v[0], "bytes": v[1]} for op, v in ops.items()}
             for cls, ops in sorted(totals.items())}
    inter = totals.get("data:intermediate", {})
    catalog = [c for c in report["io"]["catalog"]]
    inter_names = set(report["datasets"]["intermediate"])
    return {
        "nodes": report["nodes"],
        "store_traffic": table,
        "intermediate_bytes_through_driver": sum(v[1] for v in inter.values()),
        "intermediate_calls_through_driver": sum(v[0] for v in inter.values()),
        "catalog_calls_in_driver": catalog,
        "intermediate_catalog_calls_in_driver": [c for c in catalog
                                                 if c["dataset"] in inter_names],
        "intermediate_datasets": len(inter_names),
    }


def run(ctx: Any) -> dict[str, Any]:
    if ctx.bench is not None:
        ctx.log("datapath: demo_project on the bench, store I/O traced")
        project = projects.copy_demo(ctx.workdir / "datapath-demo")
        env = ctx.bench.write_env(project, "datapath-demo", max_parallel=4)
        with ctx.bench.workdir(project):
            report = ctx.drive("run", project, env=env, trace_io=True, label="datapath-demo",
                                   pipeline=ctx.sizes["demo_pipeline"])
        from kedro_kinetic.wire import naming

        ctx.bench.delete_run(naming.run_label(report["session_id"]))
        backend = "kubernetes"
    else:
        cached = ctx.cache.get("demo_local_report")
        if cached is not None and "io" in cached[1]:
            report = cached[1]
        else:
            ctx.log("datapath: demo_project on the local backend (no bench), store I/O traced")
            project = projects.copy_demo(ctx.workdir / "datapath-demo")
            report = ctx.drive("run", project, trace_io=True, label="datapath-demo",
                                   pipeline=ctx.sizes["demo_pipeline"])
            ctx.cache.setdefault("demo_local_report", (project, report))
        backend = "local"
    out = classify(report)
    out["backend"] = backend
    out["session_run_s"] = round(report["wall"]["session_run"], 3)
    return out
