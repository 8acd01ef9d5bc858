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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro_kinetic.planning import manifest
from kedro_kinetic.wire import naming

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.pipeline.node import Node

    from kedro_kinetic.config import NodeSettings
    from kedro_kinetic.planning.grouping import Group
    from kedro_kinetic.planning.node_plan import NodePlan

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


def plan_group(group: Group, plans: Mapping[Node, NodePlan], run_id: str, pipeline: str,
               free_outputs: set[str], consumers: Mapping[str, set[Node]]) -> GroupPlan:
    """Bind the group's node plans to one Job (their data between them in memory)."""
    ident = group_identity(group.name, run_id, pipeline)
    members = []
    for node in group.nodes:
        plan = plans[node]
        plan.ident = dataclasses.replace(plan.ident, job_name=ident.job_name)
        plan.group = group.name
        members.append(plan)
    _in_memory(members, free_outputs, consumers)
    return GroupPlan(group.name, ident, members, group.settings)
