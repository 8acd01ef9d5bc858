"""The outcome of a finished node: its authenticated result, or why there is none.

When the backend reports a Job finished, the driver reads the pod's result
from the store and trusts it only if it is sealed for this node's URI with the
key of the attempt the driver is waiting for
(:func:`kedro_kinetic.store.trusted_result.read_trusted`). A missing result is
explained from what the backend saw (OOMKilled, deadline, eviction, …); so is a
refused one (forged, replayed from another attempt,
planted), with a note naming the object: whatever a store writer puts there
never becomes the node's reason, nor crashes the driver. A failure becomes a
:class:`RemoteNodeError` carrying the remote traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro_kinetic import store
from kedro_kinetic.errors import KineticError, SealError, StoreError, StoreObjectError
from kedro_kinetic.planning.node_plan import reported_digest
from kedro_kinetic.store.trusted_result import read_trusted
from kedro_kinetic.wire.result import EXIT_MEANINGS, NodeResult, Status
from kedro_kinetic.wire.text import printable

if TYPE_CHECKING:
    from kedro_kinetic.backends.base import JobEvent
    from kedro_kinetic.planning.node_plan import NodePlan

KILLED = ("the pod was killed (SIGKILL, exit code 137) before it wrote a result: evicted, "
          "preempted, or its node was lost - not an error raised by the node's code")
STOPPED = ("the pod was stopped (SIGTERM, exit code 143) before it wrote a result: deleted, "
           "evicted or preempted - not an error raised by the node's code")
EXPLAIN = {
    "OOMKilled": "the container exceeded its memory limit (OOMKilled); give the node more "
                 "memory (kinetic nodes.<name>.memory or a tag)",
    "DeadlineExceeded": "the node ran longer than its deadline_seconds (activeDeadlineSeconds)",
    "BackoffLimitExceeded": "the pod failed and its retries are exhausted",
    "Cancelled": "the node was cancelled",
    "Deleted": "the node's Job was deleted by someone else",
}
#: Reasons that add nothing to the exit code's meaning in a message.
_QUIET = ("Error", "Completed", "BackoffLimitExceeded", "PodFailurePolicy")
_REFUSED = ("SealError", "StoreObjectError")


class RemoteNodeError(KineticError, RuntimeError):
    """A node failed in its pod; carries the remote error and traceback text."""

    def __init__(self, node_name: str, result: NodeResult, reason: str | None,
                 next_step: str = "") -> None:
        self.node_name = node_name
        self.result = result
        self.remote_type = result.error_type
        self.exit_code = result.exit_code
        meaning = ("its result was refused" if result.error_type in _REFUSED
                   else EXIT_MEANINGS.get(result.exit_code, f"exit code {result.exit_code}"))
        cause = result.error_message or reason or "no result was written"
        head = f"node '{node_name}' failed remotely ({meaning}"
        head += f", {reason})" if reason and reason not in _QUIET else ")"
        kind = (result.error_type or "error").removeprefix("builtins.")
        message = f"{head}: {printable(kind, False)}: {printable(cause)}"
        if result.error_type == "Cancelled" and cause.startswith("cancelled by"):
            # stopped on purpose (`kedro kinetic cancel`): not a failure of node or cluster
            message = f"node '{node_name}' was {printable(cause, False)}{_how(result)}"
        if result.traceback:
            message += "\n--- remote traceback ---\n" + printable(result.traceback.rstrip())
        if next_step:
            message += "\n" + next_step
        self.remote_traceback = result.traceback
        super().__init__(message)

    def __str__(self) -> str:  # the message as is, whatever the node's type (KeyError quotes)
        return str(self.args[0]) if self.args else ""


def _how(result: NodeResult) -> str:
    """How a cancelled node ended, from its exit code."""
    signal = {143: "SIGTERM", -15: "SIGTERM", 137: "SIGKILL", -9: "SIGKILL"}.get(
        result.exit_code)
    if signal:
        return f" ({signal}, exit code {result.exit_code}) before it wrote a result"
    return " before it wrote a result" if result.exit_code == -1 else (
        f" (exit code {result.exit_code})")


def _missing(plan: NodePlan, event: JobEvent, exc: BaseException) -> NodeResult:
    """A failed result saying why the pod left none."""
    detail = EXPLAIN.get(event.reason or "", "")
    if event.reason == "Cancelled":
        detail = "" if event.message else detail  # the message says who cancelled it
    elif event.exit_code in (137, -9) and event.reason not in ("OOMKilled",
                                                              "DeadlineExceeded"):
        detail = KILLED
    elif event.exit_code == 143 and not detail:
        detail = STOPPED
    message = "; ".join(m for m in (detail, event.message) if m) or (
        f"the pod ended (exit code {event.exit_code}) without writing a result: {exc}")
    return NodeResult(node=plan.node.name,
                      exit_code=-1 if event.exit_code is None else event.exit_code,
                      error_type=event.reason or "NoResult", error_message=message)


def read_stored(plan: NodePlan, key: bytes | None, exit_code: int | None = None
                ) -> NodeResult | None:
    """The node's result as stored: authenticated, or a failed one naming why it was
    refused; ``None`` when there is none.

    Only a result sealed for this node's URI with ``key`` (the key of the attempt the
    driver waits for) is trusted; a forged, replayed or malformed one, or anything
    planted at its URI, makes the node fail, naming it.

    Raises:
        StoreError: The store could not be read (other than a missing object).
    """
    try:
        return read_trusted(plan.result_uri, key)
    except (SealError, StoreObjectError) as exc:
        return NodeResult(node=plan.node.name, exit_code=-1 if exit_code is None else exit_code,
                          error_type=type(exc).__name__, error_message=str(exc))


def checked(plan: NodePlan, result: NodeResult, exit_code: int | None) -> NodeResult:
    """``result`` with its node name and exit code checked against the Job's."""
    if result.node == "?":  # the pod failed before it could read (verify) its spec
        result.node = plan.node.name
    if result.node != plan.node.name:
        result.status = Status.FAILED
        result.error_message = (f"result {plan.result_uri} names another node "
                                f"('{result.node}')")
    if exit_code not in (None, result.exit_code, 0) and result.status == Status.SUCCEEDED \
            and plan.group is None:
        result.status = Status.FAILED
        result.exit_code = exit_code
        result.error_message = f"the pod's exit code was {exit_code}"
    return result


