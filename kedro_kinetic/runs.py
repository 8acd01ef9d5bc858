"""Operations on runs that work from the cluster and the store alone.

``kedro kinetic status|logs|cancel|clean`` use these, so a second terminal, or
a new one after the driver died, can inspect and clean up a run.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kedro_kinetic import naming, store
from kedro_kinetic.config import RunConfig
from kedro_kinetic.manifest import ANN_NODE_NAME, ANN_RUN_ID, LABEL_NODE, LABEL_RUN
from kedro_kinetic.result import NodeResult


class RunNotFound(LookupError):
    """No run of that id or label in the store."""


@dataclass
class NodeStatus:
    """One node of a run, as far as the store and the cluster know."""

    node: str
    job: str
    key: str
    state: str
    duration: float | None = None
    detail: str = ""


def load_project_config(project: Path, env: str | None,
                        overrides: dict[str, Any] | None = None) -> RunConfig:
    """The project's kinetic config for ``env`` (default pipeline), as a run would read it."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    import logging

    from kedro_kinetic import config

    bootstrap_project(project)
    logging.disable(logging.WARNING)  # Kedro logs to stdout; keep command output clean
    try:
        with KedroSession.create(project_path=project, env=env) as session:
            params = session.load_context().params
    finally:
        logging.disable(logging.NOTSET)
    return config.load(params.get("kinetic"), ["__default__"], overrides)


def runs_root(cfg: RunConfig, project: Path) -> str:
    return store.join(store.to_uri(cfg.store, project), "runs")


def list_runs(cfg: RunConfig, project: Path) -> list[str]:
    """Run labels present in the store, oldest first."""
    root = runs_root(cfg, project)
    labels = {uri[len(root) + 1:].split("/", 1)[0] for uri in store.list_objects(root)}
    return sorted(labels)


def resolve(cfg: RunConfig, project: Path, run: str) -> str:
    """The store folder of ``run`` (a run id or a run label).

    Raises:
        RunNotFound: Neither the label nor the sanitised id has objects in the store.
    """
    labels = list_runs(cfg, project)
    for label in (run, naming.run_label(run)):
        if label in labels:
            return store.join(runs_root(cfg, project), label)
    raise RunNotFound(f"no run '{run}' in {runs_root(cfg, project)} (known: {labels})")


def _manifests(root: str) -> list[dict[str, Any]]:
    return [json.loads(store.read_bytes(uri))
            for uri in store.list_objects(store.join(root, "manifests"))
            if uri.endswith(".json")]


def run_id_of(root: str) -> str | None:
    """The Kedro run id recorded in the run's manifests."""
    for manifest in _manifests(root):
        return manifest["metadata"]["annotations"].get(ANN_RUN_ID)
    return None


def _cluster_jobs(cfg: RunConfig, label: str) -> dict[str, Any]:
    from kubernetes import client

    from kedro_kinetic.backends.k8s_client import api_client

    batch = client.BatchV1Api(api_client(cfg.kubeconfig, cfg.kube_context))
    jobs = batch.list_namespaced_job(cfg.namespace, label_selector=f"{LABEL_RUN}={label}")
    return {job.metadata.name: job for job in jobs.items}


def _job_state(job: Any) -> str:
    for cond in job.status.conditions or []:
        if cond.status == "True" and cond.type in ("Complete", "Failed"):
            return "succeeded" if cond.type == "Complete" else "failed"
    return "running" if job.status.active else "submitted"


def status(cfg: RunConfig, root: str) -> list[NodeStatus]:
    """Every submitted node of the run with its state."""
    label = root.rstrip("/").rsplit("/", 1)[-1]
    jobs = _cluster_jobs(cfg, label) if cfg.backend == "kubernetes" else {}
    rows = []
    for manifest in _manifests(root):
        meta = manifest["metadata"]
        key = meta["labels"][LABEL_NODE]
        row = NodeStatus(meta["annotations"][ANN_NODE_NAME], meta["name"], key, "submitted")
        try:
            result = NodeResult.from_json(store.read_bytes(store.join(root, "results",
                                                                      f"{key}.json")))
            row.state, row.duration = result.status, result.duration
            row.detail = (f"{result.error_type}: {result.error_message}"
                          if result.status != "succeeded" else "")
        except store.ObjectNotFound:
            if meta["name"] in jobs:
                row.state = _job_state(jobs[meta["name"]])
            elif cfg.backend == "local":
                row.state = "running" if _pid_alive(root, meta["name"]) else "stopped"
            else:
                row.state = "gone"
        rows.append(row)
    return sorted(rows, key=lambda r: r.node)


