"""The project's node-cache Secret: its key, and the index of the latest entry per cache key.

One Secret per store (``kinetic-cache-<store hash>``) in the run namespace, created by the
driver on first use. Its ``key`` seals cache entries; its ``index`` (JSON ``{cache key:
SHA-256 of the latest entry}``) tells a rolled-back entry (an older, authentic one written
back into the bucket) from the latest. Only the Kubernetes API is trusted for either.
"""

from __future__ import annotations

import json
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from kedro_kinetic.backends.kubernetes.client import with_retries
from kedro_kinetic.backends.kubernetes.secret_data import encoded, json_field, text_field
from kedro_kinetic.errors import BackendError
from kedro_kinetic.planning.manifest import MANAGED_BY
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.naming import cache_secret

if TYPE_CHECKING:
    from collections.abc import Callable

INDEX_KEY = "index"
#: Keys kept in the index (a Secret holds at most 1 MiB; each row is about 140 bytes).
#: The oldest rows go first; an entry whose key has left the index is trusted as before.
MAX_INDEX_ROWS = 5000
_UPDATE_TRIES = 5


def secret_name(store_root: str) -> str:
    return cache_secret(store_root)


class CacheSecret:
    """Read and update one store's cache Secret through ``core`` (a ``CoreV1Api``)."""

    def __init__(self, core: Any, namespace: str, store_root: str,
                 as_json: Callable[..., dict[str, Any]]) -> None:
        self._core = core
        self._namespace = namespace
        self.name = secret_name(store_root)
        self._json = as_json

    def _read(self) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return with_retries(lambda: self._json(
                self._core.read_namespaced_secret, self.name, self._namespace),
                f"read Secret {self.name}")
        except ApiException as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return None
            raise self._refused(exc, "read") from None

    def key(self, create: bool) -> bytes | None:
        """The cache key (``None`` when there is none and ``create`` is false).

        Raises:
            BackendError: The driver may not create or read Secrets.
            SealError: The Secret holds no valid key.
        """
        from kubernetes.client.exceptions import ApiException

        if create:
            body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": self.name, "namespace": self._namespace,
                                 "labels": {"app.kubernetes.io/managed-by": MANAGED_BY}},
                    "data": {seal.SECRET_DATA_KEY: encoded(seal.new_key().hex())}}
            try:
                with_retries(lambda: self._json(self._core.create_namespaced_secret,
                                                self._namespace, body),
                             f"create Secret {self.name}")
            except ApiException as exc:
                if exc.status != HTTPStatus.CONFLICT:
                    raise self._refused(exc, "create") from None
        secret = self._read()
        if secret is None:
            if create:
                raise BackendError(f"Secret {self._namespace}/{self.name} vanished after "
                                   "it was created; run again")
            return None
        return seal.key_from_hex(text_field(secret, seal.SECRET_DATA_KEY),
                                 f"Secret {self._namespace}/{self.name}")

    def index(self) -> dict[str, str]:
        """``{cache key: SHA-256 of its latest entry}`` (empty when none is recorded)."""
        secret = self._read()
        return _parse_index(secret)

    def record(self, latest: dict[str, str]) -> None:
        """Merge ``latest`` into the index (optimistic: retried when another run wrote
        first, by the Secret's ``resourceVersion``)."""
        from kubernetes.client.exceptions import ApiException

        for _ in range(_UPDATE_TRIES):
            secret = self._read()
            if secret is None:
                return  # the key was deleted (cache clear): nothing to index
            merged = _parse_index(secret)
            for key, digest in latest.items():
                merged.pop(key, None)
                merged[key] = digest  # newest last, so the oldest are dropped first
            rows = list(merged.items())[-MAX_INDEX_ROWS:]
            patch = {"metadata": {"resourceVersion": secret["metadata"]["resourceVersion"]},
                     "data": {INDEX_KEY: encoded(json.dumps(dict(rows)))}}
            try:
                with_retries(partial(self._json, self._core.patch_namespaced_secret,
                                     self.name, self._namespace, patch),
                             f"update Secret {self.name}")
                return
            except ApiException as exc:
                if exc.status != HTTPStatus.CONFLICT:
                    raise self._refused(exc, "update") from None
        raise BackendError(f"Secret {self._namespace}/{self.name} kept changing while its "
                           "cache index was updated; the next run records it")

    def _refused(self, exc: Any, verb: str) -> BackendError:
        return BackendError(
            f"cannot {verb} Secret {self._namespace}/{self.name} ({exc.status} "
            f"{exc.reason}): the node cache keeps its key and index in a Secret; the driver "
            "needs create, get and patch on secrets in this namespace (or set "
            "kinetic.cache: off)")


def _parse_index(secret: dict[str, Any] | None) -> dict[str, str]:
    return {k: v for k, v in json_field(secret, INDEX_KEY).items()
            if isinstance(k, str) and isinstance(v, str)}
