"""`kedro kinetic` tables: aligned on a terminal, tab-separated for scripts, escaped."""

from __future__ import annotations

from kedro_kinetic.cli.tables import print_rows

HEADER = ["run id", "pipeline", "state"]
ROWS = [["2026-01-01T00.00.00.000Z", "data_processing", "succeeded"],
        ["r2", "-", "fail\x1b[2Jed"]]


def test_tab_separated_when_not_a_terminal(capsys):
    print_rows(HEADER, ROWS, tty=False)
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split("\t") == ROWS[0]
    assert "\x1b" not in out and "\\x1b[2J" in out
    assert err == "# run id\tpipeline\tstate\n"


def test_aligned_on_a_terminal(capsys):
    print_rows(HEADER, ROWS, tty=True)
    out, _ = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    assert "\t" not in out and "\x1b[2J" not in out
    header, first, second = lines[0], lines[2], lines[3]
    assert header.index("pipeline") == first.index("data_processing") == second.index("-")
