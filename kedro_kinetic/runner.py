"""``GKERunner``: every Kedro node in its own Job (or local process).

The runner walks the DAG in the driver. For each ready node it pins the task
spec (with the digests of the intermediates it reads), fires Kedro's node
hooks with the original ``Node`` objects, and hands the rendered Job manifest
to the backend. It waits on the backend's event queue (no polling), reads each
pod's JSON result, and never touches intermediate data itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.runner import AbstractRunner

from kedro_kinetic import activation, naming, pinned_files, store
from kedro_kinetic import config as kinetic_config
from kedro_kinetic.allowlist import build_allowlist, class_path
from kedro_kinetic.backends.base import JobEvent
from kedro_kinetic.catalog_spec import CatalogResolver, is_parameter
from kedro_kinetic.errors import KineticError, RunNotFound, SealError, StoreObjectError
from kedro_kinetic.layout import RunLayout
from kedro_kinetic.plan import NodePlan, Planner, put_content, reported_digest
from kedro_kinetic.progress import Progress
from kedro_kinetic.remote_data import PinnedPickleDataset, RemoteData
from kedro_kinetic.result import EXIT_MEANINGS, NodeResult, read_sealed
from kedro_kinetic.text import printable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

    from kedro_kinetic.backends.base import Backend

logger = logging.getLogger(__name__)

#: Threads that store specs and create Jobs for ready nodes at the same time.
_SUBMITTERS = 8
#: Event kind a submitter thread posts when it could not submit its Job.
_UNSUBMITTED = "unsubmitted"
if logging.getLogger("kedro_kinetic").level == logging.NOTSET:
    logging.getLogger("kedro_kinetic").setLevel(logging.INFO)


class RemoteNodeError(RuntimeError):
    """A node failed in its pod; carries the remote error and traceback text."""

    def __init__(self, node_name: str, result: NodeResult, reason: str | None,
                 next_step: str = "") -> None:
        self.node_name = node_name
        self.result = result
        self.remote_type = result.error_type
        self.exit_code = result.exit_code
        meaning = ("its result was refused" if result.error_type in ("SealError",
                                                                     "StoreObjectError")
                   else EXIT_MEANINGS.get(result.exit_code, f"exit code {result.exit_code}"))
        cause = result.error_message or reason or "no result was written"
        head = f"node '{node_name}' failed remotely ({meaning}"
        quiet = ("Error", "Completed", "BackoffLimitExceeded", "PodFailurePolicy")
        head += f", {reason})" if reason and reason not in quiet else ")"
        message = f"{head}: {printable(result.error_type or 'error', False)}: {printable(cause)}"
        if result.traceback:
            message += "\n--- remote traceback ---\n" + printable(result.traceback.rstrip())
        if next_step:
            message += "\n" + next_step
        super().__init__(message)


def _by_value_packages(nodes: Iterable[Node], package: str | None, root: Path) -> set[str]:
    names = {package} if package else set()
    for node in nodes:
        module = sys.modules.get(getattr(node.func, "__module__", "") or "")
        path = getattr(module, "__file__", None)
        if path and Path(path).resolve().is_relative_to(root.resolve()):
            names.add(module.__name__.split(".")[0])
    return names


@dataclass
class _ActiveRun:
    """What ``run`` prepared for ``_run``."""

    config: kinetic_config.RunConfig
    plans: dict[Node, NodePlan]
    planner: Planner
    digests: dict[str, str]
    backend: Backend
    key: bytes
    progress: Progress | None = None


def _resume_hint(pipeline: Pipeline, done: set[Node], catalog: CatalogProtocol) -> str:
    from kedro.runner.runner import _find_nodes_to_resume_from

    if not done:
        return "No node finished; repeat the command to start a new run."
    remaining = set(pipeline.nodes) - done
    start = _find_nodes_to_resume_from(pipeline=pipeline, unfinished_nodes=remaining,
                                       catalog=catalog)
    return f'Resume with: kedro run --from-nodes "{",".join(sorted(start))}"'


def _unknown_run(cfg: kinetic_config.RunConfig, project: Path, run_id: str) -> str:
    """Why ``resume=<run_id>`` cannot be resumed, naming the closest known run ids."""
    from kedro_kinetic import backends, runs

    where = f" in {store.to_uri(cfg.store, project)} (backend {cfg.backend})"
    try:
        known = backends.inspector(cfg, project).runs()
    except KineticError:
        known = []
    try:
        runs.find_run([r for r in known if r.run_id != run_id], run_id, where)
    except RunNotFound as exc:
        return f"resume={run_id}: {exc}; nothing was run"
    return f"resume={run_id}: the run has no key{where}; nothing was run"  # pragma: no cover


def _preflight(backend: Backend, cfg: kinetic_config.RunConfig) -> None:
    """Checks a backend offers before its first Job: the Secrets the pods need."""
    check = getattr(backend, "check_secrets", None)
    if check is not None:
        from kedro_kinetic.doctor import named_secrets

        check(named_secrets(cfg))


def _progress(cfg: kinetic_config.RunConfig, run_id: str, nodes: list[str]) -> Progress | None:
    if cfg.progress == "off":
        return None
    live = {"live": True, "plain": False}.get(cfg.progress)
    return Progress(run_id, nodes, live=live)


def _add_hookspecs(hook_manager: Any) -> None:
    from kedro_kinetic.hookspecs import ManifestSpecs

    if hasattr(hook_manager, "add_hookspecs") and not hasattr(hook_manager.hook,
                                                              "kinetic_job_manifest"):
        hook_manager.add_hookspecs(ManifestSpecs)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the run's Jobs are cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_KILLED = ("the pod was killed (SIGKILL, exit code 137) before it wrote a result: evicted, "
           "preempted, or its node was lost - not an error raised by the node's code")
_EXPLAIN = {
    "OOMKilled": "the container exceeded its memory limit (OOMKilled); give the node more "
                 "memory (kinetic nodes.<name>.memory or a tag)",
    "DeadlineExceeded": "the node ran longer than its deadline_seconds (activeDeadlineSeconds)",
    "BackoffLimitExceeded": "the pod failed and its retries are exhausted",
    "Cancelled": "the node was cancelled",
    "Deleted": "the node's Job was deleted by someone else",
}


def _check_images(cfg: kinetic_config.RunConfig, nodes: Iterable[Node]) -> None:
    """Apply ``image_policy`` to the images of a Kubernetes run (before anything is stored)."""
    from kedro_kinetic.manifest import image_is_pinned

    if cfg.backend != "kubernetes" or cfg.image_policy == "allow":
        return
    images = {cfg.node_settings(n.name, n.tags).image for n in nodes}
    loose = sorted(image for image in images if not image_is_pinned(image))
    if not loose:
        return
    text = (f"image(s) not pinned by digest: {', '.join(loose)}; a tag can move between "
            "nodes of one run (use image@sha256:...)")
    if cfg.image_policy == "require_digest":
        raise kinetic_config.ConfigError(f"kinetic.image_policy is require_digest: {text}")
    logger.warning(text)


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
        self._resume = str(resume) if resume else None
        self._allow = tuple(class_path(obj) for obj in ([allow] if isinstance(allow, str)
                                                         else allow))
        self._overrides = dict(overrides)
        self._command = None
        if isinstance(command, tuple) and command and all(isinstance(c, str) for c in command):
            self._command = command
        elif command is not None:
            self._overrides["command"] = command  # refused by config.load, naming the key
        self._state = activation.activate(self._allow)
        self.last_plans: dict[Node, NodePlan] = {}
        self.last_results: dict[str, NodeResult] = {}
        #: node name -> {"submitted": t, "finished_seen": t} (driver clock, time.time())
        self.last_timeline: dict[str, dict[str, float]] = {}
        self._active: _ActiveRun | None = None

    def __repr__(self) -> str:
        return f"GKERunner(overrides={self._overrides!r})"

    def _get_executor(self, max_workers: int) -> None:
        return None

    # -- planning ---------------------------------------------------------------
    def _config(self, catalog: CatalogProtocol) -> kinetic_config.RunConfig:
        names = self._state.run_params.get("pipeline_names") or ["__default__"]
        block = catalog.load("params:kinetic") if "params:kinetic" in catalog else {}
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
        raw = state.raw_catalog if state.raw_catalog is not None else catalog.to_config()[0]
        resolver = CatalogResolver(raw, allowed)
        params = {n: catalog.load(n) for n in pipeline.datasets() if is_parameter(n)}
        project = state.project_path or Path.cwd()
        layout = RunLayout(store.join(store.to_uri(cfg.store, project), "runs",
                                      naming.run_label(run_id)), write=not dry_run)
        planner = Planner(
            run_id=run_id, pipeline_name="+".join(names), config=cfg, layout=layout,
            resolver=resolver, parameters=params, allow=allowed - build_allowlist(),
            by_value=_by_value_packages(pipeline.nodes, state.package_name, project),
            versions={"save_version": run_id if self._resume else state.save_version or run_id,
                      "load_versions": state.load_versions},
            settings=state.settings,
        )
        _check_images(cfg, pipeline.nodes)
        plans = planner.plan(pipeline)
        return cfg, planner, plans

    # -- run ----------------------------------------------------------------
    def run(  # noqa: PLR0913
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
            RemoteNodeError: A node failed in its pod.
        """
        from kedro.framework.hooks.manager import _NullPluginManager

        state = self._state
        state.plans, state.results = {}, {}  # nothing stale if this run fails early
        run_id = self._resume or run_id or datetime.now(timezone.utc).strftime(
            "%Y-%m-%dT%H.%M.%S.%fZ")
        cfg = self._config(catalog)  # invalid config stops the run before anything else
        if only_missing_outputs:
            pipeline = self._filter_pipeline_for_missing_outputs(pipeline, catalog)
        _check_images(cfg, pipeline.nodes)  # before anything is created or stored
        project = state.project_path or Path.cwd()
        root = RunLayout.for_run(store.to_uri(cfg.store, project), run_id).root
        backend = self._backend(cfg, project, run_id, root)
        try:
            try:
                key = backend.run_key(run_id, resume=bool(self._resume))
            except RunNotFound:
                raise RunNotFound(_unknown_run(cfg, project, run_id)) from None
            cfg, planner, plans = self.prepare(pipeline, catalog, run_id)
            layout = planner.layout
            digests = self._upload_driver_inputs(pipeline, catalog, plans, layout)
        except BaseException:
            backend.close()
            raise
        self.last_plans = plans
        self.last_results = {}
        self.last_timeline = {}
        state.plans, state.results = plans, self.last_results
        logger.info("kedro-kinetic run %s: %d nodes, backend '%s', store %s",
                    run_id, len(plans), cfg.backend, layout.root)
        hook_manager = hook_manager or _NullPluginManager()
        _add_hookspecs(hook_manager)
        try:
            _preflight(backend, cfg)
        except BaseException:
            backend.close()
            raise
        self._active = _ActiveRun(cfg, plans, planner, digests, backend, key)
        start = time.perf_counter()
        progress = _progress(cfg, run_id, [n.name for n in plans])
        self._active.progress = progress
        try:
            with _sigterm_as_interrupt(), progress or contextlib.nullcontext():
                self._run(pipeline, catalog, hook_manager, run_id)
        finally:
            self._active.backend.close()
            self._active = None
        logger.info("Pipeline execution completed successfully in %.1f sec.",
                    time.perf_counter() - start)
        return self._free_outputs(pipeline, catalog, plans, digests)

    def _backend(self, cfg: kinetic_config.RunConfig, project: Path, run_id: str,
                 root: str) -> Backend:
        from kedro_kinetic import backends

        return backends.create(cfg, project_path=project, run_label=naming.run_label(run_id),
                               run_root=root, conf_source=self._state.conf_source,
                               env=self._state.env)

    def _upload_driver_inputs(self, pipeline: Pipeline, catalog: CatalogProtocol,
                              plans: dict[Node, NodePlan], layout: RunLayout) -> dict[str, str]:
        """Pipeline inputs held only in the driver's memory go to the store, pinned."""
        import cloudpickle

        digests: dict[str, str] = {}
        free_inputs = pipeline.inputs()  # computed once: it walks the whole pipeline
        wanted = {
            name for plan in plans.values() for name, entry in plan.inputs.items()
            if entry["kind"] == "pickle" and name in free_inputs
        }
        for name in sorted(wanted):
            if name not in catalog:
                raise ValueError(
                    f"Pipeline input(s) {{'{name}'}} not found in the "
                    f"{catalog.__class__.__name__}"
                )
            blob = cloudpickle.dumps(catalog.load(name))
            store.write_bytes(layout.data_uri(name), blob)
            digests[name] = put_content(layout, blob)[1]
        return digests

    def _free_outputs(self, pipeline: Pipeline, catalog: CatalogProtocol,
                      plans: dict[Node, NodePlan], digests: dict[str, str]) -> dict[str, Any]:
        entries = {n: e for p in plans.values() for n, e in p.outputs.items()}
        out = {}
        for name in pipeline.outputs():
            entry = entries.get(name)
            if entry is not None and entry["kind"] == "pickle":
                catalog[name] = PinnedPickleDataset(entry["uri"], digests[name])
            elif entry is not None and reported_digest(entry):
                pinned_files.pin(catalog[name], name, digests.get(name))  # .load() verifies
            out[name] = catalog[name]
        return out

    # -- scheduling ------------------------------------------------------------
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
        if self._active is None:
            raise RuntimeError("GKERunner._run is driven by GKERunner.run()")
        cfg, plans, planner = self._active.config, self._active.plans, self._active.planner
        digests, backend = self._active.digests, self._active.backend
        hooks = hook_manager
        run_id = run_id or ""
        deps = pipeline.node_dependencies
        done: set[Node] = self._finished_before(plans, digests, backend) if self._resume else set()
        for node in done:
            self._show(node.name, "succeeded", f"finished in run {self._resume}")
        todo = set(plans) - done
        running: dict[str, Node] = {}
        submitting: dict[str, Future[None]] = {}
        failure: RemoteNodeError | None = None
        pool = ThreadPoolExecutor(max_workers=max(1, min(_SUBMITTERS, cfg.max_parallel)),
                                  thread_name_prefix="kinetic-submit")
        try:
            while True:
                if failure is None:
                    ready = sorted((n for n in todo if deps[n] <= done), key=lambda n: n.name)
                    for node in ready[: max(0, cfg.max_parallel - len(running))]:
                        todo.discard(node)
                        job = plans[node].ident.job_name
                        running[job] = node
                        submitting[job] = pool.submit(self._submit(
                            node, plans[node], planner, digests, catalog, hooks, run_id,
                            backend))
                if not running:
                    break
                event = backend.events.get()
                if event.kind == _UNSUBMITTED:
                    if failure is None:
                        submitting[event.job_name].result()  # raises the submitter's error
                    logger.error("Could not submit job %s: %s", event.job_name, event.message)
                    running.pop(event.job_name, None)
                    continue
                node = running.get(event.job_name)
                if node is None:
                    continue
                if event.kind != "finished":
                    self._show(node.name, "running" if event.kind == "started" else "pending",
                               event.message or event.reason or "")
                    continue
                del running[event.job_name]
                error = self._finished(node, plans[node], event, digests, catalog,
                                       hooks, run_id)
                self._show(node.name, "succeeded" if error is None else (
                    "cancelled" if event.reason == "Cancelled" else "failed"),
                    "" if error is None else (event.reason or "failed"))
                if error is None:
                    done.add(node)
                    logger.info("Completed node: %s", node.name)
                    logger.info("Completed %d out of %d tasks", len(done), len(plans))
                elif failure is None:
                    failure = error
                    if cfg.fail_fast and running:
                        logger.warning("Stopping %d running node(s) after the failure of '%s'",
                                       len(running), node.name)
                        wait(submitting.values())  # so that none is created after the cancel
                        backend.cancel_all()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            cancelled = backend.cancel_all()
            if cancelled:
                logger.warning("Cancelled %d node(s): %s", len(cancelled), ", ".join(cancelled))
            raise
        finally:
            pool.shutdown(wait=True)
        if failure is not None:
            self._suggest_resume_scenario(pipeline, done, catalog)
            if hasattr(failure, "add_note"):
                failure.add_note(_resume_hint(pipeline, done, catalog))
            raise failure
        if todo:
            raise RuntimeError(f"nodes could not be scheduled: {sorted(n.name for n in todo)}")

    def _show(self, node: str, state: str, detail: str = "") -> None:
        if self._active is not None and self._active.progress is not None:
            self._active.progress.update(node, state, detail)

    def _finished_before(self, plans: dict[Node, NodePlan], digests: dict[str, str],
                         backend: Backend) -> set[Node]:
        """Nodes an earlier run of this id finished (from the store's results alone)."""
        done = set()
        key = self._active.key if self._active is not None else b""
        for node, plan in plans.items():
            try:
                result = read_sealed(store.read_bytes(plan.result_uri), key, plan.result_uri)
            except store.ObjectNotFound:
                backend.forget(plan.ident.job_name)  # a killed attempt; a running one stays
                continue
            except KineticError as exc:
                if isinstance(exc, SealError):
                    logger.warning("Resume: %s", exc)
                result = None
            if result is not None and result.status == "succeeded" and all(
                not reported_digest(e) or result.output_digest(n)
                for n, e in plan.outputs.items()
            ):
                for name, entry in plan.outputs.items():
                    if reported_digest(entry):
                        digests[name] = result.outputs[name]["sha256"]
                self.last_results[node.name] = result
                done.add(node)
                continue
            logger.info("Resume: node %s failed before; running it again", node.name)
            store.delete(plan.result_uri)
            backend.forget(plan.ident.job_name)
        if done:
            logger.info("Resume of run %s: %d of %d nodes already finished: %s",
                        self._resume, len(done), len(plans),
                        ", ".join(sorted(n.name for n in done)))
        return done

    def _placeholders(self, entries: dict[str, dict[str, Any]],
                      digests: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, entry in entries.items():
            if entry["kind"] == "param":
                out[name] = entry["value"]
            else:
                out[name] = RemoteData(name, entry.get("uri"), digests.get(name))
        return out

    def _submit(  # noqa: PLR0913
        self, node: Node, plan: NodePlan, planner: Planner, digests: dict[str, str],
        catalog: CatalogProtocol, hooks: PluginManager, run_id: str, backend: Backend,
    ) -> Callable[[], None]:
        """Fire the node's hooks and pin its spec here; return the I/O still to do.

        Hooks and pinning stay on the scheduler's thread; the returned callable
        stores the spec and manifest and creates the Job, so that several ready
        nodes are submitted at once rather than one round trip after another.
        """
        inputs = self._placeholders(plan.inputs, digests)
        responses = hooks.hook.before_node_run(
            node=node, catalog=catalog, inputs=inputs, is_async=self._is_async, run_id=run_id
        ) or []
        for response in responses:
            if not response:
                continue
            if not isinstance(response, dict):
                raise TypeError(
                    f"'before_node_run' must return either None or a dictionary mapping "
                    f"dataset names to updated values, got '{type(response).__name__}' instead."
                )
            self._replace_inputs(plan, planner, response)
        writes: list[Callable[[], None]] = []
        planner.finalise(plan, digests, writes)
        plan.manifest = self._patch_manifest(hooks, plan, run_id)
        self._show(node.name, "submitted", plan.ident.job_name)

        def dispatch() -> None:  # I/O only: runs on a submitter thread
            try:
                for write in writes:
                    write()
                backend.submit(plan.manifest, node.name)
                self.last_timeline[node.name] = {"submitted": time.time()}
                planner.record(plan)  # for status and audits; the pod does not read it
            except BaseException as exc:
                backend.events.put(JobEvent(plan.ident.job_name, _UNSUBMITTED,
                                            message=str(exc)))
                raise
            logger.info("Submitted node: %s (job %s)", node.name, plan.ident.job_name)

        return dispatch

    @staticmethod
    def _patch_manifest(hooks: PluginManager, plan: NodePlan, run_id: str) -> dict[str, Any]:
        """Let project hooks patch the Job, then validate the result again."""
        import copy

        from kedro_kinetic.manifest import check_patched

        caller = getattr(hooks.hook, "kinetic_job_manifest", None)
        if caller is None or not caller.get_hookimpls():
            return plan.manifest  # no project hook: nothing to copy or check again
        patched = copy.deepcopy(plan.manifest)
        for returned in caller(manifest=patched, node=plan.node, settings=plan.settings,
                               run_id=run_id):
            if returned is not None:
                patched = returned
        return check_patched(plan.manifest, patched, plan.node.name)

    @staticmethod
    def _replace_inputs(plan: NodePlan, planner: Planner, values: dict[str, Any]) -> None:
        """Inputs replaced by a ``before_node_run`` hook travel pinned, like intermediates."""
        import cloudpickle

        for name, value in values.items():
            if name in plan.inputs:
                uri, digest = put_content(planner.layout, cloudpickle.dumps(value))
                plan.inputs[name] = {"kind": "pickle", "uri": uri, "sha256": digest}

    def _finished(  # noqa: PLR0913
        self, node: Node, plan: NodePlan, event: JobEvent, digests: dict[str, str],
        catalog: CatalogProtocol, hooks: PluginManager, run_id: str,
    ) -> RemoteNodeError | None:
        self.last_timeline.setdefault(node.name, {})["finished_seen"] = time.time()
        result = self._read_result(plan, event, self._active.key if self._active else b"")
        self.last_results[node.name] = result
        inputs = self._placeholders(plan.inputs, digests)
        ok = event.exit_code == 0 and result.status == "succeeded"
        if ok:
            for name, entry in plan.outputs.items():
                if not reported_digest(entry):
                    continue
                reported = result.outputs.get(name, {}).get("sha256")
                if not reported:
                    ok = False
                    result.error_message = f"the pod reported no digest for output '{name}'"
                    break
                digests[name] = reported
        if ok:
            outputs = self._placeholders(plan.outputs, digests)
            hooks.hook.after_node_run(node=node, catalog=catalog, inputs=inputs,
                                      outputs=outputs, is_async=self._is_async, run_id=run_id)
            return None
        error = RemoteNodeError(node.name, result, event.reason,
                                f"Logs: kedro kinetic logs {run_id} {node.name}")
        hooks.hook.on_node_error(error=error, node=node, catalog=catalog, inputs=inputs,
                                 is_async=self._is_async, run_id=run_id)
        return error

    @staticmethod
    def _read_result(plan: NodePlan, event: JobEvent, key: bytes) -> NodeResult:
        """The node's authenticated result, or a failed one saying why there is none.

        Only a result sealed with the run's key for this node's URI is trusted;
        a forged, replayed or malformed one makes the node fail, naming it.
        """
        try:
            result = read_sealed(store.read_bytes(plan.result_uri), key, plan.result_uri)
        except (SealError, StoreObjectError) as exc:
            return NodeResult(node=plan.node.name,
                              exit_code=-1 if event.exit_code is None else event.exit_code,
                              error_type=type(exc).__name__, error_message=str(exc))
        except store.StoreError as exc:
            detail = _EXPLAIN.get(event.reason or "", "")
            if event.exit_code in (137, -9) and event.reason not in ("OOMKilled", "Cancelled",
                                                                    "DeadlineExceeded"):
                detail = _KILLED
            message = "; ".join(m for m in (detail, event.message) if m) or (
                f"the pod ended (exit code {event.exit_code}) without writing a result: {exc}")
            result = NodeResult(node=plan.node.name,
                                exit_code=-1 if event.exit_code is None else event.exit_code,
                                error_type=event.reason or "NoResult", error_message=message)
        if result.node == "?":  # the pod failed before it could read (verify) its spec
            result.node = plan.node.name
        if result.node != plan.node.name:
            result.status = "failed"
            result.error_message = (f"result {plan.result_uri} names another node "
                                    f"('{result.node}')")
        if event.exit_code not in (None, result.exit_code) and result.status == "succeeded":
            result.status = "failed"
            result.exit_code = event.exit_code
            result.error_message = f"the pod's exit code was {event.exit_code}"
        return result
