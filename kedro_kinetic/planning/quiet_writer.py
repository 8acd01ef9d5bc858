"""Writes that can wait: done on one background thread when Job creation pauses.

The run keeps a copy of every Job's manifest in its store, for audits. Nothing
waits for that copy, but writing it takes CPU (here and at the store) from the
creation of the next Jobs, and a fan-out creates its Jobs in a burst. So a
:class:`QuietWriter` holds its items until no new one has come for ``quiet``
seconds (the burst is over), or the oldest has waited ``longest`` seconds, then
writes them all; :meth:`QuietWriter.flush` writes the rest at once and waits.
A failed write is logged as a warning, never raised: the Job runs all the same.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

#: Seconds without a new item before the writer starts (a fan-out's burst is shorter).
QUIET_SECONDS = 0.5
#: The longest an item waits while items keep coming.
LONGEST_SECONDS = 10.0


class QuietWriter:
    """Calls ``write(item)`` for each item added, off the caller's thread, in quiet moments."""

    def __init__(self, write: Callable[[Any], None], describe: Callable[[Any], str],
                 quiet: float = QUIET_SECONDS, longest: float = LONGEST_SECONDS) -> None:
        """Args:
            write: Writes one item (raises on failure).
            describe: Names an item in the warning when its write failed ("the
                manifest of Job x").
            quiet: Seconds without a new item before the waiting ones are written.
            longest: The longest the first waiting item waits while more keep coming.
        """
        self._write = write
        self._describe = describe
        self._quiet = quiet
        self._longest = longest
        self._waiting: list[Any] = []
        self._first = self._last = 0.0
        self._flushing = False
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()

    def add(self, item: Any) -> None:
        """Hand over one item; it is written once the adds pause (or at :meth:`flush`)."""
        with self._changed:
            now = time.monotonic()
            if not self._waiting:
                self._first = now
            self._waiting.append(item)
            self._last = now
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kinetic-record",
                                                daemon=True)
                self._thread.start()
            self._changed.notify()

    def flush(self) -> None:
        """Write every item added so far, now, and wait until they are written."""
        with self._changed:
            thread, self._flushing = self._thread, True
            self._changed.notify()
        if thread is not None:
            thread.join()
        with self._changed:
            self._flushing, self._thread = False, None

    def _run(self) -> None:
        while True:
            with self._changed:
                batch = self._next_batch()
            if batch is None:
                return
            for item in batch:
                try:
                    self._write(item)
                except Exception as exc:  # a copy for audits: warn, go on
                    logger.warning("Could not keep %s: %s", self._describe(item), exc)

    def _next_batch(self) -> list[Any] | None:
        """Wait (holding the condition) until a batch is due; None once flushed and empty."""
        while True:
            if self._flushing:
                batch, self._waiting = self._waiting, []
                return batch or None
            if self._waiting:
                due = min(self._last + self._quiet, self._first + self._longest)
                left = due - time.monotonic()
                if left <= 0:
                    batch, self._waiting = self._waiting, []
                    return batch
                self._changed.wait(left)
            else:
                self._changed.wait()
