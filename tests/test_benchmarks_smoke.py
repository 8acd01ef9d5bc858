"""Smoke test of the benchmarks: the documented command runs at its smallest size.

Benchmarks are not tests: nothing here checks a timing. It only proves that
``python -m benchmarks.run --sizes small --backends local`` still runs end to end
and writes a JSON report with the expected keys (local backend only, no bench).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.conftest import REPO
from tests.kedro_run import python

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


def test_benchmark_command_runs_at_the_smallest_size(tmp_path: Path) -> None:
    proc = python(REPO, "-m", "benchmarks.run", "--sizes", "small", "--backends", "local",
                  "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("# kedro-kinetic benchmark results")

    assert set(report) == {"meta", "summary", "results"}
    machine = report["meta"]["machine"]
    for key in ("cpu_model", "cpu_cores", "ram_gib", "python", "kedro", "kubernetes",
                "git_commit"):
        assert key in machine
    results = report["results"]
    assert set(results) == {"latency", "overhead", "memory", "local_cost", "datapath",
                            "payload", "auth", "grouping", "cache"}
    auth = results["auth"]["driver_read"]
    assert auth["check_and_parse_us"] > 0 and auth["parse_only_us"] > 0
    assert "skipped" in results["latency"]  # needs the bench

    local = results["overhead"]["backends"]["local"]
    assert [s["nodes"] for s in local["sizes"]] == [10, 20]
    assert {"cpu_run_ms_per_node", "cpu_total_ms_per_node", "cpu_by_thread"} <= set(
        local["sizes"][0])
    assert "kubernetes" not in results["overhead"]["backends"]  # --backends local

    memory = results["memory"]
    assert [s["nodes"] for s in memory["sizes"]] == [10, 100]
    assert memory["sizes"][0]["peak_rss_mib"] > 0 and "ratio_largest_over_smallest" in memory

    cost = results["local_cost"]
    assert {"bare_import", "trivial_node", "ratio_node_over_bare_import", "demo"} <= set(cost)
    assert {"gke", "sequential", "ratio_gke_local_over_sequential"} <= set(cost["demo"])
    assert "trivial_node_exec" in cost and "tree_cpu_s" in cost["demo"]["gke"]

    cache = results["cache"]
    assert cache["demo"]["second_nodes_run"] == 0 and cache["demo"]["second_nodes_cached"] > 0
    assert 0 < cache["demo"]["second_runner_run_s"] < cache["demo"]["first_runner_run_s"]
    assert {"demo", "chains_20"} == set(cache["no_hits"])
    assert all(d["cache_cpu_s"] > 0 and "share" in d for d in cache["no_hits"].values())

    payload = results["payload"]
    assert payload["nodes"] == payload["distinct_payloads"] > 0
    assert payload["objects"]["payload"]["count"] == payload["distinct_payloads"]

    datapath = results["datapath"]
    assert datapath["backend"] == "local"
    assert "intermediate_bytes_through_driver" in datapath and "store_traffic" in datapath

    metrics = {(row["benchmark"], row["metric"]) for row in report["summary"]}
    assert any(b.startswith("2 client CPU") for b, _ in metrics)
    assert all(row["verdict"] in ("met", "MISSED", "n/a") for row in report["summary"])
