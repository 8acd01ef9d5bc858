"""One exception tree for kedro-kinetic, rooted at :class:`KineticError`.

Each class is raised for its own kind of problem only, so callers (and the CLI,
which prints a user error as one message) can tell them apart. Standard
library only: the pod imports it.

::

    KineticError
    ├── ConfigError            the kinetic: block, runner params, project settings
    ├── CatalogSpecError       a catalog entry: shape, allowlist, code-choosing arguments
    ├── SpecError              a task spec's shape (pod side), payload/spec mismatch
    ├── ManifestError          a Job manifest a project hook patched into a wrong shape
    ├── CredentialsError       credential names the pod cannot resolve
    ├── VerificationError      a digest pin is missing or does not match
    ├── SealError              a store document failed authentication (see seal.py)
    ├── StoreObjectError       a store object is malformed (a result, a record)
    ├── StoreError             the store could not be read or written
    │   └── ObjectNotFound
    ├── BackendError           the cluster or the local process manager refused
    ├── RunNotFound            no run of that id
    ├── BuildError             `kedro kinetic build`: a builder, credentials or registry step
    └── RemoteNodeError        a node failed in its pod (defined in kedro_kinetic.driver.outcome)
"""

from __future__ import annotations


class KineticError(Exception):
    """Base of every error kedro-kinetic raises on purpose."""


class ConfigError(KineticError, ValueError):
    """The ``kinetic:`` configuration is invalid; the message lists every problem."""


class CatalogSpecError(KineticError):
    """A catalog entry is malformed or names something not on the allowlist."""


class SpecError(KineticError):
    """A task spec is malformed or does not match its payload."""


class ManifestError(KineticError, ValueError):
    """A patched Job manifest changed something that must stay as rendered."""


class CredentialsError(KineticError):
    """Credential names a node needs are not available to its pod."""


class VerificationError(KineticError):
    """A payload, spec or dataset did not match the digest pinned for it."""


class SealError(KineticError):
    """A document failed authentication: it was not sealed with the run's key."""


class StoreObjectError(KineticError, ValueError):
    """An object read from the store does not have the expected shape."""


class StoreError(KineticError):
    """An object could not be read or written."""


class ObjectNotFound(StoreError):
    """The object does not exist."""


class BackendError(KineticError, RuntimeError):
    """The cluster (or the local process manager) refused an operation."""


class RunNotFound(KineticError, LookupError):
    """No run of that id is known to the backend."""


class BuildError(KineticError):
    """An image could not be built, pushed or read back; the message names the step."""
