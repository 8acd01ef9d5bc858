"""``kedro kinetic init``: a commented ``kinetic:`` parameters file, Dockerfile, .dockerignore.

The parameters file lists every key of the schema with its default and meaning,
from :mod:`kedro_kinetic.config.reference` (which also feeds the docs' reference).
"""

from __future__ import annotations

import sys
import textwrap
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kedro_kinetic import __version__
from kedro_kinetic.config.reference import (
    _NO_DEFAULT,
    _PLACEHOLDERS,
    IMAGE_WORKDIR,
    KeyDoc,
    _defaults,
    _plain,
    _show,
    reference,
    reference_markdown,
    update_reference,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.framework.startup import ProjectMetadata

#: Numeric uid/gid of the image's user (``runAsNonRoot`` needs a numeric ``USER``).
IMAGE_UID = 1000
PARAMETERS_FILE = "parameters_kinetic.yml"
_WIDTH = 96

# --- the parameters file ---------------------------------------------------------------------


def _comment(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(text, width=_WIDTH - indent, initial_indent=f"{pad}# ",
                         subsequent_indent=f"{pad}#   ", break_on_hyphens=False)


def _value(doc: KeyDoc, defaults: Mapping[str, Any]) -> Any:
    if doc.meta.active:
        return defaults.get(doc.path)
    return doc.meta.example


def _yaml_lines(key: str, value: Any) -> list[str]:
    import yaml

    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, (dict, list)):
        return [f"{key}: {_show(value)}"]
    text = yaml.safe_dump({key: value}, default_flow_style=None, sort_keys=False, width=_WIDTH)
    return text.rstrip("\n").splitlines()


def _children(doc: KeyDoc, docs: list[KeyDoc]) -> list[KeyDoc]:
    prefix = doc.path + (f".{_PLACEHOLDERS.get(doc.path, '<name>')}." if doc.meta.map_key
                         else "[]." if doc.type == "list" else ".")
    return [d for d in docs if d.scope == doc.scope and d.path.startswith(prefix)
            and "." not in d.path[len(prefix):]]


def _nested_lines(doc: KeyDoc, children: list[KeyDoc]) -> list[str]:
    """A key whose example is built from its documented children, each with a trailing comment."""
    rows: list[tuple[str, str]] = [(f"{doc.path}:", "")]
    if doc.meta.map_key:
        rows.append((f"  {doc.meta.map_key}:", "environment variable name in the container"))
        pad, first = "    ", "    "
    elif doc.type == "list":
        pad, first = "    ", "  - "
    else:
        pad, first = "  ", "  "
    for i, child in enumerate(children):
        name = child.path.rsplit(".", 1)[-1].removeprefix("[]")
        example = child.meta.example
        if example is _NO_DEFAULT:
            example = _defaults(child.scope).get(child.path)
        lead = first if i == 0 else pad
        rows.append((f"{lead}{name}: {_show(example)}", f"{child.type}: {child.meaning}"))
    width = max(len(r[0]) for r in rows) + 2
    return [f"{left:<{width}}# {note}".rstrip() if note else left for left, note in rows]


def _emit(doc: KeyDoc, docs: list[KeyDoc], defaults: Mapping[str, Any],
          indent: int) -> list[str]:
    pad = " " * indent
    default = doc.default if _plain(doc.default) else f"`{doc.default}`"
    out = _comment(f"{doc.path} ({doc.type}; default {default}): {doc.meaning}", indent)
    children = _children(doc, docs)
    if children:
        body = _nested_lines(doc, children)
    else:
        body = _yaml_lines(doc.path, _value(doc, defaults))
    mark = "" if doc.meta.active else "# "
    out += [f"{pad}{mark}{line}" for line in body]
    return out


def render_parameters() -> str:
    """The commented ``parameters_kinetic.yml``: every key, with its default and meaning."""
    docs = reference()
    run_defaults, node_defaults = _defaults("run"), _defaults("node")
    node_docs = [d for d in docs if d.scope == "node"]
    top_level_nodes = [d for d in node_docs if "." not in d.path and "[" not in d.path]
    lines = ["kinetic:"]
    for doc in (d for d in docs if d.scope == "run"):
        lines.append("")
        if doc.path == "defaults":
            lines += _comment(f"defaults ({doc.type}): {doc.meaning} `tags.<tag>` and "
                              "`nodes.<node>` take the same keys.", 2)
            lines.append("  defaults:")
            for i, node_doc in enumerate(top_level_nodes):
                lines += [""] * (i > 0) + _emit(node_doc, node_docs, node_defaults, 4)
            continue
        lines += _emit(doc, docs, run_defaults, 2)
    text = _read_template("parameters_kinetic.yml.tmpl")
    return _fill(text, kinetic_version=__version__, kinetic_block="\n".join(lines))


# --- Dockerfile and .dockerignore ------------------------------------------------------------


def _read_template(name: str) -> str:
    return (resources.files("kedro_kinetic") / "templates" / name).read_text(encoding="utf-8")


def _fill(text: str, **values: Any) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    if "{{" in text:
        raise ValueError(f"unfilled placeholder in template: {text[text.index('{{'):][:40]}")
    return text


def render_dockerfile(image_name: str, python_version: str | None = None) -> str:
    """The project image: project + kedro-kinetic installed, numeric non-root user."""
    version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    from kedro_kinetic.wire.task_spec import SPEC_FORMAT

    return _fill(_read_template("Dockerfile.tmpl"), kinetic_version=__version__,
                 python_version=version, image_name=image_name, workdir=IMAGE_WORKDIR,
                 uid=IMAGE_UID, task_format=SPEC_FORMAT)


def render_dockerignore() -> str:
    """What stays out of the image: secrets, local data, environments, caches."""
    return _read_template("dockerignore.tmpl")


# --- the command -----------------------------------------------------------------------------


def _base_conf(project_path: Path) -> Path:
    from kedro.framework.project import settings

    base_env = (getattr(settings, "CONFIG_LOADER_ARGS", None) or {}).get("base_env", "base")
    return project_path / settings.CONF_SOURCE / base_env


def _kinetic_elsewhere(base: Path, target: Path) -> list[Path]:
    """Other parameters files of the base environment that already define ``kinetic``."""
    import yaml

    found = []
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).as_posix()
        if path == target or path.suffix not in (".yml", ".yaml", ".json") or not any(
            part.startswith("parameters") for part in rel.split("/")
        ):
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and "kinetic" in data:
            found.append(path)
    return found


