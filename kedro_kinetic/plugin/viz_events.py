"""kedro-viz's run events for a GKERunner run, built from the pods' sealed results.

kedro-viz 12.5 reads ``.viz/kedro_pipeline_events.json`` for its Workflow
view; this module builds that list in its format (node start/end with the
pod's own duration, dataset sizes where known, the remote error) from what
the driver authenticated. Writing the file is :mod:`kedro_kinetic.plugin.viz`'s job.
"""

from __future__ import annotations

import html
import traceback as tb
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from kedro_kinetic.wire.result import Status

if TYPE_CHECKING:
    from kedro.pipeline.node import Node

    from kedro_kinetic.planning.node_plan import NodePlan
    from kedro_kinetic.plugin.viz_contract import VizContract
    from kedro_kinetic.wire.result import NodeResult

#: kedro-viz's placeholder status for a dataset that was read or written.
DATASET_AVAILABLE = "Available"


# -- what the run produced --------------------------------------------------------

@dataclass(frozen=True)
class RecordedNode:
    """One planned node of the run, with its pod's result once it finished."""

    node: Node
    plan: NodePlan
    result: NodeResult | None
    #: The run whose cached execution stands for this node's (it did not run).
    cached_from: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.result is not None and self.result.status == Status.SUCCEEDED


def node_runs(plans: Mapping[Any, NodePlan], results: Mapping[str, NodeResult],
              cached: Mapping[str, str] | None = None) -> list[RecordedNode]:
    """The planned nodes; finished ones first, in the order their pods ended (``cached``:
    node name -> the run a cached node came from)."""
    cached = cached or {}
    runs = [RecordedNode(node, plan, results.get(node.name), cached.get(node.name))
            for node, plan in plans.items()]

    def order(run: RecordedNode) -> tuple[int, float, str]:
        if run.result is None:
            return (1, 0.0, run.node.name)
        return (0, run.result.finished_at or 0.0, run.node.name)

    return sorted(runs, key=order)


