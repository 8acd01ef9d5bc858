"""Load the official Kubernetes client and call it with bounded, jittered retries.

Transient API failures (429, 5xx, connection resets) are retried with
backoff; anything else is raised at once. The client is imported lazily so
that the plugin's hooks stay cheap to import.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, TypeVar

from kedro_kinetic.errors import BackendError

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")
TRANSIENT_STATUS = {429, 500, 502, 503, 504}


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """An ``ApiClient`` from a kubeconfig (or in-cluster config inside a pod).

    Raises:
        BackendError: No usable kubeconfig (names it, and ``kedro kinetic doctor``).
    """
    import os

    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if (kubeconfig is None and context is None
                and os.environ.get("KUBERNETES_SERVICE_HOST")):
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(config_file=kubeconfig, context=context,
                                    client_configuration=configuration)
    except (config.ConfigException, OSError) as exc:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise BackendError(
            f"no usable kubeconfig ({where}{f', context {context}' if context else ''}): "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}; "
            "for GKE: gcloud container clusters get-credentials CLUSTER --location=LOCATION; "
            "`kedro kinetic doctor` checks this machine's set-up") from exc
    return client.ApiClient(configuration)


def is_transient(exc: BaseException) -> bool:
    """Tell whether an API failure is worth retrying."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError as Urllib3Error

    if isinstance(exc, ApiException):
        return exc.status in TRANSIENT_STATUS or exc.status == 0
    return isinstance(exc, (ConnectionError, TimeoutError, Urllib3Error, OSError))


def with_retries(call: Callable[[], T], what: str, attempts: int = 8,
                 base: float = 0.2, cap: float = 5.0) -> T:
    """Run ``call``; retry transient failures with full-jitter exponential backoff.

    Raises:
        The last exception when attempts are exhausted or it is not transient.
    """
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc) or attempt == attempts - 1:
                raise
            delay = random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311
            time.sleep(delay)
    raise AssertionError(f"unreachable: {what}")  # pragma: no cover


def delete_run_objects(batch: Any, core: Any, namespace: str, selector: str) -> None:
    """Delete the Jobs and Pods that ``selector`` picks (a run's), retrying transient errors.

    Pods go gracefully (each pod's own grace period; the entrypoint exits on SIGTERM),
    never forced: a force-deleted pod that has just started can crash the kubelet (v1.34's
    in-place resize path dereferences the record the removal dropped).
    """
    with_retries(lambda: batch.delete_collection_namespaced_job(
        namespace, label_selector=selector, propagation_policy="Background"),
        "delete the run's Jobs")
    with_retries(lambda: core.delete_collection_namespaced_pod(
        namespace, label_selector=selector), "delete the run's Pods")
