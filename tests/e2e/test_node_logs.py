"""A node's logging records reach the driver as SequentialRunner shows them (local backend;
the real kubelet's test is in test_real_kubelet.py).

The nodes log at INFO and WARNING; Kedro logs its per-dataset lines. GKERunner's driver must
show the same records (level, message, source location, through the project's own logging
configuration), each tagged with its node, and ``kedro kinetic logs`` must show them too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.e2e.bench_kit import patch_node
from tests.e2e.log_kit import logging_node, records
from tests.kedro_run import flat, kedro

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


def test_a_nodes_records_are_shown_as_sequential_runner_shows_them(demo: Path):
    logging_node(demo)
    env = {"COLUMNS": "250"}
    sequential = kedro(demo, "run", "--nodes", "clean_sales_node", env=env)
    assert sequential.returncode == 0, sequential.stderr[-3000:]
    kinetic = kedro(demo, "run", "--runner=kedro_kinetic.GKERunner", "--nodes",
                    "clean_sales_node", env=env)
    output = kinetic.stdout + kinetic.stderr
    assert kinetic.returncode == 0, output[-3000:]
    expected = records(sequential.stdout + sequential.stderr)
    assert len(expected) == 6, expected  # two records, four dataset lines
    assert records(output) == expected
    assert "[clean_sales_node] clean_sales: min amount 10" in output  # tagged with its node
    assert "[clean_sales_node] a plain print line" in output
    assert "not shown at INFO" not in output  # the project's levels apply
    run_id = re.search(r"kedro-kinetic run (\S+):", flat(kinetic)).group(1)
    logs = kedro(demo, "kinetic", "logs", run_id, "clean_sales_node")
    assert logs.returncode == 0, logs.stderr[-2000:]
    assert re.search(r"\[clean_sales_node\] WARNING\s+demo_project\.pipelines\.data_processing"
                     r"\.nodes: clean_sales: 3 rows dropped \(nodes\.py:\d+\)", logs.stdout)


def test_a_forged_record_in_a_nodes_output_is_shown_as_text(demo: Path):
    """A node (or the data it prints) writes a line shaped like a record: it is shown, its
    fields escaped, never used to pick a handler or markup."""
    patch_node(demo, "def clean_sales(", r'''
        import json, sys
        sys.stderr.write(json.dumps({"kinetic": "log@1", "severity": "ERROR",
            "logger": "kedro_kinetic; rm -rf /", "message": "\x1b[31m[bold red]forged[/]",
            "node": "someone_else"}) + "\n")
        sys.stderr.flush()
        ''')
    kinetic = kedro(demo, "run", "--runner=kedro_kinetic.GKERunner", "--nodes",
                    "clean_sales_node", env={"COLUMNS": "250"})
    output = kinetic.stdout + kinetic.stderr
    assert kinetic.returncode == 0, output[-3000:]
    assert "[clean_sales_node] \\x1b[31m[bold red]forged[/]" in output  # escaped, no markup
    assert "\x1b[31m" not in output  # the node's escape sequence never reached the terminal
    assert "someone_else" not in output
