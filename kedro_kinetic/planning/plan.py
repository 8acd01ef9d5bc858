"""Plan each node: payload (pinned code), task spec (plain data), Job manifest.

The payload of every node is serialised and stored content-addressed when the
run starts. A node's task spec is completed when the node is ready: the
digests of pickled intermediates, reported by the pods that produced them, are
pinned into it, then the spec is stored and its digest pinned in the Job.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from kedro_kinetic import store
from kedro_kinetic.config.project_settings import ProjectSettings
from kedro_kinetic.errors import CatalogSpecError, SpecError
from kedro_kinetic.planning import manifest
from kedro_kinetic.planning.cache_key import cache_mode
from kedro_kinetic.planning.catalog_spec import (
    CatalogResolver,
    credential_names,
    is_parameter,
    plain_value,
)
from kedro_kinetic.planning.node_plan import NodePlan, needs_digest, put_content
from kedro_kinetic.planning.quiet_writer import QuietWriter
from kedro_kinetic.version import __version__
from kedro_kinetic.wire import naming, payload, pinned_files, seal
from kedro_kinetic.wire.task_spec import SPEC_FORMAT

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

    from kedro_kinetic.config import RunConfig
    from kedro_kinetic.store.layout import RunLayout


def lowest_shown_level() -> int:
    """The lowest level the driver's logging configuration shows for any logger (the root's,
    or one configured with its own): the pods send records from that level up, and the
    driver's configuration decides per logger what it shows."""
    levels = [logging.getLogger().getEffectiveLevel()]
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels.append(logger.level)
    return max(logging.DEBUG, min(levels))


