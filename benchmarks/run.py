"""Run the kedro-kinetic benchmarks; write a JSON report and a Markdown summary.

    .venv/bin/python -m benchmarks.run --sizes small|full [--only latency,overhead,...]
                                       [--backends local,kubernetes] [--out DIR]

Suites: latency (bench), overhead (local + bench), memory, local_cost, datapath
(bench; local fallback), payload, auth. ``--backends local`` never starts the bench. ``real``
(not in the default) also starts the real bench (tests/bench/real: real kubelet, containerd,
runc) and runs the latency suite on it too, beside the test kubelet's figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import machine, report
from benchmarks.common import SIZES, Context

SUITES = ("latency", "overhead", "memory", "local_cost", "datapath", "payload", "auth",
          "grouping", "cache")
NEEDS_BENCH = {"latency", "overhead", "datapath", "grouping"}
RESULTS = Path(__file__).with_name("results")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", choices=sorted(SIZES), default="full")
    parser.add_argument("--only", default=",".join(SUITES),
                        help=f"comma-separated suites (default all: {','.join(SUITES)})")
    parser.add_argument("--backends", default="local,kubernetes",
                        help="local, kubernetes (the bench with the test kubelet) and/or real "
                             "(the bench with a real kubelet: latency only); default "
                             "local,kubernetes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="report folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help='override a size setting, e.g. --set overhead_sizes=[10,50]')
    parser.add_argument("--keep", action="store_true", help="keep the throwaway projects")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s) {sorted(unknown)}; choose from {SUITES}")
    args.backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if set(args.backends) - {"local", "kubernetes", "real"}:
        parser.error("--backends takes local, kubernetes and/or real")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sizes = dict(SIZES[args.sizes])
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in sizes:
            raise SystemExit(f"--set: unknown size setting {key!r} (known: {sorted(sizes)})")
        sizes[key] = json.loads(value)
    started = time.time()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    logdir = args.out / f"{stamp}-{args.sizes}-logs"
    logdir.mkdir()
    workdir = Path(tempfile.mkdtemp(prefix="kinetic-bench-"))
    ctx = Context(sizes=sizes, workdir=workdir, logdir=logdir, backends=args.backends)
    meta: dict[str, Any] = {
        "command": "python -m benchmarks.run " + " ".join(
            shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
        "sizes_name": args.sizes, "sizes": sizes, "suites": args.only,
        "backends": list(args.backends),
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "machine": machine.describe(),
    }
    results: dict[str, Any] = {}
    want_bench = "kubernetes" in args.backends and bool(NEEDS_BENCH & set(args.only))
    with contextlib.ExitStack() as stack:
        if want_bench:
            from benchmarks.bench_cluster import started_bench

            ctx.log("starting the bench (kube-apiserver, etcd, controller-manager, kubelet, "
                    "fake-gcs-server)")
            t0 = time.perf_counter()
            try:
                ctx.bench = stack.enter_context(started_bench())
                meta["bench_start_s"] = round(time.perf_counter() - t0, 1)
            except Exception as exc:
                ctx.bench_error = f"bench did not start: {exc}"
                ctx.log(ctx.bench_error)
        elif "kubernetes" not in args.backends:
            ctx.bench_error = "not requested (--backends local)"
        if "real" in args.backends and "latency" in args.only:
            from benchmarks.bench_cluster import started_real_bench

            ctx.log("starting the real bench (real kubelet, containerd, runc, images)")
            t0 = time.perf_counter()
            try:
                ctx.real_bench = stack.enter_context(
                    started_real_bench(ctx.bench.gcs if ctx.bench else None))
                meta["real_bench_start_s"] = round(time.perf_counter() - t0, 1)
                meta["real_bench_timings_s"] = {
                    k: round(v, 1) for k, v in ctx.real_bench.cluster.timings.items()}
            except Exception as exc:  # report and go on without it
                ctx.real_bench_error = f"real bench did not start: {exc}"
                ctx.log(ctx.real_bench_error)
        for name in SUITES:
            if name not in args.only:
                continue
            module = __import__(f"benchmarks.suites.{name}", fromlist=["run"])
            t0 = time.perf_counter()
            try:
                results[name] = module.run(ctx)
            except Exception as exc:
                ctx.log(f"{name} failed: {exc}")
                results[name] = {"error": f"{type(exc).__name__}: {exc}",
                                 "traceback": traceback.format_exc()}
            results[name]["suite_wall_s"] = round(time.perf_counter() - t0, 1)
            ctx.log(f"{name} done in {results[name]['suite_wall_s']} s")
    meta["duration_s"] = round(time.time() - started, 1)
    meta["load_average_at_end"] = machine.load_average()
    full = {"meta": meta, "summary": report.summary_rows(results), "results": results}
    json_path = args.out / f"{stamp}-{args.sizes}.json"
    md_path = args.out / f"{stamp}-{args.sizes}.md"
    json_path.write_text(json.dumps(full, indent=1, default=str))
    md_path.write_text(report.markdown(full))
    for src, name in ((json_path, "latest.json"), (md_path, "latest.md")):
        shutil.copyfile(src, args.out / name)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print(md_path.read_text())
    ctx.log(f"report: {json_path} and {md_path} ({meta['duration_s']:.0f} s)")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
