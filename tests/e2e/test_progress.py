"""The progress view: plain transition lines off a terminal, a live table on one."""

from __future__ import annotations

import re

import pytest

from tests.kedro_run import kedro, kedro_popen

pytestmark = pytest.mark.e2e
ARGS = ["run", "--runner=kedro_kinetic.GKERunner", "--pipeline=data_processing"]


def test_plain_lines_show_every_transition_in_order(demo):
    proc = kedro(demo, *ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[kinetic ")]
    assert re.match(r"\[kinetic [\d:]+\] run \S+: 8 nodes", lines[0])
    for node in ("clean_sales_node", "create_model_input_table_node"):
        states = [re.search(rf"{node}: (\w+)", line).group(1) for line in lines
                  if f"] {node}: " in line]
        assert states == ["submitted", "running"], states  # success: in Kedro's words
        assert proc.stdout.count(f"Completed node: {node}") == 1
        assert f"Submitted node: {node}" not in proc.stdout  # the progress line says it
    assert lines[-1].endswith("8/8 succeeded")


def test_live_table_on_a_terminal_renders_without_errors(demo):
    with kedro_popen(demo, *ARGS, env={"COLUMNS": "160", "LINES": "50",
                                       "TERM": "xterm-256color"}, terminal=True) as proc:
        proc.wait()
    screen = proc.output
    assert proc.returncode == 0, screen[-3000:]
    assert "Traceback" not in screen
    assert "kedro-kinetic run" in screen and "8/8 succeeded" in screen
    assert "\x1b[" in screen  # rendered with terminal control sequences
    assert "[kinetic " not in screen  # no plain fallback lines on a terminal
