"""The cluster autoscaler's Events on a pending pod -> runner events, as pure functions, on
Events shaped as the autoscaler writes them (tests/autoscaler_kit.py) and Pods as the API
returns them."""

from __future__ import annotations

import queue
import threading

import pytest

from kedro_kinetic.backends.base import EventKind
from kedro_kinetic.backends.kubernetes import events as ev
from kedro_kinetic.backends.kubernetes.backend import KubernetesBackend
from kedro_kinetic.backends.kubernetes.pod_notes import PodNotes
from tests.autoscaler_kit import (
    BACKOFF,
    MAX_SIZE,
    NO_FIT,
    NO_GPU_FIT,
    SCALE_UP,
    autoscaler_event,
)

JOB = "train-model-node-1a2b3c4d-9f8e7d"
POD = f"{JOB}-x7k2p"
NO_NODE_FITS = ("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
                "preemption: 0/3 nodes are available: 3 Preemption is not helpful for "
                "scheduling.")
NODES_FULL = ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node "
              "affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims "
              "found for incoming pod, 2 Preemption is not helpful for scheduling.")


def track() -> ev.Track:
    return ev.Track(JOB, "train_model_node", fail_codes=frozenset({10, 11, 15}))


def pod(scheduled: str | None = NO_NODE_FITS, node: str = "", running: bool = False) -> dict:
    cond = ({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": scheduled} if scheduled is not None
            else {"type": "PodScheduled", "status": "True"})
    state = {"running": {"startedAt": "2026-12-01T10:05:00Z"}} if running else {
        "waiting": {"reason": "ContainerCreating"}}
    return {"kind": "Pod", "metadata": {"name": POD, "labels": {
        "batch.kubernetes.io/job-name": JOB, "job-name": JOB}},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": "Pending", "conditions": [cond],
                   "containerStatuses": [] if scheduled is not None
                   else [{"name": "node", "state": state}]}}


def note(reason: str, message: str, pod_name: str = POD) -> ev.AutoscalerNote:
    found = ev.autoscaler_note(autoscaler_event(pod_name, reason, message))
    assert found is not None
    return found


def emitted(actions: list[ev.Action]) -> list[tuple]:
    return [(a.event.kind, a.event.reason) for a in actions if a.kind == "emit"]


def kinds(actions: list[ev.Action]) -> list[str]:
    return [a.kind for a in actions]


def pending(t: ev.Track, scheduler: str | None = NO_NODE_FITS) -> None:
    assert emitted(ev.on_pod(t, pod(scheduler), 1.0)) == [(EventKind.PENDING, "Unschedulable")]


def test_the_autoscalers_events_are_read_and_every_other_event_is_not():
    found = note(ev.SCALE_UP, SCALE_UP)
    assert (found.pod, found.reason, found.message) == (POD, "TriggeredScaleUp", SCALE_UP)
    scheduler = autoscaler_event(POD, "FailedScheduling", NO_NODE_FITS)
    scheduler["source"] = {"component": "default-scheduler"}
    scheduler["reportingComponent"] = "default-scheduler"
    by_someone_else = autoscaler_event(POD, ev.SCALE_UP, SCALE_UP)
    by_someone_else["source"] = {"component": "kubelet", "host": "gke-node-1"}
    by_someone_else["reportingComponent"] = "kubelet"
    on_a_job = autoscaler_event(JOB, ev.NO_SCALE_UP, NO_FIT)
    on_a_job["involvedObject"]["kind"] = "Job"
    scale_down = autoscaler_event(POD, "ScaleDown", "deleting pod for node scale down")
    for other in (scheduler, by_someone_else, on_a_job, scale_down, {}):
        assert ev.autoscaler_note(other) is None
    new_recorder = autoscaler_event(POD, ev.NO_SCALE_UP, NO_FIT)
    new_recorder["source"] = {}  # an events.k8s.io recorder sets reportingComponent only
    assert ev.autoscaler_note(new_recorder) is not None


def test_the_autoscalers_text_is_escaped_and_cut():
    planted = SCALE_UP + "\x1b]0;owned\x07\n\u202e" + "x" * 2000
    found = note(ev.SCALE_UP, "(combined from similar events): " + planted)
    assert "\x1b" not in found.message and "\n" not in found.message
    assert "\u202e" not in found.message and "\\x1b]0;owned\\x07\\x0a\\u202e" in found.message
    assert found.message.startswith("pod triggered scale-up: [{") and len(found.message) < 600


def test_scale_up_groups_names_each_group_shortly():
    assert ev.scale_up_groups(SCALE_UP) == "gke-kedro-gpu-pool-5b1c9e2a-grp 0->1 (max 3)"
    two = "pod triggered scale-up: [{gpu-a 0->1 (max: 2)} {gpu-b 1->2 (max: 4)}]"
    assert ev.scale_up_groups(two) == "gpu-a 0->1 (max 2), gpu-b 1->2 (max 4)"
    assert ev.scale_up_groups("pod triggered scale-up: soon") == "pod triggered scale-up: soon"