def iso(timestamp: float | None) -> str | None:
    """An epoch timestamp as kedro-viz writes times (ISO 8601, UTC)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class DatasetSizes:
    """Sizes in bytes: reported by the pods for pickled data, else read from the catalog."""

    def __init__(self, runs: Iterable[RecordedNode], contract: VizContract, catalog: Any) -> None:
        self._reported: dict[str, int] = {}
        for run in runs:
            for name, info in (run.result.outputs if run.result else {}).items():
                size = info.get("bytes") if isinstance(info, Mapping) else None
                if isinstance(size, int) and not isinstance(size, bool):
                    self._reported[name] = size
        self._contract = contract
        self._catalog = catalog
        self._cache: dict[str, int] = {}

    def __getitem__(self, name: str) -> int:
        if name in self._reported:
            return self._reported[name]
        if name not in self._cache:
            self._cache[name] = self._from_catalog(name)
        return self._cache[name]

    def _from_catalog(self, name: str) -> int:
        if self._catalog is None or name.startswith("params:") or name == "parameters":
            return 0
        try:
            return int(self._contract.compute_size(name, self._catalog) or 0)
        except Exception:
            return 0


def _dataset_event(event: str, name: str, size: int, contract: VizContract) -> dict[str, Any]:
    return {"event": event, "dataset": name, "node_id": contract.hash_dataset(name),
            "status": DATASET_AVAILABLE, "size": size}


def _inputs_were_loaded(result: NodeResult) -> bool:
    return result.status == Status.SUCCEEDED or result.phase in ("run", "save", "done")


def node_error_text(result: NodeResult) -> str:
    """The remote error as Python prints it last: ``Type: message`` (``builtins.`` dropped)."""
    message = result.error_message or "the node failed without an error message"
    kind = (result.error_type or "").removeprefix("builtins.")
    return f"{kind}: {message}" if kind else message


def as_html_text(text: str) -> str:
    """``text`` for a field kedro-viz inserts as HTML (an error's ``message``).

    Error messages quote data (a bad CSV cell, a column name), which a dataset's author
    chooses; unescaped, ``<img onerror=...>`` in one runs in the kedro-viz page.
    Tracebacks are shown through a highlighter that escapes them itself: not these.
    """
    return html.escape(text, quote=False)


def node_events(run: RecordedNode, sizes: DatasetSizes,
                contract: VizContract) -> list[dict[str, Any]]:
    """kedro-viz events for one finished node, as its own hook would write them.

    A failed node gets an ``after_node_run`` with status ``failed`` (so its
    pod-measured duration is kept) followed by ``on_node_error`` with the
    remote error and traceback. A cached node did not run: no node event (kedro-viz
    shows it as skipped), its outputs available.
    """
    result = run.result
    if result is None:
        return []
    if run.cached_from is not None:
        return [_dataset_event("after_dataset_saved", name, sizes[name], contract)
                for name in run.node.outputs]
    node_id = contract.hash_node(run.node)
    events: list[dict[str, Any]] = []
    if _inputs_were_loaded(result):
        events += [_dataset_event("after_dataset_loaded", name, sizes[name], contract)
                   for name in run.node.inputs]
    events.append({
        "event": "after_node_run",
        "node": run.node.name,
        "node_id": node_id,
        "duration": result.duration or 0.0,
        "status": "success" if run.succeeded else "failed",
    })
    if run.succeeded:
        events += [_dataset_event("after_dataset_saved", name, sizes[name], contract)
                   for name in run.node.outputs]
    else:
        events.append({
            "event": "on_node_error",
            "node": run.node.name,
            "node_id": node_id,
            "error": as_html_text(node_error_text(result)),
            "timestamp": iso(result.finished_at) or _now(),
            "traceback": result.traceback or "",
        })
    return events


def pipeline_error_event(error: BaseException, runs: list[RecordedNode], ordered: list[Node],
                         contract: VizContract) -> dict[str, Any]:
    """kedro-viz's ``on_pipeline_error`` event, pointing at the failed (or first unstarted) node."""
    event: dict[str, Any] = {
        "event": "on_pipeline_error",
        "error": as_html_text(str(error)),
        "timestamp": _now(),
        "traceback": "".join(tb.format_exception(type(error), error, error.__traceback__)),
    }
    failed = next((r for r in runs if r.result is not None and not r.succeeded), None)
    if failed is not None:
        event.update(node=failed.node.name, node_id=contract.hash_node(failed.node))
        return event
    done = {r.node.name for r in runs if r.result is not None}
    unstarted = next((n for n in ordered if n.name not in done), None)
    if unstarted is not None:
        event.update(node=unstarted.name, node_id=contract.hash_node(unstarted),
                     status="not_started")
    return event


def build_events(runs: list[RecordedNode], ordered: list[Node], contract: VizContract, catalog: Any,
                 error: BaseException | None = None,
                 started: float | None = None) -> list[dict[str, Any]]:
    """All events of one run, in kedro-viz's ``kedro_pipeline_events.json`` format.

    Args:
        runs: The run's nodes (see :func:`node_runs`).
        ordered: The pipeline's nodes in Kedro's order (for the error hint).
        contract: kedro-viz's helpers.
        catalog: The run's catalog, for file sizes of catalog datasets.
        error: The pipeline's error, if it failed.
        started: When the first node was submitted (epoch seconds).
    """
    if started is None:
        starts = [r.result.started_at for r in runs if r.result and r.result.started_at]
        started = min(starts) if starts else None
    events: list[dict[str, Any]] = [
        {"event": "before_pipeline_run", "timestamp": iso(started) or _now()}
    ]
    sizes = DatasetSizes(runs, contract, catalog)
    for run in runs:
        events += node_events(run, sizes, contract)
    if error is None:
        events.append({"event": "after_pipeline_run", "timestamp": _now()})
    else:
        events.append(pipeline_error_event(error, runs, ordered, contract))
    return events
