"""kedro-viz integration: remote runs in the Workflow view, Job settings in the node panel.

kedro-viz 12.5 draws its Workflow view (``/workflow``) from ``/api/run-status``,
which reads ``.viz/kedro_pipeline_events.json``. Its own writer,
``PipelineRunStatusHook``, records only runs whose ``str(runner)`` names
``SequentialRunner``, so a ``GKERunner`` run would be skipped silently. Here
the plugin writes that file itself, in kedro-viz's event format, from what the
pods reported (:class:`~kedro_kinetic.wire.result.NodeResult`): each node's status,
its duration measured by the pod's own clock, the remote error and traceback,
and the sizes of the datasets it read and wrote where they are known.

Everything kedro-viz-specific (where the file lives, how ids are hashed, which
runs count as full runs, how file sizes are read) is taken from kedro-viz
itself through :func:`load_contract`; when kedro-viz is not installed, or is
outside :data:`SUPPORTED_KEDRO_VIZ`, nothing is written.

Next to the events, ``.viz/kedro_kinetic_run.json`` records each node's
Kubernetes settings (image, resources, GPU/TPU, spot, deadline, retries) and
its pod timings. :func:`with_kinetic_preview` gives nodes a Kedro
``preview_fn`` that renders that record in kedro-viz's node panel.

This module imports only the standard library at import time: the pod may
import it when it unpickles a node that carries a :class:`KineticPreview`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_kinetic.wire.result import Status

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline

    from kedro_kinetic.driver.activation import RunState
    from kedro_kinetic.planning.node_plan import NodePlan
    from kedro_kinetic.wire.result import NodeResult

from kedro_kinetic.plugin.viz_contract import (
    RECORD_FILE,
    SUPPORTED_KEDRO_VIZ,
    VizContract,
    is_supported,
    load_contract,
)
from kedro_kinetic.plugin.viz_events import (
    RecordedNode,
    _now,
    build_events,
    iso,
    node_error_text,
    node_runs,
)

__all__ = ["SUPPORTED_KEDRO_VIZ", "KineticPreview", "RecordedNode", "VizContract", "build_events",
           "is_supported", "load_contract", "preview_text", "record_run", "with_kinetic_preview"]

logger = logging.getLogger(__name__)

#: kedro-viz versions whose event format, file location and id scheme this
#: module follows (also the ``viz`` extra of the package).
RECORD_FORMAT = "kedro-kinetic/viz-run@1"
#: A record larger than this is not one the plugin wrote (it holds a few lines per node).
RECORD_MAX_BYTES = 16 * 1024 * 1024

_clock: dict[str, float] = {}
#: The plans dict of the last run recorded in this process: a run that fails
#: before planning leaves the previous run's plans in the shared state.
_recorded: dict[str, Any] = {}


# -- hook entry points ------------------------------------------------------------

def note_node_submitted() -> None:
    """Remember when the run submitted its first node (the pipeline's start)."""
    _clock.setdefault("first_submit", datetime.now(timezone.utc).timestamp())


class _SequentialOnlyNotice(logging.Filter):
    """Drops kedro-viz's notice that it tracks SequentialRunner runs only: for GKERunner
    runs kedro-kinetic writes the Workflow view's events itself (:func:`record_run`), so
    the notice would contradict the line that says so."""

    PREFIX = "Workflow tracking is disabled for non-sequential runners"

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.PREFIX)


def quiet_sequential_only_notice() -> None:
    """Silence kedro-viz's "non-sequential runners" notice for this GKERunner run (only
    when kedro-viz is supported, i.e. when this module records the run instead)."""
    if load_contract() is None:
        return
    viz_logger = logging.getLogger("kedro_viz.integrations.kedro.run_hooks")
    if not any(isinstance(f, _SequentialOnlyNotice) for f in viz_logger.filters):
        viz_logger.addFilter(_SequentialOnlyNotice())


