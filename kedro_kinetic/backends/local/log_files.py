"""A local node's log file: following it while the process runs, and marking retries.

The local backend's node processes write their output to a file in the run's
private folder themselves (a pipe would break under a driver that dies), and
the backend echoes the file's new lines, prefixed by the node, while it follows
the process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def size(path: Path | None) -> int:
    """Where a log file ends now (0 if it does not exist yet): output after it is new."""
    return path.stat().st_size if path is not None and path.exists() else 0


def tail(path: Path, offset: int, ended: Callable[[float], bool],
         echo: Callable[[bytes], None]) -> int:
    """Echo the file's lines from ``offset`` until ``ended`` (called with a timeout
    in seconds: whether the process has ended); return the offset reached."""
    pending = b""
    with path.open("rb") as handle:
        handle.seek(offset)
        while True:
            chunk = handle.read(65536)
            if not chunk:
                if not ended(0.02):
                    continue
                chunk = handle.read()  # what the process wrote before it ended
                if not chunk:
                    break
            # a line may arrive in pieces (print writes the text, then the newline)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                echo(line)
        if pending:
            echo(pending)
        return handle.tell()


def mark_attempt(path: Path | None, attempt: int, code: int | None, offset: int) -> int:
    """Separate a retry's output from the previous attempt's in the node's log
    (``kedro kinetic logs`` shows them apart, as it does a Job's pods); the separator
    is not echoed (the retry line said it). Returns the offset to tail from."""
    if path is None:
        return offset
    with path.open("ab") as log:
        log.write(f"----- attempt {attempt} (attempt {attempt - 1} exited with code "
                  f"{code}) -----\n".encode())
    return size(path)
