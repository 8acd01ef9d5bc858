"""The parts of kedro-viz the plugin relies on, taken from kedro-viz itself, and its range."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

logger = logging.getLogger("kedro_kinetic.plugin.viz")

SUPPORTED_KEDRO_VIZ = ">=12.5,<13"
_SUPPORTED_MIN = (12, 5)
_SUPPORTED_MAX = (13, 0)

#: The per-node Job record the plugin keeps beside kedro-viz's events.
RECORD_FILE = "kedro_kinetic_run.json"


# -- the kedro-viz contract -------------------------------------------------------

@dataclass(frozen=True)
class VizContract:
    """The parts of kedro-viz this module relies on, taken from kedro-viz itself."""

    version: str
    metadata_dir: str  # ".viz", relative to the project root
    events_file: str  # "kedro_pipeline_events.json"
    hash_node: Callable[[Any], str]
    hash_dataset: Callable[[str], str]
    is_default_run: Callable[[dict], bool]
    compute_size: Callable[[str, Any], int]

    def events_path(self, project: Path) -> Path:
        """Where kedro-viz's ``/api/run-status`` reads the events of ``project``."""
        return project / self.metadata_dir / self.events_file

    def record_path(self, project: Path) -> Path:
        """Where this module keeps the per-node Job record of ``project``."""
        return project / self.metadata_dir / RECORD_FILE


def _version_tuple(text: str) -> tuple[int, int]:
    parts = ([*text.split("."), "0", "0"])[:2]
    return int("".join(c for c in parts[0] if c.isdigit()) or 0), int(
        "".join(c for c in parts[1] if c.isdigit()) or 0
    )


def is_supported(version: str) -> bool:
    """Tell whether a kedro-viz version is inside :data:`SUPPORTED_KEDRO_VIZ`."""
    return _SUPPORTED_MIN <= _version_tuple(version) < _SUPPORTED_MAX


def load_contract() -> VizContract | None:
    """Import kedro-viz's helpers, or return ``None`` when it is absent or unsupported."""
    try:
        from importlib.metadata import version

        installed = version("kedro-viz")
    except Exception:
        return None
    if not is_supported(installed):
        logger.warning(
            "kedro-kinetic: kedro-viz %s is outside the supported range %s; "
            "GKERunner runs are not recorded for its Workflow view.",
            installed, SUPPORTED_KEDRO_VIZ,
        )
        return None
    try:
        from kedro_viz.integrations.kedro import hooks_utils
        from kedro_viz.utils import _hash_input_output
    except ImportError as exc:
        logger.warning("kedro-kinetic: cannot import kedro-viz %s helpers: %s", installed, exc)
        return None
    return VizContract(
        version=installed,
        metadata_dir=hooks_utils.EVENTS_DIR,
        events_file=hooks_utils.EVENTS_FILE,
        hash_node=hooks_utils.hash_node,
        hash_dataset=_hash_input_output,
        is_default_run=hooks_utils.is_default_run,
        compute_size=hooks_utils.compute_size,
    )
