"""The writer of audit copies waits for a pause in Job creation, never for ever."""

from __future__ import annotations

import threading
import time

from kedro_kinetic.planning.quiet_writer import QuietWriter

CEILING = 60  # seconds: generous on a loaded two-core machine


def _writer(quiet: float, longest: float, fail: set[str] = frozenset()):
    written: list[tuple[str, float]] = []
    done = threading.Event()

    def write(item: str) -> None:
        if item in fail:
            raise OSError(f"cannot write {item}")
        written.append((item, time.monotonic()))
        done.set()

    return QuietWriter(write, lambda item: f"the manifest of Job {item}", quiet, longest), \
        written, done


def test_items_wait_until_the_adds_pause_then_are_all_written_in_order():
    writer, written, done = _writer(quiet=0.3, longest=CEILING)
    for k in range(5):
        writer.add(f"job-{k}")
    last_add = time.monotonic()
    assert done.wait(CEILING)
    writer.flush()
    assert [item for item, _ in written] == [f"job-{k}" for k in range(5)]
    assert written[0][1] - last_add >= 0.3  # nothing was written during the burst


def test_a_steady_stream_of_adds_does_not_hold_items_past_the_longest_wait():
    writer, written, done = _writer(quiet=CEILING * 10, longest=0.1)
    writer.add("job-0")
    assert done.wait(CEILING)  # the quiet moment never came; the longest wait ended
    assert [item for item, _ in written] == ["job-0"]
    writer.flush()


def test_flush_writes_what_waits_at_once_and_a_failure_is_a_warning(caplog):
    writer, written, _ = _writer(quiet=CEILING * 10, longest=CEILING * 10, fail={"bad"})
    for item in ("job-0", "bad", "job-1"):
        writer.add(item)
    flusher = threading.Thread(target=writer.flush)
    flusher.start()
    flusher.join(CEILING)
    assert not flusher.is_alive()
    assert [item for item, _ in written] == ["job-0", "job-1"]
    assert "Could not keep the manifest of Job bad: cannot write bad" in caplog.text
    writer.add("job-2")  # usable again after a flush
    writer.flush()
    assert [item for item, _ in written] == ["job-0", "job-1", "job-2"]


def test_flush_without_items_returns():
    writer, written, _ = _writer(quiet=1, longest=1)
    writer.flush()
    assert written == []
