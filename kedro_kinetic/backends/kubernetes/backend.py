"""Kubernetes backend: one Job per node, one watch per run over its Jobs and Pods.

Jobs are created with the official client. Two watch threads (Jobs, Pods),
selected by the run's label, turn API events into :class:`JobEvent` objects;
they resume from the last ``resourceVersion`` and re-list on ``410 Gone`` or
after a broken connection, so no transition is missed and none is reported
twice. Stuck states become fast, clear failures: image pull errors, bad
container config (e.g. a missing Secret) and pods unschedulable (or waiting on
the kubelet's Secret cache, which it retries) for longer than the configured
time; ``OOMKilled`` and ``DeadlineExceeded`` are named. A third watch reads the
cluster autoscaler's Events on the run's pods: a pod it adds a node for waits up
to ``scale_up_timeout_seconds``; one no node group can take fails at once.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Any

from kedro_kinetic.backends.base import Backend, JobEvent
from kedro_kinetic.backends.kubernetes import attempts as k8s_attempts
from kedro_kinetic.backends.kubernetes import events, run_secret
from kedro_kinetic.backends.kubernetes.cache_secret import CacheSecret
from kedro_kinetic.backends.kubernetes.client import api_client, delete_run_objects, with_retries
from kedro_kinetic.backends.kubernetes.events import STUCK_WAITING, Action, Track
from kedro_kinetic.backends.kubernetes.logs import DRAIN_SECONDS, PodLogs
from kedro_kinetic.backends.kubernetes.pod_notes import PodNotes
from kedro_kinetic.backends.kubernetes.watch import RunWatch
from kedro_kinetic.errors import BackendError
from kedro_kinetic.planning.manifest import (
    ANN_PAYLOAD,
    ANN_SPEC,
    LABEL_RUN,
    attempt_of,
    container_of,
    fail_job_exit_codes,
)
from kedro_kinetic.wire.naming import key_secret

if TYPE_CHECKING:
    from kedro_kinetic.config import RunConfig

__all__ = ["STUCK_WAITING", "KubernetesBackend"]

logger = logging.getLogger(__name__)
#: Job conditions of a Job that will not run its pod again.
_ENDED = ("Failed", "Complete", "FailureTarget", "SuccessCriteriaMet")


def _api_message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message") or exc.body)
    except (TypeError, ValueError, AttributeError):
        return str(exc.body or exc)


class KubernetesBackend(Backend):
    """Submits Job manifests to a cluster and watches them."""

    def __init__(
        self,
        namespace: str,
        run_label: str,
        kubeconfig: str | None = None,
        context: str | None = None,
        unschedulable_timeout: float = 300,
        stream_logs: bool = True,
        log_sink: IO[str] | None = None,
        *,
        poll_interval: float | None = None,
        scale_up_timeout: float = 1800,
    ) -> None:
        """Connect to the cluster (kubeconfig context, or in-cluster config).

        ``poll_interval`` switches the event source from watches to listing every
        that many seconds: the baseline a polling design gives (benchmarks only).
        ``scale_up_timeout`` bounds the wait of a pod the cluster autoscaler adds a
        node for, from its first ``TriggeredScaleUp``.
        """
        from kubernetes import client

        self.events: queue.Queue[JobEvent] = queue.Queue()
        self.namespace = namespace
        self.run_label = run_label
        self.selector = f"{LABEL_RUN}={run_label}"
        self._api = api_client(kubeconfig, context)
        self._batch: Any = client.BatchV1Api(self._api)
        self._core: Any = client.CoreV1Api(self._api)
        self._timeout = unschedulable_timeout
        self._scale_up_timeout = scale_up_timeout
        self._notes = PodNotes()
        self._stream = stream_logs
        self._sink = log_sink or sys.stdout
        self._lock = threading.RLock()
        self._tracks: dict[str, Track] = {}
        self._logs = PodLogs(self._core, namespace, self._sink, self._lock)
        self._watch = RunWatch(self._batch, self._core, namespace, self.selector,
                               self._on_object, poll_interval)

    # -- submission --------------------------------------------------------------
    def submit(self, manifest: dict[str, Any], display_name: str) -> str | None:
        """Create the Job; adopt an existing one only if it carries the same pins.

        Returns:
            The attempt whose results count: the manifest's, or the adopted Job's.

        Raises:
            RuntimeError: A Job of that name exists with other pinned digests.
        """
        from kubernetes.client.exceptions import ApiException

        name = manifest["metadata"]["name"]
        with self._lock:
            self._tracks[name] = Track(name, display_name,
                                       fail_codes=frozenset(fail_job_exit_codes(manifest)))
        self._watch.start()
        try:
            with_retries(lambda: self._create(manifest), f"create Job {name}")
        except ApiException as exc:
            if exc.status != HTTPStatus.CONFLICT:
                with self._lock:
                    self._tracks.pop(name, None)
                raise BackendError(
                    f"the API server refused Job {self.namespace}/{name} "
                    f"({exc.status} {exc.reason}): {_api_message(exc)}"
                ) from exc
            return self._adopt(name, manifest)
        return attempt_of(container_of(manifest))

    def run_key(self, run_id: str, resume: bool) -> bytes:
        """The key that seals this run's results, held in a Secret of the run (see
        :func:`run_secret.run_key`).

        Raises:
            BackendError: The driver may not create or read Secrets.
            RunNotFound: ``resume`` and the run's Secret does not exist.
        """
        return run_secret.run_key(self._core, self.namespace, self.run_label, run_id, resume,
                                  self._json)

    def cache_key(self, store_root: str) -> bytes | None:
        """The project's node-cache key for this store, in a Secret of the namespace
        (``kinetic-cache-<store hash>``), created on first use.

        Raises:
            BackendError: The driver may not create or read Secrets.
        """
        return self._cache_secret(store_root).key(create=True)

    def cache_index(self, store_root: str) -> dict[str, str]:
        return self._cache_secret(store_root).index()

    def record_cache_index(self, store_root: str, latest: dict[str, str]) -> None:
        if latest:
            self._cache_secret(store_root).record(latest)

    def _cache_secret(self, store_root: str) -> CacheSecret:
        return CacheSecret(self._core, self.namespace, store_root, self._json)

    def preflight(self, cfg: RunConfig) -> None:
        """Refuse to start when a Secret the pods mount or read is missing (see check_secrets)."""
        from kedro_kinetic.config import named_secrets

        self.check_secrets(named_secrets(cfg))

    def check_secrets(self, secrets: dict[str, set[str]]) -> None:
        """Refuse to start when a Secret the pods mount or read is missing (see
        :func:`run_secret.check_pod_secrets`)."""
        run_secret.check_pod_secrets(self._core, self.namespace, secrets, self._json)

    @staticmethod
    def _json(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """An API call's response as plain JSON.

        Objects stay plain JSON: building client models for every event would
        cost the driver more CPU than all else it does per node.
        """
        response = call(*args, _preload_content=False, **kwargs)
        try:
            return json.loads(response.read())
        finally:
            response.release_conn()

    def _read_job(self, name: str) -> dict[str, Any]:
        return self._json(self._batch.read_namespaced_job, name, self.namespace)

    def _create(self, manifest: dict[str, Any]) -> None:
        # The created Job is not needed back (the watch reports it); skipping its
        # deserialisation into client models saves driver CPU on every node.
        response = self._batch.create_namespaced_job(self.namespace, manifest,
                                                     _preload_content=False)
        response.read()
        response.release_conn()

    def _adopt(self, name: str, manifest: dict[str, Any]) -> str | None:
        existing = with_retries(lambda: self._read_job(name), f"read Job {name}")
        have = existing["metadata"].get("annotations") or {}
        want = manifest["metadata"]["annotations"]
        if (have.get(ANN_PAYLOAD), have.get(ANN_SPEC)) != (want[ANN_PAYLOAD], want[ANN_SPEC]):
            with self._lock:
                self._tracks.pop(name, None)
            raise BackendError(
                f"Job {self.namespace}/{name} already exists with other pinned digests; "
                "refusing to adopt it (delete it or start a new run)"
            )
        logger.info("Adopted existing Job %s (same pinned digests)", name)
        self._on_job(existing)
        return next(iter(k8s_attempts.from_jobs([existing]).values()), None)

    # -- attempts (see k8s_attempts) -----------------------------------------------------
    def _secret(self) -> dict[str, Any]:
        name = key_secret(self.run_label)
        return with_retries(lambda: self._json(self._core.read_namespaced_secret, name,
                                               self.namespace), f"read Secret {name}")

    def _record(self, attempts: dict[str, str]) -> None:
        name = key_secret(self.run_label)
        body = k8s_attempts.secret_patch(attempts)
        with_retries(lambda: self._core.patch_namespaced_secret(name, self.namespace, body),
                     f"record the run's attempts in Secret {name}")

    def attempts(self) -> dict[str, str]:
        """The attempt that counts per node: a Job's while it exists, else the Secret's."""
        jobs = with_retries(lambda: self._json(
            self._batch.list_namespaced_job, self.namespace, label_selector=self.selector),
            "list the run's Jobs")
        return k8s_attempts.counted(jobs.get("items") or [], self._secret())

    def retire_attempts(self, node_keys: list[str]) -> None:
        """Drop the Secret's records of nodes that run again (one patch, before any runs)."""
        recorded = k8s_attempts.from_secret(self._secret())
        kept = {k: v for k, v in recorded.items() if k not in set(node_keys)}
        if kept != recorded:
            self._record(kept)

    def keep_attempts(self, accepted: dict[str, str]) -> None:
        """Add the attempts this run accepted to the Secret's record (one patch)."""
        if not accepted:
            return
        recorded = k8s_attempts.from_secret(self._secret())
        if {**recorded, **accepted} != recorded:
            self._record({**recorded, **accepted})

    def keep_cached(self, cached: dict[str, dict[str, str]]) -> None:
        """Add the nodes this run reused to the Secret's record (one patch)."""
        if not cached:
            return
        recorded = k8s_attempts.cached_from_secret(self._secret())
        name = key_secret(self.run_label)
        body = k8s_attempts.cached_patch({**recorded, **cached})
        with_retries(lambda: self._core.patch_namespaced_secret(name, self.namespace, body),
                     f"record the run's cached nodes in Secret {name}")

    # -- events ------------------------------------------------------------------
    def _on_object(self, kind: str, obj: dict[str, Any], deleted: bool = False) -> None:
        """A Job, Pod or Event seen by the watch: translate it (pure), then act."""
        if kind == "event":
            self._on_event(obj, deleted)
            return
        name = obj["metadata"]["name"] if kind == "job" else events.job_of(obj)
        with self._lock:
            track = self._tracks.get(name or "")
            if track is None:
                return
            now = time.time()
            if kind == "job":
                actions = events.on_job(track, obj, now, deleted)
            else:  # then the autoscaler's notes that came before the pod did
                actions = events.on_pod(track, obj, now)
                for note in self._notes.pod(obj["metadata"].get("name", ""), track.name):
                    actions += events.on_autoscaler(track, note, now, self._busy(track))
        if deleted and kind == "job":
            actions = self._cancelled_by_cli(obj, actions)
        self._apply(track, actions)

    def _cancelled_by_cli(self, job: dict[str, Any], actions: list[Action]) -> list[Action]:
        """A Job that ``kedro kinetic cancel`` deleted (it records the Job's uid in the run's
        Secret first) ends as cancelled, not as deleted by someone else."""
        import dataclasses

        from kedro_kinetic.backends.base import CANCELLED_BY_CLI
        from kedro_kinetic.backends.kubernetes import cancel_record

        if not any(a.event is not None and a.event.reason == "Deleted" for a in actions):
            return actions
        try:
            secret = self._secret()
        except Exception:  # unreadable now: the Job's end stays a deletion
            return actions
        if not cancel_record.cancelled(secret, job):
            return actions
        return [dataclasses.replace(a, event=dataclasses.replace(
                    a.event, reason="Cancelled", message=CANCELLED_BY_CLI))
                if a.event is not None and a.event.reason == "Deleted" else a
                for a in actions]

    def _on_job(self, job: dict[str, Any]) -> None:
        self._on_object("job", job)

    def _on_event(self, event: dict[str, Any], deleted: bool) -> None:
        """An Event: the cluster autoscaler's note on a pod of the run counts."""
        if deleted:  # Events expire (an hour by default); nothing happened
            return
        with self._lock:
            found = self._notes.note(event)
            track = self._tracks.get(found[0]) if found else None
            if found is None or track is None:
                return
            actions = events.on_autoscaler(track, found[1], time.time(), self._busy(track))
        self._apply(track, actions)

    def _busy(self, track: Track) -> bool:
        """Whether another Job of the run is active (its nodes may come free)."""
        return any(t is not track and not t.finished for t in self._tracks.values())

    def _apply(self, track: Track, actions: list[Action]) -> None:
        for action in actions:
            if action.kind == "emit" and action.event is not None:
                self.events.put(action.event)
            elif action.kind == "logs":
                self._follow_logs(track, action.pod)
            elif action.kind == "delete":
                self._delete(track.name)
            elif action.kind == "timer":
                seconds = self._timeout if action.seconds is None else action.seconds
                timer = threading.Timer(seconds, self._pending_expired, args=(track,))
                timer.daemon = True
                timer.start()

    def _pending_expired(self, track: Track) -> None:
        with self._lock:
            actions = events.pending_expired(track, time.time(), self._timeout,
                                             self._scale_up_timeout)
        self._apply(track, actions)

    # -- logs --------------------------------------------------------------------
    def _follow_logs(self, track: Track, pod: str) -> None:
        if self._stream:
            self._logs.follow(track.display, pod)

    # -- cancellation ------------------------------------------------------------
    def _delete(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            with_retries(lambda: self._batch.delete_namespaced_job(
                name, self.namespace, propagation_policy="Background"), f"delete Job {name}")
        except ApiException as exc:
            if exc.status != HTTPStatus.NOT_FOUND:
                raise

    def cancel(self, job_name: str) -> None:
        """Delete one Job and its pods."""
        with self._lock:
            self._logs.cancelled = True  # a run that cancels does not wait for log streams
            track = self._tracks.get(job_name)
            actions = events.cancelled(track, time.time()) if track else []
        if track:
            self._apply(track, actions)
        self._delete(job_name)

    def forget(self, job_name: str, timeout: float = 60) -> None:
        """Delete an earlier attempt's finished Job and wait until the name is free again.

        The node runs again because it has no trusted result: a Job that failed, or one
        that completed but whose result was refused (or removed), goes; a Job still
        running stays and is adopted on submission.
        """
        from kubernetes.client.exceptions import ApiException

        try:
            job = with_retries(lambda: self._read_job(job_name), f"read Job {job_name}")
        except ApiException as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return
            raise
        if not any(c.get("type") in _ENDED and c.get("status") == "True"
                   for c in (job.get("status") or {}).get("conditions") or []):
            return
        logger.info("Removing the finished Job %s of the earlier attempt", job_name)
        self._delete(job_name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._read_job(job_name)
            except ApiException as exc:
                if exc.status == HTTPStatus.NOT_FOUND:
                    return
                raise
            if self._watch.wait(0.2):
                return
        raise TimeoutError(f"Job {job_name} of the earlier attempt was not deleted in time")

    def cancel_all(self) -> list[str]:
        """Delete every Job and Pod of the run; return the Jobs that were still running."""
        with self._lock:
            self._logs.cancelled = True  # the deleted pods' streams end; nobody waits
            running = [t for t in self._tracks.values() if not t.finished]
            for track in running:
                for action in events.cancelled(track, time.time()):
                    if action.event is not None:
                        self.events.put(action.event)
        if not self._tracks:
            return []
        delete_run_objects(self._batch, self._core, self.namespace, self.selector)
        return [t.name for t in running]

    def close(self) -> None:
        """Stop watching; let the log streams finish printing (bounded) unless cancelled.

        Results first can end a run before the watch has even seen its last pods run, so
        the watch first gets the time to start their log streams (within the same bound).
        """
        deadline = time.monotonic() + DRAIN_SECONDS
        while self._stream and time.monotonic() < deadline:
            with self._lock:
                if self._logs.cancelled or all(t.finished or t.logging_pods
                                               for t in self._tracks.values()):
                    break
            time.sleep(0.05)
        self._watch.stop()
        self._logs.drain(max(0.0, deadline - time.monotonic()))