def read_result(plan: NodePlan, event: JobEvent, key: bytes | None) -> NodeResult:
    """The node's authenticated result, or a failed one saying why there is none.

    A refused object is not the node's story: the reason comes from the Job (exit code,
    OOMKilled, deadline, …), with a note that the object at the result's URI was ignored.
    """
    try:
        result = read_stored(plan, key, event.exit_code)
    except StoreError as exc:
        return _missing(plan, event, exc)
    if result is None:
        return _missing(plan, event, store.ObjectNotFound(f"no object at {plan.result_uri}"))
    if result.error_type in _REFUSED:  # made here, by read_stored: not the pod's
        refused = _missing(plan, event, store.ObjectNotFound("no trusted result"))
        refused.error_type = result.error_type
        refused.error_message = (f"{refused.error_message}; the object at its result's URI "
                                 f"was ignored: {result.error_message}")
        return refused
    return checked(plan, result, event.exit_code)


def output_digests(plan: NodePlan, result: NodeResult) -> dict[str, str]:
    """The digests a successful result reports for the outputs that need one.

    Raises:
        StoreObjectError: An output that must be pinned has no digest.
    """
    digests = {}
    for name, entry in plan.outputs.items():
        if not reported_digest(entry):
            continue
        digest = result.output_digest(name)
        if not digest:
            raise StoreObjectError(f"the pod reported no digest for output '{name}'")
        digests[name] = digest
    return digests


def output_sizes(plan: NodePlan, result: NodeResult) -> dict[str, int]:
    """The sizes a result reports beside the digests of :func:`output_digests`."""
    sizes = {}
    for name, entry in plan.outputs.items():
        size = (result.outputs.get(name) or {}).get("bytes")
        if reported_digest(entry) and isinstance(size, int) and size >= 0:
            sizes[name] = size
    return sizes


def read_finished(plan: NodePlan, key: bytes | None) -> NodeResult | None:
    """The sealed, successful result of the attempt the run recorded (resume), or ``None``.

    Raises:
        SealError: Something is at the result's URI that this attempt did not seal.
        StoreObjectError: Something planted there (a folder, a link, garbage).
    """
    result = read_trusted(plan.result_uri, key)
    if result is None:
        return None
    if result.status != Status.SUCCEEDED or result.node != plan.node.name:
        return None
    try:
        output_digests(plan, result)
    except StoreObjectError:
        return None
    return result
