"""The node cache on the Kubernetes bench (real control plane, fake GCS): an unchanged
second run creates no Job, its nodes are `cached` in the terminal and in `status`, and the
cache's key and latest-entry index live in a Secret of the namespace, not in the bucket."""

from __future__ import annotations

import base64
import json
import re

import pytest

from kedro_kinetic.backends.kubernetes.cache_secret import secret_name
from kedro_kinetic.planning.manifest import LABEL_RUN
from kedro_kinetic.wire.naming import run_label
from tests.e2e.bench_kit import kedro_run, make_bench_demo
from tests.kedro_run import flat, kedro

pytestmark = [pytest.mark.e2e, pytest.mark.bench]


def run_id(output: str) -> str:
    return re.search(r"kedro-kinetic run (\S+): \d+ nodes", output).group(1)


def jobs_of(cluster, run: str) -> list:
    return cluster.batch_v1().list_namespaced_job(
        cluster.namespace, label_selector=f"{LABEL_RUN}={run_label(run)}").items


def test_an_unchanged_second_run_creates_no_job(tmp_path, k8s_cluster, gcs_emulator):
    previous = k8s_cluster.kubelet.cwd
    project = make_bench_demo(tmp_path, k8s_cluster, gcs_emulator, "cache", cache="on")
    try:
        first = kedro_run(project, "--pipelines=data_processing")
        assert first.returncode == 0, flat(first)[-3000:]
        first_id = run_id(first.stdout)
        nodes = int(re.search(r"kedro-kinetic run \S+: (\d+) nodes", first.stdout).group(1))
        assert len(jobs_of(k8s_cluster, first_id)) == nodes
        second = kedro_run(project, "--pipelines=data_processing")
        text = flat(second)
        assert second.returncode == 0, text[-3000:]
        second_id = run_id(second.stdout)
        assert jobs_of(k8s_cluster, second_id) == []  # not one Job
        assert len(re.findall(r"Reused node: \w+ \(cached from run " + re.escape(first_id),
                              text)) == nodes, text[-3000:]
        status = kedro(project, "kinetic", "status", "--env=bench", second_id)
        rows = [r for r in status.stdout.splitlines() if "\tcached\t" in r]
        assert len(rows) == nodes and all(first_id in r for r in rows), status.stdout[-3000:]
        store_root = f"gs://{gcs_emulator.bucket}/cache"
        secret = k8s_cluster.core_v1().read_namespaced_secret(secret_name(store_root),
                                                              k8s_cluster.namespace)
        index = json.loads(base64.b64decode(secret.data["index"]))
        assert len(index) == nodes
        listed = kedro(project, "kinetic", "cache", "ls", "--env=bench")
        assert listed.returncode == 0 and "refused" not in listed.stdout, listed.stdout
    finally:
        k8s_cluster.kubelet.cwd = previous
