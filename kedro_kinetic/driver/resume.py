"""Resume a run: which nodes an earlier attempt finished, from trusted records only.

``--runner-params resume=<run id>`` re-plans the run under the same id (same
store folder, same key). A node counts as finished when its result is sealed
with the key of the attempt a trusted record names for it (the backend's: the
private run folder, or the Kubernetes Jobs and the run's Secret), succeeded,
and reports every digest its consumers need; those digests are pinned again.
Before anything runs, the recorded attempts of every other node are dropped, so
that none of their earlier results can ever count again: each is submitted in a
new attempt. Anything at a result's URI that does not count (a failure, a
forged or replayed object, a planted folder, FIFO or link) is reported and
removed, never an abort; an earlier attempt's finished Job is removed so the
name is free, and a Job still running is adopted when the node is submitted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kedro_kinetic import store
from kedro_kinetic.driver.outcome import output_digests, output_sizes, read_finished
from kedro_kinetic.errors import KineticError
from kedro_kinetic.wire import seal

if TYPE_CHECKING:
    from kedro.pipeline.node import Node

    from kedro_kinetic.driver.context import RunContext
    from kedro_kinetic.planning.node_plan import NodePlan

logger = logging.getLogger(__name__)


def _finished(ctx: RunContext, plan: NodePlan, attempts: dict[str, str]) -> bool:
    """Whether the recorded attempt of ``plan``'s node left a trusted success."""
    attempt = attempts.get(plan.ident.node_key)
    try:
        result = read_finished(plan, None if attempt is None
                               else seal.attempt_key(ctx.key, attempt))
        digests = output_digests(plan, result) if result is not None else {}
    except KineticError as exc:
        logger.warning("Resume: node %s runs again: %s", plan.node.name, exc)
        return False
    if result is None:
        return False
    plan.attempt = attempt
    ctx.digests.update(digests)
    ctx.planner.sizes.update(output_sizes(plan, result))
    ctx.results[plan.node.name] = result
    if attempt is not None:
        ctx.accepted[plan.ident.node_key] = attempt
    return True


def _clear(plan: NodePlan) -> None:
    """Remove whatever is at the result's URI of a node that runs again (never raises)."""
    uri = plan.result_uri
    try:
        store.delete(uri)
    except KineticError:
        try:  # a planted folder: removed without following anything in it
            store.delete_tree(uri)
        except KineticError as exc:
            logger.warning("Resume: cannot remove %s (%s); node %s runs again and its new "
                           "result is written there", uri, exc, plan.node.name)


def finished_before(ctx: RunContext, run_id: str) -> set[Node]:
    """Nodes an earlier attempt of ``run_id`` finished; pins their outputs' digests."""
    attempts = ctx.backend.attempts()
    done = {node for node, plan in ctx.plans.items() if _finished(ctx, plan, attempts)}
    for group in ctx.groups.values():
        finished = [n for n in group.nodes if n in done]
        if finished and len(finished) < len(group.nodes):
            logger.info("Resume: group %s runs again as a whole (its nodes share memory)",
                        group.name)
            done -= set(finished)
    again = [plan for node, plan in ctx.plans.items() if node not in done]
    ctx.backend.retire_attempts([plan.ident.node_key for plan in again])  # before any runs
    for plan in again:
        ctx.results.pop(plan.node.name, None)
        ctx.accepted.pop(plan.ident.node_key, None)
        plan.attempt = None
        _clear(plan)
        ctx.backend.forget(plan.ident.job_name)  # a finished Job goes; a running one stays
    if done:
        logger.info("Resume of run %s: %d of %d nodes already finished: %s", run_id,
                    len(done), len(ctx.plans), ", ".join(sorted(n.name for n in done)))
    return done


def keep_attempts(ctx: RunContext) -> None:
    """Record the attempts this run accepted, for a later resume (a failure is a warning:
    the nodes concerned then run again on resume), and the nodes it reused from the cache
    (for ``status``)."""
    try:
        ctx.backend.keep_attempts(dict(ctx.accepted))
    except Exception as exc:  # the run's own outcome matters more
        logger.warning("Could not record the run's accepted attempts (%s); a resume "
                       "runs those nodes again", exc)
    hits = ctx.cache.hits if ctx.cache is not None else {}
    cached = {plan.ident.node_key: {"node": plan.node.name, "from": hits[plan.node.name]}
              for plan in ctx.plans.values() if plan.node.name in hits}
    try:
        ctx.backend.keep_cached(cached)
    except Exception as exc:
        logger.warning("Could not record the run's cached nodes (%s); `kedro kinetic "
                       "status` lists them as not run", exc)
