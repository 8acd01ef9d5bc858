"""Errors as a pod reports them: the node's own frames, and datasets named as Kedro does.

Standard library only (the pod imports it; Kedro is imported only on a failure path).
A node's traceback starts in the entrypoint; those frames say nothing about the
user's code, so the reported traceback starts at the first frame outside
kedro-kinetic (kept whole when every frame is ours: then it is our bug).
"""

from __future__ import annotations

import traceback
from pathlib import Path

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
    if tb is None and (isinstance(exc, KineticError) or getattr(exc, COMPLETE, False)):
        return "".join(traceback.format_exception_only(exc))  # the message says it all
    if tb is None:  # an unexpected error inside kedro-kinetic: every frame helps
        return "".join(traceback.format_exception(exc))
    return "".join(traceback.format_exception(type(exc), exc, tb))


def save_failed(name: str, exc: Exception) -> Exception:
    """The error for an intermediate that could not be pickled, naming the dataset as Kedro
    does (``Failed while saving data to dataset ...``), as Kedro's ``DatasetError``."""
    message = (f"Failed while saving data to dataset '{name}'.\n{type(exc).__name__}: {exc}\n"
               f"GKERunner passes '{name}' to the next node as a pickle; return a value "
               "that pickle (or cloudpickle) can serialise, or give the dataset a catalog "
               "entry that can save it.")
    error: Exception
    try:
        from kedro.io.core import DatasetError
    except ImportError:  # pragma: no cover - Kedro is a dependency of every pod image
        error = ValueError(message)
    else:
        error = DatasetError(message)
    setattr(error, COMPLETE, True)
    return error
