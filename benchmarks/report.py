"""The summary table (every number next to its target) and the Markdown report."""

from __future__ import annotations

from typing import Any


def _row(benchmark: str, metric: str, value: Any, target: str, ok: bool | None,
         unit: str = "", note: str = "") -> dict[str, Any]:
    verdict = "n/a" if ok is None else ("met" if ok else "MISSED")
    return {"benchmark": benchmark, "metric": metric, "value": value, "unit": unit,
            "target": target, "verdict": verdict, "note": note}


def _le(value: Any, limit: float) -> bool | None:
    return None if value is None else value <= limit


def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    lat = results.get("latency", {})
    if "summary" in lat:
        for label in ("chains", "fan", "all"):
            s = lat["summary"][label]
            w, watch, p = s["results-first"], s["watch"], s["poll"]
            r = s["ratio_results_first_over_watch"]
            n = (lat["runs"].get(f"{label}/results-first", {}).get("nodes")
                 if label != "all" else None)
            name = {"chains": f"chains ({n} nodes)", "fan": f"fan-out/in ({n} nodes)",
                    "all": "all edges"}[label]
            note = (f"watch only: {watch['p50']} / {watch['p99']} s (ratio {r['p50']} / "
                    f"{r['p99']}); poll 5 s: {p['p50']} / {p['p99']} s")
            rows.append(_row("1 reaction latency", f"{name} p50", w["p50"], "<= 0.3 s",
                             _le(w["p50"], 0.3), "s", note))
            rows.append(_row("1 reaction latency", f"{name} p99", w["p99"], "<= 1 s",
                             _le(w["p99"], 1.0), "s", f"p95 {w['p95']}, max {w['max']}, "
                             f"n={w['count']}"))
    elif lat:
        rows.append(_row("1 reaction latency", "skipped", None, "", None,
                         note=str(lat.get("skipped") or lat.get("error"))))
    for source, all_edges in (lat.get("real") or {}).get("summary", {}).items():
        target = source == "results-first"  # the targets are for the default
        rows.append(_row("1b real-kubelet latency", f"all edges, {source} p50",
                         all_edges["p50"], "<= 0.3 s" if target else "",
                         _le(all_edges["p50"], 0.3) if target else None, "s",
                         f"n={all_edges['count']}"))
        rows.append(_row("1b real-kubelet latency", f"all edges, {source} p99",
                         all_edges["p99"], "<= 1 s" if target else "",
                         _le(all_edges["p99"], 1.0) if target else None, "s",
                         f"p95 {all_edges['p95']}, max {all_edges['max']}"))
    for key, run in (lat.get("real") or {}).get("runs", {}).items():
        hops = run["hops"]
        rows.append(_row("1b real-kubelet latency", f"{key} p50", hops["latency"]["p50"], "",
                         None, "s", f"container exit -> API {hops['api_pod_terminated']['p50']}"
                         f" s, -> driver {hops['driver_noticed']['p50']} s; p95 "
                         f"{hops['latency']['p95']} s, n={hops['latency']['count']}"))
    ovh = results.get("overhead", {})
    for backend, data in ovh.get("backends", {}).items():
        if "sizes" not in data:
            rows.append(_row("2 client CPU/node", f"{backend}: skipped", None, "", None,
                             note=str(data.get("skipped"))))
            continue
        for size in data["sizes"]:
            marginal = size.get("cpu_marginal_ms_per_node")
            rows.append(_row(
                "2 client CPU/node", f"{backend}, {size['nodes']} nodes (session.run)",
                size["cpu_run_ms_per_node"], "<= 20 ms, flat in N",
                _le(size["cpu_run_ms_per_node"], 20), "ms",
                f"whole process {size['cpu_total_ms_per_node']} ms/node"
                + (f"; marginal {marginal} ms/node" if marginal is not None else "")))
            own = size.get("cpu_over_sequential_ms_per_node")
            if own is not None:
                rows.append(_row(
                    "2 client CPU/node", f"{backend}, {size['nodes']} nodes, over "
                    "SequentialRunner", own, "<= 20 ms, flat in N", _le(own, 20), "ms",
                    "session.run CPU minus SequentialRunner's on the same pipeline, per node"))
    mem = results.get("memory", {})
    if "sizes" in mem:
        first, last = mem["sizes"][0], mem["sizes"][-1]
        rows.append(_row("3 driver memory", f"peak RSS {last['nodes']} / {first['nodes']} nodes",
                         mem["ratio_largest_over_smallest"], "<= 2x", _le(
                             mem["ratio_largest_over_smallest"], 2.0), "x",
                         f"{last['peak_rss_mib']} MiB vs {first['peak_rss_mib']} MiB"))
    loc = results.get("local_cost", {})
    if "trivial_node" in loc:
        rows += _local_rows(loc)
    pay = results.get("payload", {})
    if "payload_bytes" in pay:
        pb = pay["payload_bytes"]
        rows.append(_row("5 payload", "demo payload bytes/node (p50, max)",
                         f"{pb['p50']:.0f}, {pb['max']:.0f}", "report", None, "B",
                         f"{pay['nodes']} nodes, {pay['payload_bytes_total_over_nodes']} B total"))
        objs = pay["objects"]
        rows.append(_row("5 payload", "objects/ count vs nodes",
                         f"{pay['objects_total']} for {pay['nodes']} nodes", "shared once/run",
                         None, "", f"{objs['payload']['count']} payloads, "
                         f"{objs['spec']['count']} specs, {objs['other']['count']} other; "
                         f"zlib cross-payload redundancy (upper bound) "
                         f"{pay['redundancy']['shared_fraction_estimate']}"))
    grouping = results.get("grouping", {})
    real_grouping = {f"{name}, real kubelet": data
                     for name, data in (grouping.get("real") or {}).items() if "nodes" in data}
    for name, data in {**grouping.get("pipelines", {}), **real_grouping}.items():
        rows.append(_row("8 grouping", f"{name} ({data['nodes']} nodes): wall chains / none",
                         data["wall_ratio_chains_over_none"], "< 1", None, "x",
                         f"Jobs {data['jobs']['none']} -> {data['jobs']['chains']}; wall "
                         f"{data['wall_s_median']['none']} s -> "
                         f"{data['wall_s_median']['chains']} s (median)"))
    auth = results.get("auth", {})
    if "driver_read" in auth:
        read = auth["driver_read"]
        rows.append(_row("7 auth", "driver CPU per node to authenticate a result",
                         read["added_us_per_node"], "small", None, "us",
                         f"check+parse {read['check_and_parse_us']} us vs parse only "
                         f"{read['parse_only_us']} us ({read['ratio']}x); "
                         f"{auth['result_bytes']} B result"))
        imp = auth["pod_import"]
        rows.append(_row("7 auth", "pod start-up: seal import / entrypoint import",
                         imp["seal_module_ms"], "small", None, "ms",
                         f"of {imp['entrypoint_ms']} ms ({imp['share']}); sealing "
                         f"{auth['pod_seal_us']} us per result"))
    dp = results.get("datapath", {})
    if "intermediate_bytes_through_driver" in dp:
        rows.append(_row("6 data path", f"intermediate bytes through the driver ({dp['backend']})",
                         dp["intermediate_bytes_through_driver"], "0",
                         dp["intermediate_bytes_through_driver"] == 0
                         and not dp["intermediate_catalog_calls_in_driver"], "B",
                         f"{dp['intermediate_datasets']} intermediates; catalog calls in driver: "
                         f"{len(dp['catalog_calls_in_driver'])}"))
    rows += _cache_rows(results.get("cache", {}))
    for name, data in results.items():
        if isinstance(data, dict) and "error" in data:
            rows.append(_row(name, "ERROR", None, "", False, note=data["error"][:300]))
    return rows


