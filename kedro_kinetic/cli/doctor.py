"""``kedro kinetic doctor``: check what a first GKE run needs, one line per check.

The project's ``kinetic`` block is read the way the runner reads it: parameters
of a Kedro session for the chosen environment, validated and merged by
:func:`kedro_kinetic.config.load` for the chosen pipelines and runner params.
Then, for the ``kubernetes`` backend: kubeconfig and context, API server,
namespace, RBAC (``SelfSubjectAccessReview`` for what the backend does), the
service accounts and Secrets the config names, every image reference, and the
store (a probe object written, read back and deleted). Each check prints
``ok``, ``warn``, ``skip`` or ``FAIL`` with the fix; any ``FAIL`` makes the
exit code 1.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from kedro.framework.cli.utils import _split_params

from kedro_kinetic import config as kinetic_config
from kedro_kinetic.cli.doctor_checks import (
    FAIL,
    OK,
    SKIP,
    Check,
    _Cluster,
    check_identities,
    check_image,
    check_store,
    named_images,
    named_secrets,
    named_service_accounts,
)

__all__ = ["Check", "check_image", "check_store", "diagnose", "doctor", "load_config",
           "named_images", "named_secrets", "named_service_accounts"]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from kedro_kinetic.config.project_settings import ProjectSettings

# --- all checks ---------------------------------------------------------------------------


def load_config(project_path: Path, env: str | None, pipelines: Iterable[str] = (),
                runner_params: Mapping[str, Any] | None = None
                ) -> tuple[kinetic_config.RunConfig, bool, ProjectSettings]:
    """Read ``kinetic`` through a Kedro session for ``env``, as the runner does.

    Returns the config, whether the environment has a ``kinetic`` block at all,
    and the project's code settings (image repositories are checked per image).

    Raises:
        ConfigError: The block or the runner params are invalid.
    """
    from kedro_kinetic.cli.runs import read_project

    block, settings = read_project(project_path, env)
    names = list(pipelines) or ["__default__"]
    cfg = kinetic_config.load(block, names, runner_params or {}, settings, check_images=False)
    return cfg, block is not None, settings


def diagnose(cfg: kinetic_config.RunConfig, project_path: Path,
             settings: ProjectSettings | None = None) -> Iterator[Check]:
    """Run every check that applies to ``cfg``, in the order a first run needs them."""
    if cfg.backend != "kubernetes":
        yield check_store(cfg.store, project_path)
        yield Check("cluster", SKIP, "backend is 'local': no cluster, image or service account "
                    "is needed (use --env with the environment you run on GKE)")
        return
    cluster = _Cluster(cfg)
    steps: list[tuple[str, Callable[[], Check | Iterable[Check]]]] = [
        ("kubeconfig", cluster.kubeconfig), ("api", cluster.reachable),
        (f"namespace {cfg.namespace}", cluster.namespace_exists), ("rbac", cluster.rbac),
    ]
    steps += [(f"service account {n}", partial(cluster.service_account, n))
              for n in named_service_accounts(cfg)]
    steps += [(f"secret {n}", partial(cluster.secret, n, k))
              for n, k in sorted(named_secrets(cfg).items())]
    blocked = False
    for label, step in steps:
        if blocked:
            yield Check(label, SKIP, "needs a loadable kubeconfig and a reachable API server")
            continue
        result = step()
        for check in [result] if isinstance(result, Check) else list(result):
            yield check
            blocked = blocked or (check.status == FAIL and check.name in ("kubeconfig", "api"))
    if not named_service_accounts(cfg):
        yield Check("service account", OK, "none named: pods run as the namespace's default "
                    "service account")
    if settings is not None:
        yield from check_identities(cfg, settings)
    repositories = settings.image_repositories if settings else None
    from kedro_kinetic.cli.image_version import check_image_version

    for image in named_images(cfg):  # pinned: the image's kedro-kinetic, from its registry
        yield check_image_version(image, check_image(image, cfg.image_policy, repositories))
    yield check_store(cfg.store, project_path)


@click.command()
@click.option("--env", "-e", default=None, help="Kedro configuration environment (e.g. gke).")
@click.option("--pipeline", "-p", "pipelines", multiple=True,
              help="Pipeline(s) whose kinetic.pipelines section applies.")
@click.option("--runner-params", type=click.UNPROCESSED, default="", callback=_split_params,
              help="kinetic overrides, as for `kedro run --runner-params`.")
@click.pass_obj
def doctor(metadata: Any, env: str | None, pipelines: tuple[str, ...],
           runner_params: dict[str, Any]) -> None:
    """Check cluster, namespace, RBAC, service accounts, images and store for a first run."""
    from kedro_kinetic.cli.scaffold import _metadata

    project = Path(_metadata(metadata).project_path)
    env_text = f"env '{env}'" if env else "default env"
    where = f"{env_text}, pipeline(s) {', '.join(pipelines) or '__default__'}"
    try:
        cfg, found, settings = load_config(project, env, pipelines, runner_params)
    except kinetic_config.ConfigError as exc:
        click.echo(Check("config", FAIL, f"{where}: {exc}".replace("\n", " "),
                         "correct the keys named above in conf/<env>/parameters*.yml").line())
        click.get_current_context().exit(1)
    note = "" if found else " (no kinetic block: defaults)"
    click.echo(Check("config", OK, f"{where}{note}: backend {cfg.backend}, namespace "
                     f"{cfg.namespace}, store {cfg.store}").line())
    failures = 0
    from itertools import chain

    from kedro_kinetic.cli.doctor_project import project_checks

    for check in chain(project_checks(project, env, pipelines, runner_params, cfg, settings),
                       diagnose(cfg, project, settings)):
        click.echo(check.line())
        failures += check.status == FAIL
    if failures:
        click.echo(f"doctor: {failures} check(s) failed")
        click.get_current_context().exit(1)
    click.echo("doctor: ready" + (f" for `kedro run --env {env} --runner=kedro_kinetic."
                                  "GKERunner`" if env else ""))
