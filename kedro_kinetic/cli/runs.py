"""Operations on runs that work from trusted sources alone.

``kedro kinetic status|logs|cancel|clean`` use these, so a second terminal, or
a new one after the driver died, can inspect and clean up a run. Each backend
provides a :class:`~kedro_kinetic.backends.base.RunInspector` that picks runs,
Jobs, processes and ages from what only the driver could have made (the
Kubernetes API, the private run folder) and node states from sealed results;
this module only chooses the inspector and matches a user's run id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro_kinetic import store
from kedro_kinetic.backends.base import NodeStatus, RunInfo, RunInspector, find_run
from kedro_kinetic.errors import RunNotFound

if TYPE_CHECKING:
    from pathlib import Path

    from kedro_kinetic.config import RunConfig
    from kedro_kinetic.config.project_settings import ProjectSettings

__all__ = ["NodeStatus", "RunInfo", "RunNotFound", "find_run", "inspector",
           "load_project_config", "parse_duration", "pipeline_nodes"]


def read_project(project: Path, env: str | None) -> tuple[Any, ProjectSettings]:
    """The ``kinetic`` parameters of ``env`` (or ``None``) and the project's code settings.

    Read through a Kedro session, as ``kedro run`` reads them.
    """
    import logging

    from kedro.framework.project import PACKAGE_NAME
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro_kinetic.config import project_settings

    bootstrap_project(project)
    logging.disable(logging.WARNING)  # Kedro logs to stdout; keep command output clean
    try:
        session: Any = KedroSession.create(project_path=project, env=env)
        with session:
            params = session.load_context().params
    finally:
        logging.disable(logging.NOTSET)
    return params.get("kinetic"), project_settings.load(PACKAGE_NAME)


def load_project_config(project: Path, env: str | None,
                        overrides: dict[str, Any] | None = None) -> RunConfig:
    """The project's kinetic config for ``env`` (default pipeline), as a run would read it."""
    from kedro_kinetic import config

    block, settings = read_project(project, env)
    return config.load(block, ["__default__"], overrides, settings)


def runs_root(cfg: RunConfig, project: Path) -> str:
    """``<store>/runs`` of the project's configured store."""
    return store.join(store.to_uri(cfg.store, project), "runs")


def inspector(cfg: RunConfig, project: Path) -> RunInspector:
    """The run inspector of the configured backend."""
    from kedro_kinetic import backends

    return backends.inspector(cfg, project)


def registered_names(recorded: str, names: list[str]) -> list[str] | None:
    """The registered pipelines a run recorded: ``a+b`` (the private run record) or the
    Kubernetes label made of it (each name lower-cased, ``[a-z0-9-]``, joined by ``-``).

    Returns:
        The names, or ``None`` when ``recorded`` names no registered pipeline(s).
    """
    from kedro_kinetic.wire.naming import sanitise

    if not recorded:
        return None
    parts = recorded.split("+")
    if all(part in names for part in parts):
        return parts
    labels = sorted(((sanitise(name), name) for name in names), reverse=True)

    def walk(rest: str, depth: int) -> list[str] | None:
        for label, name in labels if depth < 8 else ():
            if rest == label:
                return [name]
            if rest.startswith(label + "-"):
                tail = walk(rest[len(label) + 1:], depth + 1)
                if tail is not None:
                    return [name, *tail]
        return None

    return walk(recorded, 0)


def pipeline_nodes(recorded: str) -> list[str] | None:
    """The node names of the pipeline(s) a run recorded, in Kedro's topological order,
    from the project's pipeline registry (its code, the trusted source of a run's nodes).

    Returns:
        ``None`` when the registry has no such pipeline, or cannot be loaded.
    """
    from kedro.framework.project import pipelines
    from kedro.pipeline import Pipeline

    try:
        names = registered_names(recorded, list(pipelines))
        if names is None:
            return None
        total = sum((pipelines[name] for name in names), Pipeline([]))
    except Exception:  # the registry's own error shows in `kedro run`; listing goes on
        return None
    return [node.name for node in total.nodes]


def parse_duration(text: str) -> float:
    """``30m``, ``12h``, ``7d`` -> seconds.

    Raises:
        ValueError: Not a number followed by s, m, h or d.
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].replace(".", "", 1).isdigit():
        raise ValueError(f"{text!r} is not a duration like 30m, 12h or 7d")
    return float(text[:-1]) * units[text[-1]]
