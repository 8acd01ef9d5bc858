"""How a node finishes in the driver: from its early result, or when its Job ends.

Results first (:mod:`kedro_kinetic.driver.result_watch`): a node's authenticated result
in the store settles it at once when it succeeded, or when it failed and no
retry will follow; otherwise the Job's end settles it. When a Job ends, its
unsettled nodes are read from the store; in a group, the first node with a
failed result is the one that failed, the ones before it succeeded, the ones
after it never ran (no hooks fire for them). A Job that ended with no result
at all is explained from what the backend saw (OOMKilled, deadline, …) and
blamed on its first unsettled node. Hooks fire per node, with every argument
of their spec.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from kedro_kinetic.driver.cache import CACHED
from kedro_kinetic.driver.outcome import (
    RemoteNodeError,
    checked,
    output_digests,
    output_sizes,
    read_result,
    read_stored,
)
from kedro_kinetic.driver.remote_data import placeholders
from kedro_kinetic.driver.remote_errors import remote_error
from kedro_kinetic.driver.scheduler import NOT_RUN
from kedro_kinetic.errors import StoreError, StoreObjectError
from kedro_kinetic.wire.result import Status

if TYPE_CHECKING:
    from kedro.pipeline.node import Node

    from kedro_kinetic.backends.base import JobEvent
    from kedro_kinetic.driver.context import RunContext
    from kedro_kinetic.wire.result import NodeResult


def _retries(ctx: RunContext, node: Node) -> int:
    plan = ctx.plans[node]
    if plan.group is not None:
        return ctx.groups[plan.group].settings.retries
    return plan.settings.retries


def result_is_final(ctx: RunContext, node: Node, event: JobEvent) -> bool:
    """Whether a node's early result is final: it succeeded, or no retry will follow."""
    result = event.result
    return result is not None and (result.status == Status.SUCCEEDED or _retries(ctx, node) == 0)


def settle_node(ctx: RunContext, node: Node, result: NodeResult, event: JobEvent,
             succeeded: bool) -> RemoteNodeError | None:
    """Pin the node's output digests and fire its hooks; return its error, if any."""
    plan = ctx.plans[node]
    ctx.timeline.setdefault(node.name, {})["finished_seen"] = time.time()
    if ctx.progress is not None:  # its own run time, not its Job's (a group's) so far
        ctx.progress.took(node.name, result.duration)
    ctx.results[node.name] = result
    inputs = placeholders(plan.inputs, ctx.digests)
    if succeeded and result.status == Status.SUCCEEDED:
        try:
            ctx.digests.update(output_digests(plan, result))
        except StoreObjectError as exc:
            result.status, result.error_message = Status.FAILED, str(exc)
        else:
            ctx.planner.sizes.update(output_sizes(plan, result))
            if event.reason == CACHED:  # reused, not run: no hooks, nothing to record
                _stop_watching(ctx, [node])
                return None
            if plan.attempt is not None:  # recorded for a later resume
                ctx.accepted[plan.ident.node_key] = plan.attempt
            if ctx.cache is not None:
                ctx.cache.record(plan, result, ctx.digests, ctx.planner.sizes,
                                 ctx.planner.locations)
            outputs = placeholders(plan.outputs, ctx.digests)
            ctx.hooks.hook.after_node_run(node=node, catalog=ctx.catalog, inputs=inputs,
                                          outputs=outputs, is_async=ctx.is_async,
                                          run_id=ctx.run_id)
            _stop_watching(ctx, [node])
            return None
    error = remote_error(node.name, result, event.reason,  # keeps the node's error type
                         f"Logs: kedro kinetic logs {ctx.run_id} {node.name}")
    ctx.hooks.hook.on_node_error(error=error, node=node, catalog=ctx.catalog, inputs=inputs,
                                 is_async=ctx.is_async, run_id=ctx.run_id)
    _stop_watching(ctx, [node])
    return error


def _stop_watching(ctx: RunContext, nodes: list[Node]) -> None:
    if ctx.watcher is not None:
        ctx.watcher.settled([ctx.plans[n].result_uri for n in nodes])


def settle_from_result(ctx: RunContext, node: Node, event: JobEvent) -> RemoteNodeError | None:
    """Settle a node from its early, authenticated result."""
    result = checked(ctx.plans[node], event.result, None)
    return settle_node(ctx, node, result, event, succeeded=True)


def settle_job(ctx: RunContext, nodes: list[Node], event: JobEvent
               ) -> list[tuple[Node, BaseException | str | None]]:
    """Settle the unsettled nodes of a Job that ended (see the module's docstring)."""
    if len(nodes) == 1 or ctx.plans[nodes[0]].group is None:
        node = nodes[0]
        result = read_result(ctx.plans[node], event, ctx.result_key(ctx.plans[node]))
        return [(node, settle_node(ctx, node, result, event, event.exit_code == 0))]
    stored: dict[Node, NodeResult | None] = {}
    for node in nodes:
        try:
            stored[node] = read_stored(ctx.plans[node], ctx.result_key(ctx.plans[node]),
                                       event.exit_code)
        except StoreError:
            stored[node] = None
    culprit = next((n for n in nodes if (r := stored[n]) is not None
                    and r.status != Status.SUCCEEDED), None)
    if culprit is None:
        culprit = next((n for n in nodes if stored[n] is None), None)
    outcomes: list[tuple[Node, BaseException | str | None]] = []
    for node in nodes:
        after = culprit is not None and nodes.index(node) > nodes.index(culprit)
        if after or (node is not culprit and stored[node] is None):
            # after the failure, or before a node the pod refused up front: never ran
            outcomes.append((node, NOT_RUN))
            _stop_watching(ctx, [node])
            continue
        found = stored[node]
        if found is None:  # the culprit, or (no culprit) never: explained from the Job
            result = read_result(ctx.plans[node], event, ctx.result_key(ctx.plans[node]))
        else:
            result = checked(ctx.plans[node], found, None)
        outcomes.append((node, settle_node(ctx, node, result, event,
                                        succeeded=node is not culprit)))
    return outcomes