def _cache_rows(cache: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    demo = cache.get("demo")
    if demo:
        counts = (f"second run: {demo['second_nodes_cached']} cached, "
                  f"{demo['second_nodes_run']} run")
        rows.append(_row("9 cache", f"demo ({demo['nodes']} nodes): unchanged second run / "
                         "first, wall of the whole process", demo["ratio_second_over_first_wall"],
                         "<= 0.2", _le(demo["ratio_second_over_first_wall"], 0.2), "x",
                         f"{demo['second_wall_s']} s vs {demo['first_wall_s']} s (median of "
                         f"{demo['repeats']}), Kedro's start-up and pipeline loading included; "
                         f"session.run {demo['ratio_second_over_first_session_run']}x; {counts}"))
        if "ratio_second_over_first_runner_run" in demo:
            rows.append(_row(
                "9 cache", f"demo ({demo['nodes']} nodes): unchanged second run / first, "
                "wall of GKERunner.run", demo["ratio_second_over_first_runner_run"], "<= 0.2",
                _le(demo["ratio_second_over_first_runner_run"], 0.2), "x",
                f"{demo['second_runner_run_s']} s vs {demo['first_runner_run_s']} s; {counts}"))
    for name, data in (cache.get("no_hits") or {}).items():
        rows.append(_row("9 cache", f"{name} ({data['nodes']} nodes), no hits: cache CPU / "
                         "driver CPU", data["share"], "<= 0.05", _le(data["share"], 0.05), "x",
                         f"{data['cache_cpu_s']} s of {data['driver_cpu_on_s']} s; driver CPU "
                         f"on / off {data['ratio_driver_cpu_on_over_off']}x "
                         f"({data['driver_cpu_off_s']} s off)"))
    return rows


def _local_rows(loc: dict[str, Any]) -> list[dict[str, Any]]:
    t, b = loc["trivial_node"], loc["bare_import"]
    node_ms = round(1000 * t["node_wall"]["p50"], 1)
    exec_ms = round(1000 * loc["trivial_node_exec"]["node_wall"]["p50"], 1)
    rows = [_row(
        "4 local backend", "trivial node wall p50 (submit call to end noticed)", node_ms,
        "<= 20 ms", _le(node_ms, 20), "ms",
        f"python -c pass p50 {round(1000 * b['python_pass_s']['p50'], 1)} ms (node "
        f"{loc['ratio_node_over_python_pass']}x); exec'd, same run: {exec_ms} ms; first "
        f"node (starts the fork server) {t['first_node_wall']} s")]
    rows.append(_row("4 local backend", "trivial node wall / bare entrypoint import",
                     loc["ratio_node_over_bare_import"], "<= 1.5x",
                     _le(loc["ratio_node_over_bare_import"], 1.5), "x",
                     f"node p50 {t['node_wall']['p50']} s, import "
                     f"p50 {b['import_entrypoint_s']['p50']} s; ratio of "
                     f"minimums {loc['ratio_node_over_bare_import_min']}"))
    demo = loc["demo"]
    if "gke" not in demo:
        return rows
    r, e = demo["ratio_gke_local_over_sequential"], demo["ratio_gke_exec_over_sequential"]
    g, q, n = demo["gke"], demo["sequential"], demo["gke"]["repeats"]
    rows.append(_row(
        "4 local backend", "demo wall GKERunner(local) / SequentialRunner (whole process)",
        r["process_wall_s"], "<= 1.5x", _le(r["process_wall_s"], 1.5), "x",
        f"{g['process_wall_s']} s vs {q['process_wall_s']} s, median of {n} interleaved "
        f"repeats; session.run only {r['session_run_s']}x; nodes exec'd: "
        f"{e['process_wall_s']}x"))
    rows.append(_row(
        "4 local backend", "demo CPU GKERunner(local) / SequentialRunner (process tree)",
        r["tree_cpu_s"], "<= 2x", _le(r["tree_cpu_s"], 2.0), "x",
        f"{g['tree_cpu_s']} s vs {q['tree_cpu_s']} s (driver {g['driver_cpu_s']} s); "
        f"nodes exec'd: {e['tree_cpu_s']}x"))
    return rows


def _local_tables(loc: dict[str, Any]) -> list[str]:
    t, x, b = loc["trivial_node"], loc["trivial_node_exec"], loc["bare_import"]
    q = ("min", "p50", "p95", "max")
    rows = [["python -c 'import kedro_kinetic.entrypoint'",
             *[b["import_entrypoint_s"][k] for k in q]],
            ["python -c pass", *[b["python_pass_s"][k] for k in q]]]
    for label, chain in (("forked", t), ("exec'd", x)):
        rows += [[f"trivial node ({label}): {k}", *[chain[k][p] for p in q]]
                 for k in ("node_wall", "submit", "start_lag", "in_pod", "exit_to_noticed",
                           "reaction")]
    out = ["", "## 4. Local backend cost (s)", "", _table(["what", *q], rows)]
    demo = loc["demo"]
    names = (("GKERunner (local, fork server)", "gke"), ("SequentialRunner", "sequential"),
             ("GKERunner (local, every node exec'd)", "gke_exec"))
    out += ["", _table(["demo_project (median)", "session.run s", "process wall s",
                        "process tree CPU s", "driver CPU s", "largest process MiB"],
                       [[name, demo[k]["session_run_s"], demo[k]["process_wall_s"],
                         demo[k]["tree_cpu_s"], demo[k]["driver_cpu_s"],
                         demo[k]["largest_rss_mib"]] for name, k in names if k in demo])]
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _real_latency(lat: dict[str, Any]) -> list[str]:
    """The latency hops on the real kubelet beside the test kubelet's (same run)."""
    real = lat.get("real") or {}
    if "runs" not in real:
        return ["", f"Real kubelet: {real['skipped']}"] if "skipped" in real else []
    hops = (("latency", "container exit -> next Job created"),
            ("api_pod_terminated", "container exit -> visible at the API"),
            ("driver_noticed", "container exit -> driver noticed"),
            ("driver_react", "driver noticed -> next Job created"))
    rows = []
    for key, run in real["runs"].items():
        test = lat["runs"][key]["hops"]
        for hop, meaning in hops:
            h = run["hops"][hop]
            rows.append([key, meaning, h["count"], h["p50"], h["p95"], test[hop]["p50"],
                         test[hop]["p95"], real["ratio_real_over_test"][key][hop]["p50"]])
    return ["", "### Real kubelet (tests/bench/real) beside the test kubelet, same run", "",
            ("Pods are runc containers of demo_project's image; the kubelet reports a "
             "container's exit at its next relist. Pods are not niced here."), "",
            _table(["run", "hop", "n", "real p50", "real p95", "test p50", "test p95",
                    "p50 real/test"], rows)]


def markdown(report: dict[str, Any]) -> str:
    meta, res = report["meta"], report["results"]
    m = meta["machine"]
    out = [
        "# kedro-kinetic benchmark results", "",
        (f"Command: `{meta['command']}` (sizes `{meta['sizes_name']}`), "
         f"{meta['duration_s']:.0f} s in all, started {meta['started']}."), "",
        (f"Machine: {m['cpu_model']}, {m['cpu_cores']} cores, {m['ram_gib']} GiB RAM, "
         f"{m['platform']}; load average at start {m['load_average_at_start']}, "
         f"at end {meta.get('load_average_at_end')}."),
        f"Python {m['python']}, kedro {m['kedro']}, kubernetes {m['kubernetes']}, "
        f"cloudpickle {m['cloudpickle']}, google-cloud-storage {m['google_cloud_storage']}; "
        f"commit `{m['git_commit']}`"
        + (" (kedro_kinetic/ had uncommitted changes)" if m["kedro_kinetic_dirty"] else "")
        + ".", "",
        "## Summary", "",
        _table(["benchmark", "metric", "value", "unit", "target", "verdict", "note"],
               [[r["benchmark"], r["metric"], r["value"], r["unit"], r["target"],
                 r["verdict"], r["note"]] for r in report["summary"]]),
    ]
    lat = res.get("latency", {})
    if "runs" in lat:
        bursts = {k: v["fan_out_burst_s_per_job"] for k, v in lat["runs"].items()
                  if v.get("fan_out_burst_s_per_job")}
        out += ["", "## 1. Reaction latency (s): hops from the upstream pod's end", "",
                (f"Pods ran under `nice -n {lat.get('pod_nice')}` (they share the driver's cores "
                 "on the bench). Fan-out burst, driver seconds per Job created in a row: ")
                + ", ".join(f"{k} {v}" for k, v in bursts.items()) + ".", "",
                ("`latency` = downstream Job created (driver) - upstream pod end. Hops (first "
                 "seen by an observer watch): pod terminated at the API, Job Complete at the "
                 "API, driver noticed, driver reaction (noticed -> next Job created)."), ""]
        rows = []
        for key, run in lat["runs"].items():
            for hop in ("latency", "api_pod_terminated", "api_job_complete", "driver_noticed",
                        "driver_react"):
                h = run["hops"][hop]
                rows.append([key, hop, h["count"], h["p50"], h["p95"], h["p99"], h["max"]])
        out.append(_table(["run", "hop", "n", "p50", "p95", "p99", "max"], rows))
        out += _real_latency(lat)
    ovh = res.get("overhead", {})
    if "backends" in ovh:
        out += ["", "## 2. Driver CPU per node (ms, RUSAGE_SELF)", ""]
        rows = []
        for backend, data in ovh["backends"].items():
            for s in data.get("sizes", []):
                rows.append([backend, s["nodes"], s["cpu_run_ms_per_node"],
                             s.get("cpu_over_sequential_ms_per_node"),
                             s["cpu_total_ms_per_node"], s.get("cpu_marginal_ms_per_node"),
                             s["cpu_run_s"], s["wall_session_run_s"], s["maxrss_mib"]])
        out.append(_table(["backend", "nodes", "run ms/node", "over Sequential ms/node",
                           "process ms/node", "marginal ms/node", "run CPU s", "run wall s",
                           "peak RSS MiB"], rows))
        if "sequential_cpu_run_s" in ovh:
            out += ["", "SequentialRunner baseline, session.run CPU s by size: " + ", ".join(
                f"{n} nodes {v}" for n, v in ovh["sequential_cpu_run_s"].items())]
        rows = []
        for backend, data in ovh["backends"].items():
            for s in data.get("sizes", []):
                split = s.get("cpu_by_thread") or {}
                rows.append([backend, s["nodes"], "; ".join(
                    f"{k} x{v['threads']}: {v['cpu_s']:.2f} s" for k, v in split.items())])
        out += ["", "Process CPU by thread kind (whole process):", "",
                _table(["backend", "nodes", "CPU s by thread"], rows)]
    mem = res.get("memory", {})
    if "sizes" in mem:
        out += ["", "## 3. Driver memory: render + dry run, no execution", ""]
        out.append(_table(["nodes", "peak RSS MiB", "after imports MiB", "increment MiB",
                           "marginal KiB/node", "render CPU ms/node", "wall s"],
                          [[s["nodes"], s["peak_rss_mib"], s["rss_after_imports_mib"],
                            s["increment_mib"], s.get("marginal_kib_per_node"),
                            s["render_cpu_ms_per_node"], s["render_wall_s"]]
                           for s in mem["sizes"]]))
    loc = res.get("local_cost", {})
    if "trivial_node" in loc:
        out += _local_tables(loc)
    pay = res.get("payload", {})
    if "per_node" in pay:
        out += ["", "## 5. Payload bytes per node (demo_project)", "",
                _table(["node", "bytes"], [[k, v] for k, v in pay["per_node"].items()]), "",
                _table(["objects/", "count", "bytes"],
                       [[k, v["count"], v["bytes"]] for k, v in pay["objects"].items()])]
    dp = res.get("datapath", {})
    if "store_traffic" in dp:
        rows = [[cls, op, v["calls"], v["bytes"]] for cls, ops in dp["store_traffic"].items()
                for op, v in ops.items()]
        out += ["", f"## 6. Store traffic of the driver process (demo, {dp['backend']})", "",
                _table(["class", "op", "calls", "bytes"], rows)]
    out.append("")
    return "\n".join(out)