def record_run(state: RunState, run_params: Mapping[str, Any], pipeline: Pipeline | None,
               catalog: Any, error: BaseException | None = None) -> Path | None:
    """Write kedro-viz's events file and the Job record for a finished GKERunner run.

    Called from the plugin's ``after_pipeline_run`` / ``on_pipeline_error``
    hooks. Never raises: a problem here is logged and the run's own outcome
    stands.

    Returns:
        The events file written, or ``None`` when nothing was written.
    """
    started = _clock.pop("first_submit", None)
    stale = state.plans is _recorded.get("plans")
    _recorded["plans"] = state.plans
    plans, results = ({}, {}) if stale else (state.plans, state.results)
    if not plans and error is None:  # nothing ran (--only-missing-outputs, all present)
        return None
    try:
        return _record_run(state.project_path, dict(run_params), plans, results, pipeline,
                           catalog, error, started, cached={} if stale else state.cached)
    except Exception as exc:
        logger.warning("kedro-kinetic: could not record the run for kedro-viz: %s", exc)
        return None


def _record_run(project_path: Path | None, run_params: dict[str, Any],
                plans: Mapping[Any, NodePlan], results: Mapping[str, NodeResult],
                pipeline: Pipeline | None, catalog: Any, error: BaseException | None,
                started: float | None, *, cached: Mapping[str, str] | None = None
                ) -> Path | None:
    contract = load_contract()
    if contract is None:
        return None
    if not contract.is_default_run(run_params):
        logger.debug(  # kedro-viz says so itself (a warning of its own)
            "kedro-kinetic: like kedro-viz for SequentialRunner, partial runs are not "
            "recorded for the Workflow view; `%s` is kept as it was.",
            Path(contract.metadata_dir) / contract.events_file,
        )
        return None
    project = Path(project_path or run_params.get("project_path") or Path.cwd())
    runs = node_runs(plans, results, cached)
    # the runner's own run id (a resumed run keeps the id of the run it resumes)
    run_id = next((str(r.plan.ident.run_id) for r in runs), str(run_params.get("run_id") or ""))
    ordered = list(pipeline.nodes) if pipeline is not None else []
    events = build_events(runs, ordered, contract, catalog, error, started)
    path = contract.events_path(project)
    write_json(path, events)
    write_json(contract.record_path(project), build_record(runs, run_id, run_params))
    logger.debug("kedro-kinetic: %d remote node(s) recorded for kedro-viz's Workflow view in %s "
                "(kedro-viz records SequentialRunner runs itself, GKERunner runs are written "
                "here)", sum(1 for r in runs if r.result is not None), path)
    return path


# -- the Job record and the node panel ------------------------------------------------

def settings_summary(plan: NodePlan) -> dict[str, Any]:
    """The Kubernetes settings of a node, as shown in kedro-viz (no env values)."""
    s = plan.settings
    out: dict[str, Any] = {"image": s.image, "cpu": s.cpu, "memory": s.memory}
    if s.cpu_limit:
        out["cpu_limit"] = s.cpu_limit
    out["memory_limit"] = s.memory_limit or s.memory
    if s.ephemeral_storage:
        out["ephemeral_storage"] = s.ephemeral_storage
    out["gpu"] = {"type": s.gpu.type, "count": s.gpu.count} if s.gpu else None
    if s.tpu:
        out["tpu"] = {"type": s.tpu.type, "topology": s.tpu.topology, "count": s.tpu.count}
    out["spot"] = s.spot
    out["deadline_seconds"] = s.deadline_seconds
    out["retries"] = s.retries
    if s.service_account:
        out["service_account"] = s.service_account
    if s.node_selector:
        out["node_selector"] = dict(s.node_selector)
    return out


def _last_run(result: NodeResult | None, cached_from: str | None = None) -> dict[str, Any]:
    if result is None:
        return {"status": "not started"}
    if cached_from is not None:
        return {"status": "cached", "cached_from": cached_from}
    out: dict[str, Any] = {
        "status": "success" if result.status == Status.SUCCEEDED else "failed",
        "duration_seconds": round(result.duration, 3) if result.duration is not None else None,
        "started_at": iso(result.started_at),
        "finished_at": iso(result.finished_at),
        "exit_code": result.exit_code,
    }
    if result.status != Status.SUCCEEDED:
        out["error"] = node_error_text(result)
    return out


