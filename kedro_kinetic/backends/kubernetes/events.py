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

The cluster autoscaler's Events on a pending pod (:func:`autoscaler_note`,
:func:`on_autoscaler`) tell a pod that waits for a node pool to grow from one that
never can be placed: ``TriggeredScaleUp`` lets it wait up to
``scale_up_timeout_seconds``; ``NotTriggerScaleUp`` fails it at once when neither a
node group the autoscaler may grow nor a node of the cluster (by the scheduler's
words) can fit it, or when the groups that fit are at their maximum size and no
other Job of the run holds nodes that could come free. A group in backoff, or a
node that is only full, keeps it waiting as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kedro_kinetic.backends.base import EventKind, JobEvent
from kedro_kinetic.planning.manifest import CONTAINER
from kedro_kinetic.wire.text import printable

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
    #: A pod of the Job was bound to a node: its wait for a node is over.
    scheduled: bool = False
    #: The node groups the cluster autoscaler grows for the pod, and since when.
    scale_up: str = ""
    scale_up_since: float | None = None
    #: The autoscaler's last "pod didn't trigger scale-up" message (escaped).
    no_scale_up: str = ""


@dataclass(frozen=True)
class Action:
    """Something the backend must do: ``emit`` an event, ``logs`` of a pod, ``delete`` the
    Job, ``timer`` (call :func:`pending_expired` after ``seconds``, or after the
    Unschedulable timeout when ``None``)."""

    kind: str
    event: JobEvent | None = None
    pod: str = ""
    seconds: float | None = None


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
        if cond.get("type") != "PodScheduled":
            continue
        if cond.get("status") == "True" and not track.scheduled:
            _scheduled(track, str((pod.get("spec") or {}).get("nodeName") or ""), now, out)
        elif cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
            track.scheduled = False  # a bound pod never is again: this is another pod
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


def pending_expired(track: Track, now: float, timeout: float,
                    scale_up_timeout: float | None = None) -> list[Action]:
    """The actions when a pod stayed Unschedulable, or its container unconfigured while
    the kubelet retried, for ``timeout`` seconds (the timer started by :func:`on_pod`).

    A pod the cluster autoscaler grows a node group for waits on, up to
    ``scale_up_timeout`` seconds from the first ``TriggeredScaleUp`` (the timer is set
    again for what is left).
    """
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
    if track.scale_up_since is not None and scale_up_timeout is not None:
        _scale_up_expired(track, now, scale_up_timeout, out)
        return out.actions
    autoscaler = f"; the cluster autoscaler: {track.no_scale_up}" if track.no_scale_up else ""
    out.finish(track, now, None, "Unschedulable",
               f"no node could host the pod for {timeout:g} s: {track.unschedulable_message}"
               f"{autoscaler} (check the node's gpu/tpu/spot/node_selector settings against "
               "the cluster's node pools)")
    out.actions.append(Action("delete"))
    return out.actions


def _scale_up_expired(track: Track, now: float, scale_up_timeout: float, out: _Out) -> None:
    since = track.scale_up_since or now
    left = since + scale_up_timeout - now
    if left > 0:
        out.emit(track, EventKind.PENDING, now, reason=SCALE_UP,
                 message=f"{WAITING_FOR_SCALE_UP}: {track.scale_up}; it may take up to "
                         f"{scale_up_timeout:g} s (scale_up_timeout_seconds)")
        out.actions.append(Action("timer", seconds=left))
        return
    out.finish(track, now, None, "ScaleUpTimeout",
               f"the cluster autoscaler began adding a node for the pod {now - since:.0f} s ago "
               f"({track.scale_up}), but none could host it within scale_up_timeout_seconds "
               f"({scale_up_timeout:g} s): {track.unschedulable_message or 'no detail'} "
               "(check the node pool's events and quota, e.g. a GPU stockout in its zone, or "
               "raise scale_up_timeout_seconds)")
    out.actions.append(Action("delete"))


def _scheduled(track: Track, node: str, now: float, out: _Out) -> None:
    """A pod of the Job was bound to ``node``: whatever it waited for, it has a node now."""
    track.scheduled = True
    if track.unschedulable and not track.started:
        where = f" on node {printable(node, newlines=False)}" if node else ""
        out.emit(track, EventKind.PENDING, now, reason="Scheduled",
                 message=f"scheduled{where}; starting its container")
    track.unschedulable = False


def cancelled(track: Track, now: float) -> list[Action]:
    """The actions when the runner cancels the Job."""
    out = _Out()
    if not track.finished:
        out.finish(track, now, None, "Cancelled", "cancelled by the runner")
    return out.actions


# -- the cluster autoscaler's Events on a pending pod ------------------------------------------

