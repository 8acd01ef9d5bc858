"""Errors as a pod reports them: the node's own frames, and datasets named as Kedro does.

Standard library only (the pod imports it; Kedro is imported only on a failure path).
A node's traceback starts in the entrypoint; those frames say nothing about the
user's code, so the reported traceback starts at the first frame outside
kedro-kinetic (kept whole when every frame is ours: then it is our bug).
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro_kinetic.errors import KineticError

_PACKAGE = str(Path(__file__).resolve().parent)
#: Marks an error whose message tells the whole story (no frame of ours adds to it).
COMPLETE = "kinetic_complete"


def _ours(filename: str) -> bool:
    try:
        return str(Path(filename).resolve()).startswith(_PACKAGE)
    except (OSError, ValueError):
        return False


def node_traceback(exc: BaseException) -> str:
    """``exc``'s traceback without the leading kedro-kinetic frames (the entrypoint's)."""
    tb = exc.__traceback__
    while tb is not None and _ours(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    if tb is None and getattr(exc, COMPLETE, False) and exc.__cause__ is not None:
        return "".join(traceback.format_exception(exc.__cause__))  # what led to it
    if tb is None and (isinstance(exc, KineticError) or getattr(exc, COMPLETE, False)):
        return "".join(traceback.format_exception_only(exc))  # the message says it all
    if tb is None:  # an unexpected error inside kedro-kinetic: every frame helps
        return "".join(traceback.format_exception(exc))
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _dataset_error(message: str) -> Exception:
    """Kedro's ``DatasetError`` (what Kedro raises for a dataset), marked complete."""
    error: Exception
    try:
        from kedro.io.core import DatasetError
    except ImportError:  # pragma: no cover - Kedro is a dependency of every pod image
        error = ValueError(message)
    else:
        error = DatasetError(message)
    setattr(error, COMPLETE, True)
    return error


def _not_found(exc: BaseException) -> BaseException | None:
    """The "no such file" or "no version" error behind ``exc`` (its causes), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, FileNotFoundError) or type(current).__name__ == (
                "VersionNotFoundError"):
            return current
        current = current.__cause__ or current.__context__
    return None


def _configured_path(config: Any) -> str | None:
    if not isinstance(config, Mapping):
        return None
    for key in ("filepath", "path"):
        if isinstance(config.get(key), str):
            return str(config[key])
    nested = config.get("dataset")
    return _configured_path(nested) if isinstance(nested, Mapping) else None


def missing_input(name: str, config: Any, exc: BaseException) -> Exception | None:
    """One line for an input whose data does not exist, naming the dataset and its path
    (the traceback that led to it stays the node's traceback), or ``None`` when ``exc``
    is not about missing data.

    Args:
        name: The input dataset.
        config: Its catalog configuration (for the path the user wrote).
        exc: What loading it raised.
    """
    missing = _not_found(exc)
    if missing is None:
        return None
    path = _configured_path(config)
    looked = getattr(missing, "filename", None) if isinstance(missing, OSError) else None
    where = repr(path) if path else "its path"
    if looked and str(looked) != path:
        where += f" (looked for {str(looked)!r})"
    what = ("has no saved version" if not isinstance(missing, FileNotFoundError)
            else "does not exist")
    return _dataset_error(
        f"input '{name}' not found: {where} {what}; write it first (run the node that "
        "produces it, or upload it there) or correct its path in the catalog")


def save_failed(name: str, exc: Exception) -> Exception:
    """The error for an intermediate that could not be pickled, naming the dataset as Kedro
    does (``Failed while saving data to dataset ...``), as Kedro's ``DatasetError``."""
    message = (f"Failed while saving data to dataset '{name}'.\n{type(exc).__name__}: {exc}\n"
               f"GKERunner passes '{name}' to the next node as a pickle; return a value "
               "that pickle (or cloudpickle) can serialise, or give the dataset a catalog "
               "entry that can save it.")
    return _dataset_error(message)
