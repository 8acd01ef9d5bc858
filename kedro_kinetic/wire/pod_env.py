"""The environment variables a pod reads, by name: what the driver and the pod agree on.

Keys travel in their own variables (:mod:`kedro_kinetic.wire.seal`); these say where the
pod finds credential *values* (never carried by the driver: only names travel).
"""

from __future__ import annotations

#: A YAML file of credentials, mounted from a Kubernetes Secret (``credentials_secret``).
FILE_VAR = "KINETIC_CREDENTIALS_FILE"
#: The project's configuration folder (local backend: credentials from the project's conf).
CONF_SOURCE_VAR = "KINETIC_CONF_SOURCE"
#: The Kedro configuration environment of the run.
CONF_ENV_VAR = "KINETIC_CONF_ENV"
