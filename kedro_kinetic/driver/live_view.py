"""The live table on a terminal, with every log line scrolling above it.

A rich ``Live`` display redraws the lines it owns at the bottom of the
terminal. Anything written to the terminal *behind its back* is overwritten by
the next redraw and lost from the scrollback, so every writer must go through
the console the display owns:

* Kedro's ``RichHandler`` prints through rich's global console
  (``rich.get_console()``), so the live display uses that very console:
  rich then prints each record above the table.
* Plain ``logging.StreamHandler`` objects hold the stream they were given
  when logging was configured (the real stdout or stderr): for the duration of
  the display they write to the redirected ``sys.stdout``/``sys.stderr``
  instead, which rich also prints above the table.
* Node output from the backends goes to :data:`CURRENT_STDOUT`, which looks
  ``sys.stdout`` up at every write (a backend is created before the display
  starts, so holding ``sys.stdout`` itself would bypass it).
"""

from __future__ import annotations

import logging
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


class _CurrentStdout:
    """A text stream that writes to whatever ``sys.stdout`` is at the time of writing."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()

    def isatty(self) -> bool:
        return sys.stdout.isatty()


#: Where backends echo node output: above the live table while one is shown.
CURRENT_STDOUT: IO[str] = _CurrentStdout()  # type: ignore[assignment]


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    """Every stream handler of every configured logger (file handlers excluded)."""
    loggers: list[Any] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values()
                if isinstance(lg, logging.Logger)]
    found = []
    for lg in loggers:
        for handler in lg.handlers:
            if (isinstance(handler, logging.StreamHandler)
                    and not isinstance(handler, logging.FileHandler) and handler not in found):
                found.append(handler)
    return found


class LiveView:
    """Starts and stops a rich ``Live`` display of ``renderable`` on ``stream``."""

    def __init__(self, stream: IO[str], renderable: Callable[[], Any]) -> None:
        self._stream = stream
        self._renderable = renderable
        self._live: Any = None
        self._swapped: list[tuple[logging.StreamHandler[Any], Any]] = []

    @property
    def console(self) -> Any:
        return None if self._live is None else self._live.console

    def start(self) -> None:
        """Show the display; route log handlers through it."""
        import rich
        from rich.console import Console
        from rich.live import Live

        real_out, real_err = sys.stdout, sys.stderr
        console = (rich.get_console() if self._stream in (sys.stdout, sys.__stdout__)
                   else Console(file=self._stream))
        self._live = Live(self._renderable(), console=console, refresh_per_second=4,
                          redirect_stdout=True, redirect_stderr=True, transient=False,
                          get_renderable=self._renderable)
        self._live.start()
        for handler in _stream_handlers():
            if handler.stream is real_out or handler.stream is real_err:
                proxy = sys.stdout if handler.stream is real_out else sys.stderr
                self._swapped.append((handler, handler.stream))
                handler.setStream(proxy)

    def stop(self) -> None:
        """Print the final display (every row) and give the terminal back."""
        for handler, stream in self._swapped:
            handler.setStream(stream)
        self._swapped = []
        if self._live is not None:
            self._live.stop()
            self._live = None
