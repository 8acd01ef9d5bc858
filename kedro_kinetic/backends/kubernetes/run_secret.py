"""The Secrets a run needs before its first Job: the run's key (created, or read back on
resume) and the Secrets its pods mount or read (checked to exist, with the keys they use)."""

from __future__ import annotations

import base64
import logging
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from kedro_kinetic.backends.kubernetes.client import with_retries
from kedro_kinetic.errors import BackendError, RunNotFound
from kedro_kinetic.planning.manifest import ANN_RUN_ID, LABEL_RUN, MANAGED_BY
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.naming import key_secret

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)


def run_key(core: Any, namespace: str, run_label: str, run_id: str, resume: bool,
            as_json: Callable[..., dict[str, Any]]) -> bytes:
    """The key that seals a run's results, held in a Secret of the run.

    A new run creates the Secret (random key); a resumed run reads it back, so a resume
    works from any machine with the same cluster access. A store writer cannot read or
    write Secrets.

    Raises:
        BackendError: The driver may not create or read Secrets.
        RunNotFound: ``resume`` and the run's Secret does not exist.
    """
    from kubernetes.client.exceptions import ApiException

    name = key_secret(run_label)
    if not resume:
        key = seal.new_key()
        body = {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": MANAGED_BY,
                                    LABEL_RUN: run_label},
                         "annotations": {ANN_RUN_ID: run_id}},
            "data": {seal.SECRET_DATA_KEY: base64.b64encode(key.hex().encode()).decode()},
        }
        try:
            with_retries(lambda: as_json(core.create_namespaced_secret, namespace, body),
                         f"create Secret {name}")
            return key
        except ApiException as exc:
            if exc.status != HTTPStatus.CONFLICT:
                raise _refused(exc, namespace, name, "create") from None
    try:
        secret = with_retries(lambda: as_json(core.read_namespaced_secret, name, namespace),
                              f"read Secret {name}")
    except ApiException as exc:
        if exc.status == HTTPStatus.NOT_FOUND:
            raise RunNotFound(
                f"no run '{run_id}' in namespace {namespace}: its key Secret {name} "
                "does not exist (the run was never started here, or was cleaned)") from None
        raise _refused(exc, namespace, name, "read") from None
    try:
        text = base64.b64decode((secret.get("data") or {})[seal.SECRET_DATA_KEY]).decode()
    except (KeyError, ValueError, TypeError):
        text = ""
    return seal.key_from_hex(text, f"Secret {namespace}/{name}")


def _refused(exc: Any, namespace: str, name: str, verb: str) -> BackendError:
    return BackendError(
        f"cannot {verb} Secret {namespace}/{name} ({exc.status} {exc.reason}): "
        "kedro-kinetic keeps each run's key in a Secret of the run; the driver needs "
        "create, get, patch and delete on secrets in this namespace")


def check_pod_secrets(core: Any, namespace: str, secrets: dict[str, set[str]],
                      as_json: Callable[..., dict[str, Any]]) -> None:
    """Refuse to start when a Secret the pods mount or read is missing.

    A pod whose Secret volume cannot be mounted waits in ``ContainerCreating`` for ever,
    so this is checked before the first Job is created. Only the Secret's key names are
    looked at; its values are neither kept nor logged. Where the driver may not read
    Secrets (403), a warning is all it can give.

    Raises:
        BackendError: A Secret does not exist or lacks a key the pods read.
    """
    from kubernetes.client.exceptions import ApiException

    def key_names(name: str) -> set[str]:
        return set(as_json(core.read_namespaced_secret, name, namespace).get("data") or {})

    for name, keys in sorted(secrets.items()):
        try:
            present = with_retries(partial(key_names, name), f"read Secret {name}")
        except ApiException as exc:
            if exc.status == HTTPStatus.FORBIDDEN:
                logger.warning("Cannot check Secret %s/%s (403 Forbidden); pods that "
                               "need it wait until it exists", namespace, name)
                continue
            if exc.status == HTTPStatus.NOT_FOUND:
                raise BackendError(
                    f"Secret {namespace}/{name}, named by kinetic "
                    f"(credentials_secret or secret_env), does not exist: its pods would "
                    f"wait for it for ever. Create it with key(s) {', '.join(sorted(keys))}"
                    f", or run 'kedro kinetic doctor'") from None
            raise BackendError(f"cannot read Secret {namespace}/{name} "
                               f"({exc.status} {exc.reason})") from exc
        missing = sorted(keys - present)
        if missing:
            raise BackendError(
                f"Secret {namespace}/{name} has no key {', '.join(missing)}, "
                "which the pods read (credentials_secret needs 'credentials.yml'; "
                "secret_env names its keys)")
