"""On a real terminal (tmux), the live table stays at the bottom while every log line
scrolls above it and stays in the scrollback; the final table lists every node;
Ctrl-C says which run stopped, how far it got and how to resume it."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pytest

from tests.conftest import kedro_cmd, subprocess_env
from tests.e2e.bench_kit import SALES_SIG, patch_node
from tests.e2e.terminal_kit import Terminal

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

NODES = ("calendar_features_node", "clean_sales_node", "create_model_input_table_node",
         "create_sales_primary_node", "preprocess_stores_node", "product_features_node",
         "sales_summary_node", "store_features_node")
STATES = ("waiting", "submitted", "pending", "running", "succeeded", "failed", "cancelled",
          "not run", "cached")
RUN = ["run", "--runner=kedro_kinetic.GKERunner", "--pipelines=data_processing"]
STORE_SIG = "def compute_store_features(sales_primary: pd.DataFrame) -> pd.DataFrame:"


def say_hello(project: Path) -> None:
    """Every node that runs prints a line of its own."""
    for signature in ("def clean_sales(", "def preprocess_stores(", "def create_sales_primary(",
                      "def compute_calendar_features(", "def summarize_sales(", SALES_SIG,
                      STORE_SIG):
        name = signature.split("(")[0].removeprefix("def ")
        patch_node(project, signature, f'print("hello from {name}", flush=True)')


def sleep_in_store_features(project: Path) -> Path:
    """store_features_node writes a marker when it starts, then sleeps until cancelled."""
    marker = project / "store_features.started"
    patch_node(project, STORE_SIG,
               f"import pathlib, time; pathlib.Path({str(marker)!r}).write_text('up'); "
               "time.sleep(600)")
    return marker


def final_table(screen: str) -> dict[str, str]:
    """Node -> state in the last table drawn; its title must fit on one line."""
    titles = [m.start() for m in re.finditer(r"kedro-kinetic run \S+ - \d+/\d+ succeeded",
                                             screen)]
    assert titles, screen[-3000:]
    rows = {}
    for line in screen[titles[-1]:].splitlines()[1:]:
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if len(cells) >= 2 and cells[0] in NODES and cells[1] in STATES:
            rows[cells[0]] = cells[1]
    return rows


def run_in_terminal(tmp_path: Path, project: Path, *args: str,
                    interrupt_when: Path | None = None) -> str:
    terminal = Terminal(tmp_path, width=200)  # Kedro's log lines fit, unwrapped
    try:
        terminal.start(project, [*kedro_cmd(), *RUN, *args], subprocess_env())
        if interrupt_when is not None:
            deadline = time.monotonic() + 600
            while not interrupt_when.exists():  # an event: the node has started
                assert time.monotonic() < deadline, terminal.scrollback()[-3000:]
                time.sleep(0.2)
            terminal.keys("C-c")
        terminal.wait()
        return terminal.scrollback()
    finally:
        terminal.close()


def test_every_log_line_survives_the_live_table(tmp_path, demo):
    say_hello(demo)
    started = sleep_in_store_features(demo)
    patch_node(demo, SALES_SIG,  # fail while a sibling runs, so fail-fast stops it
               f"import pathlib, time\nwhile not pathlib.Path({str(started)!r}).exists():\n"
               "    time.sleep(0.1)\nraise ValueError('product features exploded')")
    screen = run_in_terminal(tmp_path, demo)
    assert "EXIT=1" in screen, screen[-3000:]
    for name in ("clean_sales", "preprocess_stores", "create_sales_primary"):
        assert f"[{name}_node] hello from {name}" in screen, screen[-5000:]
    table = final_table(screen)
    assert set(table) == set(NODES), (table, screen[-5000:])
    assert table["product_features_node"] == "failed"
    assert table["store_features_node"] == "cancelled"
    for node, state in table.items():
        if state == "succeeded":
            assert f"Completed node: {node}" in screen, (node, screen[-5000:])
    assert re.search(r"Stopping \d+ running Job\(s\) after the failure of "
                     r"'product_features_node'", screen), screen[-5000:]
    assert re.search(r"There are \d+ nodes that have not run", screen), screen[-5000:]
    assert '--from-nodes "' in screen and "--runner-params resume=" in screen
    assert "Error: node 'product_features_node' failed remotely" in screen
    assert "ValueError: product features exploded" in screen


def test_ctrl_c_names_the_run_its_progress_and_the_resume_command(tmp_path, demo):
    started = sleep_in_store_features(demo)
    screen = run_in_terminal(tmp_path, demo, interrupt_when=started)
    assert "EXIT=1" in screen, screen[-3000:]
    match = re.search(r"kedro-kinetic run (\S+) cancelled \(Ctrl-C\): (\d+) of 8 node\(s\) "
                      r"finished", screen)
    assert match, screen[-5000:]
    run_id, finished = match.group(1), int(match.group(2))
    assert finished >= 3  # clean_sales, preprocess_stores and create_sales_primary
    assert f"--runner-params resume={run_id}" in screen
    assert re.search(r"Cancelled \d+ node\(s\): ", screen), screen[-5000:]
    table = final_table(screen)
    assert set(table) == set(NODES) and table["store_features_node"] == "cancelled"
    # Ctrl-C may land between a node's result and its row turning green, never the reverse
    assert 3 <= sum(state == "succeeded" for state in table.values()) <= finished
