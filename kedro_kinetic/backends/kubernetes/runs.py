"""Inspect and clean up Kubernetes runs, from the API and sealed results only.

A run exists when its key Secret exists: only the driver (with cluster access)
creates it, labelled with the run's label and annotated with its id, and its
``creationTimestamp`` is the run's age. Jobs and Pods are selected by that
label; nodes' states come from the Jobs and from results sealed with the key.
Bucket objects alone never make a run appear, age, or lose its Jobs: a store
writer can neither make ``clean`` delete a live run nor ``cancel`` miss one.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from kedro_kinetic import store
from kedro_kinetic.backends.base import CANCELLED_BY_CLI, NodeStatus, RunInfo
from kedro_kinetic.backends.kubernetes import attempts as k8s_attempts
from kedro_kinetic.backends.kubernetes import cancel_record
from kedro_kinetic.backends.kubernetes.cache_secret import CacheSecret
from kedro_kinetic.backends.kubernetes.client import api_client, delete_run_objects, with_retries
from kedro_kinetic.backends.run_results import (
    read_run_results,
    result_detail,
    with_cached,
    with_group_nodes,
)
from kedro_kinetic.errors import BackendError, RunNotFound
from kedro_kinetic.planning.manifest import (
    ANN_NODE_NAME,
    ANN_RUN_ID,
    CONTAINER,
    LABEL_NODE,
    LABEL_PIPELINE,
    LABEL_RUN,
    MANAGED_BY,
    result_keys,
)
from kedro_kinetic.store.layout import RunLayout
from kedro_kinetic.wire import naming, seal
from kedro_kinetic.wire.result import Status

if TYPE_CHECKING:
    from collections.abc import Iterator

_MANAGED = f"app.kubernetes.io/managed-by={MANAGED_BY}"
#: ``kedro kinetic logs -f RUN``: with no Job of the run unfinished, how long to wait for
#: the driver to create another before the run counts as ended (there is no driver record
#: on Kubernetes; a failed Job ends the wait at once: no node starts after a failure).
FOLLOW_IDLE_SECONDS = 20.0
_FOLLOW_POLL = 2.0


def _timestamp(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def job_state(job: dict[str, Any]) -> str:
    """``succeeded``, ``failed``, ``running`` or ``submitted`` from a Job's status."""
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return "succeeded" if cond["type"] == "Complete" else "failed"
    return "running" if status.get("active") else "submitted"


