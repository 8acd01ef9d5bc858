"""User errors end a command with their message, not 100-300 lines of driver traceback.

Kedro's CLI lets exceptions escape to the interpreter, whose ``sys.excepthook``
(rich's, installed by Kedro's logging) prints every frame. For kedro-kinetic's
own errors (:class:`~kedro_kinetic.errors.KineticError`: a config typo, a
refused dataset, a node that failed remotely, a missing kubeconfig, ...) those
frames are the driver's internals: the message already names the culprit and
the fix, and a remote failure carries the node's own traceback. So
:func:`install` wraps the interpreter's hook: kedro-kinetic errors print
``Error: <message>`` (and their notes) on stderr; anything else goes to the
previous hook unchanged. Only *uncaught* exceptions reach the hook, so
``session.run`` callers still get the exception object, with its type.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from kedro_kinetic.errors import KineticError
from kedro_kinetic.wire.text import printable

if TYPE_CHECKING:
    from types import TracebackType

#: Errors from libraries that mean "this machine is not set up", with what to do.
_SETUP_HINT = "run `kedro kinetic doctor` to check this machine's set-up"


def user_error(exc: BaseException) -> KineticError | None:
    """The kedro-kinetic error ``exc`` is, or was explicitly raised from (``raise ... from``).

    An error raised *while handling* one (``__context__``) is a different problem
    and keeps its traceback."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KineticError):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


def message(error: BaseException) -> str:
    """What to print for a user error: its message and notes, control characters escaped."""
    lines = [f"Error: {printable(str(error))}"]
    lines += [printable(note) for note in getattr(error, "__notes__", ())]
    return "\n".join(lines)


def _hook(previous: Any) -> Any:
    def excepthook(kind: type[BaseException], value: BaseException,
                   tb: TracebackType | None) -> None:
        error = user_error(value)
        if error is None:
            previous(kind, value, tb)
            return
        sys.stderr.write(message(error) + "\n")
        sys.stderr.flush()

    excepthook.kinetic = True  # type: ignore[attr-defined]
    return excepthook


def install() -> None:
    """Wrap ``sys.excepthook`` (once) so kedro-kinetic errors print as one message."""
    if not getattr(sys.excepthook, "kinetic", False):
        sys.excepthook = _hook(sys.excepthook)


def setup_hint(what: str) -> str:
    """``what`` went wrong on this machine, and where to look."""
    return f"{what}; {_SETUP_HINT}"
