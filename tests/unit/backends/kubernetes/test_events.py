"""Pod/Job status -> runner events, as a pure function, on objects shaped as the API
returns them (recorded from the bench's kube-apiserver, trimmed to what is read)."""

from __future__ import annotations

from kedro_kinetic.backends.base import EventKind
from kedro_kinetic.backends.kubernetes import events as ev

JOB = "clean-sales-node-1a2b3c4d-9f8e7d"


def track(**kwargs) -> ev.Track:
    return ev.Track(JOB, "clean_sales_node", fail_codes=frozenset({10, 11, 15}), **kwargs)


def pod(state: dict | None = None, conditions: list | None = None, name: str = "p-1") -> dict:
    statuses = [{"name": "node", "state": state}] if state is not None else []
    return {"kind": "Pod", "metadata": {"name": name, "labels": {
        "batch.kubernetes.io/job-name": JOB, "job-name": JOB}},
        "status": {"phase": "Pending", "conditions": conditions or [],
                   "containerStatuses": statuses}}


def job(conditions: list) -> dict:
    return {"kind": "Job", "metadata": {"name": JOB}, "status": {"conditions": conditions}}


def events(actions: list[ev.Action]) -> list[tuple]:
    return [(a.event.kind, a.event.exit_code, a.event.reason) for a in actions
            if a.kind == "emit"]


def kinds(actions: list[ev.Action]) -> list[str]:
    return [a.kind for a in actions]


def test_running_then_exit_zero_finishes_at_once_and_streams_logs_once():
    t = track()
    first = ev.on_pod(t, pod({"running": {"startedAt": "2026-11-30T00:00:01Z"}}), 1.0)
    assert events(first) == [(EventKind.STARTED, None, None)]
    assert kinds(first) == ["emit", "logs"]
    again = ev.on_pod(t, pod({"running": {"startedAt": "2026-11-30T00:00:02Z"}}), 1.5)
    assert again == []  # idempotent: a repeated object reports nothing twice
    done = ev.on_pod(t, pod({"terminated": {"exitCode": 0, "reason": "Completed"}}), 2.0)
    assert events(done) == [(EventKind.FINISHED, 0, "Completed")] and t.finished
    assert ev.on_job(t, job([{"type": "Complete", "status": "True"}]), 3.0) == []


def test_a_failjob_exit_code_finishes_on_the_container_without_waiting_for_the_job():
    t = track()
    actions = ev.on_pod(t, pod({"terminated": {"exitCode": 10, "reason": "Error"}}), 1.0)
    assert events(actions) == [(EventKind.FINISHED, 10, "Error")]


def test_a_retriable_exit_code_waits_for_the_job_condition():
    t = track()
    assert events(ev.on_pod(t, pod({"terminated": {"exitCode": 12, "reason": "Error"}}),
                            1.0)) == []
    failed = ev.on_job(t, job([{"type": "Failed", "status": "True",
                                "reason": "BackoffLimitExceeded",
                                "message": "Job has reached the specified backoff limit"}]), 2.0)
    assert events(failed) == [(EventKind.FINISHED, 12, "BackoffLimitExceeded")]


def test_oomkilled_is_named_even_when_the_job_says_backoff_limit():
    t = track()
    ev.on_pod(t, pod({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}), 1.0)
    failed = ev.on_job(t, job([{"type": "Failed", "status": "True",
                                "reason": "BackoffLimitExceeded"}]), 2.0)
    assert events(failed) == [(EventKind.FINISHED, 137, "OOMKilled")]


def test_deadline_exceeded_comes_from_the_job_condition():
    t = track()
    failed = ev.on_job(t, job([{"type": "Failed", "status": "True",
                                "reason": "DeadlineExceeded",
                                "message": "Job was active longer than specified deadline"}]),
                       5.0)
    assert events(failed) == [(EventKind.FINISHED, None, "DeadlineExceeded")]


def test_stuck_waiting_reasons_fail_at_once_and_delete_the_job():
    for reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                   "CreateContainerConfigError"):
        t = track()
        actions = ev.on_pod(t, pod({"waiting": {"reason": reason, "message": "detail"}}), 1.0)
        assert events(actions) == [(EventKind.FINISHED, None, reason)]
        assert kinds(actions) == ["emit", "delete"]
        assert "detail" in actions[0].event.message


