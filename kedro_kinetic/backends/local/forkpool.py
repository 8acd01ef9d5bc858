"""The run's fork servers: which one starts a Job, and what they import.

:class:`ForkServers` starts a run's fork servers on first use, one per distinct
Job environment without the run key (a server's imports saw its environment, so a
child gets exactly the environment they saw, plus the key), and hands the local
backend a :class:`~.forkclient.ForkedProcess` per Job. A Job whose command is not
the default entrypoint, or that no server can take, is exec'd by the backend as
before; why is logged once. :func:`warm_imports` decides, from the driver's own
state, what the servers import.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from kedro_kinetic.backends.local.forkclient import ForkedProcess, ServerHandle
from kedro_kinetic.backends.local.warm import Warm, catalog_classes
from kedro_kinetic.wire.seal import KEY_ENVS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from kedro_kinetic.backends.local.forkstart import EarlyServer

logger = logging.getLogger(__name__)

#: At most this many servers per run (one per distinct Job environment); others exec.
MAX_SERVERS = 4


def env_digest(env: dict[str, str]) -> str:
    """Which server a Job's environment (without the run key) belongs to."""
    items = sorted((k, v) for k, v in env.items() if k not in KEY_ENVS)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


class ForkServers:
    """The run's fork servers, started on first use; ``None`` answers mean: exec."""

    def __init__(self, command: tuple[str, ...], cwd: str,
                 log: Callable[[], Path | None] | None = None,
                 warm: Callable[[], Warm] | None = None,
                 early: EarlyServer | None = None) -> None:
        """Args:
            command: The default entrypoint command: only Jobs with it are forked.
            cwd: The project folder (every child's working directory).
            log: Where the servers write their own output (in the private run folder,
                which exists once the run has its key).
            warm: What the servers import beyond the entrypoint: the project's node
                modules and the run's checked dataset classes (:func:`warm_imports`).
            early: A server started while Kedro loaded the project
                (:mod:`.forkstart`): the first Jobs whose environment fits use it.
        """
        self._command = list(command)
        self._cwd = cwd
        self._log = log
        self._warm = warm
        self._lock = threading.Lock()
        self._servers: dict[str, ServerHandle | None] = {}
        self._early = early
        self._said: set[str] = set()
        self._plan: Warm | None = None

    def _once(self, why: str) -> None:
        if why not in self._said:
            self._said.add(why)
            logger.info("Starting node processes by exec, not from a fork server: %s", why)

    def _warm_plan(self) -> Warm:
        """What the servers import; if it cannot be worked out, only the entrypoint."""
        try:
            return self._warm() if self._warm is not None else Warm()
        except Exception as exc:  # a speed-up only: children import what the server lacks
            logger.debug("The fork server imports only the entrypoint: %r", exc)
            return Warm()

    def _server(self, env: dict[str, str]) -> ServerHandle | None:
        key = env_digest(env)
        with self._lock:
            if key in self._servers:
                return self._servers[key]
            if self._early is not None and self._early.fits(env):
                self._servers[key], self._early = self._early.server, None
                return self._servers[key]
            if len(self._servers) >= MAX_SERVERS:
                self._once(f"more than {MAX_SERVERS} distinct node environments")
                return None
            try:
                if self._plan is None:
                    self._plan = self._warm_plan()
                log = self._log() if self._log is not None else None
                server: ServerHandle | None = ServerHandle(env, self._cwd, log, self._plan)
            except (OSError, ValueError) as exc:
                self._once(f"the fork server could not start: {exc}")
                server = None
            self._servers[key] = server
            return server

    def start(self, command: list[str], args: list[str], env: dict[str, str],
              log: Path | None) -> ForkedProcess | None:
        """Fork a child for a Job, or ``None`` if it must be exec'd.

        Its output goes to ``log`` (appended), or to a pipe read from ``stdout``.

        Raises:
            BackendError: A server took the request but never answered it.
        """
        if command != self._command:
            self._once(f"the command {command} is not the default {self._command}")
            return None
        server = self._server(env)
        if server is None:
            return None
        if log is not None:
            with log.open("ab") as out:
                proc = server.fork(args, env, self._cwd, out.fileno())
        else:
            read, write = os.pipe()
            proc = None
            try:
                proc = server.fork(args, env, self._cwd, write)
            finally:
                os.close(write)
                if proc is None:
                    os.close(read)
            if proc is not None:
                proc.stdout = os.fdopen(read, "rb")
        if proc is None:
            self._once(server.why)
            return None
        logger.debug("Forked node process %d from the fork server %d", proc.pid,
                     server.proc.pid)
        return proc

    def close(self) -> None:
        """End every server (their children keep running, as exec'd ones would)."""
        with self._lock:
            servers, self._servers = [s for s in self._servers.values() if s], {}
            if self._early is not None:  # never used: its Jobs had env entries of their own
                servers.append(self._early.server)
                self._early = None
        for server in servers:
            server.close()


def warm_imports(plans: Iterable[Any], package: str | None,
                 allow: tuple[str, ...]) -> Warm:
    """What a run's fork servers import beyond the entrypoint, from the driver's plans.

    Modules: those of the planned nodes' functions that belong to the project's
    package (named by the driver's code and already imported by it). Classes: the
    dataset classes of the planned nodes' catalog entries, which the planner checked,
    kept only if they are on the run's allowlist (``allow``: its extensions, checked
    again here). Nothing comes from the store.
    """
    from kedro_kinetic.wire.allowlist import build_allowlist

    package = package or ""
    allowed = build_allowlist(allow)
    modules: dict[str, None] = {}
    classes: dict[str, None] = {}
    for plan in plans:
        name = getattr(plan.node.func, "__module__", None) or ""
        if package and name.split(".")[0] == package and name in sys.modules:
            modules[name] = None
        for entry in (*plan.inputs.values(), *plan.outputs.values()):
            if entry.get("kind") == "catalog":
                classes.update(dict.fromkeys(catalog_classes(entry.get("config"), allowed)))
    return Warm(list(modules), list(classes))