class Planner:
    """Builds node plans for one run."""

    def __init__(
        self,
        *,
        run_id: str,
        pipeline_name: str,
        config: RunConfig,
        layout: RunLayout,
        resolver: CatalogResolver,
        parameters: Mapping[str, Any],
        allow: Iterable[str],
        by_value: Iterable[str],
        versions: Mapping[str, Any] | None = None,
        settings: ProjectSettings | None = None,
        doorbells: bool = True,
    ) -> None:
        self.run_id = run_id
        self.pipeline_name = pipeline_name
        self.config = config
        self.layout = layout
        self.resolver = resolver
        self.parameters = parameters
        self.allow = tuple(sorted(set(allow)))
        self.by_value = tuple(by_value)
        self.versions = dict(versions or {})
        self.settings = settings or ProjectSettings()
        self.produced: frozenset[str] = frozenset()
        #: Whether Jobs get doorbells (:meth:`notice_uri`); not in a resumed run.
        self.doorbells = doorbells
        self._notices = itertools.count(time.time_ns() // 1000)  # sort by submission
        self._records = QuietWriter(self.record,
                                    lambda plan: f"the manifest of Job {plan.ident.job_name}")
        #: The groups of the last planned pipeline (``grouping``/``group`` settings).
        self.groups: list[Any] = []
        #: Size in bytes of each pinned dataset whose producer reported one: pinned beside
        #: its digest, so that the consumer never reads more.
        self.sizes: dict[str, int] = {}
        #: Intermediates reused from an earlier run (node cache): where that run keeps them.
        self.locations: dict[str, str] = {}

    def dataset_spec(self, name: str, side: str) -> dict[str, Any]:
        """The spec of one dataset as the pod will see it."""
        if is_parameter(name):
            if side == "outputs":
                raise CatalogSpecError(f"parameter '{name}' cannot be a node output")
            if name not in self.parameters:
                raise CatalogSpecError(f"parameter '{name}' is not defined")
            return {"kind": "param", "value": plain_value(name, self.parameters[name])}
        config = self.resolver.config_for(name)
        if config is None:
            return {"kind": "pickle", "uri": self.layout.data_uri(name)}
        return {"kind": "catalog", "config": config}

    def plan_node(self, node: Node) -> NodePlan:
        """Serialise and store one node's payload; resolve its datasets."""
        blob = payload.dump(node, self.allow, self.by_value)
        uri, digest = put_content(self.layout, blob)
        inputs = {n: self.dataset_spec(n, "inputs") for n in node.inputs}
        outputs = {n: self.dataset_spec(n, "outputs") for n in node.outputs}
        for name, entry in inputs.items():
            if entry["kind"] == "catalog" and pinned_files.loads_code(entry["config"]):
                entry.update(self._code_loading_input(node, name, entry["config"]))
        creds = set()
        for entry in [*inputs.values(), *outputs.values()]:
            if entry["kind"] == "catalog":
                creds |= credential_names(entry["config"])
        key = naming.node_key(node.name)
        ident = manifest.JobIdentity(
            job_name=naming.job_name(node.name, self.run_id),
            node_name=node.name,
            node_key=key,
            run_id=self.run_id,
            run_label=naming.run_label(self.run_id),
            pipeline=self.pipeline_name,
        )
        return NodePlan(
            node=node,
            ident=ident,
            settings=self.config.node_settings(node.name, node.tags),
            payload_uri=uri,
            payload_sha256=digest,
            payload_bytes=len(blob),
            code_sha256=(payload.code_identity(node, self.allow, self.by_value)
                         if cache_mode(self.config) != "off" else ""),
            inputs=inputs,
            outputs=outputs,
            credentials=sorted(creds),
            result_uri=self.layout.result_uri(key),
        )

    def plan(self, pipeline: Pipeline) -> dict[Node, NodePlan]:
        """Plan every node of ``pipeline``.

        Raises:
            CatalogSpecError: A code-executing input (a pickle) that no node of the
                run produces is neither pinned nor trusted in settings.py, or local
                catalog paths lie outside the data roots (all of them named).
        """
        from kedro_kinetic.planning.group_plan import plan_group
        from kedro_kinetic.planning.grouping import form_groups

        if self.resolver is not None:  # every refused local path at once, before any upload
            self.resolver.check_paths(pipeline.datasets(), self.versions)
        self.produced = frozenset(o for node in pipeline.nodes for o in node.outputs)
        groups = form_groups(pipeline, lambda n: self.config.node_settings(n.name, n.tags),
                             self.config.grouping)  # refused before anything is stored
        plans = {node: self.plan_node(node) for node in pipeline.nodes}
        consumers: dict[str, set[Node]] = {}
        for node in pipeline.nodes:
            for name in node.inputs:
                consumers.setdefault(name, set()).add(node)
        free = set(pipeline.outputs())
        self.groups = [plan_group(g, plans, self.run_id, self.pipeline_name, free, consumers)
                       for g in groups]
        return plans

    def _code_loading_input(self, node: Node, name: str, config: Mapping[str, Any]) -> dict:
        """How a code-executing input is verified: a digest now, later, or an opt-in."""
        settings = self.settings
        if name in settings.trusted_data:
            return {"trusted": True}
        if not pinned_files.pinnable(config):
            raise CatalogSpecError(
                f"node '{node.name}': input '{name}' loads a code-executing format whose "
                "bytes kedro-kinetic cannot pin (several files, or not an fsspec file); "
                "trust it in code if only your pipeline writes it: settings.py "
                f"KINETIC_TRUSTED_DATA = ['{name}']")
        if name in self.produced:
            return {}  # pinned when its producer has reported the digest
        if name in settings.pinned_data:
            return {"sha256": settings.pinned_data[name]}
        raise CatalogSpecError(
            f"node '{node.name}': input '{name}' is a pickle (its loading runs code) that no "
            "node of this run produces, so nothing vouches for its bytes. Pin its digest in "
            f"settings.py (KINETIC_PINNED_DATA = {{'{name}': '<sha256>'}}), trust it "
            f"explicitly (KINETIC_TRUSTED_DATA = ['{name}']), or run the node that writes it "
            "in the same run (or resume that run: --runner-params resume=<run id>)")

    def finalise(self, plan: NodePlan, digests: Mapping[str, str],
                 deferred: list[Callable[[], None]] | None = None,
                 render: bool = True) -> NodePlan:
        """Pin intermediate digests into the spec, store it, render the Job.

        Args:
            plan: The node's plan.
            digests: SHA-256 of each pickled intermediate produced so far.
            deferred: Where to leave the spec's write instead of doing it now.
            render: Render the node's own Job (a group's node is rendered with
                its group instead).

        Raises:
            SpecError: A pickled input has no digest (its producer did
                not report one), so the node must not run.
        """
        inputs = {}
        for name, entry in plan.inputs.items():
            if needs_digest(entry) and "sha256" not in entry:
                if name not in digests:
                    raise SpecError(
                        f"node '{plan.node.name}': input '{name}' has no pinned digest"
                    )
                inputs[name] = {**entry, "sha256": digests[name]}
                if name in self.locations and entry["kind"] == "pickle":
                    inputs[name]["uri"] = self.locations[name]
                if name in self.sizes:
                    inputs[name]["bytes"] = self.sizes[name]
            else:
                inputs[name] = entry
        spec = {
            "format": SPEC_FORMAT,
            "kinetic_version": __version__,  # a pod that reads another format names both
            "run_id": self.run_id,
            "node": plan.node.name,
            "inputs": inputs,
            "outputs": plan.outputs,
            "credentials": plan.credentials,
            "log_level": lowest_shown_level(),
            "save_version": self.versions.get("save_version"),
            "load_versions": {
                n: v for n, v in (self.versions.get("load_versions") or {}).items()
                if n in plan.inputs or n in plan.outputs
            },
        }
        roots = getattr(self.resolver, "data_roots", None)
        if roots is not None:  # where the pod lets local catalog files lie
            spec["data_roots"] = roots.to_spec()
        spec_bytes = json.dumps(spec, sort_keys=True, allow_nan=True).encode()
        spec_uri, spec_sha = put_content(self.layout, spec_bytes, deferred)
        plan.attempt = seal.new_attempt()  # a new submission: earlier results never count
        plan.pins = manifest.Pins(
            payload_uri=plan.payload_uri,
            payload_sha256=plan.payload_sha256,
            payload_bytes=plan.payload_bytes,
            spec_uri=spec_uri,
            spec_sha256=spec_sha,
            spec_bytes=len(spec_bytes),
            result_uri=plan.result_uri,
            attempt=plan.attempt,
            notice_uri=self.notice_uri(plan.ident.job_name) if render else None,
        )
        if render:
            plan.manifest = manifest.render(plan.ident, plan.pins, plan.settings, self.config)
        return plan

    def notice_uri(self, job_name: str) -> str | None:
        """A new doorbell for a Job, when results first watches a GCS store from Kubernetes.

        One listing of ``notices/`` from the oldest Job still running then finds the
        finished ones, however many results the run already has. A resumed run gives
        none: a Job an earlier driver left running is adopted with that driver's
        doorbell, which this one cannot know, so its results are found by listing.
        """
        if not (self.doorbells and self.layout.write and self.config.results_first
                and self.config.backend == "kubernetes"
                and self.layout.root.startswith("gs://")):
            return None
        return self.layout.notice_uri(f"{next(self._notices):020d}-{job_name}")

    def record(self, plan: NodePlan) -> None:
        """Keep the manifest as submitted in the run's store (for status and audits)."""
        if not self.layout.write:
            return
        store.write_bytes(self.layout.manifest_uri(plan.ident.node_key),
                          json.dumps(plan.manifest, sort_keys=True, indent=1).encode())

    def record_later(self, plan: Any) -> None:
        """:meth:`record` on a background thread once Job creation pauses, off the path
        of the next Jobs (a fan-out creates its Jobs in a burst); :meth:`flush_records`
        writes the rest and waits."""
        self._records.add(plan)

    def flush_records(self) -> None:
        """Write every manifest handed to :meth:`record_later` and wait for them."""
        self._records.flush()
