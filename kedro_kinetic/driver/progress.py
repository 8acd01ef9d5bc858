"""What every node of a run is doing, shown while ``kedro run`` goes.

On a terminal a rich live table (state, elapsed time, reason, counts, run id)
stays at the bottom while node output and log lines scroll above it, into the
scrollback (:mod:`kedro_kinetic.driver.live_view`); the last redraw lists every node.
Elsewhere (CI logs, files) each transition is one plain line, so logs stay
readable; a node's success is not repeated there, because the runner logs it
in Kedro's own words (``Completed node: ...``).
"""

from __future__ import annotations

import enum
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import IO, Any

from kedro_kinetic.driver.live_view import LiveView
from kedro_kinetic.wire.text import printable


class NodeState(str, enum.Enum):
    """Where a node of a run stands (a closed set)."""

    WAITING = "waiting"
    SUBMITTED = "submitted"
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NOT_RUN = "not run"  #: the run ended before it started (after a failure, a cancel)
    CACHED = "cached"  #: reused from an earlier run's authenticated execution


STATES = tuple(state.value for state in NodeState)
_STYLE = {"waiting": "dim", "submitted": "cyan", "pending": "yellow", "running": "blue",
          "succeeded": "green", "failed": "bold red", "cancelled": "magenta",
          "not run": "dim", "cached": "green"}
_ENDED = ("succeeded", "failed", "cancelled", "not run", "cached")


@dataclass
class _Row:
    state: str = "waiting"
    since: float = 0.0
    started: float | None = None
    ended: float | None = None
    detail: str = ""
    #: The node's own run time (its pod's clock), once known: a grouped node's is its
    #: own, not its group's so far.
    duration: float | None = None


class Progress:
    """Tracks node states; renders them live (terminal) or as plain lines."""

    def __init__(self, run_id: str, nodes: list[str], stream: IO[str] | None = None,
                 live: bool | None = None) -> None:
        self.run_id = run_id
        self._stream = stream or sys.stdout
        self._live_wanted = self._stream.isatty() if live is None else live
        self._rows = {name: _Row(since=time.time()) for name in nodes}  # pipeline order
        self._lock = threading.Lock()
        self._live: LiveView | None = None

    @property
    def live(self) -> bool:
        """Whether the live table is on screen now."""
        return self._live is not None

    def __enter__(self) -> Progress:
        if self._live_wanted:
            self._live = LiveView(self._stream, self._view)
            self._live.start()
        else:
            self._line(f"run {self.run_id}: {len(self._rows)} nodes")
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            for row in self._rows.values():  # the run is over: these never started
                if row.state == "waiting":
                    row.state = "not run"
        if self._live is not None:
            self._live.stop()
            self._live = None
        else:
            self._line(self.summary())

    def update(self, node: str, state: str, detail: str = "") -> None:
        """Record a transition of ``node`` to ``state`` (a :class:`NodeState`)."""
        state = NodeState(state).value
        now = time.time()
        with self._lock:
            row = self._rows.setdefault(node, _Row(since=now))
            if row.state == state and row.detail == detail:
                return
            row.state, row.since, row.detail = state, now, detail
            if state == "running" and row.started is None:
                row.started = now
            if state in _ENDED:
                row.ended = now
        if self._live is None and state != "succeeded":  # logged as "Completed node"
            suffix = f" ({detail})" if detail else ""
            self._line(f"{node}: {state}{suffix} [{self.summary()}]")

    def took(self, node: str, seconds: float | None) -> None:
        """Record ``node``'s own run time (from its result), shown instead of the time since
        its Job started."""
        with self._lock:
            if node in self._rows and seconds is not None:
                self._rows[node].duration = seconds

    def counts(self) -> Counter[str]:
        """Number of nodes in each state."""
        with self._lock:
            return Counter(row.state for row in self._rows.values())

    def summary(self) -> str:
        """``3/13 succeeded, 2 running, ...`` for the run."""
        counts = self.counts()
        parts = [f"{counts['succeeded']}/{len(self._rows)} succeeded"]
        parts += [f"{counts[s]} {s}" for s in STATES if s not in ("succeeded",) and counts[s]]
        return ", ".join(parts)

    def _line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self._stream.write(f"[kinetic {stamp}] {printable(text, newlines=False)}\n")
        self._stream.flush()

    def _view(self) -> Any:
        """The title on one line of its own (never wrapped to the table's width), the table."""
        from rich.console import Group
        from rich.text import Text

        title = Text(f"kedro-kinetic run {printable(self.run_id, False)} - {self.summary()}",
                     style="bold", no_wrap=True, overflow="ellipsis")
        return Group(title, self._table())

    def _table(self) -> Any:
        from rich.table import Table

        now = time.time()
        table = Table(expand=False, show_lines=False)
        table.add_column("node", overflow="fold")  # a narrow terminal folds, never hides, it
        table.add_column("state", no_wrap=True)
        table.add_column("elapsed", no_wrap=True)
        table.add_column("detail", overflow="ellipsis")
        with self._lock:
            rows = list(self._rows.items())
        for name, row in rows:
            elapsed = _elapsed(row, now)
            table.add_row(markup_safe(name), f"[{_STYLE[row.state]}]{row.state}[/]", elapsed,
                          markup_safe(row.detail[:80]))
        return table


def _elapsed(row: _Row, now: float) -> str:
    """The node's own run time once known, else the time since it started."""
    if row.duration is not None:
        return f"{row.duration:6.1f}s"
    start = row.started or (row.since if row.state not in ("waiting", "not run") else None)
    return "" if start is None else f"{(row.ended or now) - start:6.1f}s"


def markup_safe(text: object, newlines: bool = False) -> str:
    """:func:`printable`, with Rich markup brackets escaped too."""
    from rich.markup import escape

    return escape(printable(text, newlines))
