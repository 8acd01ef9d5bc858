"""Helpers for tests that run demo_project on the real bench (real kubelet, containerd, runc).

A bench project is a copy of demo_project with a ``real`` conf environment (image by digest,
``require_digest``, store in fake-gcs-server) and the real bench's pod hook in its package
(:mod:`tests.bench.real.pod_hooks`, listed in ``settings.HOOKS``). The driver finds the cluster
through ``KUBECONFIG`` in its own environment, never through parameters.yml.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import yaml

from tests.bench.real import pod_hooks
from tests.bench.real.images import REPOSITORY_PREFIX
from tests.conftest import copy_demo, kedro_cmd, subprocess_env

ENV = "real"
PACKAGE = "demo_project"
HOOK_MODULE = "kinetic_real_bench"


def real_params(cluster, gcs, prefix: str, **extra) -> str:
    block = {
        "backend": "kubernetes", "image": cluster.image("demo"),
        "image_policy": "require_digest", "namespace": cluster.namespace,
        "store": f"gs://{gcs.bucket}/real/{prefix}", "max_parallel": 4,
        "unschedulable_timeout_seconds": 60,
        "defaults": {"cpu": "100m", "memory": "512Mi", "deadline_seconds": 600},
        **extra,
    }
    return yaml.safe_dump({"kinetic": block})


def add_hooks(project: Path, *hooks: tuple[str, str, str]) -> None:
    """List the real bench's pod hook, and ``hooks`` (module name, source, class), in
    ``settings.HOOKS``; allow the bench's image repositories."""
    package = project / "src" / PACKAGE
    shutil.copy(pod_hooks.__file__, package / f"{HOOK_MODULE}.py")
    lines = [
        "", "# real bench (tests/bench/real): images and pod settings, in code",
        f"KINETIC_IMAGE_REPOSITORIES = [{REPOSITORY_PREFIX!r}]",
        f"from {PACKAGE}.{HOOK_MODULE} import RealBenchPods",
    ]
    instances = ["RealBenchPods()"]
    for module, source, cls in hooks:
        (package / f"{module}.py").write_text(source)
        lines.append(f"from {PACKAGE}.{module} import {cls}")
        instances.append(f"{cls}()")
    lines.append(f"HOOKS = ({', '.join(instances)},)")
    settings = package / "settings.py"
    settings.write_text(settings.read_text() + "\n".join(lines) + "\n")


def make_real_demo(tmp_path: Path, cluster, gcs, prefix: str,
                   hooks: tuple[tuple[str, str, str], ...] = (), **extra) -> Path:
    """A demo copy whose ``real`` env runs every node as a Job on the real kubelet."""
    project = copy_demo(tmp_path)
    (project / "conf" / ENV).mkdir()
    (project / "conf" / ENV / "parameters.yml").write_text(
        real_params(cluster, gcs, prefix, **extra))
    add_hooks(project, *hooks)
    # the image's user (uid 1000) writes the outputs through the hostPath mount
    for path in [project / "data", *(project / "data").rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    return project


def real_env(cluster, **extra: str) -> dict[str, str]:
    """Environment of ``kedro run``: the cluster through ``KUBECONFIG``."""
    return subprocess_env(KUBECONFIG=cluster.kubeconfig, **extra)


def run_argv(*args: str) -> list[str]:
    return [*kedro_cmd(), "run", f"--env={ENV}", "--runner=kedro_kinetic.GKERunner", *args]


def kedro_run(project: Path, cluster, *args: str, timeout: int = 900
              ) -> subprocess.CompletedProcess:
    """``kedro run --env real --runner=kedro_kinetic.GKERunner ARGS`` to completion."""
    return subprocess.run(run_argv(*args), cwd=project, capture_output=True, text=True, check=False,
                          env=real_env(cluster), timeout=timeout)


def popen_run(project: Path, cluster, *args: str) -> subprocess.Popen:
    """The same run, started in the background (output on ``stdout``)."""
    return subprocess.Popen(run_argv(*args), cwd=project, env=real_env(cluster),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_pod(cluster, predicate, what: str, timeout: float = 300):
    """The first of the bench's Pods for which ``predicate(pod)`` holds (waits on the API)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in cluster.core_v1().list_namespaced_pod(
                cluster.namespace,
                label_selector="app.kubernetes.io/managed-by=kedro-kinetic").items:
            if predicate(pod):
                return pod
        time.sleep(0.3)
    raise AssertionError(f"no pod {what} within {timeout:.0f} s")
