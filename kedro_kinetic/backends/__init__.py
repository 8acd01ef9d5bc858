"""Execution backends: where a rendered Job manifest runs.

``local`` runs the manifest's container command as a local process;
``kubernetes`` submits it to a cluster. Both report :class:`JobEvent` objects
on a queue that the runner waits on (no polling loops in the runner).
"""

from __future__ import annotations

from kedro_kinetic.backends.base import Backend, JobEvent

__all__ = ["Backend", "JobEvent", "create"]


def create(name: str, **kwargs: object) -> Backend:
    """Instantiate the backend called ``name``."""
    if name == "local":
        from kedro_kinetic.backends.local import LocalBackend

        return LocalBackend(**kwargs)  # type: ignore[arg-type]
    raise ValueError(
        f"backend {name!r} is not available in this version (use 'local')"
    )
