"""Plan a group of nodes as one Job, every node still pinned on its own.

The group's Job pins one **group spec** (by SHA-256, in its container args);
the group spec pins, for each node in the order they run, that node's payload
digest, task spec digest and result URI. The pod verifies the group spec, then
every node's spec and payload, **before** anything of the group is unpickled
or run (see :mod:`kedro_kinetic.entrypoint`).

Data between the group's nodes: a pickled intermediate that only nodes of the
same group read stays in the pod's memory (``{"kind": "memory"}``), never in
the store; one that a node outside the group or the pipeline's free outputs
need is also written and pinned as usual. A pickled catalog file written by an
earlier node of the group is pinned by the digest the pod itself recorded when
it wrote it (``"from_group": true``). Catalog datasets are saved and loaded as
in any Kedro run.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro_kinetic import manifest, naming, seal
from kedro_kinetic.errors import SpecError
from kedro_kinetic.plan import NodePlan, put_content

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kedro.pipeline.node import Node

    from kedro_kinetic.config import NodeSettings
    from kedro_kinetic.grouping import Group
    from kedro_kinetic.plan import Planner

GROUP_FORMAT = "kedro-kinetic/group@1"


@dataclass
class GroupPlan:
    """A group's Job: its identity, its nodes' plans in run order, its settings."""

    name: str
    ident: manifest.JobIdentity
    plans: list[NodePlan]
    settings: NodeSettings
    pins: manifest.Pins | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def nodes(self) -> list[Node]:
        return [plan.node for plan in self.plans]


def group_identity(name: str, run_id: str, pipeline: str) -> manifest.JobIdentity:
    """The names a group's Job carries (``group:<name>``)."""
    label = f"group:{name}"
    return manifest.JobIdentity(
        job_name=naming.job_name(label, run_id), node_name=label,
        node_key=naming.node_key(label), run_id=run_id, run_label=naming.run_label(run_id),
        pipeline=pipeline)


def _in_memory(plans: list[NodePlan], free_outputs: set[str],
               consumers: Mapping[str, set[Node]]) -> None:
    """Turn the group's internal data into pod memory (in place)."""
    members = {plan.node for plan in plans}
    produced = {name for plan in plans for name in plan.outputs}
    for plan in plans:
        for name, entry in list(plan.inputs.items()):
            if name not in produced:
                continue
            if entry["kind"] == "pickle":
                plan.inputs[name] = {"kind": "memory"}
            elif entry["kind"] == "catalog" and "sha256" not in entry \
                    and not entry.get("trusted"):
                plan.inputs[name] = {**entry, "from_group": True}
        for name, entry in list(plan.outputs.items()):
            outside = consumers.get(name, set()) - members
            if entry["kind"] == "pickle" and not outside and name not in free_outputs:
                plan.outputs[name] = {"kind": "memory"}


def plan_group(group: Group, plans: Mapping[Node, NodePlan], planner: Planner,
               free_outputs: set[str], consumers: Mapping[str, set[Node]]) -> GroupPlan:
    """Bind the group's node plans to one Job (their data between them in memory)."""
    ident = group_identity(group.name, planner.run_id, planner.pipeline_name)
    members = []
    for node in group.nodes:
        plan = plans[node]
        plan.ident = dataclasses.replace(plan.ident, job_name=ident.job_name)
        plan.group = group.name
        members.append(plan)
    _in_memory(members, free_outputs, consumers)
    return GroupPlan(group.name, ident, members, group.settings)


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
    document = {"format": GROUP_FORMAT, "run_id": planner.run_id, "group": group.name,
                "nodes": entries}
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
