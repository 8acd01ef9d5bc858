"""Settings that only the project's **code** may give: ``KINETIC_*`` names in settings.py.

Configuration (parameters.yml, catalog.yml, ``--params``, ``--runner-params``)
is data and can be edited by people who must not choose what runs. Whatever
decides which code runs is therefore read from the project's ``settings.py``
(or given to ``GKERunner`` as Python objects), never from configuration:

``KINETIC_DATASET_ALLOWLIST``
    Extra dataset classes (objects or dotted paths) a catalog may name.
``KINETIC_COMMAND``
    The node container's command (default ``python -m kedro_kinetic.entrypoint``).
``KINETIC_IMAGE_REPOSITORIES``
    Image repositories the ``image`` settings may choose from (Kubernetes).
``KINETIC_KUBECONFIG``
    The kubeconfig file (default: ``$KUBECONFIG`` or ``~/.kube/config``);
    a kubeconfig can run commands (``exec`` credential plugins).
``KINETIC_PINNED_DATA``
    ``{dataset name: sha256}`` of code-executing inputs (pickles) that no node
    of the run produces, verified before they are loaded.
``KINETIC_TRUSTED_DATA``
    Names of such inputs the author accepts unverified (an explicit opt-in).
``KINETIC_ALLOWED_ENV``
    Environment variable names that configuration may set although they are
    normally refused (see :data:`kedro_kinetic.config.REFUSED_ENV_PREFIXES`).
``KINETIC_DATA_ROOTS``
    Folders (relative to the project, or absolute) under which every local path a
    catalog entry names must lie (default ``["data"]``); the local store and the
    private state folder are never part of them.
``KINETIC_SHARED_PATHS``
    Local folders (relative to the project, or absolute) that every pod of a
    ``kubernetes`` run sees at the same path, e.g. a volume the project's
    ``kinetic_job_manifest`` hook mounts there (default none): catalog paths under
    them pass the check that a Kubernetes run keeps its datasets on shared storage.
``KINETIC_SECRETS``
    Kubernetes Secrets that ``credentials_secret`` and ``secret_env`` may name
    (kedro-kinetic's own key Secrets, ``kinetic-run-*`` and ``kinetic-cache-*``, never).
``KINETIC_SERVICE_ACCOUNTS``
    Kubernetes service accounts that ``service_account`` may name.
``KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN``
    ``True`` mounts the service account's Kubernetes API token into node pods
    (default ``False``: ``automountServiceAccountToken: false``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from kedro_kinetic.errors import ConfigError
from kedro_kinetic.wire.digest import is_digest


@dataclass(frozen=True)
class ProjectSettings:
    """The ``KINETIC_*`` settings of a project's settings.py, checked."""

    dataset_allowlist: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    image_repositories: tuple[str, ...] | None = None
    kubeconfig: str | None = None
    pinned_data: dict[str, str] = field(default_factory=dict)
    trusted_data: frozenset[str] = frozenset()
    allowed_env: frozenset[str] = frozenset()
    data_roots: tuple[str, ...] = ("data",)
    #: Local folders every pod of a kubernetes run shares (a volume mounted by code).
    shared_paths: tuple[str, ...] = ()
    #: Secrets configuration may name (none unless declared).
    secrets: tuple[str, ...] = ()
    #: Service accounts configuration may name (none unless declared).
    service_accounts: tuple[str, ...] = ()
    #: Mount the Kubernetes API token into node pods (code opts in; default no).
    mount_service_account_token: bool = False


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"settings.py {name} must be a list of non-empty strings")
    return tuple(value)


def from_module(module: Any) -> ProjectSettings:
    """Read and check the ``KINETIC_*`` names of a settings module.

    Raises:
        ConfigError: A setting has the wrong shape (naming it).
    """
    from kedro_kinetic.wire.allowlist import class_path

    def get(name: str, default: Any = None) -> Any:
        return getattr(module, name, default)

    allow = tuple(item if isinstance(item, str) else class_path(item)
                  for item in get("KINETIC_DATASET_ALLOWLIST", ()) or ())
    command = get("KINETIC_COMMAND")
    repos = get("KINETIC_IMAGE_REPOSITORIES")
    kubeconfig = get("KINETIC_KUBECONFIG")
    pinned = dict(get("KINETIC_PINNED_DATA", {}) or {})
    bad = sorted(name for name, digest in pinned.items() if not is_digest(digest))
    if bad:
        raise ConfigError(f"settings.py KINETIC_PINNED_DATA: {', '.join(bad)} must map to a "
                          "lower-case hex SHA-256")
    if kubeconfig is not None and not isinstance(kubeconfig, str):
        raise ConfigError("settings.py KINETIC_KUBECONFIG must be a path string")
    return ProjectSettings(
        dataset_allowlist=allow,
        command=_strings("KINETIC_COMMAND", command) if command else None,
        image_repositories=(None if repos is None
                            else _strings("KINETIC_IMAGE_REPOSITORIES", repos)),
        kubeconfig=kubeconfig,
        pinned_data=pinned,
        trusted_data=frozenset(_strings("KINETIC_TRUSTED_DATA",
                                        get("KINETIC_TRUSTED_DATA", ()) or ())),
        allowed_env=frozenset(_strings("KINETIC_ALLOWED_ENV",
                                       get("KINETIC_ALLOWED_ENV", ()) or ())),
        data_roots=_strings("KINETIC_DATA_ROOTS", get("KINETIC_DATA_ROOTS", ("data",))),
        shared_paths=_strings("KINETIC_SHARED_PATHS", get("KINETIC_SHARED_PATHS", ()) or ()),
        **_identities(get),
    )


def _identities(get: Any) -> dict[str, Any]:
    """``KINETIC_SECRETS``, ``KINETIC_SERVICE_ACCOUNTS``, ``KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN``.

    Raises:
        ConfigError: A list has the wrong shape, or the token setting is not a bool.
    """
    mount = get("KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN", False)
    if not isinstance(mount, bool):
        raise ConfigError("settings.py KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN must be True or False")
    return {
        "secrets": _strings("KINETIC_SECRETS", get("KINETIC_SECRETS", ()) or ()),
        "service_accounts": _strings("KINETIC_SERVICE_ACCOUNTS",
                                     get("KINETIC_SERVICE_ACCOUNTS", ()) or ()),
        "mount_service_account_token": mount,
    }


def load(package_name: str | None) -> ProjectSettings:
    """The settings of the project package ``package_name`` (defaults without one)."""
    if not package_name:
        return ProjectSettings()
    try:
        module = importlib.import_module(f"{package_name}.settings")
    except ModuleNotFoundError:
        return ProjectSettings()
    return from_module(module)
