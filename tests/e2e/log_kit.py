"""Helpers for tests that compare a node's logging records with SequentialRunner's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.e2e.bench_kit import patch_node

if TYPE_CHECKING:
    from pathlib import Path

RECORD = re.compile(r"(INFO|WARNING)\s+(?:\[clean_sales_node\] )?(.*?)\s+(\w+\.py:\d+)$")
WANTED = ("Loading data from sales", "Loading data from params:cleaning", "clean_sales:",
          "Saving data to cleaned_sales", "Saving data to cleaning_report")


def records(output: str) -> list[tuple[str, str, str]]:
    """``(level, message, file:line)`` of clean_sales_node's records in Rich's log output."""
    found = []
    for line in output.splitlines():
        match = RECORD.search(line.rstrip())
        if match and any(match.group(2).startswith(w) for w in WANTED):
            found.append(match.groups())
    return found


def logging_node(project: Path) -> None:
    """clean_sales logs at INFO, WARNING and DEBUG, and prints a line."""
    patch_node(project, "def clean_sales(", """
        import logging
        logging.getLogger(__name__).info("clean_sales: min amount %s", 10)
        logging.getLogger(__name__).warning("clean_sales: %d rows dropped", 3)
        logging.getLogger(__name__).debug("clean_sales: not shown at INFO")
        print("a plain print line")
        """)
