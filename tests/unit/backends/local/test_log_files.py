"""A local node's log file: echoed line by line whatever pieces lines come in; retries marked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro_kinetic.backends.local.log_files import mark_attempt, tail

if TYPE_CHECKING:
    from pathlib import Path


def _tail(path: Path, pieces: list[bytes]) -> tuple[list[bytes], int]:
    """Tail ``path`` while ``pieces`` are appended one per poll; the process then ends."""
    echoed: list[bytes] = []
    left = list(pieces)

    def ended(timeout: float) -> bool:
        if left:
            with path.open("ab") as log:
                log.write(left.pop(0))
            return len(left) == 0  # the last piece lands as the process ends
        return True

    offset = tail(path, 0, ended, echoed.append)
    return echoed, offset


def test_a_line_written_in_two_pieces_is_echoed_as_one_line(tmp_path):
    path = tmp_path / "node.log"
    path.write_bytes(b"")
    echoed, offset = _tail(path, [b"[kinetic-pod] running node n", b"\nhello\n"])
    assert echoed == [b"[kinetic-pod] running node n", b"hello"]
    assert offset == path.stat().st_size


def test_the_last_line_without_a_newline_is_echoed_once(tmp_path):
    path = tmp_path / "node.log"
    path.write_bytes(b"first\n")
    echoed, _ = _tail(path, [b"sec", b"ond"])
    assert echoed == [b"first", b"second"]


def test_a_retry_starts_after_a_separator_that_is_not_echoed(tmp_path):
    path = tmp_path / "node.log"
    path.write_bytes(b"first attempt\n")
    offset = mark_attempt(path, 2, 1, path.stat().st_size)
    assert path.read_bytes() == (b"first attempt\n"
                                 b"----- attempt 2 (attempt 1 exited with code 1) -----\n")
    assert offset == path.stat().st_size
    assert mark_attempt(None, 2, 1, 7) == 7  # no run folder, no log file
