"""One node's journey through the driver: hooks, pinning, submission, outcome.

The counterpart of Kedro's ``kedro/runner/task.py::Task``: the scheduler loop
(:mod:`kedro_kinetic.driver.scheduler`) calls :meth:`NodeTasks.submit` when a node is
ready and :meth:`NodeTasks.settle_from_result` when the backend reports it ended. Kedro's
node hooks are fired here with the original ``Node`` objects and every
argument of their spec; the data itself never passes through the driver, so
hooks see :class:`~kedro_kinetic.driver.remote_data.RemoteData` placeholders.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import TYPE_CHECKING, Any

from kedro_kinetic.backends.base import EventKind, JobEvent
from kedro_kinetic.driver import completion
from kedro_kinetic.driver.cache import CACHED
from kedro_kinetic.driver.progress import NodeState
from kedro_kinetic.driver.remote_data import placeholders
from kedro_kinetic.errors import SpecError
from kedro_kinetic.planning.node_plan import NodePlan, put_content

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro.pipeline.node import Node
    from pluggy import PluginManager

    from kedro_kinetic.driver.cache import Hit
    from kedro_kinetic.driver.context import RunContext
    from kedro_kinetic.driver.outcome import RemoteNodeError
    from kedro_kinetic.planning.group_plan import GroupPlan
    from kedro_kinetic.planning.plan import Planner

logger = logging.getLogger(__name__)


def patch_manifest(hooks: PluginManager, plan: NodePlan | GroupPlan,
                   run_id: str) -> dict[str, Any]:
    """Let project hooks patch the Job, then validate the result again.

    A group's Job is offered with its first node and the group's settings.
    """
    from kedro_kinetic.planning.manifest import check_patched

    caller = getattr(hooks.hook, "kinetic_job_manifest", None)
    if caller is None or not caller.get_hookimpls():
        return plan.manifest  # no project hook: nothing to copy or check again
    node = plan.node if isinstance(plan, NodePlan) else plan.plans[0].node
    patched = copy.deepcopy(plan.manifest)
    for returned in caller(manifest=patched, node=node, settings=plan.settings,
                           run_id=run_id):
        if returned is not None:
            patched = returned
    return check_patched(plan.manifest, patched, node.name)


class NodeTasks:
    """The :class:`~kedro_kinetic.driver.scheduler.NodeOps` of a GKERunner run."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def show(self, node: Node, state: NodeState, detail: str = "") -> None:
        if self.ctx.progress is not None:
            self.ctx.progress.update(node.name, state, detail)

    # -- submission ---------------------------------------------------------------
    def submit(self, nodes: tuple[Node, ...]) -> Callable[[], None]:
        """Fire ``before_node_run`` and pin the spec(s); return the I/O still to do.

        Hooks and pinning stay on the scheduler's thread; the returned callable
        stores the specs and manifest and creates the Job on a submitter thread.
        A group's ``before_node_run`` hooks all fire when its Job is submitted, in
        DAG order (what they return replaces inputs from outside the group only).
        """
        ctx = self.ctx
        plan = ctx.plans[nodes[0]]
        if plan.group is None and ctx.cache is not None:
            hit = ctx.cache.lookup(plan, ctx.digests)
            if hit is not None:  # no Job, no hooks: as Kedro skips a node it need not run
                return self._reuse(nodes[0], hit)
        for node in nodes:
            self._before(node)
        writes: list[Callable[[], None]] = []
        if plan.group is None:
            ctx.planner.finalise(plan, ctx.digests, writes)
            plan.manifest = patch_manifest(ctx.hooks, plan, ctx.run_id)
            job: Any = plan
            display = plan.node.name
        else:
            from kedro_kinetic.planning.group_job import finalise_group

            job = finalise_group(ctx.groups[plan.group], ctx.planner, ctx.digests, writes)
            job.manifest = patch_manifest(ctx.hooks, job, ctx.run_id)
            display = f"group:{plan.group}"
        for node in nodes:
            self.show(node, NodeState.SUBMITTED, plan.ident.job_name)
        results = {n.name: ctx.plans[n].result_uri for n in nodes}
        notice = job.pins.notice_uri if job.pins is not None else None

        def dispatch() -> None:  # I/O only: runs on a submitter thread
            for write in writes:
                write()
            if ctx.watcher is not None:
                ctx.watcher.expect(plan.ident.job_name, results, ctx.result_key(plan), notice)
            attempt = ctx.backend.submit(job.manifest, display)
            if attempt is not None and attempt != plan.attempt:  # it adopted an earlier Job
                for node in nodes:
                    ctx.plans[node].attempt = attempt
                if ctx.watcher is not None:
                    ctx.watcher.expect(plan.ident.job_name, results, ctx.result_key(plan))
            now = time.time()
            for node in nodes:
                ctx.timeline[node.name] = {"submitted": now}
            ctx.planner.record_later(job)  # for audits; nothing reads it back as trusted
            logger.debug("Submitted %s (job %s)", ", ".join(n.name for n in nodes)
                        if len(nodes) > 1 else f"node: {display}", plan.ident.job_name)

        return dispatch

    def _reuse(self, node: Node, hit: Hit) -> Callable[[], None]:
        """Settle ``node`` from the cache: its outputs are where an earlier run wrote them."""
        ctx, plan = self.ctx, self.ctx.plans[node]
        ctx.planner.locations.update(hit.locations)
        self.show(node, NodeState.CACHED, f"from run {hit.run_id}")

        def dispatch() -> None:
            ctx.backend.events.put(JobEvent(
                plan.ident.job_name, EventKind.NODE_RESULT, reason=CACHED,
                message=f"from run {hit.run_id}", node=node.name, result=hit.result,
                time=time.time()))

        return dispatch

    def _before(self, node: Node) -> None:
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

    @staticmethod
    def _replace_inputs(plan: NodePlan, planner: Planner, values: dict[str, Any]) -> None:
        """Inputs replaced by a ``before_node_run`` hook travel pinned, like intermediates."""
        import cloudpickle

        for name, value in values.items():
            if name not in plan.inputs:
                continue
            entry = plan.inputs[name]
            if entry["kind"] == "memory" or entry.get("from_group"):
                raise SpecError(
                    f"a before_node_run hook replaced input '{name}' of node "
                    f"'{plan.node.name}', but it comes from an earlier node of the same "
                    f"group ('{plan.group}'); take the node out of the group")
            blob = cloudpickle.dumps(value)
            uri, digest = put_content(planner.layout, blob)
            plan.inputs[name] = {"kind": "pickle", "uri": uri, "sha256": digest,
                                 "bytes": len(blob)}

    # -- outcome (see kedro_kinetic.driver.completion) ----------------------------------------
    def result_is_final(self, node: Node, event: JobEvent) -> bool:
        return completion.result_is_final(self.ctx, node, event)

    def settle_from_result(self, node: Node, event: JobEvent) -> RemoteNodeError | None:
        return completion.settle_from_result(self.ctx, node, event)

    def settle_job(self, nodes: list[Node], event: JobEvent
                   ) -> list[tuple[Node, BaseException | str | None]]:
        return completion.settle_job(self.ctx, nodes, event)
