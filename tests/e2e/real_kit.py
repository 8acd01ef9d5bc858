"""Helpers for tests that run demo_project on the real bench (real kubelet, containerd, runc).

A bench project is a copy of demo_project with a ``real`` conf environment (image by digest,
``require_digest``, store in fake-gcs-server) and the real bench's pod hook in its package
(:mod:`tests.bench.real.pod_hooks`, listed in ``settings.HOOKS``). The driver finds the cluster
through ``KUBECONFIG`` in its own environment, never through parameters.yml.
"""

from __future__ import annotations

import subprocess
import time
from typing import TYPE_CHECKING

import yaml

from tests.bench.real.project import install_pod_hooks
from tests.conftest import copy_demo, kedro_cmd, subprocess_env

if TYPE_CHECKING:
    from pathlib import Path

ENV = "real"
PACKAGE = "demo_project"
MANAGED = "app.kubernetes.io/managed-by=kedro-kinetic"


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


def make_real_demo(tmp_path: Path, cluster, gcs, prefix: str,
                   hooks: tuple[tuple[str, str, str], ...] = (), **extra) -> Path:
    """A demo copy whose ``real`` env runs every node as a Job on the real kubelet."""
    project = copy_demo(tmp_path)
    (project / "conf" / ENV).mkdir()
    (project / "conf" / ENV / "parameters.yml").write_text(
        real_params(cluster, gcs, prefix, **extra))
    install_pod_hooks(project, PACKAGE, hooks, cluster.repositories)
    return project


def real_env(cluster, **extra: str) -> dict[str, str]:
    """Environment of ``kedro run``: the cluster through ``KUBECONFIG``."""
    return subprocess_env(KUBECONFIG=cluster.kubeconfig, **extra)


def run_argv(*args: str) -> list[str]:
    return [*kedro_cmd(), "run", f"--env={ENV}", "--runner=kedro_kinetic.GKERunner", *args]


def kedro_run(project: Path, cluster, *args: str, timeout: int = 900
              ) -> subprocess.CompletedProcess:
    """``kedro run --env real --runner=kedro_kinetic.GKERunner ARGS`` to completion."""
    return subprocess.run(run_argv(*args), cwd=project, capture_output=True, text=True,
                          env=real_env(cluster), timeout=timeout, check=False)


def popen_run(project: Path, cluster, *args: str) -> subprocess.Popen:
    """The same run, started in the background; its output goes to the file ``proc.log``
    (a pipe nobody reads while the test waits could fill up and stall the driver)."""
    log = project / "kedro-run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(run_argv(*args), cwd=project, env=real_env(cluster),
                                stdout=out, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def wait_for_text(proc, text: str, timeout: float = 600) -> None:
    """Wait until the output of ``proc`` (started by :func:`popen_run`) contains ``text``."""
    deadline = time.monotonic() + timeout
    while text not in proc.log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            output = proc.log.read_text(errors="replace")
            raise AssertionError(f"no {text!r} in the output of kedro run ({proc.poll()}):\n"
                                 f"{output[-5000:]}")
        time.sleep(0.2)


def pod_names(cluster) -> set[str]:
    """Names of the bench's Pods now (a run's own Pods are the ones not in this set)."""
    return {p.metadata.name for p in cluster.core_v1().list_namespaced_pod(
        cluster.namespace, label_selector=MANAGED).items}


def wait_for_pod(cluster, before: set[str], predicate, what: str, proc=None,
                 timeout: float = 300):
    """The first new Pod (not in ``before``) for which ``predicate(pod)`` holds.

    Pods of earlier tests may still be terminating, so they are excluded by name. When
    ``proc`` (the ``kedro run`` that should create the Pod) ends first, fail at once with its
    output; on timeout, the message lists the new pods' states and the run's output.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"kedro run ended ({proc.returncode}) before a pod was "
                                 f"{what}:\n{proc.log.read_text()[-5000:]}")
        for pod in cluster.core_v1().list_namespaced_pod(
                cluster.namespace, label_selector=MANAGED).items:
            if pod.metadata.name not in before and predicate(pod):
                return pod
        time.sleep(0.3)
    states = [f"{p.metadata.name}: {p.status.phase} "
              f"{[(s.state.to_dict(), s.ready) for s in p.status.container_statuses or []]}"
              for p in cluster.core_v1().list_namespaced_pod(
                  cluster.namespace, label_selector=MANAGED).items
              if p.metadata.name not in before]
    output = proc.log.read_text()[-3000:] if proc is not None else ""
    raise AssertionError(f"no pod {what} within {timeout:.0f} s; new pods: {states}\n"
                         f"kedro run so far:\n{output}")