def test_a_triggered_scale_up_waits_past_the_unschedulable_timeout_then_fails_on_its_own():
    t = track()
    pending(t)
    waiting = ev.on_autoscaler(t, note(ev.SCALE_UP, SCALE_UP), 10.0)
    assert emitted(waiting) == [(EventKind.PENDING, "TriggeredScaleUp")]
    assert kinds(waiting) == ["emit"]  # the Unschedulable condition's timer is running
    assert waiting[0].event.message == (
        "waiting for a node (scale-up): gke-kedro-gpu-pool-5b1c9e2a-grp 0->1 (max 3)")
    at_unschedulable = ev.pending_expired(t, 301.0, 300, 1800)
    assert emitted(at_unschedulable) == [(EventKind.PENDING, "TriggeredScaleUp")]
    assert "scale_up_timeout_seconds" in at_unschedulable[0].event.message
    [timer] = [a for a in at_unschedulable if a.kind == "timer"]
    assert timer.seconds == pytest.approx(10.0 + 1800 - 301.0)
    expired = ev.pending_expired(t, 1810.0, 300, 1800)
    assert emitted(expired) == [(EventKind.FINISHED, "ScaleUpTimeout")]
    assert kinds(expired) == ["emit", "delete"]
    message = expired[0].event.message
    assert "began adding a node for the pod 1800 s ago" in message
    assert "gke-kedro-gpu-pool-5b1c9e2a-grp 0->1" in message and NO_NODE_FITS in message
    assert "raise scale_up_timeout_seconds" in message
    assert ev.pending_expired(t, 1811.0, 300, 1800) == []  # finished once


def test_a_scale_up_seen_before_the_pods_condition_starts_the_timer_itself():
    t = track()
    first = ev.on_autoscaler(t, note(ev.SCALE_UP, SCALE_UP), 1.0)
    assert kinds(first) == ["emit", "timer"] and first[1].seconds is None
    assert ev.on_pod(t, pod(), 2.0) == []  # already pending: no second timer


def test_a_scale_up_then_the_pod_scheduled_on_the_new_node_runs():
    t = track()
    pending(t)
    ev.on_autoscaler(t, note(ev.SCALE_UP, SCALE_UP), 10.0)
    bound = ev.on_pod(t, pod(None, node="gke-kedro-gpu-pool-5b1c9e2a-q7wz"), 200.0)
    assert emitted(bound) == [(EventKind.PENDING, "Scheduled")]
    assert bound[0].event.message == (
        "scheduled on node gke-kedro-gpu-pool-5b1c9e2a-q7wz; starting its container")
    # pulling the image on the new node outlasts the Unschedulable timeout: not a failure
    assert ev.pending_expired(t, 301.0, 300, 1800) == []
    assert ev.on_autoscaler(t, note(ev.NO_SCALE_UP, NO_FIT), 302.0) == []  # read late
    started = ev.on_pod(t, pod(None, node="gke-kedro-gpu-pool-5b1c9e2a-q7wz", running=True),
                        400.0)
    assert emitted(started) == [(EventKind.STARTED, None)]


def test_no_node_group_that_fits_fails_at_once_with_the_autoscalers_words():
    t = track()
    pending(t)
    failed = ev.on_autoscaler(t, note(ev.NO_SCALE_UP, NO_GPU_FIT), 12.0)
    assert emitted(failed) == [(EventKind.FINISHED, "NotTriggerScaleUp")]
    assert kinds(failed) == ["emit", "delete"]
    message = failed[0].event.message
    assert NO_GPU_FIT in message and NO_NODE_FITS in message
    assert "gpu, tpu, spot, node_selector and tolerations" in message
    assert ev.pending_expired(t, 301.0, 300, 1800) == []


def test_a_node_group_at_its_maximum_size_fails_at_once_unless_the_run_holds_nodes():
    alone = track()
    pending(alone)
    failed = ev.on_autoscaler(alone, note(ev.NO_SCALE_UP, MAX_SIZE), 12.0)
    assert emitted(failed) == [(EventKind.FINISHED, "NotTriggerScaleUp")]
    assert MAX_SIZE in failed[0].event.message
    assert "raise the node pool's maximum size" in failed[0].event.message
    queued = track()  # other nodes of the run hold the pool: they may free a node
    pending(queued)
    waits = ev.on_autoscaler(queued, note(ev.NO_SCALE_UP, MAX_SIZE), 12.0, busy=True)
    assert emitted(waits) == [(EventKind.PENDING, "NotTriggerScaleUp")]
    assert waits[0].event.message == f"waiting for a node: {MAX_SIZE}"
    expired = ev.pending_expired(queued, 301.0, 300, 1800)
    assert emitted(expired) == [(EventKind.FINISHED, "Unschedulable")]
    assert f"the cluster autoscaler: {MAX_SIZE}" in expired[0].event.message


