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
    from kedro_kinetic.driver import user_errors

    user_errors.install()  # a kedro-kinetic error prints as one message, not a traceback


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
    """PREVIEW the Job manifests a run would submit, as YAML; nothing is uploaded or submitted.

    The Jobs reference objects only `kedro run` creates (payloads and task specs in
    the store, the run's key Secret kinetic-run-<label>), so applying them does not
    run the pipeline: review them, diff them, or validate them with
    --dry-run-server. Kedro logs its first line to stdout before any command runs;
    for a pipe use `kinetic-render` (same options, every log line on stderr) or -o.
    """
    import logging

    from kedro_kinetic.cli.render import preview_yaml, render_project, stdout_note

    logging.disable(logging.WARNING)  # keep stdout parseable YAML (Kedro logs to stdout)
    try:
        cfg, manifests = render_project(Path.cwd(), env, pipelines, nodes, runner_params)
    finally:
        logging.disable(logging.NOTSET)
    if dry_run_server:
        if cfg.backend != "kubernetes":
            raise click.UsageError(
                f"--dry-run-server asks a Kubernetes API server to validate the Jobs, but "
                f"this environment's backend is '{cfg.backend}': set kinetic.backend: "
                "kubernetes (e.g. render --env gke), or render without --dry-run-server")
        _server_dry_run(manifests, cfg.kubeconfig, cfg.kube_context)
    text = preview_yaml(manifests)
    if output:
        Path(output).write_text(text)
        click.echo(f"# {len(manifests)} Job manifest(s) written to {output} (a preview: "
                   "`kedro run` creates what they reference)", err=True)
        return
    click.echo(text, nl=False)
    note = stdout_note()
    if note:
        click.echo(note, err=True)


_ENV = click.option("--env", "-e", default=None, help="Kedro configuration environment.")


def _config(env: str | None) -> Any:
    from kedro_kinetic.cli.runs import load_project_config

    return load_project_config(Path.cwd(), env)


class _Runs:
    """The configured backend's run inspector and the project's runs."""

    def __init__(self, env: str | None) -> None:
        from kedro_kinetic.cli import runs

        self.cfg = _config(env)
        self.inspector = runs.inspector(self.cfg, Path.cwd())
        self.all = self.inspector.runs()
        self._orders: dict[str, list[str] | None] = {}

    def find(self, run: str) -> Any:
        from kedro_kinetic.cli import runs
        from kedro_kinetic.errors import RunNotFound

        try:
            return runs.find_run(self.all, run, f" for this project's store ({self.cfg.store})")
        except RunNotFound as exc:
            raise click.ClickException(str(exc)) from None

    def order(self, info: Any) -> list[str] | None:
        """The run's pipeline, node names in order, from the project's code (cached)."""
        from kedro_kinetic.cli import runs

        if info.pipeline not in self._orders:
            self._orders[info.pipeline] = runs.pipeline_nodes(info.pipeline)
        return self._orders[info.pipeline]

    def rows(self, info: Any) -> list[Any]:
        """Every node of the run's pipeline, in order (see ``run_results.arrange``)."""
        from kedro_kinetic.backends.run_results import arrange

        return arrange(self.inspector.statuses(info), self.order(info))


def _when(epoch: float | None) -> str:
    import time

    return "-" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _run_summary(runs: _Runs, run: Any) -> tuple[str, str, str]:
    from kedro_kinetic.backends.run_results import node_rows, run_state

    rows = runs.rows(run)
    nodes = node_rows(rows)
    state = run_state(rows, runs.inspector.active(run))
    durations = [r.duration for r in nodes if r.duration is not None]
    took = f"{sum(durations):.1f}s" if durations else "-"
    done = (f"{sum(r.state in ('succeeded', 'cached') for r in nodes)}/"
            f"{sum(r.state == 'failed' for r in nodes)}/{len(nodes)}")
    return state, done, took


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


@kinetic.command()
@click.argument("run", required=False)
@_ENV
def status(run: str | None, env: str | None) -> None:
    """List runs, or show every node of RUN (a run id or label).

    Runs and their nodes come from the backend (the Kubernetes API, or this
    machine's private run folders) and from results sealed with the run's key;
    objects in the store alone never make a run or a row. Which nodes a run has,
    and their order, come from the project's pipelines (its code).
    """
    from kedro_kinetic.cli.tables import print_rows
    from kedro_kinetic.wire.text import printable

    runs = _Runs(env)
    if run is None:
        table = []
        for info in runs.all:
            state, done, took = _run_summary(runs, info)
            table.append([info.run_id, info.pipeline or "-", state, done, _when(info.started),
                          took])
        print_rows(["run id", "pipeline", "state", "succeeded/failed/nodes", "started",
                    "node time"], table)
        if not runs.all:
            click.echo("# no runs", err=True)
        return
    info = runs.find(run)
    rows = runs.rows(info)
    print_rows(["node", "state", "node time", "job", "detail"],
               [[row.node, row.state,
                 f"{row.duration:.1f}s" if row.duration is not None else "-", row.job,
                 _first_line(row.detail)] for row in rows])
    counts = {s: sum(r.state == s for r in rows if not r.members)
              for s in {r.state for r in rows if not r.members}}
    click.echo("# " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), err=True)
    if runs.order(info) is None:
        click.echo(f"# the run's pipeline ({printable(info.pipeline or '?', False)}) is not "
                   "in this project's registry: only the nodes it started are listed",
                   err=True)
    for uri, why in sorted(runs.inspector.rejected.items()):
        click.echo(f"# ignored {printable(uri, False)}: {printable(why, False)}", err=True)
    if runs.inspector.rejected:
        click.echo(f"# {len(runs.inspector.rejected)} object(s) under results/ failed "
                   "authentication and were ignored", err=True)


