"""Helpers for tests that run demo_project on the bench (real control plane + fake GCS)."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from benchmarks.projects import add_code_settings
from tests.conftest import copy_demo
from tests.kedro_run import RUN_CEILING, START_CEILING, kedro, kedro_popen, wait_until

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Mapping

    from tests.kedro_run import Running

IMAGE = "europe-docker.pkg.dev/kinetic-demo/kedro/demo-project@sha256:" + "a" * 64
NODES = Path("src/demo_project/pipelines/data_processing/nodes.py")
SALES_SIG = "def compute_product_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"


def bench_params(cluster, gcs, prefix: str, **extra) -> str:
    block = {
        "backend": "kubernetes", "image": IMAGE, "image_policy": "require_digest",
        "namespace": cluster.namespace, "store": f"gs://{gcs.bucket}/{prefix}",
        "max_parallel": 4,
        "unschedulable_timeout_seconds": 6,
        "defaults": {"cpu": "250m", "memory": "1Gi", "deadline_seconds": 600},
        **extra,
    }
    return yaml.safe_dump({"kinetic": block})


def make_bench_demo(tmp_path: Path, cluster, gcs, prefix: str, **extra) -> Path:
    """A demo copy with a `bench` conf env; the bench kubelet runs its pods in it."""
    project = copy_demo(tmp_path)
    (project / "conf" / "bench").mkdir()
    (project / "conf" / "bench" / "parameters.yml").write_text(
        bench_params(cluster, gcs, prefix, **extra))
    # the bench's test kubelet runs pods as processes in the project: they share its data/
    add_code_settings(project, kubeconfig=cluster.kubeconfig, shared_paths=["data"])
    cluster.kubelet.cwd = str(project)  # the image's WORKDIR
    return project


def popen_run(project: Path, *args: str, env: Mapping[str, str] | None = None) -> Running:
    """Start ``kedro run`` on the bench (``env`` added to the driver's environment)."""
    return kedro_popen(project, "run", "--env=bench", "--runner=kedro_kinetic.GKERunner", *args,
                       env=env)


def kedro_run(project: Path, *args: str, env: Mapping[str, str] | None = None,
              timeout: float = RUN_CEILING) -> subprocess.CompletedProcess[str]:
    """``kedro run`` on the bench, to its end."""
    return kedro(project, "run", "--env=bench", "--runner=kedro_kinetic.GKERunner", *args,
                 env=env, timeout=timeout)


DS_NODES = Path("src/demo_project/pipelines/data_science/nodes.py")


def patch_node(project: Path, signature: str, body: str, nodes: Path = NODES) -> None:
    """Insert ``body`` at the top of the function whose ``def`` starts with ``signature``."""
    path = project / nodes
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(signature))
    end = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith(":"))
    code = textwrap.indent(textwrap.dedent(body), "    ")
    lines.insert(end + 1, code if code.endswith("\n") else code + "\n")
    path.write_text("".join(lines))


def hold_until(go: Path, ceiling: float = START_CEILING) -> str:
    """Node code that waits until the file ``go`` exists (the test writes it), at most
    ``ceiling`` seconds: a node kept running until the test has seen what it waits for."""
    return textwrap.dedent(f"""
        import pathlib, time
        _go, _deadline = pathlib.Path({str(go)!r}), time.monotonic() + {ceiling}
        while not _go.exists() and time.monotonic() < _deadline:
            time.sleep(0.05)
        """)


def run_jobs(cluster) -> list:
    jobs = cluster.batch_v1().list_namespaced_job(
        cluster.namespace, label_selector="app.kubernetes.io/managed-by=kedro-kinetic").items
    return jobs


def hashes(project: Path) -> dict[str, str]:
    return {p.relative_to(project).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((project / "data").glob("0[2-8]_*/**/*"))
            if p.is_file() and p.name != ".gitkeep"}


def pod_names(cluster) -> set[str]:
    """Names of the pods now in the bench namespace (to tell a run's new pods apart)."""
    return {p.metadata.name for p in cluster.core_v1().list_namespaced_pod(
        cluster.namespace).items}


def run_objects(cluster, run_label: str) -> tuple[list, list]:
    selector = f"kedro-kinetic.io/run={run_label}"
    jobs = cluster.batch_v1().list_namespaced_job(cluster.namespace, label_selector=selector)
    pods = cluster.core_v1().list_namespaced_pod(cluster.namespace, label_selector=selector)
    return jobs.items, pods.items


def wait_for_running_pod(cluster, before: set[str], name_part: str = "store-features",
                         timeout: float = START_CEILING, driver: Running | None = None):
    """The first new pod named like ``name_part`` that runs (failing early if ``driver``
    exits first)."""
    def running_pod():
        pods = cluster.core_v1().list_namespaced_pod(
            cluster.namespace, label_selector="app.kubernetes.io/managed-by=kedro-kinetic").items
        return next((pod for pod in pods if pod.metadata.name not in before
                     and pod.status.phase == "Running" and name_part in pod.metadata.name),
                    None)

    return wait_until(running_pod, timeout, interval=0.3, process=driver,
                      message=f"no new {name_part} pod ran")


