"""The pod's ``logging``: every record as one line of structured JSON on stderr.

A node's ``logging`` calls, Kedro's own per-node lines ("Loading data from …") and
library records are written by :class:`RecordLines` in Cloud Logging's structured
format (:mod:`kedro_kinetic.wire.log_record`), tagged with the node that runs; the
driver shows them through the project's own logging configuration. The pod never reads
that configuration: the only setting it takes is the lowest level the driver would show,
pinned in the task spec. ``print()`` output is left as it is.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import TextIO

from kedro_kinetic.wire.log_record import encode


class RecordLines(logging.Handler):
    """Writes each record as one JSON line, tagged with the node running now."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream
        self.node: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exception = None
            if record.exc_info and record.exc_info[1] is not None:
                exception = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            stream = self._stream or sys.stderr
            stream.write(encode(record, self.node, exception) + "\n")
            stream.flush()
        except Exception:  # a record that cannot be written must not fail the node
            self.handleError(record)


_HANDLER = RecordLines()


def install(level: int = logging.INFO) -> RecordLines:
    """Route every record of this process through :class:`RecordLines` at ``level``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_HANDLER)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn becomes a record too, as under Kedro
    return _HANDLER


def running(node: str | None) -> None:
    """Tag the records that follow with ``node`` (the node a pod runs now)."""
    _HANDLER.node = node
