"""Execution backends: where a rendered Job manifest runs.

``local`` runs the manifest's container command as a local process;
``kubernetes`` submits it to a cluster. Both report :class:`JobEvent` objects
on a queue that the runner waits on (no polling loops in the runner).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from kedro_kinetic.backends.base import Backend, JobEvent, RunInspector
from kedro_kinetic.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from kedro_kinetic.config import RunConfig

__all__ = ["Backend", "JobEvent", "LocalInputs", "RunInspector", "create", "inspector"]


@dataclass(frozen=True)
class LocalInputs:
    """What the local backend takes from the run, which only the runner knows.

    Attributes:
        data_roots: The project's data roots (``KINETIC_DATA_ROOTS``): node processes may
            write there.
        early: A fork server the plugin started while Kedro loaded the project
            (:class:`~kedro_kinetic.backends.local.forkstart.EarlyServer`), or ``None``.
        warm: What the run's fork servers import ahead, asked when the first starts.
    """

    data_roots: tuple[str, ...] = ("data",)
    early: Any = None
    warm: Callable[[], Any] | None = None


def create(cfg: RunConfig, *, project_path: Path, run_label: str, run_root: str = "",
           conf_source: str | None = None, env: str | None = None,
           log_sink: IO[str] | None = None, pipeline: str = "",
           local: LocalInputs | None = None) -> Backend:
    """Instantiate the backend the run's configuration names.

    ``log_sink`` is where node output is echoed (default: ``sys.stdout`` as it is
    when the backend is created); ``pipeline`` names the run's pipeline(s) in the
    local run's private record (Kubernetes Jobs carry it as a label); ``local`` is what
    the runner hands a local backend (nothing is read from a global).
    """
    if cfg.backend == "local":
        from kedro_kinetic.backends.local.backend import LocalBackend
        from kedro_kinetic.backends.local.confine import for_run as local_confinement
        from kedro_kinetic.backends.local.forkpool import ForkServers
        from kedro_kinetic.backends.local.run_folder import LocalRunFolder
        from kedro_kinetic.backends.local.warm import Warm
        from kedro_kinetic.config import DEFAULT_COMMAND

        local = local or LocalInputs()
        folder = LocalRunFolder(run_root, pipeline=pipeline) if run_root else None
        confinement = local_confinement(cfg, project_path, conf_source, local.data_roots,
                                        run_root)
        forks = ForkServers(DEFAULT_COMMAND, str(project_path),
                            log=folder.server_log_path if folder else None,
                            warm=local.warm or (lambda: Warm([], [])), early=local.early)
        return LocalBackend(project_path=project_path, conf_source=conf_source, env=env,
                            stream_logs=cfg.stream_logs, run_folder=folder,
                            run_label=run_label, forks=forks, log_sink=log_sink,
                            confinement=confinement)
    if cfg.backend != "kubernetes":
        raise ConfigError(f"kinetic.backend: unknown backend {cfg.backend!r}")
    from kedro_kinetic.backends.kubernetes.backend import KubernetesBackend

    return KubernetesBackend(
        namespace=cfg.namespace, run_label=run_label, kubeconfig=cfg.kubeconfig,
        context=cfg.kube_context, unschedulable_timeout=cfg.unschedulable_timeout_seconds,
        stream_logs=cfg.stream_logs, log_sink=log_sink,
        poll_interval=cfg.poll_interval_seconds if cfg.event_source == "poll" else None,
        scale_up_timeout=cfg.scale_up_timeout_seconds,
    )


def inspector(cfg: RunConfig, project_path: Path) -> RunInspector:
    """The run inspector (status, logs, cancel, clean) of the configured backend."""
    from kedro_kinetic import store

    store_uri = store.to_uri(cfg.store, project_path)
    if cfg.backend == "local":
        from kedro_kinetic.backends.local.runs import LocalRuns

        return LocalRuns(store.join(store_uri, "runs"))
    if cfg.backend == "kubernetes":
        from kedro_kinetic.backends.kubernetes.runs import KubernetesRuns

        return KubernetesRuns(store_uri, cfg.namespace, cfg.kubeconfig, cfg.kube_context)
    raise ConfigError(f"kinetic.backend: unknown backend {cfg.backend!r}")
