"""What the catalog hook learns about a run, handed to ``GKERunner``.

Kedro builds the runner before the session exists, so the runner marks the
process as a kedro-kinetic run here; the hooks (which Kedro calls for every
run, whatever the runner) act only when the mark is set. This module imports
nothing, so loading the plugin's hooks stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro_kinetic.config.project_settings import ProjectSettings

if TYPE_CHECKING:
    from pathlib import Path

    from kedro_kinetic.backends import LocalInputs


@dataclass
class RunState:
    """Facts gathered by the hooks for the runner of this process."""

    active: bool = False
    runner_allow: tuple[str, ...] = ()
    #: The runner's ``kinetic`` overrides and its code-given command (``None``: default).
    runner_overrides: dict[str, Any] = field(default_factory=dict)
    runner_command: tuple[str, ...] | None = None
    #: A local run's fork server started while Kedro loads the project (a
    #: ``backends.forkstart.EarlyServer``), taken by the backend.
    early_server: Any = None
    #: Whether the hook may start that server (``kedro kinetic render`` runs nothing).
    fork_early: bool = True
    settings: ProjectSettings = field(default_factory=ProjectSettings)
    raw_catalog: dict[str, Any] | None = None
    project_path: Path | None = None
    conf_source: str | None = None
    env: str | None = None
    package_name: str | None = None
    run_params: dict[str, Any] = field(default_factory=dict)
    save_version: str | None = None
    load_versions: dict[str, Any] = field(default_factory=dict)
    #: Filled by the runner: node -> NodePlan, node name -> NodeResult.
    plans: dict[Any, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    #: Filled by the runner: node name -> the run its cached execution came from.
    cached: dict[str, str] = field(default_factory=dict)


STATE = RunState()


def activate(runner_allow: tuple[str, ...] = (), overrides: dict[str, Any] | None = None,
             command: tuple[str, ...] | None = None) -> RunState:
    """Mark this process as running a kedro-kinetic pipeline."""
    drop_early_server()  # an earlier runner's, in this process
    STATE.active = True
    STATE.fork_early = True
    STATE.runner_allow = tuple(runner_allow)
    STATE.runner_overrides = dict(overrides or {})
    STATE.runner_command = command
    return STATE


def local_inputs(state: RunState) -> LocalInputs:
    """What a local backend takes from this run: the data roots, the early fork server
    (handed over once: the backend closes it), what its fork servers import ahead."""
    from kedro_kinetic.backends import LocalInputs
    from kedro_kinetic.backends.local.forkpool import warm_imports

    early, state.early_server = state.early_server, None
    allow = state.settings.dataset_allowlist + state.runner_allow
    return LocalInputs(data_roots=state.settings.data_roots, early=early,
                       warm=lambda: warm_imports(state.plans.values(), state.package_name,
                                                 allow))


def drop_early_server() -> None:
    """Close the early fork server if no backend took it (its imports were for nothing)."""
    early, STATE.early_server = STATE.early_server, None
    if early is not None:
        early.server.close()
