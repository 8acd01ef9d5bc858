"""kedro-kinetic: run every Kedro node as its own Kubernetes Job.

The package root stays import-light: the pod entrypoint imports
``kedro_kinetic.entrypoint`` and must not pay for the driver side. ``GKERunner``
is therefore resolved lazily on first access.
"""

from __future__ import annotations

from typing import Any

from kedro_kinetic.version import __version__

__all__ = ["GKERunner", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "GKERunner":
        from kedro_kinetic.driver.runner import GKERunner

        return GKERunner
    raise AttributeError(f"module 'kedro_kinetic' has no attribute {name!r}")
