"""``kedro kinetic cache ls|clear``: the project's node cache (see docs/caching.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

_ENV = click.option("--env", "-e", default=None, help="Kedro configuration environment.")


def _entries(env: str | None) -> tuple[str, list[Any]]:
    """The store's root and its cache entries, authenticated with the project's cache key
    and index (from where the backend keeps them)."""
    from kedro_kinetic import store
    from kedro_kinetic.cli import runs
    from kedro_kinetic.driver.cache import list_entries

    cfg = runs.load_project_config(Path.cwd(), env)
    root = store.to_uri(cfg.store, Path.cwd())
    inspector = runs.inspector(cfg, Path.cwd())
    key = inspector.cache_key(root)
    return root, list_entries(root, key, inspector.cache_index(root) if key else None)


@click.group()
def cache() -> None:
    """List or clear the node cache (what `kedro run` may reuse)."""


@cache.command(name="ls")
@_ENV
def list_cache(env: str | None) -> None:
    """One line per entry: node, the run it came from, when, its key (refused ones too)."""
    from kedro_kinetic.wire.text import printable

    root, listed = _entries(env)
    for item in sorted(listed, key=lambda i: (i.entry.node if i.entry else "~", i.key)):
        if item.entry is None:
            click.echo(f"refused\t-\t-\t{item.key[:16]}\t{printable(item.refused, False)}")
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.entry.created))
        click.echo(f"{printable(item.entry.node, False)}\t{printable(item.entry.run_id, False)}"
                   f"\t{when}\t{item.key[:16]}")
    click.echo(f"# node\trun\trecorded\tkey ({len(listed)} entries in {root}/cache)", err=True)


@cache.command(name="clear")
@click.argument("run", required=False)
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@_ENV
def clear_cache(run: str | None, yes: bool, env: str | None) -> None:
    """Delete the entries RUN recorded, or every entry (refused ones too) without RUN."""
    from kedro_kinetic import store

    _root, listed = _entries(env)
    chosen = [i for i in listed if run is None or (i.entry and i.entry.run_id == run)]
    what = f"of run {run}" if run else "of the project"
    if not chosen:
        click.echo(f"no cache entries {what}")
        return
    if not yes:
        click.confirm(f"Delete {len(chosen)} cache entries {what}?", abort=True)
    for item in chosen:
        store.delete(item.uri)
    click.echo(f"deleted {len(chosen)} cache entries {what}")
