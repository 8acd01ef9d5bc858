"""Turn Kubernetes Job and Pod objects into runner events: pure functions, no I/O.

The Kubernetes backend feeds every Job and Pod it sees (from its watch or a
listing, as plain JSON) to :func:`on_job` / :func:`on_pod` together with what
it has seen of that Job so far (a :class:`Track`). They return the
:class:`Action` list the backend then carries out: post an event, stream a
pod's logs, delete a stuck Job, start the Unschedulable timer. Recorded API
objects are enough to unit-test every transition.

When a node counts as finished: on its container's exit when the outcome is
already final (exit 0, since the result is written before the entrypoint
exits, or an exit code the podFailurePolicy turns into FailJob), else on the
Job's ``Complete``/``Failed`` condition (another exit code may be retried).
Stuck states become failures at once: image pull errors, bad container config.
Two waits become failures only if they last (``unschedulable_timeout_seconds``):
an Unschedulable pod, and a container the kubelet could not configure yet because
its Secret or ConfigMap cache had not synced (it retries by itself; a loaded node
reports this for a Secret that many new pods read at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kedro_kinetic.backends.base import EventKind, JobEvent
from kedro_kinetic.planning.manifest import CONTAINER

#: Waiting reasons that will not resolve by themselves.
STUCK_WAITING = {
    "ErrImagePull": "the image could not be pulled; check kinetic.image and registry access",
    "ImagePullBackOff": "the image could not be pulled; check kinetic.image and registry access",
    "InvalidImageName": "the image reference is malformed; check kinetic.image",
    "ErrImageNeverPull": "the image is not on the node and imagePullPolicy is Never; check "
                         "kinetic.image",
    "CreateContainerConfigError": "the container could not be configured (often a missing "
                                  "Secret or key named in secret_env/credentials_secret, or "
                                  "an image whose user is root under runAsNonRoot)",
    "CreateContainerError": "the container could not be created",
}
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
#: How the kubelet words a config wait it retries by itself ("failed to sync secret
#: cache: timed out waiting for the condition"; configmap likewise).
_CACHE_NOT_SYNCED = ("failed to sync secret cache", "failed to sync configmap cache")


def _retried_by_kubelet(waiting: dict[str, Any]) -> bool:
    message = str(waiting.get("message") or "")
    return (waiting.get("reason") == "CreateContainerConfigError"
            and any(m in message for m in _CACHE_NOT_SYNCED))


@dataclass
class Track:
    """What the backend has seen of one Job."""

    name: str
    display: str
    fail_codes: frozenset[int] = frozenset()
    finished: bool = False
    started: bool = False
    unschedulable: bool = False
    unschedulable_message: str = ""
    #: The kubelet's last "failed to sync ... cache" message, while it retries.
    config_wait: str = ""
    exit_code: int | None = None
    term_reason: str | None = None
    logging_pods: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Action:
    """Something the backend must do: ``emit`` an event, ``logs`` of a pod, ``delete`` the
    Job, ``timer`` (start the Unschedulable timeout)."""

    kind: str
    event: JobEvent | None = None
    pod: str = ""


@dataclass
class _Out:
    actions: list[Action] = field(default_factory=list)

    def emit(self, track: Track, kind: EventKind, now: float, **fields: Any) -> None:
        self.actions.append(Action("emit", JobEvent(track.name, kind, time=now, **fields)))

    def finish(self, track: Track, now: float, exit_code: int | None, reason: str,
               message: str | None = None) -> None:
        track.finished = True
        self.emit(track, EventKind.FINISHED, now, exit_code=exit_code, reason=reason,
                  message=message)


def job_of(pod: dict[str, Any]) -> str | None:
    """The name of the Job that owns ``pod`` (from its labels)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return next((labels[k] for k in JOB_NAME_LABELS if k in labels), None)


