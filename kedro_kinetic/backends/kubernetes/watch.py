"""One watch per run over its Jobs and Pods (or a listing every few seconds).

Two threads (Jobs, Pods), selected by the run's label, hand every object they
see, as plain JSON, to a callback; a third hands it the cluster autoscaler's
Events on Pods of the namespace (a field selector: Events carry no labels; the
backend keeps those about the run's pods). They resume from the last
``resourceVersion`` and re-list on ``410 Gone`` (also when it arrives inside
the stream) or after a broken connection, so no transition is missed; the
callback is idempotent, so none is reported twice. Objects stay plain JSON:
client models would cost the driver more CPU than all else it does per node.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from kedro_kinetic.backends.kubernetes.client import is_transient

logger = logging.getLogger(__name__)

#: ``handle(kind, obj, deleted)`` with kind ``job``, ``pod`` or ``event``.
Handler = Callable[[str, dict[str, Any], bool], None]
#: The Events read: the cluster autoscaler's, about Pods (``source`` is the Event's
#: ``source.component``, or its ``reportingComponent`` when that is empty).
EVENT_SELECTOR = "involvedObject.kind=Pod,source=cluster-autoscaler"


class RunWatch:
    """Watches (or polls) the Jobs and Pods of one run, and the autoscaler's Events."""

    def __init__(self, batch: Any, core: Any, namespace: str, selector: str,
                 handle: Handler, poll_interval: float | None = None) -> None:
        self._lists = {"job": batch.list_namespaced_job, "pod": core.list_namespaced_pod,
                       "event": core.list_namespaced_event}
        self._selectors = {"job": {"label_selector": selector},
                           "pod": {"label_selector": selector},
                           "event": {"field_selector": EVENT_SELECTOR}}
        self._namespace = namespace
        self._handle = handle
        self._poll_interval = poll_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the three threads (once)."""
        with self._lock:
            if self._threads:
                return
            for kind in self._lists:
                thread = threading.Thread(target=self._run, args=(kind,), daemon=True,
                                          name=f"kinetic-watch-{kind}")
                self._threads.append(thread)
                thread.start()

    def stop(self) -> None:
        """Ask the threads to end (they are daemons; nothing waits for them)."""
        self._stop.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` unless stopped; return whether stopped."""
        return self._stop.wait(seconds)

    def _list(self, kind: str) -> dict[str, Any]:
        response = self._lists[kind](self._namespace, **self._selectors[kind],
                                     _preload_content=False)
        try:
            return json.loads(response.read())
        finally:
            response.release_conn()

    def _run(self, kind: str) -> None:
        from kubernetes.client.exceptions import ApiException

        if self._poll_interval:
            self._poll(kind)
            return
        version: str | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                if version is None:
                    listing = self._list(kind)
                    for item in listing.get("items") or []:
                        self._handle(kind, item, False)
                    version = listing["metadata"]["resourceVersion"]
                version = self._follow(kind, version)
                failures = 0
            except ApiException as exc:
                if exc.status == HTTPStatus.GONE:
                    version = None
                    continue
                if kind == "event" and exc.status == HTTPStatus.FORBIDDEN:
                    _events_forbidden(self._namespace)
                    return
                failures = self._backoff(kind, exc, failures)
            except Exception as exc:
                failures = self._backoff(kind, exc, failures)

    def _follow(self, kind: str, version: str) -> str | None:
        """One watch request from ``version``; return where to resume (None: list again)."""
        from kubernetes.watch.watch import iter_resp_lines

        response = self._lists[kind](self._namespace, **self._selectors[kind],
                                     watch=True, resource_version=version,
                                     timeout_seconds=55, allow_watch_bookmarks=True,
                                     _preload_content=False)
        try:
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    return version
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    return None  # 410 Gone or another expiry: list again
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if event.get("type") != "BOOKMARK":
                    self._handle(kind, obj, event.get("type") == "DELETED")
            return version
        finally:
            response.close()
            response.release_conn()

    def _poll(self, kind: str) -> None:
        while not self._stop.wait(self._poll_interval):
            try:
                for item in self._list(kind).get("items") or []:
                    self._handle(kind, item, False)
            except Exception as exc:
                logger.debug("poll failed: %s", exc)

    def _backoff(self, kind: str, exc: BaseException, failures: int) -> int:
        if not is_transient(exc) and failures > 20:
            logger.error("watch on %ss keeps failing: %s", kind, exc)
        delay = min(5.0, 0.2 * 2**failures)
        logger.debug("watch on %ss interrupted (%s); resuming in %.1f s", kind, exc, delay)
        self._stop.wait(delay)
        return failures + 1


def _events_forbidden(namespace: str) -> None:
    logger.warning(
        "Cannot watch Events in namespace %s (403 Forbidden): a pod waiting for the cluster "
        "autoscaler to add a node fails after unschedulable_timeout_seconds like any "
        "unschedulable pod. Grant the driver list and watch on events (kedro kinetic doctor "
        "checks it)", namespace)
