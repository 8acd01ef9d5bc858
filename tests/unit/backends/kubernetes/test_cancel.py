"""`kedro kinetic cancel` on Kubernetes: the Jobs it deletes are recorded (name and uid) in
the run's Secret first, so the driver reports them as cancelled (a Job deleted by anyone
else stays a deletion) and `status` lists them once they are gone; `logs -f` follows Jobs
created later. A fake API: the objects as plain JSON, no cluster."""

from __future__ import annotations

import base64
import json
import queue
import threading
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.backends.base import CANCELLED_BY_CLI, EventKind, RunInfo
from kedro_kinetic.backends.kubernetes import cancel_record
from kedro_kinetic.backends.kubernetes import runs as k8s_runs
from kedro_kinetic.backends.kubernetes.backend import KubernetesBackend
from kedro_kinetic.backends.kubernetes.events import Track
from kedro_kinetic.backends.kubernetes.runs import KubernetesRuns
from kedro_kinetic.planning.manifest import (
    ANN_GROUP_NODES,
    ANN_NODE_NAME,
    LABEL_NODE,
    LABEL_RUN,
)
from kedro_kinetic.wire import naming, seal

if TYPE_CHECKING:
    from pathlib import Path

RUN = RunInfo(run_id="r-1", label="r-1", root="")


class Response:
    def __init__(self, body: object) -> None:
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()

    def read(self) -> bytes:
        return self.body

    def release_conn(self) -> None:
        pass


class Cluster:
    """Just enough of CoreV1Api and BatchV1Api, over plain JSON objects."""

    def __init__(self) -> None:
        key = base64.b64encode(seal.new_key().hex().encode()).decode()
        self.secret = {"metadata": {"name": naming.key_secret(RUN.label)},
                       "data": {seal.SECRET_DATA_KEY: key}}
        self.jobs: list[dict] = []
        self.pods: list[dict] = []
        self.logs: dict[str, str] = {}
        self.calls: list[str] = []

    # core
    def read_namespaced_secret(self, name, namespace, **kwargs):
        return Response(self.secret)

    def patch_namespaced_secret(self, name, namespace, body, **kwargs):
        self.calls.append("patch secret")
        self.secret["data"].update(body["data"])

    def list_namespaced_pod(self, namespace, **kwargs):
        return Response({"items": self.pods})

    def delete_collection_namespaced_pod(self, namespace, **kwargs):
        self.calls.append("delete pods")
        self.pods = []

    def read_namespaced_pod_log(self, name, namespace, **kwargs):
        return Response(self.logs.get(name, "").encode())

    # batch
    def list_namespaced_job(self, namespace, **kwargs):
        return Response({"items": self.jobs})

    def delete_collection_namespaced_job(self, namespace, **kwargs):
        self.calls.append("delete jobs")
        self.jobs = []


def job(node: str, uid: str, state: str = "running", group: list[str] | None = None) -> dict:
    key = naming.node_key(node)
    status = ({"active": 1} if state == "running" else {"conditions": [
        {"type": "Complete" if state == "succeeded" else "Failed", "status": "True"}]})
    annotations = {ANN_NODE_NAME: node}
    if group:
        annotations[ANN_GROUP_NODES] = json.dumps(group)
    return {"metadata": {"name": naming.job_name(node, RUN.run_id), "uid": uid,
                         "labels": {LABEL_NODE: key, LABEL_RUN: RUN.label},
                         "annotations": annotations}, "status": status}


def pod(node: str, name: str, phase: str = "Running") -> dict:
    return {"metadata": {"name": name, "creationTimestamp": name,
                         "labels": {LABEL_NODE: naming.node_key(node)}},
            "status": {"phase": phase}}


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    made = Cluster()
    monkeypatch.setattr(k8s_runs, "delete_run_objects",
                        lambda batch, core, ns, selector: (
                            batch.delete_collection_namespaced_job(ns),
                            core.delete_collection_namespaced_pod(ns)))
    return made


