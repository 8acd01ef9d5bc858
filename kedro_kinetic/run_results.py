"""Read a run's results back from the store, trusting only sealed ones.

Used by the CLI's status and by resume: a result counts only when it is sealed
with the run's key for its own URI (see :mod:`kedro_kinetic.result`); anything
else under ``results/`` is reported as rejected, never shown as a node's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kedro_kinetic import store
from kedro_kinetic.errors import KineticError
from kedro_kinetic.layout import RunLayout
from kedro_kinetic.result import MAX_RESULT_BYTES, NodeResult, read_sealed

if TYPE_CHECKING:
    from kedro_kinetic.backends.base import NodeStatus


@dataclass
class RunResults:
    """The authentic results of a run, by node key, and the objects refused."""

    by_key: dict[str, NodeResult] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)  # uri -> why


def read_run_results(root: str, key: bytes) -> RunResults:
    """Every sealed result under the run's ``results/`` folder."""
    layout = RunLayout(root, write=False)
    found = RunResults()
    for uri in store.list_objects(layout.results_prefix):
        node_key = uri.rsplit("/", 1)[-1].removesuffix(".json")
        if uri != layout.result_uri(node_key):
            found.rejected[uri] = "not a result's name"
            continue
        try:
            data = store.read_bytes(uri, MAX_RESULT_BYTES)
            found.by_key[node_key] = read_sealed(data, key, uri)
        except KineticError as exc:
            found.rejected[uri] = str(exc)
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
        if result.status != "succeeded":
            row.detail = f"{result.error_type}: {result.error_message}"
        out.append(row)
    return sorted(out, key=lambda r: r.node)