def _pid_alive(root: str, job: str) -> bool:
    folder = store.local_path(root)
    pid_file = folder / "pids" / job if folder else None
    if not pid_file or not pid_file.exists():
        return False
    try:
        os.killpg(int(pid_file.read_text()), 0)
    except (ProcessLookupError, ValueError, PermissionError):
        return False
    return True


def logs(cfg: RunConfig, root: str, node: str | None = None,
         follow: bool = False) -> Iterator[str]:
    """Yield ``[node] line`` for the run's pods (or local processes)."""
    wanted = [r for r in status(cfg, root) if node in (None, r.node)]
    if node and not wanted:
        raise RunNotFound(f"the run has no node '{node}'")
    if cfg.backend == "kubernetes":
        yield from _pod_logs(cfg, root, wanted, follow)
        return
    folder = store.local_path(root)
    for row in wanted:
        path = folder / "logs" / f"{row.job}.log" if folder else None
        if path is None or not path.exists():
            continue
        with path.open(encoding="utf-8", errors="replace") as handle:
            while True:
                line = handle.readline()
                if line:
                    yield f"[{row.node}] {line.rstrip()}"
                elif follow and _pid_alive(root, row.job):
                    time.sleep(0.2)
                else:
                    break


def _pod_logs(cfg: RunConfig, root: str, rows: list[NodeStatus], follow: bool) -> Iterator[str]:
    from kubernetes import client

    from kedro_kinetic.backends.k8s_client import api_client
    from kedro_kinetic.manifest import CONTAINER

    core = client.CoreV1Api(api_client(cfg.kubeconfig, cfg.kube_context))
    label = root.rstrip("/").rsplit("/", 1)[-1]
    for row in rows:
        pods = core.list_namespaced_pod(
            cfg.namespace, label_selector=f"{LABEL_RUN}={label},{LABEL_NODE}={row.key}").items
        for pod in sorted(pods, key=lambda p: p.metadata.creation_timestamp):
            response = core.read_namespaced_pod_log(pod.metadata.name, cfg.namespace,
                                                    container=CONTAINER, follow=follow,
                                                    _preload_content=False)
            for line in response.read().decode(errors="replace").splitlines():
                yield f"[{row.node}] {line}"


def cancel(cfg: RunConfig, root: str) -> list[str]:
    """Stop every unfinished node of the run; return the Jobs that were stopped."""
    unfinished = [r for r in status(cfg, root) if r.state in ("submitted", "running")]
    if cfg.backend == "kubernetes":
        _delete_cluster_objects(cfg, root)
        return [r.job for r in unfinished]
    stopped = []
    folder = store.local_path(root)
    for row in unfinished:
        pid_file = folder / "pids" / row.job if folder else None
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)  # type: ignore[union-attr]
            stopped.append(row.job)
        except (ProcessLookupError, ValueError, OSError, AttributeError):
            continue
    return stopped


def _delete_cluster_objects(cfg: RunConfig, root: str) -> None:
    from kubernetes import client

    from kedro_kinetic.backends.k8s_client import api_client, with_retries

    api = api_client(cfg.kubeconfig, cfg.kube_context)
    selector = f"{LABEL_RUN}={root.rstrip('/').rsplit('/', 1)[-1]}"
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    with_retries(lambda: batch.delete_collection_namespaced_job(
        cfg.namespace, label_selector=selector, propagation_policy="Background"), "delete Jobs")
    with_retries(lambda: core.delete_collection_namespaced_pod(
        cfg.namespace, label_selector=selector, grace_period_seconds=0), "delete Pods")


def clean(cfg: RunConfig, root: str) -> int:
    """Cancel the run, delete its Jobs and every stored object; return objects deleted."""
    cancel(cfg, root)
    if cfg.backend == "kubernetes":
        _delete_cluster_objects(cfg, root)
    objects = store.list_objects(root)
    for uri in objects:
        store.delete(uri)
    folder = store.local_path(root)
    if folder is not None and folder.exists():
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return len(objects)


def age_seconds(root: str) -> float | None:
    """How long ago the run started, from its Kedro run id (a timestamp)."""
    run_id = run_id_of(root)
    if not run_id:
        return None
    try:
        started = datetime.strptime(run_id, "%Y-%m-%dT%H.%M.%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return (datetime.now(timezone.utc) - started).total_seconds()


def parse_duration(text: str) -> float:
    """``30m``, ``12h``, ``7d`` -> seconds.

    Raises:
        ValueError: Not a number followed by s, m, h or d.
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].replace(".", "", 1).isdigit():
        raise ValueError(f"{text!r} is not a duration like 30m, 12h or 7d")
    return float(text[:-1]) * units[text[-1]]