def test_a_secret_cache_not_synced_yet_is_pending_until_the_timer():
    """The kubelet retries "failed to sync secret cache" by itself (a loaded node reports it
    for a Secret that many new pods read at once): pending, then failed only if it lasts."""
    t = track()
    stuck = {"reason": "CreateContainerConfigError",
             "message": "failed to sync secret cache: timed out waiting for the condition"}
    first = ev.on_pod(t, pod({"waiting": stuck}), 1.0)
    assert events(first) == [(EventKind.PENDING, None, "CreateContainerConfigError")]
    assert kinds(first) == ["emit", "timer"]
    assert ev.on_pod(t, pod({"waiting": stuck}), 2.0) == []  # one pending, one timer
    expired = ev.pending_expired(t, 9.0, 8)
    assert events(expired) == [(EventKind.FINISHED, None, "CreateContainerConfigError")]
    assert kinds(expired) == ["emit", "delete"]
    assert "still could not after 8 s" in expired[0].event.message
    assert "failed to sync secret cache" in expired[0].event.message


def test_a_container_configured_on_the_kubelets_retry_runs_on():
    t = track()
    stuck = {"reason": "CreateContainerConfigError",
             "message": "failed to sync configmap cache: timed out waiting for the condition"}
    ev.on_pod(t, pod({"waiting": stuck}), 1.0)
    started = ev.on_pod(t, pod({"running": {"startedAt": "2026-11-30T00:00:02Z"}}), 2.0)
    assert events(started) == [(EventKind.STARTED, None, None)]
    assert ev.pending_expired(t, 9.0, 8) == []


def test_a_lasting_config_error_after_the_cache_wait_fails_at_once():
    t = track()
    ev.on_pod(t, pod({"waiting": {"reason": "CreateContainerConfigError",
                                  "message": "failed to sync secret cache: timed out"}}), 1.0)
    failed = ev.on_pod(t, pod({"waiting": {"reason": "CreateContainerConfigError",
                                           "message": 'secret "api" not found'}}), 2.0)
    assert events(failed) == [(EventKind.FINISHED, None, "CreateContainerConfigError")]
    assert 'secret "api" not found' in failed[0].event.message


def test_an_unschedulable_pod_that_then_waits_on_its_config_fails_as_a_config_wait():
    t = track()
    cond = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    ev.on_pod(t, pod(conditions=cond), 1.0)
    ev.on_pod(t, pod({"waiting": {"reason": "CreateContainerConfigError",
                                  "message": "failed to sync secret cache: timed out"}}), 2.0)
    expired = ev.pending_expired(t, 400.0, 300)
    assert events(expired) == [(EventKind.FINISHED, None, "CreateContainerConfigError")]


def test_ordinary_waiting_reports_nothing():
    t = track()
    assert ev.on_pod(t, pod({"waiting": {"reason": "ContainerCreating"}}), 1.0) == []


def test_unschedulable_is_pending_once_then_fails_after_the_timer():
    t = track()
    cond = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/2 nodes are available: 2 node(s) didn't match node selector."}]
    first = ev.on_pod(t, pod(conditions=cond), 1.0)
    assert events(first) == [(EventKind.PENDING, None, "Unschedulable")]
    assert kinds(first) == ["emit", "timer"]
    assert ev.on_pod(t, pod(conditions=cond), 2.0) == []
    expired = ev.pending_expired(t, 7.0, 6)
    assert events(expired) == [(EventKind.FINISHED, None, "Unschedulable")]
    assert "no node could host the pod for 6 s" in expired[0].event.message
    assert "didn't match node selector" in expired[0].event.message


def test_a_pod_that_got_scheduled_before_the_timer_is_not_failed():
    t = track()
    cond = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    ev.on_pod(t, pod(conditions=cond), 1.0)
    ev.on_pod(t, pod({"running": {"startedAt": "2026-11-30T00:00:02Z"}}), 2.0)
    assert ev.pending_expired(t, 7.0, 6) == []


def test_a_deleted_job_finishes_its_node():
    t = track()
    assert events(ev.on_job(t, job([]), 1.0, deleted=True)) == [
        (EventKind.FINISHED, None, "Deleted")]


def test_cancel_finishes_once():
    t = track()
    assert events(ev.cancelled(t, 1.0)) == [(EventKind.FINISHED, None, "Cancelled")]
    assert ev.cancelled(t, 2.0) == []


def test_job_of_reads_either_label():
    assert ev.job_of(pod()) == JOB
    assert ev.job_of({"metadata": {"labels": {"job-name": "x"}}}) == "x"
    assert ev.job_of({"metadata": {}}) is None


def test_a_retried_pod_streams_its_logs_too():
    t = track()
    ev.on_pod(t, pod({"terminated": {"exitCode": 12}}, name="p-1"), 1.0)
    second = ev.on_pod(t, pod({"running": {"startedAt": "2026-11-30T00:00:02Z"}}, name="p-2"), 2.0)
    assert [a.pod for a in second if a.kind == "logs"] == ["p-2"]
