"""The test kubelet's status manager: pushes the latest wanted pod status, retrying until it lands.

Pod workers only record what they want the status to be; one thread patches ``pods/status``
(and deletes pods the kubelet finished with), so an API server restart delays updates but never
loses them or blocks a worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from tests.bench.kube_api import REQUEST_TIMEOUT, discard, log, status_code


@dataclass
class _Entry:
    namespace: str
    name: str
    uid: str
    status: dict[str, Any] | None = None
    dirty: bool = False
    delete: bool = False
    synced: threading.Event = field(default_factory=threading.Event)


class StatusManager:
    """Push pod statuses in the background.

    Args:
        make_api: Returns a fresh ``ApiClient`` (one per thread).
        current_pod: Returns the latest pod dict the kubelet has seen for a uid (or None);
            fields the kubelet does not own (``qosClass``, foreign conditions) are kept from it.
    """

    def __init__(
        self,
        make_api: Callable[[], client.ApiClient],
        current_pod: Callable[[str], dict[str, Any] | None],
    ) -> None:
        self._make_api = make_api
        self._current_pod = current_pod
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kubelet-status", daemon=True)

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (pending updates are dropped)."""
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def set_status(self, namespace: str, name: str, uid: str, status: dict[str, Any]) -> threading.Event:
        """Record the wanted status of a pod; returns an event set once it reached the API."""
        with self._lock:
            entry = self._entries.setdefault(uid, _Entry(namespace, name, uid))
            entry.status = status
            entry.dirty = True
            entry.synced.clear()
        self._wake.set()
        return entry.synced

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete the pod with grace period 0 once its last status has been pushed."""
        with self._lock:
            entry = self._entries.setdefault(uid, _Entry(namespace, name, uid))
            entry.delete = True
        self._wake.set()

    def forget(self, uid: str) -> None:
        """Drop everything pending for a pod (it is gone from the API)."""
        with self._lock:
            entry = self._entries.pop(uid, None)
        if entry is not None:
            entry.synced.set()

    def _loop(self) -> None:
        core = client.CoreV1Api(self._make_api())
        while not self._stopped.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            with self._lock:
                entries = list(self._entries.values())
            for entry in entries:
                if self._stopped.is_set():
                    return
                try:
                    self._sync(core, entry)
                except Exception as error:  # noqa: BLE001 - retried on the next round
                    code = status_code(error)
                    if code in (404, 409, 422):
                        # Pod gone, replaced (uid test failed) or update refused: stop trying.
                        if code != 404:
                            log.warning("status of %s/%s dropped: %s", entry.namespace, entry.name, error)
                        self.forget(entry.uid)
                    else:
                        log.debug("status push for %s/%s failed: %s", entry.namespace, entry.name, error)

    def _sync(self, core: client.CoreV1Api, entry: _Entry) -> None:
        with self._lock:
            status, dirty = entry.status, entry.dirty
        if dirty and status is not None:
            discard(core.patch_namespaced_pod_status(
                entry.name,
                entry.namespace,
                [
                    {"op": "test", "path": "/metadata/uid", "value": entry.uid},
                    {"op": "add", "path": "/status", "value": self._merge(entry.uid, status)},
                ],
                _request_timeout=REQUEST_TIMEOUT,
                _preload_content=False,
            ))
            with self._lock:
                if entry.status is status:
                    entry.dirty = False
                    entry.synced.set()
        with self._lock:
            deletable = entry.delete and not entry.dirty
        if deletable:
            discard(core.delete_namespaced_pod(
                entry.name,
                entry.namespace,
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=entry.uid)
                ),
                _request_timeout=REQUEST_TIMEOUT,
                _preload_content=False,
            ))
            self.forget(entry.uid)

    def _merge(self, uid: str, status: dict[str, Any]) -> dict[str, Any]:
        current = (self._current_pod(uid) or {}).get("status") or {}
        merged = {k: v for k, v in current.items() if k in ("qosClass", "nominatedNodeName")}
        merged.update(status)
        ours = {c["type"] for c in status.get("conditions") or []}
        foreign = [c for c in current.get("conditions") or [] if c.get("type") not in ours]
        merged["conditions"] = foreign + list(status.get("conditions") or [])
        return merged
