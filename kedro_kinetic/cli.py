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
