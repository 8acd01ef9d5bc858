"""``kedro kinetic`` project commands (registered via ``kedro.project_commands``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from kedro.framework.cli.utils import _split_params


@click.group(name="kedro-kinetic")
def commands() -> None:
    """kedro-kinetic commands."""


@commands.group()
def kinetic() -> None:
    """Run Kedro nodes as Kubernetes Jobs: render, inspect and clean up runs."""


@kinetic.command()
@click.option("--pipeline", "-p", "pipelines", multiple=True, help="Pipeline(s) to render.")
@click.option("--node", "-n", "nodes", multiple=True, help="Only these node(s).")
@click.option("--env", "-e", default=None, help="Kedro configuration environment.")
@click.option("--runner-params", type=click.UNPROCESSED, default="", callback=_split_params,
              help="kinetic overrides, as for `kedro run --runner-params`.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the YAML to this file instead of stdout.")
@click.option("--dry-run-server", is_flag=True,
              help="Also validate each Job with a server-side dry run (kubernetes backend).")
def render(pipelines: tuple[str, ...], nodes: tuple[str, ...], env: str | None,
           runner_params: dict[str, Any], output: str | None, dry_run_server: bool) -> None:
    """Print the Job manifests as YAML; nothing is submitted."""
    import logging

    import yaml

    from kedro_kinetic.render import render_project

    logging.disable(logging.WARNING)  # keep stdout parseable YAML (Kedro logs to stdout)
    try:
        cfg, manifests = render_project(Path.cwd(), env, pipelines, nodes, runner_params)
    finally:
        logging.disable(logging.NOTSET)
    if dry_run_server:
        _server_dry_run(manifests, cfg.kubeconfig, cfg.kube_context)
    text = yaml.safe_dump_all(manifests, sort_keys=False)
    if output:
        Path(output).write_text(text)
        click.echo(f"# {len(manifests)} Job manifest(s) written to {output}", err=True)
    else:
        click.echo(text, nl=False)


_ENV = click.option("--env", "-e", default=None, help="Kedro configuration environment.")


def _config(env: str | None) -> Any:
    from kedro_kinetic.runs import load_project_config

    return load_project_config(Path.cwd(), env)


@kinetic.command()
@click.argument("run", required=False)
@_ENV
def status(run: str | None, env: str | None) -> None:
    """List runs, or show every node of RUN (a run id or label)."""
    from kedro_kinetic import runs

    cfg = _config(env)
    if run is None:
        for label in runs.list_runs(cfg, Path.cwd()):
            root = runs.resolve(cfg, Path.cwd(), label)
            click.echo(f"{label}\t{runs.run_id_of(root) or '?'}")
        return
    root = _resolve(cfg, run)
    rows = runs.status(cfg, root)
    for row in rows:
        took = f"{row.duration:.1f}s" if row.duration is not None else "-"
        click.echo(f"{row.node}\t{row.state}\t{took}\t{row.job}\t{row.detail}".rstrip())
    counts = {s: sum(r.state == s for r in rows) for s in {r.state for r in rows}}
    click.echo("# " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), err=True)


@kinetic.command()
@click.argument("run")
@click.argument("node", required=False)
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the node runs.")
@_ENV
def logs(run: str, node: str | None, follow: bool, env: str | None) -> None:
    """Print the logs of RUN's nodes (or of NODE only)."""
    from kedro_kinetic import runs

    cfg = _config(env)
    for line in runs.logs(cfg, _resolve(cfg, run), node, follow):
        click.echo(line)


@kinetic.command()
@click.argument("run")
@_ENV
def cancel(run: str, env: str | None) -> None:
    """Stop every unfinished node of RUN (Jobs and pods are deleted)."""
    from kedro_kinetic import runs

    cfg = _config(env)
    stopped = runs.cancel(cfg, _resolve(cfg, run))
    click.echo(f"cancelled {len(stopped)} node(s)" + (": " + ", ".join(stopped) if stopped else ""))


@kinetic.command()
@click.argument("run", required=False)
@click.option("--older-than", default=None, help="Every run older than this (e.g. 7d, 12h).")
@_ENV
def clean(run: str | None, older_than: str | None, env: str | None) -> None:
    """Delete RUN's Jobs and stored artifacts (or those of every run older than a duration)."""
    from kedro_kinetic import runs

    if bool(run) == bool(older_than):
        raise click.UsageError("give either RUN or --older-than")
    cfg = _config(env)
    if run:
        roots = [_resolve(cfg, run)]
    else:
        limit = runs.parse_duration(older_than or "")
        roots = [root for label in runs.list_runs(cfg, Path.cwd())
                 if (age := runs.age_seconds(root := runs.resolve(cfg, Path.cwd(), label)))
                 is not None and age > limit]
    for root in roots:
        deleted = runs.clean(cfg, root)
        click.echo(f"cleaned {root}: {deleted} object(s)")


def _resolve(cfg: Any, run: str) -> str:
    from kedro_kinetic import runs

    try:
        return runs.resolve(cfg, Path.cwd(), run)
    except runs.RunNotFound as exc:
        raise click.ClickException(str(exc)) from exc


def _server_dry_run(manifests: list[dict[str, Any]], kubeconfig: str | None,
                    context: str | None) -> None:
    from kubernetes import client

    from kedro_kinetic.backends.k8s_client import api_client

    api = client.BatchV1Api(api_client(kubeconfig, context))
    for manifest in manifests:
        api.create_namespaced_job(manifest["metadata"]["namespace"], manifest, dry_run="All")
    click.echo(f"# {len(manifests)} Job(s) accepted by the API server (dry run)", err=True)


from kedro_kinetic.doctor import doctor  # noqa: E402
from kedro_kinetic.scaffold import init  # noqa: E402

kinetic.add_command(init)
kinetic.add_command(doctor)
