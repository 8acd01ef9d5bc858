"""Node grouping: which nodes share one Job. A pure function of the DAG and the settings.

A pod costs seconds to start on GKE, often more than a node's own work; a group
runs several nodes in one pod, in DAG order, keeping the intermediates between
them in memory. Every node keeps its own pinned payload and spec, its own
hooks, status and sealed result.

How groups form, in this order:

1. ``group: NAME`` (a node setting, so ``tags.<tag>.group`` and
   ``nodes.<name>.group`` work): the nodes that name the same group. Asked for
   explicitly, so a group that cannot be one Job is **refused**, naming its nodes.
2. ``grouping: namespace``: the other nodes of one Kedro namespace. Also refused
   when impossible: the user asked for one Job per namespace.
3. ``grouping: chains``: every linear chain of the other nodes (a node whose
   only consumer has it as its only producer) is fused, link by link, where
   the two nodes are compatible; an incompatible link simply stays two Jobs.

A group must be **convex** (no path leaves it and comes back: its pod cannot
wait for a Job that waits for it) and its nodes must agree on what decides
where a pod runs (image, GPU/TPU, spot, node selector, tolerations, service
account). Its resources are the largest of its nodes', its deadline the sum
of theirs (they run one after another), its retries the largest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_kinetic.config import quantities
from kedro_kinetic.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

    from kedro_kinetic.config import NodeSettings

#: Settings that decide where a pod runs: the nodes of a group must agree on them.
PLACEMENT = ("image", "gpu", "tpu", "spot", "node_selector", "tolerations", "service_account")
_LARGEST = ("cpu", "memory", "ephemeral_storage", "cpu_limit", "memory_limit")
_UNION = ("env", "secret_env", "labels", "annotations")


@dataclass(frozen=True)
class Group:
    """Nodes that run in one Job, in DAG order, with the group's settings."""

    name: str
    nodes: tuple[Node, ...]
    settings: NodeSettings


def _children(pipeline: Pipeline) -> dict[Node, set[Node]]:
    children: dict[Node, set[Node]] = {n: set() for n in pipeline.nodes}
    for child, parents in pipeline.node_dependencies.items():
        for parent in parents:
            children[parent].add(child)
    return children


def is_convex(members: set[Node], children: Mapping[Node, set[Node]]) -> bool:
    """Whether no path leaves ``members`` and comes back into them."""
    frontier = [c for m in members for c in children[m] if c not in members]
    seen: set[Node] = set()
    while frontier:
        current = frontier.pop()
        if current in seen:
            continue
        seen.add(current)
        for child in children[current]:
            if child in members:
                return False
            frontier.append(child)
    return True


def _largest(values: Iterable[str | None]) -> str | None:
    present = [v for v in values if v is not None]
    return max(present, key=quantities.parse) if present else None


def merge_settings(settings: list[NodeSettings]) -> NodeSettings | str:
    """The group's settings, or why the nodes cannot share a pod."""
    first = settings[0]
    for name in PLACEMENT:
        values = {repr(getattr(s, name)) for s in settings}
        if len(values) > 1:
            return f"their {name} differ ({', '.join(sorted(values))})"
    merged: dict[str, Any] = {name: _largest(getattr(s, name) for s in settings)
                              for name in _LARGEST}
    for name in _UNION:
        union: dict[str, Any] = {}
        for s in settings:
            for key, value in getattr(s, name).items():
                if key in union and union[key] != value:
                    return f"their {name}.{key} differ"
                union[key] = value
        merged[name] = union
    merged["retries"] = max(s.retries for s in settings)
    merged["deadline_seconds"] = sum(s.deadline_seconds for s in settings)
    merged["ttl_seconds_after_finished"] = max(s.ttl_seconds_after_finished for s in settings)
    return dataclasses.replace(first, **merged)


def _check(name: str, members: list[Node], children: Mapping[Node, set[Node]],
           settings_of: Callable[[Node], NodeSettings], why: str) -> NodeSettings:
    names = ", ".join(n.name for n in members)
    if not is_convex(set(members), children):
        raise ConfigError(
            f"kinetic {why} '{name}' cannot run as one Job: a path leaves it and comes back "
            f"(nodes: {names}). Move the nodes in between into the group, or split it")
    merged = merge_settings([settings_of(n) for n in members])
    if isinstance(merged, str):
        raise ConfigError(f"kinetic {why} '{name}' cannot run as one Job: {merged} "
                          f"(nodes: {names}). Give them the same settings, or split the group")
    return merged


def _chains(nodes: list[Node], pipeline: Pipeline, children: Mapping[Node, set[Node]],
            settings_of: Callable[[Node], NodeSettings]) -> list[Group]:
    """Linear chains among ``nodes`` whose links are compatible (in DAG order)."""
    parents = pipeline.node_dependencies
    candidates = set(nodes)
    link: dict[Node, Node] = {}
    for up in nodes:
        if len(children[up]) != 1:
            continue
        [down] = children[up]
        if down in candidates and parents[down] == {up} and not isinstance(
                merge_settings([settings_of(up), settings_of(down)]), str):
            link[up] = down
    heads = [n for n in nodes if n in link and n not in set(link.values())]
    chains = []
    for head in heads:
        chain, merged = [head], settings_of(head)
        while chain[-1] in link:
            wider = merge_settings([settings_of(n) for n in [*chain, link[chain[-1]]]])
            if isinstance(wider, str):
                break
            chain.append(link[chain[-1]])
            merged = wider
        if len(chain) > 1:
            chains.append(Group(f"chain-{chain[0].name}", tuple(chain), merged))
    return chains


def form_groups(pipeline: Pipeline, settings_of: Callable[[Node], NodeSettings],
                mode: str) -> list[Group]:
    """The groups of ``pipeline`` (nodes not in a group run alone).

    Raises:
        ConfigError: An explicit group or a namespace cannot run as one Job
            (naming the group, the reason and its nodes).
    """
    order = list(pipeline.nodes)  # Kedro's topological order
    children = _children(pipeline)
    named: dict[str, list[Node]] = {}
    for node in order:
        group = settings_of(node).group
        if group:
            named.setdefault(group, []).append(node)
    groups = [Group(name, tuple(members), _check(name, members, children, settings_of,
                                                  "group"))
              for name, members in named.items() if len(members) > 1]
    grouped = {n for members in named.values() if len(members) > 1 for n in members}
    rest = [n for n in order if n not in grouped]
    if mode == "namespace":
        spaces: dict[str, list[Node]] = {}
        for node in rest:
            if node.namespace:
                spaces.setdefault(node.namespace, []).append(node)
        groups += [Group(space, tuple(members),
                         _check(space, members, children, settings_of, "namespace"))
                   for space, members in spaces.items() if len(members) > 1]
    elif mode == "chains":
        groups += _chains(rest, pipeline, children, settings_of)
    return groups