def inspector(cluster: Cluster, tmp_path: Path) -> tuple[KubernetesRuns, RunInfo]:
    runs = object.__new__(KubernetesRuns)
    runs._store_uri, runs.namespace, runs.rejected = tmp_path.as_uri(), "ns", {}
    runs._core = runs._batch = cluster
    return runs, RunInfo(RUN.run_id, RUN.label, (tmp_path / "runs" / RUN.label).as_uri())


def backend(cluster: Cluster) -> KubernetesBackend:
    made = object.__new__(KubernetesBackend)
    made.namespace, made.run_label, made._core = "ns", RUN.label, cluster
    made._lock, made.events = threading.RLock(), queue.Queue()
    made._tracks = {}
    return made


def test_the_record_round_trips_and_skips_malformed_entries():
    entries = cancel_record.entries([job("a", "uid-a"), job("group:g", "uid-g", group=["b", "c"])])
    secret = cancel_record.secret_patch({}, entries)
    assert cancel_record.from_secret(secret) == entries
    assert entries[naming.job_name("group:g", RUN.run_id)]["members"] == [
        naming.node_key("b"), naming.node_key("c")]
    planted = {"data": {cancel_record.SECRET_CANCEL_KEY: base64.b64encode(json.dumps(
        {"x": {"uid": 1}, "y": "z"}).encode()).decode()}}
    for broken in (planted, {}, {"data": {cancel_record.SECRET_CANCEL_KEY: "%%"}}):
        assert cancel_record.from_secret(broken) == {}


def test_cancel_records_the_unfinished_jobs_before_it_deletes_them(cluster, tmp_path):
    runs, info = inspector(cluster, tmp_path)
    cluster.jobs = [job("a", "uid-a"), job("b", "uid-b", state="succeeded")]
    assert runs.cancel(info) == [naming.job_name("a", RUN.run_id)]
    assert cluster.calls == ["patch secret", "delete jobs", "delete pods"]
    assert list(cancel_record.from_secret(cluster.secret)) == [
        naming.job_name("a", RUN.run_id)]
    [row] = runs.statuses(info)  # the Jobs are gone; the record stays
    assert (row.node, row.state, row.detail) == ("a", "cancelled", CANCELLED_BY_CLI)


@pytest.mark.parametrize(("uid", "reason"), [("uid-a", "Cancelled"), ("uid-new", "Deleted")])
def test_the_driver_reports_a_job_deleted_by_cancel_as_cancelled(cluster, uid, reason):
    cluster.secret["data"].update(cancel_record.secret_patch(
        cluster.secret, cancel_record.entries([job("a", "uid-a")]))["data"])
    driver = backend(cluster)
    deleted = job("a", uid)  # a later Job of the same name has another uid
    name = deleted["metadata"]["name"]
    driver._tracks[name] = Track(name, "a", started=True)
    driver._on_object("job", deleted, deleted=True)
    event = driver.events.get_nowait()
    assert (event.kind, event.reason) == (EventKind.FINISHED, reason)
    assert (event.message == CANCELLED_BY_CLI) is (reason == "Cancelled")


def test_follow_prints_pods_created_later_until_no_job_is_left(cluster, tmp_path,
                                                                monkeypatch):
    monkeypatch.setattr(k8s_runs, "_FOLLOW_POLL", 0.01)
    monkeypatch.setattr(k8s_runs, "FOLLOW_IDLE_SECONDS", 0.2)
    runs, info = inspector(cluster, tmp_path)
    cluster.jobs, cluster.pods = [job("a", "uid-a")], [pod("a", "p1")]
    cluster.logs = {"p1": "from a\n", "p2": "from b\n"}
    seen: list[tuple[str, str]] = []
    for line in runs.follow(info):
        seen.append(line)
        if line == ("a", "from a"):  # the driver starts the next node
            cluster.jobs = [job("a", "uid-a", "succeeded"), job("b", "uid-b")]
            cluster.pods = [pod("a", "p1", "Succeeded"), pod("b", "p2", "Pending")]
            threading.Timer(0.05, lambda: cluster.pods.__setitem__(1, pod("b", "p2"))).start()
        if line == ("b", "from b"):
            cluster.jobs = [job("a", "uid-a", "succeeded"), job("b", "uid-b", "succeeded")]
    assert seen == [("a", "from a"), ("b", "from b")]
