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
    from collections.abc import Iterable, Iterator

    from kedro.pipeline.node import Node

    from kedro_kinetic.config import RunConfig

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
