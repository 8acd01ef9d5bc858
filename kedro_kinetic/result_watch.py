"""Results first: learn that a node finished from its sealed result in the store.

A real kubelet reports a container's exit about 1.7 s after it happens (its
status relist), and every edge of the DAG would wait that long before the next
Job is even created. A node's result, sealed with the run's key, is written
last by its pod: once it is in the store, authentic, the node is done. So one
thread per run lists the run's ``results/`` prefix at a short interval (one
listing request per interval, not one request per node, and only while nodes
are running), reads each result that appeared or changed since its node was
submitted, and posts :data:`~kedro_kinetic.backends.base.EventKind.NODE_RESULT`
with the authenticated result. A group's nodes report one by one this way.

What ends without a result (OOM, eviction, image errors, deadline) still comes
from the backend's own events. Anything in ``results/`` that is not sealed
with the run's key for its URI is ignored here (the backend's event then reads
and refuses it, naming it).

Store requests per run: while at least one node runs, one listing every
``interval`` seconds (0.2 s for GCS: 5 listings/s; 0.05 s for a local folder)
plus one read per result written. A GCS listing holds every result of the run
so far; a local folder is not listed at all: each poll stats just the results
still expected, so its cost follows the nodes running, not the run's size.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedro_kinetic import store
from kedro_kinetic.backends.base import EventKind, JobEvent
from kedro_kinetic.errors import KineticError
from kedro_kinetic.result import read_sealed

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

GCS_INTERVAL = 0.2
LOCAL_INTERVAL = 0.05


@dataclass
class _Expected:
    job: str
    node: str
    baseline: str | None  # the version already there when the node was submitted


class ResultWatcher:
    """Posts a node's authenticated result as soon as it is in the store."""

    def __init__(self, prefix: str, key: bytes, post: Callable[[JobEvent], None],
                 interval: float | None = None) -> None:
        """Args:
            prefix: The run's ``results/`` prefix.
            key: The run's key (results are sealed with it).
            post: Where events go (the backend's event queue's ``put``).
            interval: Seconds between listings (default by store: GCS or local).
        """
        self._prefix = prefix
        self._local = not prefix.startswith("gs://")
        self._key = key
        self._post = post
        self._interval = interval or (LOCAL_INTERVAL if self._local else GCS_INTERVAL)
        self._expected: dict[str, _Expected] = {}  # result URI -> what to post
        self._versions: dict[str, str] = {}  # as of the last listing
        self._lock = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.listings = 0

    def expect(self, job: str, results: dict[str, str]) -> None:
        """Watch for the results of a submitted Job (``{node name: result URI}``)."""
        now = self._current(list(results.values())) if self._local else None
        with self._lock:
            for node, uri in results.items():
                baseline = (now if now is not None else self._versions).get(uri)
                self._expected[uri] = _Expected(job, node, baseline)
            self._lock.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="kinetic-results")
                self._thread.start()

    def settled(self, uris: list[str]) -> None:
        """Stop watching these results (their nodes are finished)."""
        with self._lock:
            for uri in uris:
                self._expected.pop(uri, None)

    def stop(self) -> None:
        """End the thread."""
        with self._lock:
            self._stop = True
            self._lock.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._expected and not self._stop:
                    self._lock.wait()
                if self._stop:
                    return
            started = time.monotonic()
            try:
                self._poll()
            except Exception as exc:
                logger.debug("listing %s failed: %s", self._prefix, exc)
            with self._lock:
                if self._stop:
                    return
                self._lock.wait(max(0.0, self._interval - (time.monotonic() - started)))

    def _current(self, uris: list[str]) -> dict[str, str]:
        """Versions now: a local folder stats ``uris``; GCS lists the whole prefix."""
        base = self._prefix.rstrip("/") + "/"
        return store.list_versions(self._prefix, [u.removeprefix(base) for u in uris
                                                  if u.startswith(base)])

    def _poll(self) -> None:
        with self._lock:
            uris = list(self._expected)
        versions = self._current(uris)
        self.listings += 1
        with self._lock:
            self._versions = versions
            due = [(uri, exp, versions[uri]) for uri, exp in self._expected.items()
                   if uri in versions and versions[uri] != exp.baseline]
        for uri, expected, version in due:
            try:
                result = read_sealed(store.read_bytes(uri), self._key, uri)
            except KineticError:
                continue  # not (yet) authentic: the backend's event will say why
            with self._lock:
                if self._expected.get(uri) is not expected:
                    continue
                expected.baseline = version  # post each version once
            self._post(JobEvent(expected.job, EventKind.NODE_RESULT, node=expected.node,
                                result=result, time=time.time()))
