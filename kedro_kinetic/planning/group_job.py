"""A group's Job, once all its nodes are ready: every node pinned, then one group spec.

The group spec pins, for each node in the order they run, its payload's and its
task spec's SHA-256 and size and its result URI; the Job's args pin the group spec
and one attempt, which seals every node's result (see :mod:`kedro_kinetic.pod.entrypoint`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from kedro_kinetic.errors import SpecError
from kedro_kinetic.planning import manifest
from kedro_kinetic.planning.group_plan import GROUP_FORMAT
from kedro_kinetic.planning.node_plan import put_content
from kedro_kinetic.version import __version__
from kedro_kinetic.wire import seal

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kedro_kinetic.planning.group_plan import GroupPlan
    from kedro_kinetic.planning.plan import Planner


def finalise_group(group: GroupPlan, planner: Planner, digests: Mapping[str, str],
                   deferred: list[Callable[[], None]] | None = None) -> GroupPlan:
    """Pin every node's spec, store the group spec, render the group's Job."""
    entries = []
    for plan in group.plans:
        pins = planner.finalise(plan, digests, deferred, render=False).pins
        if pins is None:  # pragma: no cover - finalise always sets them
            raise SpecError(f"node '{plan.node.name}' was not pinned")
        entries.append({"node": plan.node.name, "payload_uri": plan.payload_uri,
                        "payload_sha256": plan.payload_sha256,
                        "payload_bytes": pins.payload_bytes, "spec_uri": pins.spec_uri,
                        "spec_sha256": pins.spec_sha256, "spec_bytes": pins.spec_bytes,
                        "result_uri": plan.result_uri})
    document = {"format": GROUP_FORMAT, "kinetic_version": __version__,
                "run_id": planner.run_id, "group": group.name, "nodes": entries}
    data = json.dumps(document, sort_keys=True).encode()
    uri, digest = put_content(planner.layout, data, deferred)
    first = group.plans[0]
    attempt = seal.new_attempt()  # the Job's: every node's result is sealed for it
    group.pins = manifest.Pins(payload_uri=first.payload_uri,
                               payload_sha256=first.payload_sha256, spec_uri=uri,
                               spec_sha256=digest, result_uri=first.result_uri,
                               attempt=attempt, group_uri=uri, group_sha256=digest,
                               group_bytes=len(data),
                               notice_uri=planner.notice_uri(group.ident.job_name))
    group.manifest = manifest.render(group.ident, group.pins, group.settings, planner.config,
                                     group_nodes=[p.node.name for p in group.plans])
    for plan in group.plans:
        plan.manifest = group.manifest
        plan.attempt = attempt
    return group