def build_record(runs: list[RecordedNode], run_id: str, run_params: Mapping[str, Any]) -> dict:
    """The per-node Job record kept next to kedro-viz's events."""
    nodes = {}
    for run in runs:
        metadata = (run.plan.manifest or {}).get("metadata", {})
        nodes[run.node.name] = {
            "job": run.plan.ident.job_name,
            "namespace": metadata.get("namespace"),
            "kubernetes": settings_summary(run.plan),
            "last_run": _last_run(run.result, run.cached_from),
        }
    return {
        "format": RECORD_FORMAT,
        "run_id": run_id,
        "pipelines": list(run_params.get("pipeline_names") or ["__default__"]),
        "recorded_at": _now(),
        "nodes": nodes,
    }


def write_json(path: Path, document: Any) -> None:
    """Write JSON atomically, so kedro-viz never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf8") as handle:
            json.dump(document, handle, indent=2, default=str)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_record(start: Path | None = None) -> dict[str, Any] | None:
    """The Job record of the project around ``start`` (default: the working directory)."""
    from kedro.utils import find_kedro_project

    project = find_kedro_project((start or Path.cwd()).resolve())
    if project is None:
        return None
    metadata_dir = ".viz"
    contract = load_contract()
    if contract is not None:
        metadata_dir = contract.metadata_dir
    from kedro_kinetic import store
    from kedro_kinetic.errors import KineticError

    path = Path(project) / metadata_dir / RECORD_FILE
    try:  # a regular file, no link, bounded: kedro-viz calls this on its event loop
        document = json.loads(store.read_bytes(path.as_uri(), RECORD_MAX_BYTES))
    except (KineticError, ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or document.get("format") != RECORD_FORMAT:
        return None
    return document


def preview_text(node_name: str, record: Mapping[str, Any] | None) -> str:
    """YAML shown in kedro-viz's node panel for ``node_name``: settings first."""
    import yaml

    nodes = (record or {}).get("nodes")
    entry = nodes.get(node_name) if isinstance(nodes, dict) else None
    if record is None or not isinstance(entry, dict):
        return (
            "# kedro-kinetic: no GKERunner run of this node is recorded yet.\n"
            "# Run `kedro run --runner=kedro_kinetic.GKERunner` with kedro-viz installed.\n"
        )
    settings, last_run = entry.get("kubernetes"), entry.get("last_run")
    body = {
        **(settings if isinstance(settings, dict) else {}),
        "job": entry.get("job"),
        "namespace": entry.get("namespace"),
        "last_run": {"run_id": record.get("run_id"),
                     **(last_run if isinstance(last_run, dict) else {})},
    }
    header = "# kedro-kinetic: the Kubernetes Job of this node\n"
    try:
        return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
    except (yaml.YAMLError, RecursionError):
        return f"# kedro-kinetic: {RECORD_FILE} is malformed; the next GKERunner run rewrites it\n"


@dataclass(frozen=True)
class KineticPreview:
    """A Kedro ``preview_fn`` showing a node's last kedro-kinetic Job in kedro-viz."""

    node_name: str

    def __call__(self) -> Any:
        from kedro.pipeline.preview_contract import TextPreview

        return TextPreview(content=preview_text(self.node_name, read_record()),
                           meta={"language": "yaml"})


def _with_preview(pipeline: Pipeline) -> Pipeline:
    from kedro.pipeline import Pipeline

    nodes = []
    with warnings.catch_warnings():
        # Kedro flags preview_fn as experimental once per process; the
        # contract test watches the feature instead.
        warnings.filterwarnings("ignore", message=".*preview_fn.*experimental")
        for original in pipeline.nodes:
            node = original
            if getattr(original, "_preview_fn", None) is None:
                node = original._copy(preview_fn=KineticPreview(original.name))
            nodes.append(node)
    return Pipeline(nodes)


def with_kinetic_preview(pipelines: Any) -> Any:
    """Give every node a ``preview_fn`` that shows its kedro-kinetic Job in kedro-viz.

    Use it last in ``register_pipelines()`` (after any namespacing), on the
    mapping of pipelines or on one pipeline. Nodes that already have a
    ``preview_fn`` keep theirs. Node names, ids and equality are unchanged.
    """
    if isinstance(pipelines, Mapping):
        return {name: _with_preview(p) for name, p in pipelines.items()}
    return _with_preview(pipelines)
