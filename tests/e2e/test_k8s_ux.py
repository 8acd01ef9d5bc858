"""On the Kubernetes bench: a failed node ends `kedro run` with one message (the node's
own traceback, the resume routes), and `kedro kinetic status` names the run's pipeline
(from its Jobs' label)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import kedro_cmd, subprocess_env
from tests.e2e.bench_kit import SALES_SIG, kedro_run, make_bench_demo, patch_node

pytestmark = [pytest.mark.e2e, pytest.mark.bench]


def test_failed_node_message_and_status_pipeline_on_the_bench(tmp_path, k8s_cluster,
                                                              gcs_emulator):
    previous = k8s_cluster.kubelet.cwd
    project = make_bench_demo(tmp_path, k8s_cluster, gcs_emulator, "ux")
    try:
        patch_node(project, SALES_SIG, 'raise ValueError("product features exploded")')
        proc = kedro_run(project, "--pipelines=data_processing")
        assert proc.returncode != 0
        assert proc.stderr.startswith("Error: node 'product_features_node' failed remotely"), \
            proc.stderr[-3000:]
        assert "ValueError: product features exploded" in proc.stderr
        frames = re.findall(r'File "([^"]+)", line \d+', proc.stdout + proc.stderr)
        assert frames and all(f.startswith("src/demo_project/") for f in frames), frames
        assert "--runner-params resume=" in proc.stderr  # ours, at the end of the failure
        assert '--from-nodes "' in proc.stdout  # Kedro's own hint, logged once
        status = subprocess.run([*kedro_cmd(), "kinetic", "status", "--env=bench"], cwd=project,
                                capture_output=True, text=True, env=subprocess_env(),
                                timeout=300)
        assert status.returncode == 0, status.stderr[-3000:]
        run_id = re.search(r"kedro-kinetic run (\S+): \d+ nodes", proc.stdout).group(1)
        rows = [line.split("\t") for line in status.stdout.splitlines()
                if line.startswith(f"{run_id}\t")]
        assert [row[1:3] for row in rows] == [["data-processing", "failed"]], status.stdout
    finally:
        k8s_cluster.kubelet.cwd = previous
