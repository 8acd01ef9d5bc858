"""Render a project's Job manifests without running anything.

Used by ``kedro kinetic render`` (print them) and by a server-side dry run.
Payload digests are real; the digests of pickled intermediates are only known
once their producers have run, so specs that read one are rendered with a
placeholder pin and the Job is annotated accordingly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

PENDING = "0" * 64
ANN_RENDERED = "kedro-kinetic.io/rendered"
ANN_PREVIEW = "kedro-kinetic.io/preview"
PREVIEW = ("rendered by `kedro kinetic render`: the payload, task spec and run key Secret "
           "it references exist only once `kedro run` creates them")
HEADER = """\
# kedro-kinetic render: a PREVIEW of the Jobs `kedro run --runner=kedro_kinetic.GKERunner`
# would submit. Nothing was uploaded or submitted: the payloads and task specs these Jobs
# pin, and the run key Secret they read (kinetic-run-<label>), are created by a run, so
# applying this file does not run the pipeline. Review it, diff it, or validate it with
# `kedro kinetic render --dry-run-server` (or kubectl apply --dry-run=server).
# Pods get no Kubernetes API token (automountServiceAccountToken) unless settings.py sets
# KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN = True; the Secrets and service accounts they name are
# ones settings.py lists (KINETIC_SECRETS, KINETIC_SERVICE_ACCOUNTS).
"""


def preview_yaml(manifests: list[dict[str, Any]]) -> str:
    """The manifests as a YAML stream, under a comment that says what they are."""
    import yaml

    return HEADER + yaml.safe_dump_all(manifests, sort_keys=False)


def stdout_note() -> str:
    """What to tell on stderr when Kedro's own first log line went to a piped stdout."""
    import os
    import sys
    from pathlib import Path

    if sys.stdout.isatty() or os.environ.get("KEDRO_LOGGING_CONFIG"):
        return ""
    if any(Path("conf", f"logging.{ext}").is_file() for ext in ("yml", "yaml")):
        return ""
    return ("# note: Kedro printed its 'Using ... logging configuration' line to stdout "
            "before this command ran; to pipe only YAML, run `kinetic-render` with the same "
            "options, or write a file with -o")


def render_project(
    project_path: Path,
    env: str | None = None,
    pipelines: tuple[str, ...] = (),
    nodes: tuple[str, ...] = (),
    runner_params: dict[str, Any] | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """The run config and the Job manifests that ``kedro run`` with GKERunner would submit.

    Raises:
        ConfigError / CatalogSpecError: As a run would, before anything else.
        ValueError: A named pipeline or node does not exist.
    """
    from kedro.framework.project import pipelines as registry
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.pipeline import Pipeline

    from kedro_kinetic.driver.run_setup import add_hookspecs
    from kedro_kinetic.driver.runner import GKERunner

    bootstrap_project(project_path)
    runner = GKERunner(**(runner_params or {}))
    runner._state.fork_early = False  # nothing runs: no fork server
    names = list(pipelines) or ["__default__"]
    session: Any = KedroSession.create(project_path=project_path, env=env)
    with session:
        context = session.load_context()
        pipeline = Pipeline([])
        for name in names:
            if name not in registry:
                raise ValueError(f"no pipeline named '{name}'")
            pipeline += registry[name]
        if nodes:
            pipeline = pipeline.filter(node_names=list(nodes))
        catalog = context.catalog
        runner._state.run_params = {"pipeline_names": names}
        cfg, planner, plans = runner.prepare(pipeline, catalog, "render", dry_run=True)
        hooks = session._hook_manager  # the project's own hooks patch manifests as in a run
        add_hookspecs(hooks)
        return cfg, _render_jobs(plans, planner, hooks)


def _render_jobs(plans: dict[Any, Any], planner: Any, hooks: Any) -> list[dict[str, Any]]:
    """One manifest per Job: a node on its own, or a group (rendered once)."""
    from kedro_kinetic.driver.node_task import patch_manifest
    from kedro_kinetic.planning.group_job import finalise_group
    from kedro_kinetic.planning.node_plan import needs_digest

    groups = {g.name: g for g in planner.groups}
    rendered: set[str] = set()
    manifests = []
    for node in sorted(plans, key=lambda n: n.name):
        plan = plans[node]
        if plan.group in rendered:
            continue  # rendered with an earlier node of its group
        members = groups[plan.group].plans if plan.group else [plan]
        pending = {n: PENDING for p in members for n, e in p.inputs.items() if needs_digest(e)}
        if plan.group:
            rendered.add(plan.group)
            job: Any = finalise_group(groups[plan.group], planner, pending)
        else:
            job = planner.finalise(plan, pending)
        job.manifest = patch_manifest(hooks, job, "render")
        job.manifest["metadata"]["annotations"][ANN_PREVIEW] = PREVIEW
        if pending:
            job.manifest["metadata"]["annotations"][ANN_RENDERED] = (
                "intermediate digests are pinned at submission time")
        manifests.append(job.manifest)
    return manifests
