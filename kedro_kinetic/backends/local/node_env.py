"""The environment every local node process starts from (and its fork server with it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kedro_kinetic.planning.manifest import SAFE_PATH_ENV
from kedro_kinetic.wire import pod_env, seal


def node_env(conf_source: str, kedro_env: str | None) -> dict[str, str]:
    """A local node process's environment before its Job's own entries: this one's,
    this interpreter's folder first on ``PATH``, no working folder on ``sys.path``, the
    run's configuration folder and environment, never a run key."""
    env = dict(os.environ)
    python_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([python_dir, env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env[SAFE_PATH_ENV["name"]] = SAFE_PATH_ENV["value"]  # the fork server's too
    env[pod_env.CONF_SOURCE_VAR] = conf_source
    if kedro_env:
        env[pod_env.CONF_ENV_VAR] = kedro_env
    for name in seal.KEY_ENVS:
        env.pop(name, None)
    return env
