"""``GKERunner``: every Kedro node in its own Job (or local process).

A thin adapter over Kedro's ``AbstractRunner``, in the shape of Kedro's own
runners: it reads the config, plans every node (:mod:`kedro_kinetic.planning.plan`),
opens the backend with the run's key, and hands the nodes to the scheduling
loop (:mod:`kedro_kinetic.driver.scheduler`). What happens to one node (hooks,
pinning, submission, outcome) lives in :mod:`kedro_kinetic.driver.node_task`; resume
in :mod:`kedro_kinetic.driver.resume`; the driver's own data in
:mod:`kedro_kinetic.driver.driver_io`. The driver never touches intermediate data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.runner import AbstractRunner

from kedro_kinetic import config as kinetic_config
from kedro_kinetic import store
from kedro_kinetic.driver import activation, user_errors
from kedro_kinetic.driver.cache import open_cache
from kedro_kinetic.driver.context import RunContext
from kedro_kinetic.driver.driver_io import free_outputs, upload_driver_inputs
from kedro_kinetic.driver.hints import interrupted, print_last_words, suggest_resume
from kedro_kinetic.driver.node_task import NodeTasks
from kedro_kinetic.driver.outcome import RemoteNodeError
from kedro_kinetic.driver.progress import NodeState
from kedro_kinetic.driver.result_watch import ResultWatcher
from kedro_kinetic.driver.resume import keep_attempts
from kedro_kinetic.driver.run_setup import (
    add_hookspecs,
    by_value_packages,
    check_before_submission,
    check_images,
    make_progress,
    sigterm_as_interrupt,
    unknown_run,
)
from kedro_kinetic.driver.scheduler import Scheduler
from kedro_kinetic.errors import RunNotFound
from kedro_kinetic.planning.catalog_objects import refuse_code_only
from kedro_kinetic.planning.catalog_spec import CatalogResolver, is_parameter, project_data_roots
from kedro_kinetic.planning.plan import Planner
from kedro_kinetic.store.layout import RunLayout
from kedro_kinetic.wire.allowlist import build_allowlist, class_path
from kedro_kinetic.wire.result import Status

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

    from kedro_kinetic.backends.base import Backend
    from kedro_kinetic.planning.node_plan import NodePlan
    from kedro_kinetic.wire.data_paths import DataRoots
    from kedro_kinetic.wire.result import NodeResult

__all__ = ["GKERunner", "RemoteNodeError"]

logger = logging.getLogger(__name__)


class GKERunner(AbstractRunner):
    """Runs each node of a pipeline as its own Kubernetes Job (or local process).

    Configuration comes from the ``kinetic:`` block of ``parameters.yml``;
    keyword arguments (``--runner-params``) override it. Every argument has a
    default so that ``kedro server`` can build the runner.
    """

    def __init__(self, is_async: bool = False, allow: Iterable[Any] = (),
                 resume: str | None = None, command: tuple[str, ...] | None = None,
                 **overrides: Any):
        """Create the runner.

        Args:
            is_async: Accepted for Kedro compatibility; loading and saving
                happen inside each node's own process.
            allow: Dataset classes or validator callables (objects, given in
                code) added to the allowlist. Strings are refused, so the
                allowlist cannot be extended from the command line.
            resume: The run id of an earlier run to pick up: nodes it finished are
                not re-run, its Jobs still running are watched again (adopted when
                their pinned digests match), the rest are submitted.
            command: The node container's command, as a tuple of strings given in
                code (it chooses what runs, so ``--runner-params``, which can only
                give strings and lists, cannot set it).
            **overrides: ``kinetic`` settings with the highest precedence.
        """
        super().__init__(is_async=is_async)
        package_logger = logging.getLogger("kedro_kinetic")
        if package_logger.level == logging.NOTSET:  # as Kedro does for "kedro": INFO unless
            package_logger.setLevel(logging.INFO)  # the project's logging config says otherwise
        self._resume = str(resume) if resume else None
        self._allow = tuple(class_path(obj) for obj in ([allow] if isinstance(allow, str)
                                                         else allow))
        self._overrides = dict(overrides)
        self._command = None
        if isinstance(command, tuple) and command and all(isinstance(c, str) for c in command):
            self._command = command
        elif command is not None:
            self._overrides["command"] = command  # refused by config.load, naming the key
        self._state = activation.activate(self._allow, self._overrides, self._command)
        user_errors.install()  # `kedro run`: a kedro-kinetic error prints as one message
        self.last_plans: dict[Node, NodePlan] = {}
        self.last_results: dict[str, NodeResult] = {}
        #: node name -> {"submitted": t, "finished_seen": t} (driver clock, time.time())
        self.last_timeline: dict[str, dict[str, float]] = {}
        self._ctx: RunContext | None = None
        self._block: Any = {}
        self._finished_before: set[str] = set()

    def __repr__(self) -> str:
        return f"GKERunner(overrides={self._overrides!r})"

    def _get_executor(self, max_workers: int) -> None:
        return None

    # -- planning -------------------------------------------------------------------
    def _config(self, catalog: CatalogProtocol) -> kinetic_config.RunConfig:
        names = self._state.run_params.get("pipeline_names") or ["__default__"]
        # the dataset's own load: Kedro's "Loading data from …" line belongs to the nodes
        block = catalog["params:kinetic"].load() if "params:kinetic" in catalog else {}
        self._block = block  # its names are checked once the pipeline is known
        settings = self._state.settings
        if self._command:
            settings = dataclasses.replace(settings, command=self._command)
        return kinetic_config.load(block, names, self._overrides, settings)

    def prepare(self, pipeline: Pipeline, catalog: CatalogProtocol, run_id: str,
                dry_run: bool = False) -> tuple[kinetic_config.RunConfig, Planner,
                                                dict[Node, NodePlan]]:
        """Validate the config and catalog, then plan every node (nothing is submitted).

        Args:
            pipeline: The (filtered) pipeline to run.
            catalog: The run's catalog (parameters are read from it).
            run_id: The Kedro session id.
            dry_run: Compute payloads and digests without writing to the store.

        Raises:
            ConfigError: The ``kinetic`` block or the runner params are invalid.
            CatalogSpecError: A catalog entry names a class not on the allowlist.
        """
        state = self._state
        names = state.run_params.get("pipeline_names") or ["__default__"]
        cfg = self._config(catalog)
        allowed = build_allowlist(state.settings.dataset_allowlist + self._allow)
        params = {n: catalog[n].load() for n in pipeline.datasets() if is_parameter(n)}
        project = state.project_path or Path.cwd()
        resolver = self._resolver(catalog, allowed, project_data_roots(state.settings, project,
                                                                       cfg.store))
        refuse_code_only(pipeline.datasets(), catalog, resolver.declares)
        check_before_submission(cfg, pipeline, state, self._block, self._overrides,
                                resolver.entry)
        planner = Planner(
            run_id=run_id, pipeline_name="+".join(names), config=cfg,
            layout=RunLayout.for_run(store.to_uri(cfg.store, project), run_id,
                                     write=not dry_run),
            resolver=resolver, parameters=params,
            allow=allowed - build_allowlist(),
            by_value=by_value_packages(pipeline.nodes, state.package_name, project),
            versions={"save_version": run_id if self._resume else state.save_version or run_id,
                      "load_versions": state.load_versions},
            settings=state.settings,
            doorbells=not self._resume,  # an earlier driver's Jobs, adopted, have their own
        )
        check_images(cfg, pipeline.nodes)
        return cfg, planner, planner.plan(pipeline)

    def _resolver(self, catalog: CatalogProtocol, allowed: frozenset[str],
                  roots: DataRoots | None) -> CatalogResolver:
        """The run's catalog configuration, checked against the allowlist (and ``roots``)."""
        state = self._state
        raw = (state.raw_catalog if state.raw_catalog is not None
               else catalog.to_config()[0])  # type: ignore[attr-defined] # DataCatalog's
        return CatalogResolver(raw, allowed, roots, state.project_path or Path.cwd())

    def _check_before_open(self, cfg: kinetic_config.RunConfig, pipeline: Pipeline,
                           catalog: CatalogProtocol) -> None:
        """Names and (``kubernetes``) shared storage, before the backend creates anything
        (a Kubernetes run's key Secret); :meth:`prepare` checks them again for render."""
        config_for = None
        if cfg.backend == "kubernetes":
            allowed = build_allowlist(self._state.settings.dataset_allowlist + self._allow)
            config_for = self._resolver(catalog, allowed, None).entry
        check_before_submission(cfg, pipeline, self._state, self._block, self._overrides,
                                config_for)

    # -- run ------------------------------------------------------------------------
    def run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
        only_missing_outputs: bool = False,
    ) -> dict[str, Any]:
        """Validate, plan and run ``pipeline``; return its free outputs.

        Raises:
            ConfigError: The ``kinetic`` block or the runner params are invalid.
            CatalogSpecError: A catalog entry names a class not on the allowlist.
            RunNotFound: ``resume`` names a run this backend does not know.
            RemoteNodeError: A node failed in its pod.
        """
        try:
            return self._run_all(pipeline, catalog, hook_manager, run_id, only_missing_outputs)
        finally:
            activation.drop_early_server()  # started while Kedro loaded, but not used

    def _run_all(self, pipeline: Pipeline, catalog: CatalogProtocol,
                 hook_manager: PluginManager | None, run_id: str | None,
                 only_missing_outputs: bool) -> dict[str, Any]:
        from kedro.framework.hooks.manager import _NullPluginManager

        self._state.plans, self._state.results = {}, {}  # nothing stale if this fails early
        self._state.cached = {}
        run_id = self._resume or run_id or datetime.now(timezone.utc).strftime(
            "%Y-%m-%dT%H.%M.%S.%fZ")
        cfg = self._config(catalog)  # invalid config stops the run before anything else
        if only_missing_outputs:
            pipeline = self._filter_pipeline_for_missing_outputs(pipeline, catalog)
            if not pipeline.nodes:  # Kedro logged "Skipping all N nodes": nothing to open
                self._logger.info("Pipeline execution completed successfully in 0.0 sec.")
                return {}
        hooks: Any = hook_manager or _NullPluginManager()
        add_hookspecs(hooks)
        ctx = self._open(cfg, pipeline, catalog, hooks, run_id)
        start = time.perf_counter()
        try:
            with sigterm_as_interrupt(), ctx.progress or contextlib.nullcontext():
                self._run(pipeline, catalog, hooks, run_id)
        except KeyboardInterrupt as exc:  # after the live table: the last words on screen
            print_last_words(interrupted(run_id, self._finished_count(), len(ctx.plans),
                                         str(exc)))
            raise
        finally:
            if ctx.watcher is not None:
                ctx.watcher.stop()
            ctx.planner.flush_records()
            keep_attempts(ctx)
            if ctx.cache is not None:
                ctx.cache.close(ctx.backend)
            ctx.backend.close()
            self._ctx = None
        logger.info("Pipeline execution completed successfully in %.1f sec.",
                    time.perf_counter() - start)
        return free_outputs(pipeline, catalog, ctx.plans, ctx.digests,
                            ctx.planner.resolver.local_roots, sizes=ctx.planner.sizes,
                            trusted=ctx.planner.settings.trusted_data,
                            locations=ctx.planner.locations)

    def _open(self, cfg: kinetic_config.RunConfig, pipeline: Pipeline,
              catalog: CatalogProtocol, hooks: PluginManager, run_id: str) -> RunContext:
        """Open the backend with the run's key, plan, upload the driver's inputs."""
        check_images(cfg, pipeline.nodes)  # before anything is created or stored
        self._check_before_open(cfg, pipeline, catalog)
        project = self._state.project_path or Path.cwd()
        backend = self._backend(cfg, project, run_id)
        try:
            try:
                key = backend.run_key(run_id, resume=bool(self._resume))
            except RunNotFound:
                raise RunNotFound(unknown_run(cfg, project, run_id)) from None
            cfg, planner, plans = self.prepare(pipeline, catalog, run_id)
            digests = upload_driver_inputs(pipeline, catalog, plans, planner.layout,
                                           planner.sizes)
            backend.preflight(cfg)
        except BaseException:
            backend.close()
            raise
        logger.info("kedro-kinetic run %s: %d nodes, backend '%s', store %s",
                    run_id, len(plans), cfg.backend, planner.layout.root)
        self.last_plans, self.last_results, self.last_timeline = plans, {}, {}
        self._state.plans, self._state.results = plans, self.last_results
        self._ctx = RunContext(
            config=cfg, plans=plans, planner=planner, backend=backend, key=key,
            catalog=catalog, hooks=hooks, run_id=run_id, is_async=self._is_async,
            digests=digests, progress=make_progress(cfg, run_id, [n.name for n in plans]),
            results=self.last_results, timeline=self.last_timeline,
            groups={g.name: g for g in planner.groups},
            watcher=(ResultWatcher(planner.layout.results_prefix, backend.events.put,
                                   notices=planner.layout.notices_prefix)
                     if cfg.results_first else None),
            cache=open_cache(cfg, backend, planner, self._state.project_path or Path.cwd(),
                             run_id))
        if self._ctx.cache is not None:
            self._state.cached = self._ctx.cache.hits  # filled as nodes are reused
        return self._ctx

    def _finished_count(self) -> int:
        """Nodes of this run that finished: before a resume, or now (sealed and succeeded)."""
        now = {name for name, r in self.last_results.items() if r.status == Status.SUCCEEDED}
        return len(now | self._finished_before)

    def _backend(self, cfg: kinetic_config.RunConfig, project: Path, run_id: str) -> Backend:
        from kedro_kinetic import backends
        from kedro_kinetic.driver.live_view import CURRENT_STDOUT

        state = self._state
        root = RunLayout.for_run(store.to_uri(cfg.store, project), run_id).root
        return backends.create(cfg, project_path=project, run_label=RunLayout(root).label,
                               run_root=root, conf_source=state.conf_source,
                               env=state.env, log_sink=CURRENT_STDOUT,
                               pipeline="+".join(state.run_params.get("pipeline_names")
                                                 or ["__default__"]),
                               local=activation.local_inputs(state))

    def _run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        """Schedule the planned nodes in DAG order, up to ``max_parallel`` at once.

        Called by :meth:`run` once every node is planned. On the first failure
        no new node starts (running ones are cancelled when ``fail_fast``), and
        the failure is raised with the remote traceback and Kedro's resume hint.
        """
        ctx = self._ctx
        if ctx is None:
            raise RuntimeError("GKERunner._run is driven by GKERunner.run()")
        tasks = NodeTasks(ctx)
        done: set[Node] = set()
        if self._resume:
            from kedro_kinetic.driver.resume import finished_before

            done = finished_before(ctx, self._resume)
            self._finished_before = {n.name for n in done}
            for node in done:
                tasks.show(node, NodeState.SUCCEEDED, f"finished in run {self._resume}")
        jobs = {n: ctx.plans[n].ident.job_name for n in pipeline.nodes}  # DAG order
        scheduler = Scheduler(ctx.backend, jobs, pipeline.node_dependencies,
                              ctx.config.max_parallel, ctx.config.fail_fast)
        outcome = scheduler.run(tasks, done)
        if outcome.failure is not None:
            outcome.failure.add_note(suggest_resume(self, pipeline, outcome.done, catalog,
                                                    run_id or ctx.run_id))
            raise outcome.failure
        if outcome.not_run:
            raise RuntimeError("nodes could not be scheduled: "
                               f"{sorted(n.name for n in outcome.not_run)}")
