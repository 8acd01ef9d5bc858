"""Small helpers over the ``kubernetes`` client for the test kubelet: raw JSON, watches, times.

The kubelet works on plain dicts in the API's JSON shape, so it reads responses with
``_preload_content=False`` instead of deserialising into model objects.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException

log = logging.getLogger("tests.bench")

REQUEST_TIMEOUT = 10


def now_rfc3339() -> str:
    """Current UTC time as the API writes metav1.Time (second precision, ``Z``)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(timestamp: float) -> str:
    """A POSIX timestamp as metav1.Time."""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_json(response: Any) -> Any:
    """Body of a ``_preload_content=False`` response as JSON."""
    try:
        return json.loads(response.data)
    finally:
        response.release_conn()


def discard(response: Any) -> None:
    """Read and release a ``_preload_content=False`` response (unread bytes would poison the
    pooled connection for the next request)."""
    try:
        response.data  # noqa: B018 - reads the body
    finally:
        response.release_conn()


def status_code(error: BaseException) -> int | None:
    """HTTP status of an :class:`ApiException`, None for connection errors and the like."""
    return error.status if isinstance(error, ApiException) else None


def iter_lines(response: Any) -> Iterator[bytes]:
    """Split a streaming urllib3 response into lines."""
    pending = b""
    for chunk in response.stream(64 * 1024, decode_content=False):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip():
                yield line
    if pending.strip():
        yield pending


class ListWatcher:
    """List then watch one collection forever, re-listing after ``410 Gone`` or errors.

    Args:
        list_call: A ``list_*`` method of a client API object (called with watch arguments).
        on_sync: Called with the full item list after every (re-)list.
        on_event: Called with (type, object) for every ADDED/MODIFIED/DELETED event.
        stopped: Set to end the loop.
        kwargs: Extra arguments for ``list_call`` (field/label selectors).
    """

    def __init__(
        self,
        list_call: Callable[..., Any],
        on_sync: Callable[[list[dict[str, Any]]], None],
        on_event: Callable[[str, dict[str, Any]], None],
        stopped: threading.Event,
        **kwargs: Any,
    ) -> None:
        self._list = list_call
        self._on_sync = on_sync
        self._on_event = on_event
        self._stopped = stopped
        self._kwargs = kwargs
        self._response: Any = None

    def close(self) -> None:
        """Abort the watch request in flight (used when stopping)."""
        response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # noqa: BLE001 - best effort
                pass

    def run(self) -> None:
        """Loop until ``stopped`` is set; survives API server restarts."""
        resource_version: str | None = None
        failures = 0
        while not self._stopped.is_set():
            try:
                if resource_version is None:
                    listing = read_json(
                        self._list(_preload_content=False, _request_timeout=REQUEST_TIMEOUT, **self._kwargs)
                    )
                    self._on_sync(listing.get("items") or [])
                    resource_version = listing["metadata"]["resourceVersion"]
                self._response = self._list(
                    watch=True,
                    resource_version=resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=20,
                    _preload_content=False,
                    _request_timeout=(5, 40),
                    **self._kwargs,
                )
                for line in iter_lines(self._response):
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            resource_version = None
                        break
                    resource_version = obj.get("metadata", {}).get("resourceVersion", resource_version)
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        self._on_event(kind, obj)
                    if self._stopped.is_set():
                        break
                failures = 0
            except Exception as error:  # noqa: BLE001 - API server away: retry
                if self._stopped.is_set():
                    break
                failures += 1
                if status_code(error) == 410:
                    resource_version = None
                log.debug("watch failed (%s); retrying", error)
                self._stopped.wait(min(0.1 * 2**failures, 2.0))
            finally:
                response, self._response = self._response, None
                if response is not None:
                    try:  # a watch may be abandoned mid-stream: never reuse its connection
                        response.close()
                        response.release_conn()
                    except Exception:  # noqa: BLE001
                        pass