def _log_rows(rows: list[Any], node: str | None) -> list[Any]:
    """The rows whose logs to print: a node that ran in a group is shown by its group's
    Job (one log for every node of the group); rows never started have none."""
    from kedro_kinetic.wire.text import printable

    groups = {row.node: row for row in rows if row.members}
    chosen: list[Any] = []
    for row in rows:
        if node not in (None, row.node) or row.members:
            continue
        target = groups.get(row.group, row)
        if node is not None and target is not row:
            click.echo(f"# {printable(node, False)} runs in {printable(row.group, False)} "
                       f"(Job {printable(row.job, False)}): its output is in the group's "
                       "log, shown below", err=True)
        if target.job != "-" and all(target is not c for c in chosen):
            chosen.append(target)
    return chosen


@kinetic.command()
@click.argument("run")
@click.argument("node", required=False)
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing while the run (or NODE) runs, nodes it starts later too.")
@_ENV
def logs(run: str, node: str | None, follow: bool, env: str | None) -> None:
    """Print the logs of RUN's nodes (or of NODE only)."""
    import difflib

    from kedro_kinetic.wire.log_record import as_text
    from kedro_kinetic.wire.text import printable

    runs = _Runs(env)
    info = runs.find(run)
    rows = runs.rows(info)
    if node and not any(r.node == node and not r.members for r in rows):
        close = difflib.get_close_matches(node, [r.node for r in rows], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise click.ClickException(f"run '{info.run_id}' has no node '{node}'{hint}")
    wanted = _log_rows(rows, node)
    if node and not wanted:
        click.echo(f"# {printable(node, False)} has not started in run "
                   f"{printable(info.run_id, False)}: no log yet", err=True)
    lines = (runs.inspector.follow(info) if follow and node is None
             else runs.inspector.logs(info, wanted, follow))
    for name, line in lines:
        record = as_text(line, name)  # a logging record: as text, level and logger first
        click.echo(f"[{printable(name, False)}] "
                   f"{record if record is not None else printable(line, False)}")


@kinetic.command()
@click.argument("run")
@_ENV
def cancel(run: str, env: str | None) -> None:
    """Stop every unfinished node of RUN (Jobs and pods, or node processes), gracefully.

    Each node gets SIGTERM, then SIGKILL if it still runs after a grace period (the
    pod's own, or 10 s for a local process); the run's driver reports the nodes as
    cancelled by this command.
    """
    runs = _Runs(env)
    info = runs.find(run)
    stopped = runs.inspector.cancel(info)
    click.echo(f"cancelled {len(stopped)} node(s)" + (": " + ", ".join(stopped) if stopped else ""))
    if runs.inspector.active(info):
        click.echo("# the run's driver is still going: it starts no new node and ends "
                   "as cancelled", err=True)


@kinetic.command()
@click.argument("run", required=False)
@click.option("--older-than", default=None, help="Every run older than this (e.g. 7d, 12h).")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_ENV
def clean(run: str | None, older_than: str | None, dry_run: bool, yes: bool,
          env: str | None) -> None:
    """Delete RUN's Jobs, stored artifacts and key (or those of every run older than a duration).

    Ages come from the backend (the run key Secret's creation time, or the private
    run record); runs that still have nodes running are skipped by --older-than.
    """
    import sys
    import time

    from kedro_kinetic.cli import runs as run_ops

    if bool(run) == bool(older_than):
        raise click.UsageError("give either RUN or --older-than")
    runs = _Runs(env)
    if run:
        chosen = [runs.find(run)]
    else:
        try:
            limit = run_ops.parse_duration(older_than or "")
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--older-than") from None
        now = time.time()
        chosen = []
        for info in runs.all:
            if info.started is None or now - info.started <= limit:
                continue
            if runs.inspector.active(info):
                click.echo(f"skipped {info.run_id}: nodes still running "
                           "(cancel it first, or clean it by id)", err=True)
                continue
            chosen.append(info)
    for info in chosen:
        click.echo(f"{'would clean' if dry_run else 'will clean'} {info.run_id} "
                   f"(started {_when(info.started)}, {info.root})")
    if dry_run or not chosen:
        return
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("confirm with --yes (or look first with --dry-run)")
        click.confirm(f"Delete {len(chosen)} run(s)?", abort=True)
    for info in chosen:
        deleted = runs.inspector.clean(info)
        click.echo(f"cleaned {info.run_id}: {deleted} object(s)")


def _server_dry_run(manifests: list[dict[str, Any]], kubeconfig: str | None,
                    context: str | None) -> None:
    from kubernetes import client

    from kedro_kinetic.backends.kubernetes.client import api_client

    api: Any = client.BatchV1Api(api_client(kubeconfig, context))
    for manifest in manifests:
        api.create_namespaced_job(manifest["metadata"]["namespace"], manifest, dry_run="All")
    click.echo(f"# {len(manifests)} Job(s) accepted by the API server (dry run)", err=True)


from kedro_kinetic.cli.doctor import doctor  # noqa: E402
from kedro_kinetic.cli.scaffold import init  # noqa: E402

kinetic.add_command(init)
kinetic.add_command(doctor)


def _add_cache_commands() -> None:
    from kedro_kinetic.cli.cache_commands import cache

    kinetic.add_command(cache)


_add_cache_commands()


def _add_build_command() -> None:
    from kedro_kinetic.cli.build import build

    kinetic.add_command(build)


_add_build_command()
