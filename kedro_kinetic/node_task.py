"""One node's journey through the driver: hooks, pinning, submission, outcome.

The counterpart of Kedro's ``kedro/runner/task.py::Task``: the scheduler loop
(:mod:`kedro_kinetic.scheduler`) calls :meth:`NodeTasks.submit` when a node is
ready and :meth:`NodeTasks.finish` when the backend reports it ended. Kedro's
node hooks are fired here with the original ``Node`` objects and every
argument of their spec; the data itself never passes through the driver, so
hooks see :class:`~kedro_kinetic.remote_data.RemoteData` placeholders.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro_kinetic.errors import StoreObjectError
from kedro_kinetic.outcome import RemoteNodeError, output_digests, read_result
from kedro_kinetic.plan import put_content
from kedro_kinetic.progress import NodeState
from kedro_kinetic.remote_data import RemoteData
from kedro_kinetic.remote_errors import remote_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro.io import CatalogProtocol
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

    from kedro_kinetic.backends.base import Backend, JobEvent
    from kedro_kinetic.config import RunConfig
    from kedro_kinetic.plan import NodePlan, Planner
    from kedro_kinetic.progress import Progress
    from kedro_kinetic.result import NodeResult

logger = logging.getLogger(__name__)


@dataclass
class RunContext:
    """Everything one run's nodes share in the driver."""

    config: RunConfig
    plans: dict[Node, NodePlan]
    planner: Planner
    backend: Backend
    key: bytes
    catalog: CatalogProtocol
    hooks: PluginManager
    run_id: str
    is_async: bool = False
    digests: dict[str, str] = field(default_factory=dict)
    progress: Progress | None = None
    results: dict[str, NodeResult] = field(default_factory=dict)
    #: node name -> {"submitted": t, "finished_seen": t} (driver clock, time.time())
    timeline: dict[str, dict[str, float]] = field(default_factory=dict)


def placeholders(entries: dict[str, dict[str, Any]], digests: dict[str, str]) -> dict[str, Any]:
    """What hooks see for a node's datasets: parameter values, or remote placeholders."""
    out: dict[str, Any] = {}
    for name, entry in entries.items():
        if entry["kind"] == "param":
            out[name] = entry["value"]
        else:
            out[name] = RemoteData(name, entry.get("uri"), digests.get(name))
    return out


def patch_manifest(hooks: PluginManager, plan: NodePlan, run_id: str) -> dict[str, Any]:
    """Let project hooks patch the Job, then validate the result again."""
    from kedro_kinetic.manifest import check_patched

    caller = getattr(hooks.hook, "kinetic_job_manifest", None)
    if caller is None or not caller.get_hookimpls():
        return plan.manifest  # no project hook: nothing to copy or check again
    patched = copy.deepcopy(plan.manifest)
    for returned in caller(manifest=patched, node=plan.node, settings=plan.settings,
                           run_id=run_id):
        if returned is not None:
            patched = returned
    return check_patched(plan.manifest, patched, plan.node.name)


class NodeTasks:
    """The :class:`~kedro_kinetic.scheduler.NodeOps` of a GKERunner run."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def show(self, node: Node, state: NodeState, detail: str = "") -> None:
        if self.ctx.progress is not None:
            self.ctx.progress.update(node.name, state, detail)

    # -- submission ---------------------------------------------------------------
    def submit(self, node: Node) -> Callable[[], None]:
        """Fire ``before_node_run`` and pin the node's spec; return the I/O still to do.

        Hooks and pinning stay on the scheduler's thread; the returned callable
        stores the spec and manifest and creates the Job on a submitter thread.
        """
        ctx, plan = self.ctx, self.ctx.plans[node]
        inputs = placeholders(plan.inputs, ctx.digests)
        responses = ctx.hooks.hook.before_node_run(
            node=node, catalog=ctx.catalog, inputs=inputs, is_async=ctx.is_async,
            run_id=ctx.run_id) or []
        for response in responses:
            if not response:
                continue
            if not isinstance(response, dict):
                raise TypeError(
                    f"'before_node_run' must return either None or a dictionary mapping "
                    f"dataset names to updated values, got '{type(response).__name__}' instead."
                )
            self._replace_inputs(plan, ctx.planner, response)
        writes: list[Callable[[], None]] = []
        ctx.planner.finalise(plan, ctx.digests, writes)
        plan.manifest = patch_manifest(ctx.hooks, plan, ctx.run_id)
        self.show(node, NodeState.SUBMITTED, plan.ident.job_name)

        def dispatch() -> None:  # I/O only: runs on a submitter thread
            for write in writes:
                write()
            ctx.backend.submit(plan.manifest, node.name)
            ctx.timeline[node.name] = {"submitted": time.time()}
            ctx.planner.record(plan)  # for audits; nothing reads it back as trusted
            logger.debug("Submitted node: %s (job %s)", node.name, plan.ident.job_name)

        return dispatch

    @staticmethod
    def _replace_inputs(plan: NodePlan, planner: Planner, values: dict[str, Any]) -> None:
        """Inputs replaced by a ``before_node_run`` hook travel pinned, like intermediates."""
        import cloudpickle

        for name, value in values.items():
            if name in plan.inputs:
                uri, digest = put_content(planner.layout, cloudpickle.dumps(value))
                plan.inputs[name] = {"kind": "pickle", "uri": uri, "sha256": digest}

    # -- outcome -------------------------------------------------------------------
    def finish(self, node: Node, event: JobEvent) -> RemoteNodeError | None:
        """Read the node's sealed result, pin its outputs' digests, fire its hooks."""
        ctx, plan = self.ctx, self.ctx.plans[node]
        ctx.timeline.setdefault(node.name, {})["finished_seen"] = time.time()
        result = read_result(plan, event, ctx.key)
        ctx.results[node.name] = result
        inputs = placeholders(plan.inputs, ctx.digests)
        if event.exit_code == 0 and result.status == "succeeded":
            try:
                ctx.digests.update(output_digests(plan, result))
            except StoreObjectError as exc:
                result.status, result.error_message = "failed", str(exc)
            else:
                outputs = placeholders(plan.outputs, ctx.digests)
                ctx.hooks.hook.after_node_run(node=node, catalog=ctx.catalog, inputs=inputs,
                                              outputs=outputs, is_async=ctx.is_async,
                                              run_id=ctx.run_id)
                return None
        error = remote_error(node.name, result, event.reason,  # keeps the node's error type
                             f"Logs: kedro kinetic logs {ctx.run_id} {node.name}")
        ctx.hooks.hook.on_node_error(error=error, node=node, catalog=ctx.catalog, inputs=inputs,
                                     is_async=ctx.is_async, run_id=ctx.run_id)
        return error