@pytest.mark.parametrize(("scheduler", "message"), [
    (NODES_FULL, NO_FIT),  # a node of the cluster fits once it has room (a fixed pool)
    (NO_NODE_FITS, BACKOFF),  # the autoscaler tries that group again by itself
    (NO_NODE_FITS, "pod didn't trigger scale-up: "),  # no node group it may grow
])
def test_a_no_scale_up_that_may_still_pass_waits_for_the_unschedulable_timeout(scheduler,
                                                                                message):
    t = track()
    pending(t, scheduler)
    waits = ev.on_autoscaler(t, note(ev.NO_SCALE_UP, message), 12.0)
    assert emitted(waits) == [(EventKind.PENDING, "NotTriggerScaleUp")]
    assert emitted(ev.pending_expired(t, 301.0, 300, 1800)) == [
        (EventKind.FINISHED, "Unschedulable")]


def test_a_scale_up_in_backoff_keeps_its_longer_wait():
    t = track()
    pending(t)
    ev.on_autoscaler(t, note(ev.SCALE_UP, SCALE_UP), 10.0)
    ev.on_autoscaler(t, note(ev.NO_SCALE_UP, BACKOFF), 200.0)  # e.g. a GPU stockout
    assert [a.kind for a in ev.pending_expired(t, 301.0, 300, 1800)] == ["emit", "timer"]


def test_an_event_for_another_pod_is_held_until_that_pod_is_seen_and_others_never_count():
    notes = PodNotes()
    assert notes.pod(POD, JOB) == []
    found = notes.note(autoscaler_event(POD, ev.SCALE_UP, SCALE_UP))
    assert found is not None and found[0] == JOB
    later = f"{JOB}-b9q4t"  # the Job's next pod, not seen yet: held
    assert notes.note(autoscaler_event(later, ev.NO_SCALE_UP, NO_FIT)) is None
    assert [n.reason for n in notes.pod(later, JOB)] == [ev.NO_SCALE_UP]
    assert notes.pod(later, JOB) == []  # handed back once
    for i in range(300):  # other workloads' pods: held within bounds, never matched
        assert notes.note(autoscaler_event(f"web-{i}", ev.NO_SCALE_UP, NO_FIT)) is None
    assert len(notes._held) <= 256 and notes.pod("web-0", JOB) == []
    assert notes.note(autoscaler_event(POD, "FailedScheduling", NO_FIT)) is None


def backend() -> KubernetesBackend:
    made = object.__new__(KubernetesBackend)
    made._lock, made.events = threading.RLock(), queue.Queue()
    made._tracks, made._notes = {}, PodNotes()
    made._timeout, made._scale_up_timeout = 300, 1800
    made._stream = False
    return made


def drained(driver: KubernetesBackend) -> list[tuple]:
    out = []
    while not driver.events.empty():
        event = driver.events.get_nowait()
        out.append((event.kind, event.reason))
    return out


def test_the_backend_matches_events_to_its_pods_in_either_order(monkeypatch):
    monkeypatch.setattr(KubernetesBackend, "_delete", lambda self, name: None)
    monkeypatch.setattr(threading.Timer, "start", lambda self: None)
    driver = backend()
    driver._tracks[JOB] = track()
    driver._on_object("event", autoscaler_event(POD, ev.NO_SCALE_UP, MAX_SIZE))
    assert drained(driver) == []  # its pod is not known yet
    driver._on_object("pod", pod())
    assert drained(driver) == [(EventKind.PENDING, "Unschedulable"),
                               (EventKind.FINISHED, "NotTriggerScaleUp")]
    other = "clean-sales-node-5e6f7a8b-1c2d3e"
    driver._tracks[other] = ev.Track(other, "clean_sales_node")
    driver._tracks[JOB] = track()
    driver._on_object("pod", pod())
    driver._on_object("event", autoscaler_event(POD, ev.NO_SCALE_UP, MAX_SIZE))
    assert drained(driver) == [(EventKind.PENDING, "Unschedulable"),
                               (EventKind.PENDING, "NotTriggerScaleUp")]  # the run is busy
    driver._on_object("event", autoscaler_event(POD, ev.NO_SCALE_UP, MAX_SIZE), True)
    driver._on_object("event", autoscaler_event("web-1", ev.SCALE_UP, SCALE_UP))
    assert drained(driver) == []  # a deleted Event, another workload's pod