def on_job(track: Track, job: dict[str, Any], now: float, deleted: bool = False) -> list[Action]:
    """The actions a Job object calls for."""
    out = _Out()
    if track.finished:
        return out.actions
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            out.finish(track, now, 0, "Completed")
            return out.actions
        if cond.get("type") == "Failed":
            reason = ("OOMKilled" if track.term_reason == "OOMKilled"
                      else cond.get("reason") or "Failed")
            out.finish(track, now, track.exit_code, reason, cond.get("message"))
            return out.actions
    if deleted:
        out.finish(track, now, track.exit_code, "Deleted",
                   "the Job was deleted before it finished")
    return out.actions


def on_pod(track: Track, pod: dict[str, Any], now: float) -> list[Action]:
    """The actions a Pod object of the Job calls for."""
    out = _Out()
    if track.finished:
        return out.actions
    status = pod.get("status") or {}
    name = (pod.get("metadata") or {}).get("name", "")
    for cond in status.get("conditions") or []:
        if (cond.get("type") == "PodScheduled" and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"):
            track.unschedulable_message = cond.get("message") or ""
            if not track.unschedulable and not track.started:
                track.unschedulable = True
                out.emit(track, EventKind.PENDING, now, reason="Unschedulable",
                         message=track.unschedulable_message)
                out.actions.append(Action("timer"))
    for container in status.get("containerStatuses") or []:
        if container.get("name") == CONTAINER:
            _container(track, container.get("state") or {}, name, now, out)
            break
    return out.actions


def _container(track: Track, state: dict[str, Any], pod: str, now: float, out: _Out) -> None:
    waiting, terminated = state.get("waiting"), state.get("terminated")
    if waiting and _retried_by_kubelet(waiting):
        if not track.config_wait:  # pending once; the timer fails it if it lasts
            out.emit(track, EventKind.PENDING, now, reason=waiting["reason"],
                     message=waiting.get("message"))
            out.actions.append(Action("timer"))
        track.config_wait = str(waiting.get("message"))
        track.unschedulable = False  # the kubelet has it: it was scheduled
        return
    if waiting and waiting.get("reason") in STUCK_WAITING:
        reason = waiting["reason"]
        out.finish(track, now, None, reason, f"{STUCK_WAITING[reason]} ({reason}: "
                                              f"{waiting.get('message') or 'no detail'})")
        out.actions.append(Action("delete"))
        return
    if state.get("running") and not track.started:
        track.started = True
        track.unschedulable = False
        track.config_wait = ""
        out.emit(track, EventKind.STARTED, now)
        _logs(track, pod, out)
    if terminated:
        track.exit_code = terminated.get("exitCode")
        track.term_reason = terminated.get("reason")
        _logs(track, pod, out)
        if track.exit_code == 0:
            out.finish(track, now, 0, "Completed")
        elif track.exit_code in track.fail_codes:
            out.finish(track, now, track.exit_code, track.term_reason or "Error")


def _logs(track: Track, pod: str, out: _Out) -> None:
    if pod and pod not in track.logging_pods:
        track.logging_pods = track.logging_pods | {pod}
        out.actions.append(Action("logs", pod=pod))


def pending_expired(track: Track, now: float, timeout: float) -> list[Action]:
    """The actions when a pod stayed Unschedulable, or its container unconfigured while
    the kubelet retried, for ``timeout`` seconds (the timer started by :func:`on_pod`)."""
    out = _Out()
    if track.finished or track.started:
        return out.actions
    if not track.unschedulable:
        if track.config_wait:
            reason = "CreateContainerConfigError"
            out.finish(track, now, None, reason,
                       f"{STUCK_WAITING[reason]}; the kubelet still could not after "
                       f"{timeout:g} s ({reason}: {track.config_wait})")
            out.actions.append(Action("delete"))
        return out.actions
    out.finish(track, now, None, "Unschedulable",
               f"no node could host the pod for {timeout:g} s: {track.unschedulable_message} "
               "(check the node's gpu/tpu/spot/node_selector settings against the cluster's "
               "node pools)")
    out.actions.append(Action("delete"))
    return out.actions


def cancelled(track: Track, now: float) -> list[Action]:
    """The actions when the runner cancels the Job."""
    out = _Out()
    if not track.finished:
        out.finish(track, now, None, "Cancelled", "cancelled by the runner")
    return out.actions
