"""What to do next after a run stops: Kedro's resume hint, ours, and Ctrl-C.

Kedro's ``SequentialRunner`` names the nearest nodes whose inputs are
persisted (``--from-nodes``). Its helper decides what is persisted from the
datasets the catalog has *built* (``catalog._datasets``), which Kedro's runners
build while warming up the catalog. The GKERunner driver never loads catalog
data, so nothing is built and every dataset would count as in memory, sending
users back to the first nodes. :class:`PersistenceView` builds the pipeline's
catalog datasets the way Kedro's warm-up does (classes were checked against the
allowlist before the catalog existed), so the hint names the same nodes as
``SequentialRunner``, in Kedro's own log wording.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

logger = logging.getLogger("kedro_kinetic.driver.runner")


class _Persisted:
    """Stands for a catalog dataset that could not be built in the driver (e.g. it needs
    credentials only pods have): it is in the catalog, so Kedro counts it as persisted."""

    _EPHEMERAL = False


class PersistenceView:
    """The part of a catalog Kedro's resume helper reads: ``_datasets``, built as by warm-up."""

    def __init__(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        self._datasets: dict[str, Any] = {}
        for name in sorted(pipeline.datasets()):
            if name.startswith("params:") or name == "parameters" or name not in catalog:
                continue
            try:
                self._datasets[name] = catalog.get(name)
            except Exception:  # a dataset the driver cannot build is still in the catalog
                self._datasets[name] = _Persisted()


def rerun_command(run_id: str) -> str:
    """The runner param that resumes ``run_id``, reusing what its nodes produced."""
    return f"--runner-params resume={run_id}"


def suggest_resume(runner: Any, pipeline: Pipeline, done: Iterable[Node],
                   catalog: CatalogProtocol, run_id: str) -> str:
    """Log Kedro's resume suggestion (same nodes, same words); return ours, which the
    failure's message ends with (so each hint is shown once).

    Args:
        runner: The runner, whose ``_suggest_resume_scenario`` (Kedro's) logs the hint.
        pipeline: The pipeline of the run.
        done: The nodes that finished.
        catalog: The run's catalog.
        run_id: The run id, for ``--runner-params resume=<run id>``.
    """
    view: Any = PersistenceView(pipeline, catalog)
    runner._suggest_resume_scenario(pipeline, set(done), view)
    return (f"Or resume this run, keeping what its nodes already produced: add "
            f"`{rerun_command(run_id)}` to your previous command (merge it into an "
            "existing --runner-params)")


def interrupted(run_id: str, finished: int, total: int, signal_text: str = "") -> str:
    """The message after Ctrl-C (or SIGTERM): which run, how far it got, how to resume."""
    how = "terminated" if "signal" in signal_text else "cancelled (Ctrl-C)"
    return (f"kedro-kinetic run {run_id} {how}: {finished} of {total} node(s) finished; "
            "its running nodes were stopped. Resume it, keeping what finished: add "
            f"`{rerun_command(run_id)}` to your previous command")


def print_last_words(text: str) -> None:
    """Print ``text`` on stderr as it is: one unwrapped paragraph, next to click's
    ``Aborted!``, so the command in it can be copied (a log handler would wrap it)."""
    import sys

    from kedro_kinetic.wire.text import printable

    sys.stderr.write(printable(text, newlines=False) + "\n")
    sys.stderr.flush()
