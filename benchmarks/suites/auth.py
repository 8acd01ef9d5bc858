"""What authenticating results costs: driver CPU per node and pod start-up.

Every result a pod writes is sealed with the run's key (HMAC-SHA256 over the
result's bytes and URI), and the driver checks the seal before it parses one.
Measured in one process, the same moment, on a typical result (four outputs
and a short traceback, as a failed node writes):

* ``driver_read``: CPU per result of ``read_sealed`` (check + parse) vs the
  baseline ``NodeResult.from_json`` (parse only): the added driver CPU per node.
* ``pod_seal``: CPU per result of sealing it in the pod.
* ``pod_import``: ``python -X importtime -c "import kedro_kinetic.entrypoint"``;
  the own import time of ``kedro_kinetic.wire.seal`` and ``hmac`` (``hashlib`` and the
  error classes are imported by the digest checks anyway) against the whole
  entrypoint import: what the key handling adds to a pod's start-up before any
  node code runs.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import driver_env
from benchmarks.stats import median, ratio


def _result() -> tuple[Any, bytes, str]:
    from kedro_kinetic.wire.result import NodeResult

    uri = "gs://bucket/kinetic/runs/2026-11-30t00-00-00-000z-1a2b3c4d/results/node-12345678.json"
    outputs = {f"out_{i}": {"kind": "pickle", "uri": f"gs://b/data/out_{i}.pkl",
                            "sha256": f"{i:x}" * 64 if i < 10 else "a" * 64, "bytes": 12345}
               for i in range(1, 5)}
    result = NodeResult(node="a_typical_node", status="succeeded", exit_code=0, phase="done",
                        started_at=1.0, finished_at=2.0, outputs=outputs,
                        timings={"fetch_verify": 0.01, "load": 0.2, "run": 1.5, "save": 0.1},
                        traceback="Traceback (most recent call last):\n" + "  frame\n" * 20)
    return result, result.to_json(), uri


def _cpu_per_call(call: Any, repeats: int) -> float:
    call()
    start = time.process_time()
    for _ in range(repeats):
        call()
    return (time.process_time() - start) / repeats


def _import_times(reps: int) -> dict[str, list[float]]:
    seal, total = [], []
    for _ in range(reps):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                               "import kedro_kinetic.entrypoint"], env=driver_env(),
                              capture_output=True, text=True, check=True)
        own, cumulative = {}, {}
        for line in proc.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)", line)
            if match:
                own[match[3]] = int(match[1]) / 1e6
                cumulative[match[3]] = int(match[2]) / 1e6
        seal.append(own.get("kedro_kinetic.wire.seal", 0.0) + own.get("hmac", 0.0))
        total.append(cumulative.get("kedro_kinetic.entrypoint", 0.0))
    return {"seal_import_s": seal, "entrypoint_import_s": total}


def run(ctx: Any) -> dict[str, Any]:
    from kedro_kinetic.wire import seal
    from kedro_kinetic.wire.result import NodeResult, read_sealed

    repeats = 2000 if ctx.sizes.get("demo_pipeline") is None else 200
    result, body, uri = _result()
    key = seal.new_key()
    sealed = result.sealed(key, uri)
    ctx.log("auth: sealing and reading results")
    parse = _cpu_per_call(lambda: NodeResult.from_json(body), repeats)
    checked = _cpu_per_call(lambda: read_sealed(sealed, key, uri), repeats)
    sealing = _cpu_per_call(lambda: result.sealed(key, uri), repeats)
    ctx.log("auth: pod import times")
    imports = _import_times(ctx.sizes["bare_import_repeats"])
    seal_import = median(imports["seal_import_s"])
    entry_import = median(imports["entrypoint_import_s"])
    return {
        "result_bytes": len(sealed),
        "driver_read": {"parse_only_us": round(parse * 1e6, 1),
                        "check_and_parse_us": round(checked * 1e6, 1),
                        "added_us_per_node": round((checked - parse) * 1e6, 1),
                        "ratio": ratio(checked, parse)},
        "pod_seal_us": round(sealing * 1e6, 1),
        "pod_import": {"seal_module_ms": round(seal_import * 1e3, 2),
                       "entrypoint_ms": round(entry_import * 1e3, 2),
                       "share": ratio(seal_import, entry_import)},
    }
