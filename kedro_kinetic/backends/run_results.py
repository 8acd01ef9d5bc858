"""Read a run's results back from the store, trusting only sealed ones.

Used by the CLI's status: a result counts only when it is sealed for its own
URI with the key of the attempt a trusted record names for its node (see
:mod:`kedro_kinetic.wire.result` and :mod:`kedro_kinetic.wire.seal`); anything else under
``results/`` (forged, from another attempt, or of a node with no recorded
attempt) is reported as rejected, never shown as a node's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kedro_kinetic import store
from kedro_kinetic.errors import KineticError
from kedro_kinetic.store.layout import RunLayout
from kedro_kinetic.store.trusted_result import read_trusted
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.result import Status

if TYPE_CHECKING:
    from kedro_kinetic.backends.base import NodeStatus
    from kedro_kinetic.wire.result import NodeResult


@dataclass
class RunResults:
    """The authentic results of a run, by node key, and the objects refused."""

    by_key: dict[str, NodeResult] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # uri -> why


def read_run_results(root: str, key: bytes, attempts: dict[str, str]) -> RunResults:
    """Every trusted result under the run's ``results/`` folder.

    Args:
        root: The run's folder in the store.
        key: The run's key.
        attempts: ``{node key: attempt}`` from a trusted record (the backend's).
    """
    layout = RunLayout(root, write=False)
    found = RunResults()
    try:
        listed = store.list_objects(layout.results_prefix)
    except KineticError as exc:
        found.rejected[layout.results_prefix] = str(exc)
        return found
    for uri in listed:
        node_key = uri.rsplit("/", 1)[-1].removesuffix(".json")
        if uri != layout.result_uri(node_key):
            found.rejected[uri] = "not a result's name"
            continue
        attempt = attempts.get(node_key)
        try:
            result = read_trusted(uri, None if attempt is None
                                  else seal.attempt_key(key, attempt))
        except KineticError as exc:
            found.rejected[uri] = str(exc)
            continue
        if result is not None:
            found.by_key[node_key] = result
    return found


def with_group_nodes(rows: list[NodeStatus], results: dict[str, NodeResult]
                     ) -> list[NodeStatus]:
    """Status rows with one row per node of a group (from its sealed result).

    A group's Job keeps its own row (``group:<name>``: the Job's state, and where
    ``kedro kinetic logs`` finds the pod's output); each of its nodes gets a row
    of its own, with its own state and duration, once its result is in.
    """
    from kedro_kinetic.backends.base import NodeStatus

    shown = {row.key for row in rows}
    out = list(rows)
    for key, result in results.items():
        if key in shown:
            continue
        row = NodeStatus(result.node, "-", key, result.status, result.duration)
        if result.status != Status.SUCCEEDED:
            row.detail = f"{result.error_type}: {result.error_message}"
        out.append(row)
    return sorted(out, key=lambda r: r.node)
