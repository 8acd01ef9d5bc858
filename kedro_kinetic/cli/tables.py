"""Tables of the ``kedro kinetic`` commands: aligned on a terminal, tab-separated elsewhere.

Scripts parse the tab-separated form (one row per line, the header as a
``# ...`` comment on stderr), so it stays exactly that when stdout is not a
terminal; a person at a terminal gets aligned columns. Every cell may come
from a run record or a result, so it is escaped before it is shown.
"""

from __future__ import annotations

import sys

import click

from kedro_kinetic.driver.progress import markup_safe
from kedro_kinetic.wire.text import printable


def print_rows(header: list[str], rows: list[list[str]], tty: bool | None = None) -> None:
    """Print ``rows`` under ``header`` (aligned on a terminal, else tab-separated)."""
    if sys.stdout.isatty() if tty is None else tty:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for name in header:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(markup_safe(cell) for cell in row))
        Console().print(table)
        return
    click.echo("# " + "\t".join(header), err=True)
    for row in rows:
        click.echo("\t".join(printable(cell, False) for cell in row).rstrip())
