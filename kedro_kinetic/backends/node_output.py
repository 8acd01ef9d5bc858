"""One line of a node's output, as the driver shows it: a log record, or a prefixed line.

Shared by both backends (a local process's log file, a pod's log stream). A line that
carries a ``logging`` record (:mod:`kedro_kinetic.wire.log_record`) is handed to its logger
in the driver, so the project's logging configuration shows it; any other line (``print``
output, a library writing to stderr) is written as ``[node] line`` with control characters
escaped. Both come from the node: data, never evaluated.
"""

from __future__ import annotations

from typing import IO, Any

from kedro_kinetic.wire import log_record
from kedro_kinetic.wire.text import printable


def show(line: bytes, display: str, sink: IO[str], lock: Any) -> None:
    """Show one line of ``display``'s output (see the module's docstring)."""
    text = line.decode(errors="replace").rstrip()
    record = log_record.parse(text, display)
    if record is not None:
        log_record.emit(record)
        return
    with lock:
        sink.write(f"[{display}] {printable(text, newlines=False)}\n")
        sink.flush()
