"""The checks of ``kedro kinetic doctor`` that need the project's pipelines and catalog.

A run checks the same before it creates anything (``GKERunner``, through
:func:`kedro_kinetic.driver.run_setup.check_before_submission`): every node, tag,
pipeline and group name the ``kinetic`` block uses exists in the project, and on
the ``kubernetes`` backend every dataset the chosen pipelines read or write is on
storage the pods share. Doctor reports them one line each, with the fix.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kedro_kinetic.cli.doctor_checks import FAIL, OK, Check
from kedro_kinetic.errors import KineticError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from pathlib import Path

    from kedro_kinetic.config import RunConfig
    from kedro_kinetic.config.project_settings import ProjectSettings


def _read(project: Path, env: str | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The ``kinetic`` block, the catalog configuration and the registered pipelines."""
    from kedro.config import MissingConfigException
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    logging.disable(logging.WARNING)  # Kedro logs to stdout; keep the command's output clean
    try:
        session: Any = KedroSession.create(project_path=project, env=env)
        with session:
            context = session.load_context()
            block = context.params.get("kinetic")
            try:
                raw = dict(context.config_loader["catalog"])
            except MissingConfigException:
                raw = {}
        registered = {name: pipelines[name] for name in pipelines}
    finally:
        logging.disable(logging.NOTSET)
    return block, raw, registered


def project_checks(project: Path, env: str | None, pipeline_names: Iterable[str],
                   overrides: Mapping[str, Any] | None, cfg: RunConfig,
                   settings: ProjectSettings) -> Iterator[Check]:
    """Names the config uses, and (``kubernetes``) where the chosen pipelines' data lies."""
    try:
        block, raw, registered = _read(project, env)
    except Exception as exc:  # the project does not load: the run would say the same
        yield Check("pipelines", FAIL, f"cannot load the project's pipelines: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                    "run `kedro registry list` to see the error")
        return
    yield _names(block, overrides, cfg, registered)
    if cfg.backend == "kubernetes":
        names = list(pipeline_names) or ["__default__"]
        nodes = [n for name in names if name in registered for n in registered[name].nodes]
        yield from _storage(raw, nodes, settings, project, env, names)


def _names(block: Any, overrides: Mapping[str, Any] | None, cfg: RunConfig,
           registered: Mapping[str, Any]) -> Check:
    from kedro_kinetic.config.names import KnownNames, group_errors, name_problems

    nodes: dict[str, frozenset[str]] = {}
    for pipeline in registered.values():
        for node in pipeline.nodes:
            nodes[node.name] = nodes.get(node.name, frozenset()) | frozenset(node.tags)
    known = KnownNames(nodes, frozenset(registered), "the project's pipelines")
    errors = name_problems(block, dict(overrides or {}), known)[0] + group_errors(cfg, known)
    if errors:
        return Check("names", FAIL, "; ".join(errors),
                     "correct the names above in conf/<env>/parameters*.yml or "
                     "--runner-params (a misspelt name applies to no node)")
    return Check("names", OK, f"every node, tag, pipeline and group name of the config is in "
                 f"the project's pipelines ({len(nodes)} nodes)")


def _storage(raw: Mapping[str, Any], nodes: list[Any], settings: ProjectSettings,
             project: Path, env: str | None, names: list[str]) -> Iterator[Check]:
    from kedro_kinetic.planning import remote_paths
    from kedro_kinetic.planning.catalog_spec import CatalogResolver
    from kedro_kinetic.wire.allowlist import build_allowlist

    where = f"conf/{env}/catalog.yml" if env else "conf/<env>/catalog.yml"
    try:
        resolver = CatalogResolver(raw, build_allowlist(settings.dataset_allowlist))
        uses = remote_paths.uses(nodes)
        found = remote_paths.local_datasets(uses, resolver.entry, settings.shared_paths,
                                            str(project.absolute()))
    except KineticError as exc:
        yield Check("catalog", FAIL, str(exc).replace("\n", " "),
                    f"correct the entries named above in {where}")
        return
    for item in found:
        yield Check(
            f"dataset {item.name}", FAIL, f"{item.key} '{item.path}' ({item.use}) is on this "
            "machine's disk, which the pods do not share", f"override its filepath in {where} "
            "with a gs:// path, or declare the folder in settings.py "
            f"{remote_paths.SETTING} if every pod mounts it at the same path")
    if not found:
        yield Check("datasets", OK, f"every persisted dataset of pipeline(s) {', '.join(names)} "
                    "is on storage the pods share")