def _metadata(obj: Any) -> ProjectMetadata:
    if obj is not None:
        return obj
    from kedro.framework.startup import bootstrap_project
    from kedro.utils import find_kedro_project

    project = find_kedro_project(Path.cwd())
    if project is None:
        raise click.ClickException(
            "not inside a Kedro project (no pyproject.toml with [tool.kedro])")
    return bootstrap_project(project)


@click.command()
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option("--params/--no-params", "write_params", default=True,
              help=f"Write conf/base/{PARAMETERS_FILE} (default: yes).")
@click.option("--docker/--no-docker", "write_docker", default=True,
              help="Write Dockerfile and .dockerignore (default: yes).")
@click.option("--python-version", default=None,
              help="Python of the image (default: this interpreter's, which pickles the "
                   "payloads).")
@click.pass_obj
def init(metadata: Any, force: bool, write_params: bool, write_docker: bool,
         python_version: str | None) -> None:
    """Write a commented kinetic parameters file, a Dockerfile and a .dockerignore."""
    meta = _metadata(metadata)
    project = Path(meta.project_path)
    params_path = _base_conf(project) / PARAMETERS_FILE
    files: dict[Path, str] = {}
    if write_params:
        clashes = _kinetic_elsewhere(params_path.parent, params_path)
        if clashes:
            names = ", ".join(str(p.relative_to(project)) for p in clashes)
            raise click.ClickException(
                f"{names} already defines `kinetic:`; Kedro refuses the same parameter in two "
                f"files of one environment, so {params_path.relative_to(project)} was not "
                "written. Move that block out (the new file documents every key) and run "
                "init again, or keep it and run `kedro kinetic init --no-params`.")
        files[params_path] = render_parameters()
    if write_docker:
        image_name = meta.project_name.lower().replace(" ", "-").replace("_", "-")
        files[project / "Dockerfile"] = render_dockerfile(image_name, python_version)
        files[project / ".dockerignore"] = render_dockerignore()
    existing = [p for p in files if p.exists()]
    if existing and not force:
        names = ", ".join(str(p.relative_to(project)) for p in existing)
        raise click.ClickException(
            f"{names} already exist{'s' if len(existing) == 1 else ''}; nothing was written. "
            "Run `kedro kinetic init --force` to overwrite.")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"{'overwrote' if path in existing else 'wrote'} {path.relative_to(project)}")
    click.echo("`kedro run --runner=kedro_kinetic.GKERunner` works now, on this machine (the "
               "local backend runs each node's Job as a process).")
    if write_docker:
        click.echo("Next, for GKE: declare the image's repository in settings.py "
                   "(KINETIC_IMAGE_REPOSITORIES = ['REGION-docker.pkg.dev/PROJECT/REPOSITORY/'])"
                   " and name it in kinetic.image (conf/<env>/parameters.yml); then `kedro "
                   "kinetic build --env <env> --push --write` builds, pushes and pins it by "
                   "digest, and `kedro kinetic doctor --env <env>` checks the rest. The image's "
                   f"WORKDIR is {IMAGE_WORKDIR}.")


if __name__ == "__main__":
    # python -m kedro_kinetic.cli.scaffold [docs/configuration.md]: print or update the key tables
    if len(sys.argv) > 1:
        changed = update_reference(Path(sys.argv[1]))
        click.echo(f"{sys.argv[1]}: {'updated' if changed else 'up to date'}")
    else:
        click.echo(reference_markdown(), nl=False)
