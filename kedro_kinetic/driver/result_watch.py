"""Results first: learn that a node finished from its sealed result in the store.

A real kubelet reports a container's exit about 1.7 s after it happens (its
status relist), and every edge of the DAG would wait that long before the next
Job is even created. A node's result, sealed with the run's key, is written
last by its pod: once it is in the store, authentic, the node is done. So one
thread per run polls the store at a short interval (one request per interval,
not one per node, and only while nodes are running), reads each result that
appeared or changed since its node was submitted, and posts
:data:`~kedro_kinetic.backends.base.EventKind.NODE_RESULT` with the
authenticated result. A group's nodes report one by one this way.

What it polls:

- Kubernetes with a GCS store: each Job gets a doorbell, ``notices/<submission
  time>-<job>``, that its pod writes (empty) after each result. One listing of
  ``notices/`` starting at the oldest running Job's doorbell finds the Jobs
  that rang, so it holds about as many names as Jobs run at once, however many
  results the run already has. Then their results are read.
- Jobs without a doorbell (a resumed run, whose Jobs an earlier driver may have
  started, or the local backend on GCS): one listing of ``results/`` (it holds
  every result of the run).
- A local folder: no listing; a stat of each result still expected.

A doorbell is a hint and nothing more: its content is never read, and a
planted or missing one only costs a read or falls back to the Job's own end.
What ends without a result (OOM, eviction, image errors, deadline) still comes
from the backend's own events. Anything in ``results/`` that is not sealed
with the run's key for its URI is ignored here (the backend's event then reads
and refuses it, naming it).

Store requests per run: while at least one node runs, one listing every
``interval`` seconds (0.2 s for GCS: 5 listings/s; 0.05 s for a local folder:
stats only) plus one read per result written (per doorbell rung, on GCS).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedro_kinetic import store
from kedro_kinetic.backends.base import EventKind, JobEvent
from kedro_kinetic.store.trusted_result import read_stored_result

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

GCS_INTERVAL = 0.2
LOCAL_INTERVAL = 0.05


@dataclass
class _Expected:
    job: str
    node: str
    #: The result's version already there when the node was submitted; with a
    #: doorbell: the doorbell's version last answered.
    baseline: str | None
    notice: str | None = None  # the doorbell's URI
    posted: bytes | None = None  # the result last posted (a group's rings repeat it)
    key: bytes | None = None  # the key of the Job's attempt (results sealed for it only)


class ResultWatcher:
    """Posts a node's authenticated result as soon as it is in the store."""

    def __init__(self, prefix: str, post: Callable[[JobEvent], None],
                 interval: float | None = None, notices: str | None = None) -> None:
        """Args:
            prefix: The run's ``results/`` prefix.
            post: Where events go (the backend's event queue's ``put``).
            interval: Seconds between listings (default by store: GCS or local).
            notices: The run's ``notices/`` prefix (the Jobs' doorbells).
        """
        self._prefix = prefix
        self._notices = (notices or "").rstrip("/") + "/"
        self._local = not prefix.startswith("gs://")
        self._post = post
        self._interval = interval or (LOCAL_INTERVAL if self._local else GCS_INTERVAL)
        self._expected: dict[str, _Expected] = {}  # result URI -> what to post
        self._versions: dict[str, str] = {}  # as of the last listing
        self._lock = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.listings = 0

    def expect(self, job: str, results: dict[str, str], key: bytes | None,
               notice: str | None = None) -> None:
        """Watch for the results of a submitted Job (``{node name: result URI}``).

        ``key``: the key of the Job's attempt; a result sealed with any other (an
        earlier attempt's, kept and written back by a store writer) is never posted.
        ``notice``: the Job's doorbell, rung by its pod after each result.
        """
        now = None
        if self._local:
            try:
                now = self._current(list(results.values()))
            except Exception as exc:  # a baseline is an optimisation: read what comes
                logger.debug("listing %s failed: %s", self._prefix, exc)
                now = {}
        with self._lock:
            for node, uri in results.items():
                baseline = (None if notice else
                            (now if now is not None else self._versions).get(uri))
                self._expected[uri] = _Expected(job, node, baseline, notice, key=key)
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
        """Versions now: a local folder stats ``uris``; GCS lists the whole prefix (the
        baselines of Jobs submitted later come from it)."""
        if not self._local:
            return store.list_versions(self._prefix)
        base = self._prefix.rstrip("/") + "/"
        return store.list_versions(self._prefix, [u.removeprefix(base) for u in uris
                                                  if u.startswith(base)])

    def _poll(self) -> None:
        with self._lock:
            expected = dict(self._expected)
        due: list[tuple[str, _Expected, str]] = []
        rung = {e.notice.removeprefix(self._notices) for e in expected.values()
                if e.notice}
        if rung:  # one listing, from the oldest Job's doorbell on
            notices = store.list_versions(self._notices, sorted(rung))
            due += [(uri, e, notices[e.notice]) for uri, e in expected.items()
                    if e.notice in notices and notices[e.notice] != e.baseline]
        plain = [uri for uri, e in expected.items() if not e.notice]
        if plain:
            versions = self._current(plain)
            with self._lock:
                self._versions = versions
            due += [(uri, expected[uri], versions[uri]) for uri in plain
                    if uri in versions and versions[uri] != expected[uri].baseline]
        self.listings += 1
        for uri, expected_one, version in due:
            self._read(uri, expected_one, version)

    def _read(self, uri: str, expected: _Expected, version: str) -> None:
        try:
            found = read_stored_result(uri, expected.key)
            if found is None:
                return
            result, data = found
        except Exception:  # whatever was planted: the Job's end will tell
            # answered: a result is written whole (renamed, or one upload), so this
            # version never becomes authentic; the pod's own write is a new version
            expected.baseline = version
            return  # the backend's event will say why
        with self._lock:
            if self._expected.get(uri) is not expected or expected.posted == data:
                expected.baseline = version
                return
            expected.baseline, expected.posted = version, data  # post each result once
        self._post(JobEvent(expected.job, EventKind.NODE_RESULT, node=expected.node,
                            result=result, time=time.time()))