class KubernetesRuns:
    """The :class:`~kedro_kinetic.backends.base.RunInspector` of the Kubernetes backend."""

    def __init__(self, store_uri: str, namespace: str, kubeconfig: str | None = None,
                 context: str | None = None) -> None:
        from kubernetes import client

        self._store_uri = store_uri
        self.namespace = namespace
        self.rejected: dict[str, str] = {}
        api = api_client(kubeconfig, context)
        self._core: Any = client.CoreV1Api(api)
        self._batch: Any = client.BatchV1Api(api)

    @staticmethod
    def _json(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        response = call(*args, _preload_content=False, **kwargs)
        try:
            return json.loads(response.read())
        finally:
            response.release_conn()

    def _secrets(self) -> list[dict[str, Any]]:
        listing = with_retries(lambda: self._json(
            self._core.list_namespaced_secret, self.namespace,
            label_selector=f"{_MANAGED},{LABEL_RUN}"), "list the runs' Secrets")
        return listing.get("items") or []

    def runs(self) -> list[RunInfo]:
        found = []
        for secret in self._secrets():
            meta = secret.get("metadata") or {}
            label = (meta.get("labels") or {}).get(LABEL_RUN, "")
            run_id = (meta.get("annotations") or {}).get(ANN_RUN_ID, "")
            if not run_id or naming.run_label(run_id) != label or \
                    meta.get("name") != naming.key_secret(label):
                continue
            found.append(RunInfo(run_id=run_id, label=label,
                                 root=RunLayout.for_run(self._store_uri, run_id).root,
                                 started=_timestamp(meta.get("creationTimestamp"))))
        pipelines = self._pipelines() if found else {}
        found = [dataclasses.replace(run, pipeline=pipelines.get(run.label, "")) for run in found]
        return sorted(found, key=lambda r: (r.started or 0, r.run_id))

    def _pipelines(self) -> dict[str, str]:
        """Run label -> the pipeline label of its Jobs (one list call for every run)."""
        listing = with_retries(lambda: self._json(
            self._batch.list_namespaced_job, self.namespace,
            label_selector=f"{_MANAGED},{LABEL_RUN}"), "list the runs' Jobs")
        found: dict[str, str] = {}
        for job in listing.get("items") or []:
            labels = (job.get("metadata") or {}).get("labels") or {}
            if labels.get(LABEL_PIPELINE):
                found.setdefault(labels.get(LABEL_RUN, ""), str(labels[LABEL_PIPELINE]))
        return found

    def _secret(self, run: RunInfo) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        name = naming.key_secret(run.label)
        try:
            return with_retries(lambda: self._json(self._core.read_namespaced_secret, name,
                                                   self.namespace), f"read Secret {name}")
        except ApiException as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                raise RunNotFound(f"run '{run.run_id}' has no key Secret {name}") from None
            raise BackendError(f"cannot read Secret {self.namespace}/{name} "
                               f"({exc.status} {exc.reason})") from None

    def _key_of(self, secret: dict[str, Any], run: RunInfo) -> bytes:
        try:
            text = base64.b64decode((secret.get("data") or {})[seal.SECRET_DATA_KEY]).decode()
        except (KeyError, ValueError, TypeError):
            text = ""
        return seal.key_from_hex(text, f"Secret {self.namespace}/{naming.key_secret(run.label)}")

    def cache_key(self, store_root: str) -> bytes | None:
        return CacheSecret(self._core, self.namespace, store_root, self._json).key(create=False)

    def cache_index(self, store_root: str) -> dict[str, str]:
        return CacheSecret(self._core, self.namespace, store_root, self._json).index()

    def key(self, run: RunInfo) -> bytes:
        return self._key_of(self._secret(run), run)

    def attempts(self, run: RunInfo) -> dict[str, str]:
        return k8s_attempts.counted(self._jobs(run), self._secret(run))

    def _jobs(self, run: RunInfo) -> list[dict[str, Any]]:
        listing = with_retries(lambda: self._json(
            self._batch.list_namespaced_job, self.namespace,
            label_selector=f"{LABEL_RUN}={run.label}"), "list the run's Jobs")
        return listing.get("items") or []

    def statuses(self, run: RunInfo) -> list[NodeStatus]:
        secret, jobs = self._secret(run), self._jobs(run)
        found = read_run_results(run.root, self._key_of(secret, run),
                                 k8s_attempts.counted(jobs, secret))
        self.rejected = found.rejected
        results = found.by_key
        rows: dict[str, NodeStatus] = {}
        for job in jobs:
            meta = job.get("metadata") or {}
            key = (meta.get("labels") or {}).get(LABEL_NODE, "")
            node = (meta.get("annotations") or {}).get(ANN_NODE_NAME) or key
            status = job.get("status") or {}
            members = result_keys(job)
            rows[key] = NodeStatus(node, str(meta.get("name", "")), key, job_state(job),
                                   attempts=int(status.get("failed") or 0)
                                   + int(status.get("succeeded") or 0)
                                   + int(status.get("active") or 0),
                                   members=members if members != [key] else [])
        for name, entry in cancel_record.from_secret(secret).items():
            if entry["key"] not in rows:  # its Job was deleted by the cancel
                rows[entry["key"]] = NodeStatus(entry["node"], name, entry["key"], "cancelled",
                                                detail=CANCELLED_BY_CLI,
                                                members=entry["members"])
        for row in rows.values():
            result = results.get(row.key)
            if result is not None and result.node == row.node:
                row.state, row.duration = result.status, result.duration
                if result.status != Status.SUCCEEDED:
                    row.detail = result_detail(result)
        return with_group_nodes(with_cached(list(rows.values()),
                                            k8s_attempts.cached_from_secret(secret)), results)

    def logs(self, run: RunInfo, rows: list[NodeStatus],
             follow: bool) -> Iterator[tuple[str, str]]:
        for row in rows:
            listing = with_retries(partial(
                self._json, self._core.list_namespaced_pod, self.namespace,
                label_selector=f"{LABEL_RUN}={run.label},{LABEL_NODE}={row.key}"),
                "list the node's Pods")
            pods = sorted(listing.get("items") or [],
                          key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp")))
            for attempt, pod in enumerate(pods, 1):
                name = (pod.get("metadata") or {}).get("name", "")
                if len(pods) > 1:
                    yield row.node, f"----- attempt {attempt} of {len(pods)} (pod {name}) -----"
                for line in self._pod_log(name, follow):
                    yield row.node, line

    def _pods(self, run: RunInfo) -> list[dict[str, Any]]:
        listing = with_retries(partial(
            self._json, self._core.list_namespaced_pod, self.namespace,
            label_selector=f"{LABEL_RUN}={run.label}"), "list the run's Pods")
        return sorted(listing.get("items") or [],
                      key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp")))

    def follow(self, run: RunInfo) -> Iterator[tuple[str, str]]:
        """Each pod's log in the order the pods were created, pods created later too, until
        no Job of the run is unfinished and none came for :data:`FOLLOW_IDLE_SECONDS` (or
        one failed: no node starts after a failure)."""
        import time

        done: set[str] = set()
        idle_since: float | None = None
        while True:
            jobs = self._jobs(run)
            nodes = {str(((j.get("metadata") or {}).get("labels") or {}).get(LABEL_NODE)):
                     str(((j.get("metadata") or {}).get("annotations") or {})
                         .get(ANN_NODE_NAME) or "") for j in jobs}
            states = {job_state(job) for job in jobs}
            ready = [p for p in self._pods(run)
                     if (p.get("metadata") or {}).get("name") not in done
                     and (p.get("status") or {}).get("phase") not in ("Pending", None)]
            for pod in ready:
                meta = pod.get("metadata") or {}
                key = str((meta.get("labels") or {}).get(LABEL_NODE, ""))
                done.add(str(meta.get("name")))
                for line in self._pod_log(str(meta.get("name")), follow=True):
                    yield nodes.get(key) or key, line
            if ready or states & {"running", "submitted"}:
                idle_since = None
            elif "failed" in states:
                return
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= FOLLOW_IDLE_SECONDS:
                return
            if not ready:
                time.sleep(_FOLLOW_POLL)

    def _pod_log(self, name: str, follow: bool) -> list[str]:
        from kubernetes.client.exceptions import ApiException

        try:
            response = self._core.read_namespaced_pod_log(
                name, self.namespace, container=CONTAINER, follow=follow,
                _preload_content=False)
        except ApiException as exc:  # deleted meanwhile, or its container never started
            return [f"[kinetic] no log from pod {name} ({exc.status} {exc.reason})"]
        return response.read().decode(errors="replace").splitlines()

    def active(self, run: RunInfo) -> bool:
        return any(job_state(job) in ("running", "submitted") for job in self._jobs(run))

    def cancel(self, run: RunInfo) -> list[str]:
        """Record the unfinished Jobs in the run's Secret (so the driver reports them as
        cancelled), then delete the run's Jobs and Pods; each pod gets SIGTERM and its
        grace period (``terminationGracePeriodSeconds``) before SIGKILL."""
        from kubernetes.client.exceptions import ApiException

        unfinished = [j for j in self._jobs(run) if job_state(j) in ("running", "submitted")]
        if unfinished:
            name = naming.key_secret(run.label)
            body = cancel_record.secret_patch(self._secret(run),
                                              cancel_record.entries(unfinished))
            try:
                with_retries(lambda: self._core.patch_namespaced_secret(
                    name, self.namespace, body), f"record the cancel in Secret {name}")
            except ApiException as exc:  # the cancel goes on; the driver says "deleted"
                import logging

                logging.getLogger(__name__).warning(
                    "cannot record the cancel in Secret %s/%s (%s %s)", self.namespace, name,
                    exc.status, exc.reason)
        delete_run_objects(self._batch, self._core, self.namespace, f"{LABEL_RUN}={run.label}")
        return [str((j.get("metadata") or {}).get("name")) for j in unfinished]

    def clean(self, run: RunInfo) -> int:
        from kubernetes.client.exceptions import ApiException

        self.cancel(run)
        objects = store.list_objects(run.root)
        store.delete_tree(run.root)
        name = naming.key_secret(run.label)
        try:
            with_retries(lambda: self._core.delete_namespaced_secret(name, self.namespace),
                         f"delete Secret {name}")
        except ApiException as exc:
            if exc.status != HTTPStatus.NOT_FOUND:
                raise
        return len(objects)
