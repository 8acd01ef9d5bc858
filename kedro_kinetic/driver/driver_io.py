"""The only data the driver itself moves: its in-memory inputs in, free outputs out.

Pipeline inputs that exist only in the driver's memory (a ``MemoryDataset``
given in code, a value passed to ``session.run``) are pickled into the run's
store, content-addressed and pinned like any intermediate. Free outputs are
handed back as datasets that load only after the bytes match the digest the
producing pod reported in its sealed result. Free outputs of the catalog read
their local files only under the data roots and never through a link
(:func:`kedro_kinetic.confine.datasets.confine_dataset`): the dataset objects
handed back are confined, the driver's process is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro_kinetic import store
from kedro_kinetic.driver.remote_data import PinnedPickleDataset, RefusedFreeOutput
from kedro_kinetic.planning.node_plan import put_content, reported_digest
from kedro_kinetic.wire import pinned_files

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

    from kedro_kinetic.planning.node_plan import NodePlan
    from kedro_kinetic.store.layout import RunLayout
    from kedro_kinetic.wire.data_paths import ResolvedRoots


def upload_driver_inputs(pipeline: Pipeline, catalog: CatalogProtocol,
                         plans: dict[Node, NodePlan], layout: RunLayout,
                         sizes: dict[str, int] | None = None) -> dict[str, str]:
    """Store the pipeline inputs held only in the driver's memory; return their digests
    (and record their sizes in ``sizes``, pinned beside the digests).

    Raises:
        ValueError: A pipeline input is not in the catalog (Kedro's own wording).
    """
    import cloudpickle

    digests: dict[str, str] = {}
    free_inputs = pipeline.inputs()  # computed once: it walks the whole pipeline
    wanted = {
        name for plan in plans.values() for name, entry in plan.inputs.items()
        if entry["kind"] == "pickle" and name in free_inputs
    }
    for name in sorted(wanted):
        if name not in catalog:
            raise ValueError(
                f"Pipeline input(s) {{'{name}'}} not found in the "
                f"{catalog.__class__.__name__}"
            )
        blob = cloudpickle.dumps(catalog.load(name))
        store.write_bytes(layout.data_uri(name), blob)
        digests[name] = put_content(layout, blob)[1]
        if sizes is not None:
            sizes[name] = len(blob)
    return digests


def free_outputs(pipeline: Pipeline, catalog: CatalogProtocol, plans: dict[Node, NodePlan],
                 digests: dict[str, str], roots: ResolvedRoots | None = None, *,
                 sizes: dict[str, int] | None = None,
                 trusted: frozenset[str] = frozenset(),
                 locations: dict[str, str] | None = None) -> dict[str, Any]:
    """``{name: dataset}`` of the pipeline's free outputs, each verified on ``.load()``.

    A free output whose loading runs code (a pickle) loads only bytes that match the digest
    its producer reported; one that cannot be pinned (partitions of pickles) is refused on
    ``.load()`` unless settings.py trusts it, like such an input.

    Args:
        roots: The run's data roots: the catalog's datasets among them read local files
            only there, never through a link.
        sizes: The sizes the producers reported beside the digests.
        trusted: ``KINETIC_TRUSTED_DATA``: loaded as Kedro would, unverified.
        locations: Intermediates reused from an earlier run (the node cache): where.
    """
    from kedro_kinetic.confine.datasets import confine_dataset

    entries = {n: e for p in plans.values() for n, e in p.outputs.items()}
    out = {}
    for name in pipeline.outputs():
        entry = entries.get(name)
        if entry is not None and entry["kind"] == "pickle":
            catalog[name] = PinnedPickleDataset((locations or {}).get(name, entry["uri"]),
                                                digests[name], (sizes or {}).get(name))
        elif entry is not None and entry["kind"] == "catalog" and roots is not None:
            confine_dataset(catalog[name], name, roots)
        if entry is not None and entry["kind"] == "catalog" and reported_digest(entry):
            pinned_files.pin(catalog[name], name, digests.get(name),  # .load() verifies
                             (sizes or {}).get(name))
        elif entry is not None and entry["kind"] == "catalog" and name not in trusted \
                and pinned_files.loads_code(entry.get("config")):
            catalog[name] = RefusedFreeOutput(name, {"config": entry.get("config")})
        out[name] = catalog[name]
    return out
