"""Small pieces the runner needs around a run: progress, signals, hints, checks."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_kinetic import store
from kedro_kinetic.driver.progress import Progress
from kedro_kinetic.errors import ConfigError, KineticError, RunNotFound

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

    from kedro_kinetic.config import RunConfig
    from kedro_kinetic.config.names import KnownNames
    from kedro_kinetic.driver.activation import RunState

logger = logging.getLogger(__name__)


def by_value_packages(nodes: Iterable[Node], package: str | None, root: Path) -> set[str]:
    """Top-level packages to pickle by value: the project's, and any under its folder."""
    names = {package} if package else set()
    for node in nodes:
        module = sys.modules.get(getattr(node.func, "__module__", "") or "")
        path = getattr(module, "__file__", None)
        if module is not None and path and Path(path).resolve().is_relative_to(root.resolve()):
            names.add(module.__name__.split(".")[0])
    return names


def unknown_run(cfg: RunConfig, project: Path, run_id: str) -> str:
    """Why ``resume=<run_id>`` cannot be resumed, naming the closest known run ids."""
    from kedro_kinetic import backends
    from kedro_kinetic.backends.base import find_run

    where = f" in {store.to_uri(cfg.store, project)} (backend {cfg.backend})"
    try:
        known = backends.inspector(cfg, project).runs()
    except KineticError:
        known = []
    try:
        find_run([r for r in known if r.run_id != run_id], run_id, where)
    except RunNotFound as exc:
        return f"resume={run_id}: {exc}; nothing was run"
    return f"resume={run_id}: the run has no key{where}; nothing was run"  # pragma: no cover


def make_progress(cfg: RunConfig, run_id: str, nodes: list[str]) -> Progress | None:
    """The progress display the config asks for (``None`` when off)."""
    if cfg.progress == "off":
        return None
    live = {"live": True, "plain": False}.get(cfg.progress)
    return Progress(run_id, nodes, live=live)


def add_hookspecs(hook_manager: Any) -> None:
    """Register the ``kinetic_job_manifest`` hook spec (once) on Kedro's hook manager."""
    from kedro_kinetic.driver.hookspecs import ManifestSpecs

    if hasattr(hook_manager, "add_hookspecs") and not hasattr(hook_manager.hook,
                                                              "kinetic_job_manifest"):
        hook_manager.add_hookspecs(ManifestSpecs)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
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


def known_names(pipeline: Pipeline, state: RunState) -> KnownNames:
    """The node, tag and pipeline names a run's configuration may use.

    The run's own nodes, plus, when the run comes from this process's Kedro project,
    every node of every pipeline the project registers: a ``pipelines.<other>``
    section, or a node filtered out by ``--nodes``/``--tags``, is a name the project
    has. A pipeline given in code (no project) has only its own names. After
    ``kedro run --pipelines X`` Kedro has loaded only ``X``: the names are partial.
    """
    from kedro_kinetic.config.names import KnownNames

    nodes = {n.name: frozenset(n.tags) for n in pipeline.nodes}
    loaded = _registered_pipelines(state)
    if loaded is None:
        return KnownNames(nodes)
    registered, complete = loaded
    for registered_pipeline in registered.values():
        for node in getattr(registered_pipeline, "nodes", ()):
            nodes[node.name] = nodes.get(node.name, frozenset()) | frozenset(node.tags)
    if complete:
        return KnownNames(nodes, frozenset(registered), "the project's pipelines")
    names = sorted(set(registered) - {"__default__"}) or ["__default__"]
    return KnownNames(nodes, None, f"pipeline(s) {', '.join(names)}", complete=False)


def _registered_pipelines(state: RunState) -> tuple[dict[str, Any], bool] | None:
    """The project's registered pipelines as Kedro loaded them, and whether that is all of
    them (``kedro run --pipelines`` loads only those); ``None`` outside a Kedro project."""
    if not state.package_name:
        return None
    try:
        from kedro.framework.project import PACKAGE_NAME, pipelines

        if PACKAGE_NAME != state.package_name:
            return None
        requested = getattr(pipelines, "_requested_pipelines", None)  # Kedro 1.7's filter
        complete = requested is None or "__default__" in requested
        return {name: pipelines[name] for name in pipelines}, complete
    except Exception as exc:  # a registry that fails to load: the run's names only
        logger.debug("pipeline registry not read: %s", exc)
        return None


def check_before_submission(cfg: RunConfig, pipeline: Pipeline, state: RunState,
                            block: Any, overrides: Any,
                            config_for: Callable[[str], Any] | None) -> None:
    """What configuration may get wrong that only the pipeline reveals, before anything
    is created: unknown node, tag, pipeline or group names, and (``kubernetes``)
    datasets on a disk the pods do not share.

    Args:
        cfg: The run's config.
        pipeline: The pipeline to run.
        state: What the hooks learnt about the run (project, env, settings).
        block: The raw ``kinetic`` block; overrides: the runner's ``--runner-params``.
        config_for: A dataset's checked configuration (needed for ``kubernetes``).

    Raises:
        ConfigError: Unknown names, each with the closest known one.
        CatalogSpecError: Datasets a Kubernetes run keeps on local paths, each named.
    """
    from kedro_kinetic.config.names import check_names
    from kedro_kinetic.planning import remote_paths

    check_names(block, overrides, cfg, known_names(pipeline, state))
    if cfg.backend == "kubernetes" and config_for is not None:
        project = state.project_path or Path.cwd()
        remote_paths.check(remote_paths.uses(pipeline.nodes), config_for,
                           state.settings.shared_paths, str(project.absolute()), state.env)


def check_images(cfg: RunConfig, nodes: Iterable[Node]) -> None:
    """Apply ``image_policy`` to the images of a Kubernetes run (before anything is stored).

    Raises:
        ConfigError: ``require_digest`` and an image is not pinned by digest.
    """
    from kedro_kinetic.planning.manifest import image_is_pinned

    if cfg.backend != "kubernetes" or cfg.image_policy == "allow":
        return
    images = {cfg.node_settings(n.name, n.tags).image for n in nodes}
    loose = sorted(image for image in images if not image_is_pinned(image))
    if not loose:
        return
    text = (f"image(s) not pinned by digest: {', '.join(loose)}; a tag can move between "
            "nodes of one run (use image@sha256:...)")
    if cfg.image_policy == "require_digest":
        raise ConfigError(f"kinetic.image_policy is require_digest: {text}")
    logger.warning(text)
