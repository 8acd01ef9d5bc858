"""Resume a run: which nodes an earlier attempt finished, from sealed results only.

``--runner-params resume=<run id>`` re-plans the run under the same id (same
store folder, same key). A node counts as finished when its result is sealed
with the run's key, succeeded, and reports every digest its consumers need;
those digests are pinned again. Anything else at a result's URI (a forged or
replayed object, a failure) is removed and the node runs again; an earlier
attempt's finished Job is removed so the name is free, and a Job still running
is adopted when the node is submitted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kedro_kinetic import store
from kedro_kinetic.errors import SealError
from kedro_kinetic.outcome import output_digests, read_finished

if TYPE_CHECKING:
    from kedro.pipeline.node import Node

    from kedro_kinetic.node_task import RunContext

logger = logging.getLogger(__name__)


def finished_before(ctx: RunContext, run_id: str) -> set[Node]:
    """Nodes an earlier attempt of ``run_id`` finished; pins their outputs' digests."""
    done = set()
    for node, plan in ctx.plans.items():
        try:
            result = read_finished(plan, ctx.key)
        except SealError as exc:
            logger.warning("Resume: %s", exc)
            result = None
        if result is not None:
            ctx.digests.update(output_digests(plan, result))
            ctx.results[node.name] = result
            done.add(node)
            continue
        if store.exists(plan.result_uri):
            logger.info("Resume: node %s failed before; running it again", node.name)
            store.delete(plan.result_uri)
        ctx.backend.forget(plan.ident.job_name)  # a finished Job goes; a running one stays
    for group in ctx.groups.values():
        finished = [n for n in group.nodes if n in done]
        if finished and len(finished) < len(group.nodes):
            logger.info("Resume: group %s runs again as a whole (its nodes share memory)",
                        group.name)
            done -= set(finished)
            for node in finished:  # their old results must not settle the new attempt
                store.delete(ctx.plans[node].result_uri)
                ctx.results.pop(node.name, None)
    if done:
        logger.info("Resume of run %s: %d of %d nodes already finished: %s", run_id,
                    len(done), len(ctx.plans), ", ".join(sorted(n.name for n in done)))
    return done
