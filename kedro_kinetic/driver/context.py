"""Everything one run's nodes share in the driver (the state node tasks, completion and
resume work on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

    from kedro_kinetic.backends.base import Backend
    from kedro_kinetic.config import RunConfig
    from kedro_kinetic.driver.cache import NodeCache
    from kedro_kinetic.driver.progress import Progress
    from kedro_kinetic.driver.result_watch import ResultWatcher
    from kedro_kinetic.planning.group_plan import GroupPlan
    from kedro_kinetic.planning.node_plan import NodePlan
    from kedro_kinetic.planning.plan import Planner
    from kedro_kinetic.wire.result import NodeResult


@dataclass
class RunContext:
    """Everything one run's nodes share in the driver."""

    config: RunConfig
    plans: dict[Node, NodePlan]
    planner: Planner
    backend: Backend
    key: bytes
    catalog: CatalogProtocol
    hooks: PluginManager
    run_id: str
    is_async: bool = False
    digests: dict[str, str] = field(default_factory=dict)
    progress: Progress | None = None
    results: dict[str, NodeResult] = field(default_factory=dict)
    #: node name -> {"submitted": t, "finished_seen": t} (driver clock, time.time())
    timeline: dict[str, dict[str, float]] = field(default_factory=dict)
    #: The run's groups, by name (see kedro_kinetic.planning.group_plan).
    groups: dict[str, GroupPlan] = field(default_factory=dict)
    #: Learns of finished nodes from their sealed results (results first).
    watcher: ResultWatcher | None = None
    #: node key -> the attempt whose result this run accepted (kept for a later resume).
    accepted: dict[str, str] = field(default_factory=dict)
    #: The project's node cache (``None``: this run neither reuses nor records).
    cache: NodeCache | None = None

    def result_key(self, plan: NodePlan) -> bytes | None:
        """The key that seals the results of ``plan``'s current attempt (``None``: none)."""
        from kedro_kinetic.wire import seal

        return None if plan.attempt is None else seal.attempt_key(self.key, plan.attempt)
