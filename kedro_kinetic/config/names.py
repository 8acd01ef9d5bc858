"""The names a ``kinetic:`` block uses: nodes, tags, pipeline sections and groups.

``nodes.<node>``, ``tags.<tag>`` and ``pipelines.<pipeline>`` are keys chosen by
the user, so the schema cannot know them; a misspelt one would apply to no node
and a GPU or a memory setting would silently be missing on GKE. Once the
pipeline is known (``GKERunner.prepare``: ``kedro run``, ``kedro kinetic render``
and resume), every such name is checked here and an unknown one is an error
naming the closest known name.

What "known" means: the nodes and tags of every pipeline the project registers
(``pipeline_registry.py``), when the run comes from a Kedro project, so that a
``pipelines.<other>`` section or a node left out by ``--nodes`` or ``--tags`` is
still a name the project has; otherwise (a pipeline given in code) the nodes and
tags of the run's own pipeline. ``kedro run --pipelines X`` loads only the pipelines
it names (Kedro's selective loading), so the names of the others are not known:
then ``--runner-params`` (which apply to this run only) must name nodes and tags of
the loaded pipelines, while a name of the ``kinetic`` block that is unknown (it may
belong to a pipeline Kedro did not load) is only warned about, and only when a
loaded name is near it. A ``group`` is a name nodes share: a group named by a single
node while a near name groups several is reported as a likely typo.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_kinetic.config.schema import closest, did_you_mean
from kedro_kinetic.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from kedro_kinetic.config import RunConfig

#: How many known names an error lists when none is near the unknown one.
SHOWN = 8

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownNames:
    """The names a run's configuration may use.

    Attributes:
        nodes: Every known node's name and its tags.
        pipelines: The registered pipeline names (``None``: not known, not checked).
        scope: Where the names come from, for messages.
        complete: Whether every pipeline of the project is known (``False``: Kedro
            loaded only the pipelines the run names).
    """

    nodes: Mapping[str, frozenset[str]]
    pipelines: frozenset[str] | None = None
    scope: str = "the run's pipeline"
    complete: bool = True

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(tag for tags in self.nodes.values() for tag in tags)


def _sections(block: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(path, section)`` of a block and of each of its ``pipelines`` sections."""
    if not isinstance(block, Mapping):
        return
    yield path, block
    sections = block.get("pipelines")
    for name, section in sections.items() if isinstance(sections, Mapping) else ():
        if isinstance(section, Mapping):
            yield f"{path}.pipelines.{name}", section


def _hint(word: str, names: Iterable[str]) -> tuple[str, bool]:
    """Did-you-mean for a near name (and ``True``), else a few of the known names."""
    names = sorted(set(names))
    near = did_you_mean(word, names)
    if near:
        return near, True
    if not names:
        return " (there are none)", False
    more = f", ... ({len(names)} in all)" if len(names) > SHOWN else ""
    return f" (known: {', '.join(names[:SHOWN])}{more})", False


def _unknown(path: str, section: Mapping[str, Any],
             known: KnownNames) -> Iterator[tuple[str, bool]]:
    """A line per node or tag name of one section that ``known`` does not have, and
    whether a known name is near it."""
    tags = known.tags
    nodes = section.get("nodes")
    for name in nodes if isinstance(nodes, Mapping) else ():
        if name not in known.nodes:
            hint, near = _hint(name, known.nodes)
            yield f"{path}.nodes.{name}: no node named '{name}' in {known.scope}{hint}", near
    given = section.get("tags")
    for tag in given if isinstance(given, Mapping) else ():
        if tag not in tags:
            hint, near = _hint(tag, tags)
            yield f"{path}.tags.{tag}: no node of {known.scope} is tagged '{tag}'{hint}", near


def name_problems(block: Any, overrides: Any,
                  known: KnownNames) -> tuple[list[str], list[str]]:
    """Errors and warnings, one line per unknown node, tag or pipeline name.

    Runner params name nodes of this run: an unknown one is an error. A name of the
    block is an error when every pipeline of the project is known; otherwise only a
    near miss of a loaded name is worth a warning (see the module's docstring).
    """
    errors: list[str] = []
    warnings = []
    for path, section in _sections(block, "kinetic"):
        for line, near in _unknown(path, section, known):
            if known.complete:
                errors.append(line)
            elif near:
                warnings.append(f"{line} (not an error: the pipelines Kedro did not load "
                                "may have it)")
    pipelines = block.get("pipelines") if isinstance(block, Mapping) else None
    if known.pipelines is not None and isinstance(pipelines, Mapping):
        for name in pipelines:
            if name not in known.pipelines:
                errors.append(f"kinetic.pipelines.{name}: the project registers no pipeline "
                              f"named '{name}'{_hint(name, known.pipelines)[0]}")
    errors += [line for path, section in _sections(overrides, "--runner-params")
               for line, _ in _unknown(path, section, known)]
    return errors, warnings


def group_errors(cfg: RunConfig, known: KnownNames) -> list[str]:
    """A group only one node names while a near name groups several: a likely typo."""
    members: dict[str, list[str]] = {}
    for name in sorted(known.nodes):
        group = cfg.node_settings(name, known.nodes[name]).group
        if group:
            members.setdefault(group, []).append(name)
    shared = [group for group, names in members.items() if len(names) > 1]
    errors = []
    for group, names in sorted(members.items()):
        match = closest(group, [g for g in shared if g != group]) if len(names) == 1 else None
        if match is not None:
            errors.append(
                f"group '{group}' (node '{names[0]}'): no other node is in this group; did "
                f"you mean '{match}' (the group of {', '.join(members[match][:SHOWN])})?")
    return errors


def check_names(block: Any, overrides: Any, cfg: RunConfig, known: KnownNames) -> None:
    """Refuse node, tag, pipeline and group names the project does not have.

    Args:
        block: The raw ``kinetic`` block (already validated by :func:`config.load`).
        overrides: The runner's ``--runner-params``.
        cfg: The config merged from them.
        known: The names the run may use.

    Raises:
        ConfigError: Listing every unknown name with the closest known one.
    """
    errors, warnings = name_problems(block, overrides, known)
    for line in warnings:
        logger.warning("kinetic configuration: %s", line)
    errors += group_errors(cfg, known)
    if errors:
        raise ConfigError("invalid kinetic configuration:\n  " + "\n  ".join(errors))