#: How the cluster autoscaler posts its word on a pod (core/v1 Events): its source
#: component and the two reasons read here.
AUTOSCALER = "cluster-autoscaler"
SCALE_UP = "TriggeredScaleUp"
NO_SCALE_UP = "NotTriggerScaleUp"
#: What the live table shows while a pod waits for the node its scale-up adds.
WAITING_FOR_SCALE_UP = "waiting for a node (scale-up)"
#: The Event recorder's prefix on an Event aggregated from many similar ones.
_COMBINED = "(combined from similar events): "
_NO_SCALE_UP_PREFIX = "pod didn't trigger scale-up:"
#: One group of "pod triggered scale-up: [{<group> <from>-><to> (max: <n>)} ...]".
_GROUP = re.compile(r"\{(\S+) (\d+)->(\d+) \(max: (\d+)\)\}")
#: A node group the autoscaler skipped for now: it tries again by itself.
_RETRYING = ("in backoff after failed scale-up", "not ready for scale-up",
             "expansion options filtered out", "not all pods would fit")
#: A node group (or the cluster) that fits the pod but may not grow.
_AT_LIMIT = re.compile(r"max node group size reached|max total nodes in cluster reached|"
                       r"max cluster [^,]+(?:, [^,]+)* limit reached")
#: How the scheduler says a node would fit the pod once it has room.
_FULL_NODE = re.compile(r"Insufficient |Too many pods")
_MAX_TEXT = 500


@dataclass(frozen=True)
class AutoscalerNote:
    """The cluster autoscaler's word on one pod: ``reason`` and its message, escaped."""

    pod: str
    reason: str
    message: str


def autoscaler_note(event: dict[str, Any]) -> AutoscalerNote | None:
    """The autoscaler's note in a core/v1 Event, or ``None`` for any other Event.

    Only Events about a Pod, posted by ``cluster-autoscaler`` with one of the two reasons,
    count. Their text comes from the cluster: it is escaped (and cut) before use.
    """
    involved = event.get("involvedObject") or {}
    source = (event.get("source") or {}).get("component") or event.get("reportingComponent")
    reason, pod = event.get("reason"), involved.get("name")
    if (involved.get("kind") != "Pod" or source != AUTOSCALER
            or reason not in (SCALE_UP, NO_SCALE_UP) or not isinstance(pod, str) or not pod):
        return None
    message = str(event.get("message") or "").removeprefix(_COMBINED)
    text = printable(message, newlines=False)
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT] + "..."
    return AutoscalerNote(pod, str(reason), text)


def scale_up_groups(message: str) -> str:
    """The node groups of a ``TriggeredScaleUp`` message, e.g. ``gpu-pool 0->1 (max 3)``
    (a GKE instance group URL shortened to its name); the message itself if unparsable."""
    groups = [f"{group.rstrip('/').rsplit('/', 1)[-1]} {old}->{new} (max {most})"
              for group, old, new, most in _GROUP.findall(message)]
    return ", ".join(groups) or message


def on_autoscaler(track: Track, note: AutoscalerNote, now: float,
                  busy: bool = False) -> list[Action]:
    """The actions the cluster autoscaler's note on one of the Job's pods calls for.

    Args:
        track: The Job's track.
        note: From :func:`autoscaler_note`.
        now: The time.
        busy: Another Job of the run is active: the nodes it holds or claims may come
            free, so a node group at its maximum size is a queue, not a dead end.
    """
    out = _Out()
    if track.finished or track.started or track.scheduled:
        return out.actions  # e.g. an Event read after the pod got its node
    if note.reason == SCALE_UP:
        track.scale_up = scale_up_groups(note.message)
        if track.scale_up_since is None:
            track.scale_up_since = now
        _wait(track, now, out, SCALE_UP, f"{WAITING_FOR_SCALE_UP}: {track.scale_up}")
        return out.actions
    track.no_scale_up = note.message
    failure = _no_scale_up_failure(note.message, track.unschedulable_message, busy)
    if failure:
        out.finish(track, now, None, NO_SCALE_UP, failure)
        out.actions.append(Action("delete"))
    else:
        _wait(track, now, out, NO_SCALE_UP, f"waiting for a node: {note.message}")
    return out.actions


def _wait(track: Track, now: float, out: _Out, reason: str, message: str) -> None:
    """Show the wait; start the timer unless the pod's Unschedulable condition did."""
    out.emit(track, EventKind.PENDING, now, reason=reason, message=message)
    if not track.unschedulable:
        track.unschedulable = True
        out.actions.append(Action("timer"))


def _no_scale_up_failure(message: str, scheduler: str, busy: bool) -> str:
    """Why a "pod didn't trigger scale-up" is final, or ``""`` while it may still pass."""
    reasons = message.removeprefix(_NO_SCALE_UP_PREFIX).strip()
    if not reasons or any(r in reasons for r in _RETRYING):
        return ""  # no group considered (no autoscaling there), or it tries again
    if _AT_LIMIT.search(reasons):
        if busy:
            return ""
        return (f"no node can host the pod and the cluster autoscaler may not add one "
                f"({message}); raise the node pool's maximum size (or the cluster's "
                "autoscaling limits), or run the node when the pool has room")
    if not scheduler or _FULL_NODE.search(scheduler):
        return ""  # a node of the cluster fits the pod once it has room (or not known yet)
    return (f"the cluster autoscaler cannot add a node that fits the pod ({message}) and no "
            f"node of the cluster fits it ({printable(scheduler, newlines=False)}); check the "
            "node's gpu, tpu, spot, node_selector and tolerations settings and its cpu/memory "
            "requests against the cluster's node pools (labels, taints, machine types, "
            "autoscaling)")
