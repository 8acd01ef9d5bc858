"""Execution backends: where a rendered Job manifest runs.

``local`` runs the manifest's container command as a local process;
``kubernetes`` submits it to a cluster. Both report :class:`JobEvent` objects
on a queue that the runner waits on (no polling loops in the runner).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from kedro_kinetic.backends.base import Backend, JobEvent, RunInspector
from kedro_kinetic.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from kedro_kinetic.config import RunConfig

__all__ = ["Backend", "JobEvent", "RunInspector", "create", "inspector"]


def create(cfg: RunConfig, *, project_path: Path, run_label: str, run_root: str = "",
           conf_source: str | None = None, env: str | None = None,
           log_sink: IO[str] | None = None, pipeline: str = "") -> Backend:
    """Instantiate the backend the run's configuration names.

    ``log_sink`` is where node output is echoed (default: ``sys.stdout`` as it is
    when the backend is created); ``pipeline`` names the run's pipeline(s) in the
    local run's private record (Kubernetes Jobs carry it as a label).
    """
    if cfg.backend == "local":
        from kedro_kinetic.activation import STATE
        from kedro_kinetic.backends.forkpool import ForkServers, warm_imports
        from kedro_kinetic.backends.local import LocalBackend
        from kedro_kinetic.backends.local_confine import for_run as local_confinement
        from kedro_kinetic.config import DEFAULT_COMMAND
        from kedro_kinetic.layout import LocalRunFolder

        folder = LocalRunFolder(run_root, pipeline=pipeline) if run_root else None
        confinement = local_confinement(cfg, project_path, conf_source, run_root)
        early, STATE.early_server = STATE.early_server, None
        forks = ForkServers(DEFAULT_COMMAND, str(project_path),
                            log=folder.server_log_path if folder else None,
                            warm=lambda: warm_imports(STATE), early=early)
        return LocalBackend(project_path=project_path, conf_source=conf_source, env=env,
                            stream_logs=cfg.stream_logs, run_folder=folder,
                            run_label=run_label, forks=forks, log_sink=log_sink,
                            confinement=confinement)
    if cfg.backend != "kubernetes":
        raise ConfigError(f"kinetic.backend: unknown backend {cfg.backend!r}")
    from kedro_kinetic.backends.kubernetes import KubernetesBackend

    return KubernetesBackend(
        namespace=cfg.namespace, run_label=run_label, kubeconfig=cfg.kubeconfig,
        context=cfg.kube_context, unschedulable_timeout=cfg.unschedulable_timeout_seconds,
        stream_logs=cfg.stream_logs, log_sink=log_sink,
        poll_interval=cfg.poll_interval_seconds if cfg.event_source == "poll" else None,
    )


def inspector(cfg: RunConfig, project_path: Path) -> RunInspector:
    """The run inspector (status, logs, cancel, clean) of the configured backend."""
    from kedro_kinetic import store

    store_uri = store.to_uri(cfg.store, project_path)
    if cfg.backend == "local":
        from kedro_kinetic.backends.local_runs import LocalRuns

        return LocalRuns(store.join(store_uri, "runs"))
    if cfg.backend == "kubernetes":
        from kedro_kinetic.backends.kubernetes_runs import KubernetesRuns

        return KubernetesRuns(store_uri, cfg.namespace, cfg.kubeconfig, cfg.kube_context)
    raise ConfigError(f"kinetic.backend: unknown backend {cfg.backend!r}")
