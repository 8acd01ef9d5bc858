"""Read a run's results back from the store, trusting only sealed ones.

Used by the CLI's status and by resume: a result counts only when it is sealed
with the run's key for its own URI (see :mod:`kedro_kinetic.result`); anything
else under ``results/`` is reported as rejected, never shown as a node's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kedro_kinetic import store
from kedro_kinetic.errors import KineticError
from kedro_kinetic.layout import RunLayout
from kedro_kinetic.result import NodeResult, read_sealed


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
            found.by_key[node_key] = read_sealed(store.read_bytes(uri), key, uri)
        except KineticError as exc:
            found.rejected[uri] = str(exc)
    return found
