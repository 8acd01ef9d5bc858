"""Payload sizes of demo_project, and what the content-addressed ``objects/`` holds.

From a demo_project run on the local backend: bytes of each node's payload
(``NodePlan.payload_bytes``), and the run's ``objects/`` folder classified
against the plans' digests (payloads, task specs, other). Content addressing
stores identical bytes once per run; ``redundancy`` estimates how much of the
payload bytes repeat across nodes (``zlib`` of all payloads together vs each
alone): an upper bound on what splitting shared parts into their own objects could
save (in demo_project the common bytes are mostly cloudpickle's framing).
"""

from __future__ import annotations

import zlib
from typing import Any

from benchmarks import projects
from benchmarks.stats import summary


def analyse(report: dict[str, Any]) -> dict[str, Any]:
    from kedro_kinetic import store

    plans = report["plans"]
    root = next(iter(plans.values()))["payload_uri"].rsplit("/objects/", 1)[0]
    objects = store.list_objects(store.join(root, "objects"))
    payload_digests = {p["payload_sha256"] for p in plans.values()}
    spec_digests = {p["spec_sha256"] for p in plans.values() if p["spec_sha256"]}
    kinds = {"payload": [0, 0], "spec": [0, 0], "other": [0, 0]}
    blobs = {}
    for uri in objects:
        digest = uri.rsplit("/", 1)[1]
        data = store.read_bytes(uri)
        kind = ("payload" if digest in payload_digests else
                "spec" if digest in spec_digests else "other")
        kinds[kind][0] += 1
        kinds[kind][1] += len(data)
        if kind == "payload":
            blobs[digest] = data
    sizes = [p["payload_bytes"] for p in plans.values()]
    alone = sum(len(zlib.compress(b, 9)) for b in blobs.values())
    together = len(zlib.compress(b"".join(blobs[d] for d in sorted(blobs)), 9))
    return {
        "nodes": len(plans),
        "payload_bytes": summary(sizes, digits=0),
        "payload_bytes_total_over_nodes": sum(sizes),
        "per_node": {name: p["payload_bytes"] for name, p in sorted(plans.items())},
        "objects": {k: {"count": v[0], "bytes": v[1]} for k, v in kinds.items()},
        "objects_total": len(objects),
        "distinct_payloads": len(payload_digests),
        "distinct_specs": len(spec_digests),
        "redundancy": {
            "zlib_each_payload_alone_bytes": alone,
            "zlib_all_payloads_together_bytes": together,
            "shared_fraction_estimate": round(1 - together / alone, 3) if alone else None,
        },
    }


def run(ctx: Any) -> dict[str, Any]:
    cached = ctx.cache.get("demo_local_report")
    if cached is None:
        ctx.log("payload: demo_project on the local backend")
        project = projects.copy_demo(ctx.workdir / "payload-demo")
        report = ctx.drive("run", project, label="payload-demo",
                               pipeline=ctx.sizes["demo_pipeline"])
    else:
        project, report = cached
    return analyse(report)
