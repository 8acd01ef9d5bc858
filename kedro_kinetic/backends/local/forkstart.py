"""Start a local run's fork server early: while Kedro still loads the project.

A fork server started at the run's first Job imports the project's node modules
(scikit-learn and the like) while the first nodes wait for their forks. Started
from the ``after_context_created`` hook instead, its imports run beside the
driver's own loading of the pipelines, on another core.

What it imports is decided by the driver's code only, as for any fork server: the
entrypoint, the dataset classes of the *checked* catalog configuration that are on
the run's allowlist, and the packages of the project's pipelines
(``<package>.pipelines.<name>``, the modules Kedro's ``find_pipelines`` imports),
named from the project's source folder. Nothing comes from the store.

The server is used only when the run's Jobs get its environment, give or take the
variables that the driver's own imports added since (scikit-learn sets
``KMP_INIT_AT_FORK``, say: the server's same imports set them too). A Job with ``env``
entries of its own starts a server as before, and this one is closed with the
others. A driver that ends before its run starts closes the channel, and the server
exits.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kedro_kinetic.backends.local.forkclient import ServerHandle
    from kedro_kinetic.config.project_settings import ProjectSettings


class EarlyStart(Protocol):
    """What the plugin's hook knows of the run when Kedro has created its context (the
    driver's hand-off state satisfies it): enough to start its fork server early."""

    fork_early: bool
    project_path: Path | None
    package_name: str | None
    settings: ProjectSettings
    runner_allow: tuple[str, ...]
    runner_overrides: dict[str, Any]
    runner_command: tuple[str, ...] | None
    raw_catalog: dict[str, Any] | None
    conf_source: str | None
    env: str | None
    early_server: Any

logger = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z_]\w*\Z")


@dataclass
class EarlyServer:
    """A fork server started early, with the environment it was started with."""

    server: ServerHandle
    env: dict[str, str]
    #: The names in this process's environment when it started.
    names_then: frozenset[str]

    def fits(self, job_env: dict[str, str]) -> bool:
        """Whether a Job's environment (the run key aside) is the server's, plus only
        variables this process's imports have set since, with the same values. What only
        a forked child reads (its confinement request and temporary folder) may differ."""
        from kedro_kinetic.backends.local.confine import CHILD_ONLY_ENV
        from kedro_kinetic.wire.seal import KEY_ENVS

        if any(job_env.get(name) != value for name, value in self.env.items()
               if name not in CHILD_ONLY_ENV):
            return False
        added = {k: v for k, v in job_env.items()
                 if k not in self.env and k not in KEY_ENVS and k not in CHILD_ONLY_ENV}
        return all(k not in self.names_then and os.environ.get(k) == v
                   for k, v in added.items())


def pipeline_packages(package: str) -> list[str]:
    """``<package>.pipelines.<name>`` for every pipeline package in the project's source."""
    module = sys.modules.get(package)
    found: list[str] = []
    for root in getattr(module, "__path__", ()) or ():
        folder = Path(root) / "pipelines"
        if not (folder / "__init__.py").is_file():
            continue
        for child in sorted(folder.iterdir()):
            if _NAME.match(child.name) and (child / "__init__.py").is_file():
                found.append(f"{package}.pipelines.{child.name}")
    return found


def _wanted(state: EarlyStart, params: dict[str, Any]) -> bool:
    """Whether this run's Jobs will be forked by a local fork server: the local backend,
    and the default command (the runner's, else the project settings', as the run takes it)."""
    from kedro_kinetic import config as kinetic_config

    command = state.runner_command or state.settings.command or kinetic_config.DEFAULT_COMMAND
    if tuple(command) != kinetic_config.DEFAULT_COMMAND:
        return False
    block = params.get("kinetic")
    cfg = kinetic_config.load(block if isinstance(block, dict) else None,
                              overrides=state.runner_overrides, settings=state.settings,
                              check_images=False)
    return cfg.backend == "local"


def _params(context: Any) -> dict[str, Any]:
    """The parameters as configured (the config loader's, runtime params merged; not
    ``context.params``, which would load every pipeline to validate them), or none if they
    cannot be read (the runner reads them again and reports why)."""
    try:
        params = context.config_loader["parameters"]
    except Exception:  # the runner reads them again and reports why
        return {}
    return dict(params) if isinstance(params, dict) else {}


def start_early(state: EarlyStart, context: Any) -> None:
    """Start the run's fork server now, from Kedro's ``context``, if the run will fork its
    nodes (a speed-up only: any failure leaves the first Job to start one, as without this)."""
    if not state.fork_early or state.project_path is None or not state.package_name:
        return
    state.fork_early = False  # once per runner: the next session of this process is not a run
    try:
        if not _wanted(state, _params(context)):
            return
        from kedro_kinetic.backends.local.forkclient import ServerHandle
        from kedro_kinetic.backends.local.node_env import node_env
        from kedro_kinetic.backends.local.warm import Warm, catalog_classes
        from kedro_kinetic.wire.allowlist import build_allowlist

        allowed = build_allowlist(state.settings.dataset_allowlist + state.runner_allow)
        classes: dict[str, None] = {}
        for entry in (state.raw_catalog or {}).values():
            classes.update(dict.fromkeys(catalog_classes(entry, allowed)))
        env = node_env(state.conf_source or str(Path(state.project_path) / "conf"), state.env)
        warm = Warm(pipeline_packages(state.package_name), list(classes))
        names_then = frozenset(os.environ)
        server = ServerHandle(env, str(state.project_path), None, warm, early=True)
    except Exception as exc:  # a speed-up only: the first Job starts a server instead
        logger.debug("No early fork server: %r", exc)
        return
    state.early_server = EarlyServer(server, env, names_then)
