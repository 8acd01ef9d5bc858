"""Which nodes share a Job: explicit groups, namespaces, linear chains; convexity; settings."""

from __future__ import annotations

import pytest
from kedro.pipeline import Pipeline, node

from kedro_kinetic import config
from kedro_kinetic.errors import ConfigError
from kedro_kinetic.planning.grouping import form_groups, is_convex, merge_settings


def step(*xs):
    return 1


def pipe(edges: str, namespaces: dict[str, str] | None = None) -> Pipeline:
    """``"a>b b>c"``: one dataset per edge, named ``<up>_out``."""
    ins: dict[str, list[str]] = {}
    names: list[str] = []
    for edge in edges.split():
        up, down = edge.split(">")
        for n in (up, down):
            if n not in names:
                names.append(n)
        ins.setdefault(down, []).append(f"{up}_out")
    ns = namespaces or {}
    return Pipeline([node(step, ins.get(n) or None, f"{n}_out", name=n, namespace=ns.get(n))
                     for n in names])


def settings_from(block: dict) -> callable:
    cfg = config.load(block)
    return lambda n: cfg.node_settings(n.name, n.tags)


def groups_of(p: Pipeline, block: dict, mode: str) -> list[tuple[str, ...]]:
    return sorted(tuple(n.name for n in g.nodes) for g in form_groups(p, settings_from(block),
                                                                     mode))


def test_no_grouping_by_default():
    assert groups_of(pipe("a>b b>c"), {}, "none") == []


def test_chains_fuse_linear_links_only():
    # a -> b -> c -> d, and c -> e: c has two consumers, so the chain stops there
    p = pipe("a>b b>c c>d c>e")
    assert groups_of(p, {}, "chains") == [("a", "b", "c")]


def test_a_join_is_not_a_chain_link():
    p = pipe("a>c b>c c>d")  # c has two producers
    assert groups_of(p, {}, "chains") == [("c", "d")]


def test_chains_do_not_fuse_incompatible_nodes():
    p = pipe("a>b b>c")
    block = {"nodes": {"c": {"image": "other:1"}}}
    assert groups_of(p, block, "chains") == [("a", "b")]


def test_namespace_groups_its_nodes():
    p = pipe("a>b b>c c>d", namespaces={"b": "feat", "c": "feat"})
    assert groups_of(p, {}, "namespace") == [("feat.b", "feat.c")]


def test_explicit_groups_come_first_and_take_nodes_from_chains():
    p = pipe("a>b b>c c>d")
    block = {"nodes": {"c": {"group": "tail"}, "d": {"group": "tail"}}}
    assert groups_of(p, block, "chains") == [("a", "b"), ("c", "d")]


def test_a_group_that_a_path_leaves_and_reenters_is_refused_naming_its_nodes():
    p = pipe("a>b b>c a>c")
    block = {"nodes": {"a": {"group": "g"}, "c": {"group": "g"}}}
    with pytest.raises(ConfigError, match=r"group 'g' cannot run as one Job: a path leaves it "
                                          r"and comes back \(nodes: a, c\)"):
        form_groups(p, settings_from(block), "none")


def test_a_namespace_that_cannot_be_one_job_is_refused():
    p = pipe("a>b b>c", namespaces={"a": "ns", "c": "ns"})
    with pytest.raises(ConfigError, match="namespace 'ns' cannot run as one Job"):
        form_groups(p, settings_from({}), "namespace")


@pytest.mark.parametrize("setting", [{"image": "x:2"}, {"spot": True},
                                     {"gpu": {"type": "nvidia-l4"}},
                                     {"node_selector": {"pool": "b"}},
                                     {"env": {"A": "2"}}])
def test_nodes_that_must_run_apart_cannot_share_a_group(setting):
    p = pipe("a>b")
    block = {"defaults": {"group": "g", "env": {"A": "1"}}, "nodes": {"b": setting}}
    with pytest.raises(ConfigError, match=r"group 'g' cannot run as one Job: their .* differ"):
        form_groups(p, settings_from(block), "none")


def test_a_groups_resources_are_the_largest_and_its_deadline_the_sum():
    cfg = config.load({"defaults": {"deadline_seconds": 100, "env": {"A": "1"}},
                       "nodes": {"a": {"cpu": "2", "memory": "1Gi", "retries": 2},
                                 "b": {"cpu": "500m", "memory": "4Gi", "env": {"B": "2"}}}})
    merged = merge_settings([cfg.node_settings("a"), cfg.node_settings("b")])
    assert not isinstance(merged, str)
    assert (merged.cpu, merged.memory, merged.retries) == ("2", "4Gi", 2)
    assert merged.deadline_seconds == 200 and merged.env == {"A": "1", "B": "2"}


def test_convexity():
    p = pipe("a>b b>c a>c c>d")
    nodes = {n.name: n for n in p.nodes}
    children: dict = {n: set() for n in p.nodes}
    for child, parents in p.node_dependencies.items():
        for parent in parents:
            children[parent].add(child)
    assert is_convex({nodes["a"], nodes["b"], nodes["c"]}, children)
    assert not is_convex({nodes["a"], nodes["c"]}, children)
    assert is_convex({nodes["c"], nodes["d"]}, children)


def test_group_names_are_validated():
    with pytest.raises(ConfigError, match="is not a group name"):
        config.load({"nodes": {"a": {"group": "bad name!"}}})
    with pytest.raises(ConfigError, match=r"kinetic\.grouping: expected one of"):
        config.load({"grouping": "everything"})
