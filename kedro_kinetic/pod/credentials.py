"""Resolve credential *names* to values inside the pod, from its own environment.

Payloads, specs and manifests carry only names. A pod finds the values in:

* ``KINETIC_CREDENTIALS_FILE``: a YAML mapping ``name -> value`` (on GKE a
  mounted Secret), read with the safe loader; or
* ``KINETIC_CONF_SOURCE`` (+ ``KINETIC_CONF_ENV``): the project's Kedro
  configuration, read by Kedro's ``OmegaConfigLoader`` exactly as ``kedro run``
  reads it (the local backend sets these to the project's ``conf`` folder).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_kinetic.errors import CredentialsError
from kedro_kinetic.wire.pod_env import CONF_ENV_VAR, CONF_SOURCE_VAR, FILE_VAR
from kedro_kinetic.wire.task_spec import safe_load

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["CONF_ENV_VAR", "CONF_SOURCE_VAR", "FILE_VAR", "resolve"]


def _available() -> dict[str, Any]:
    path = os.environ.get(FILE_VAR)
    if path:
        data = safe_load(Path(path).read_bytes(), f"credentials file {path}")
        if not isinstance(data, dict):
            raise CredentialsError(f"credentials file {path} must hold a mapping")
        return data
    source = os.environ.get(CONF_SOURCE_VAR)
    if source:
        from kedro.config import MissingConfigException, OmegaConfigLoader

        loader = OmegaConfigLoader(
            conf_source=source,
            env=os.environ.get(CONF_ENV_VAR) or None,
            base_env="base",
            default_run_env="local",
        )
        try:
            return dict(loader["credentials"])
        except MissingConfigException:
            return {}
    return {}


def resolve(names: Iterable[str]) -> dict[str, Any]:
    """Return ``{name: value}`` for the credential names a node's datasets use.

    Raises:
        CredentialsError: A name is not available in the pod's environment
            (the message names it, never a value).
    """
    wanted = sorted(set(names))
    if not wanted:
        return {}
    available = _available()
    missing = [name for name in wanted if name not in available]
    if missing:
        raise CredentialsError(
            f"credentials {missing} are not available to the pod: mount them as a "
            f"YAML file named by ${FILE_VAR} (a Kubernetes Secret) or set "
            f"${CONF_SOURCE_VAR}"
        )
    return {name: available[name] for name in wanted}
