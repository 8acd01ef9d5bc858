"""``kedro kinetic init``: a commented ``kinetic:`` parameters file, a Dockerfile and a .dockerignore.

The parameters file lists every key of the schema in :mod:`kedro_kinetic.config`.
The key list is walked from the schema itself (:func:`reference`), so a key
added to the schema without a description here fails loudly instead of going
undocumented; the same descriptions feed the configuration reference of the
docs (:func:`reference_markdown`).
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kedro_kinetic import __version__
from kedro_kinetic import config as cfg

if TYPE_CHECKING:
    from kedro.framework.startup import ProjectMetadata

#: The image's working directory, written into the Dockerfile and documented for ``workdir``.
IMAGE_WORKDIR = "/home/kedro/project"
#: Numeric uid/gid of the image's user (``runAsNonRoot`` needs a numeric ``USER``).
IMAGE_UID = 1000
PARAMETERS_FILE = "parameters_kinetic.yml"
_NO_DEFAULT = object()
_WIDTH = 96

# --- what every key means --------------------------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    type: str
    meaning: str
    example: Any = _NO_DEFAULT  # shown (commented out) when the key has no default
    active: bool = False  # written uncommented, with its default
    default: str | None = None  # overrides the default read from the dataclasses
    map_key: str | None = None  # example name for the entries of a mapping


_RUN: dict[str, _Meta] = {
    "backend": _Meta(
        " | ".join(cfg.BACKENDS),
        "Where each node's Job runs. `local` executes the rendered Job's container command as a "
        "process on this machine, in the project folder; `kubernetes` creates the Job in the "
        "cluster of `kube_context` (in `$KUBECONFIG`, or settings.py `KINETIC_KUBECONFIG`).",
        active=True),
    "image": _Meta(
        "string",
        "Container image of every node (a node may name its own). Required when `backend` is "
        "`kubernetes`; pin it by digest (`...@sha256:<64 hex>`). Build it from the Dockerfile "
        "that `kedro kinetic init` writes. Its repository must be listed in settings.py "
        "`KINETIC_IMAGE_REPOSITORIES` (an image chooses code, so code declares where from).",
        example="REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE@sha256:DIGEST"),
    "image_policy": _Meta(
        " | ".join(cfg.IMAGE_POLICIES),
        "What a `kubernetes` run does with an image not pinned by digest: `warn` logs a "
        "warning, `require_digest` stops the run before anything is submitted, `allow` says "
        "nothing. A tag can move between two nodes of one run; a digest cannot.", active=True),
    "namespace": _Meta("DNS-1123 label", "Kubernetes namespace of the run's Jobs.", active=True),
    "store": _Meta(
        "path | gs://bucket/prefix",
        "Where a run keeps payloads, task specs, results and in-memory datasets (under "
        "`runs/<run>/`): a folder (relative to the project) or a GCS prefix. The `kubernetes` "
        "backend needs `gs://`, since pods share no disk with the driver.", active=True),
    "max_parallel": _Meta("integer >= 1", "Nodes running at once.", active=True),
    "fail_fast": _Meta(
        "boolean",
        "After the first failure no new node starts either way; `true` also cancels the nodes "
        "still running.", active=True),
    "stream_logs": _Meta(
        "boolean", "Print each node's output as it runs, prefixed by `[node name]`.",
        active=True),
    "workdir": _Meta(
        "string",
        f"Working directory of the node container (`workingDir`); relative catalog paths "
        f"resolve against it. Unset: the image's `WORKDIR` ({IMAGE_WORKDIR} in the Dockerfile "
        f"of `kedro kinetic init`). The local backend always runs in the project folder.",
        example=IMAGE_WORKDIR),
    "unschedulable_timeout_seconds": _Meta(
        "integer >= 1",
        "How long a pod may stay `Unschedulable` before its node fails. GPU/TPU node pools that "
        "scale up from zero need several minutes.", active=True),
    "credentials_secret": _Meta(
        "DNS-1123 label",
        "Kubernetes Secret with a `credentials.yml` key, mounted read-only into every pod; "
        "catalog entries find their `credentials:` there by name.",
        example="kedro-credentials"),
    "kube_context": _Meta(
        "string", "Kubeconfig context to use. Unset: the current context.",
        example="gke_my-project_europe-west4_kedro"),
    "event_source": _Meta(
        "watch | poll",
        "How the `kubernetes` backend follows Jobs and Pods: one watch per run, or a listing "
        "every `poll_interval_seconds` (a baseline for benchmarks; keep `watch`).",
        example="watch"),
    "progress": _Meta(
        "auto | live | plain | off",
        "How the driver shows what every node is doing: `live` a table that stays at the "
        "bottom of the terminal while logs scroll above it, `plain` one line per change (for "
        "CI logs), `auto` live on a terminal and plain elsewhere, `off` nothing.", active=True),
    "poll_interval_seconds": _Meta(
        "integer >= 1", "Seconds between listings when `event_source` is `poll`.", example=5),
    "defaults": _Meta(
        "node settings", "Node settings for every node (the keys below).", active=True,
        default="see below"),
    "tags": _Meta(
        "mapping: tag -> node settings",
        "Node settings for the nodes with a Kedro tag. A node with several such tags gets them "
        "merged in sorted tag order (later names win).",
        example={"heavy": {"cpu": "2", "memory": "4Gi"},
                 "kinetic.gpu": {"gpu": {"type": "nvidia-l4", "count": 1}, "spot": True}},
        default="none"),
    "nodes": _Meta(
        "mapping: node name -> node settings", "Node settings for one node, by its name.",
        example={"train_model_node": {"deadline_seconds": 7200}}, default="none"),
    "pipelines": _Meta(
        "mapping: pipeline -> settings",
        "Any key above except `pipelines`, for runs of that pipeline (`kedro run --pipelines "
        "NAME`); merged over the top level, `defaults`, `tags` and `nodes` included.",
        example={"data_science": {"max_parallel": 2, "defaults": {"memory": "1Gi"}}},
        default="none"),
}

_NODE: dict[str, _Meta] = {
    "image": _Meta("string", "Image of this node's container.",
                   example="REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE-GPU@sha256:DIGEST",
                   default="kinetic.image"),
    "cpu": _Meta("quantity", "CPU request (`500m`, `2`).", active=True),
    "memory": _Meta("quantity", "Memory request, and the limit unless `memory_limit` is set.",
                    active=True),
    "ephemeral_storage": _Meta("quantity", "Ephemeral-storage request and limit.",
                               example="2Gi"),
    "cpu_limit": _Meta("quantity", "CPU limit. Unset: no CPU limit.", example="2"),
    "memory_limit": _Meta("quantity", "Memory limit; above it the container is OOMKilled.",
                          example="2Gi", default="= memory"),
    "gpu": _Meta("mapping", "NVIDIA GPUs: a GKE accelerator node selector, an `nvidia.com/gpu` "
                 "limit and its toleration."),
    "gpu.type": _Meta("string, required", "GKE accelerator type (`nvidia-l4`, `nvidia-tesla-t4`, "
                      "`nvidia-a100-80gb`, ...).", example="nvidia-l4"),
    "gpu.count": _Meta("integer >= 1", "GPUs per pod."),
    "tpu": _Meta("mapping", "Cloud TPUs: GKE TPU accelerator and topology node selectors, a "
                 "`google.com/tpu` request/limit and its toleration."),
    "tpu.type": _Meta("string, required", "GKE TPU accelerator (`tpu-v5-lite-podslice`, ...).",
                      example="tpu-v5-lite-podslice"),
    "tpu.topology": _Meta("string, required", "TPU topology (`2x4`, ...).", example="2x4"),
    "tpu.count": _Meta("integer >= 1", "TPU chips per pod.", example=8),
    "spot": _Meta("boolean", "Run on GKE Spot VMs (node selector `cloud.google.com/gke-spot` "
                  "and its toleration).", active=True),
    "retries": _Meta("integer >= 0", "Pod retries: the Job's `backoffLimit`.", active=True),
    "deadline_seconds": _Meta(
        "integer >= 1", "The Job's `activeDeadlineSeconds`; the local backend kills the process "
        "too.", active=True),
    "ttl_seconds_after_finished": _Meta(
        "integer >= 0", "Seconds a finished Job (and its pods and logs) is kept.", active=True),
    "env": _Meta("mapping: NAME -> string",
                 "Plain environment variables of the container. Names that change what a "
                 "process loads or how data is verified (`PYTHON*`, `LD_*`, `KINETIC_*`, "
                 "`KEDRO_*`, `GOOGLE_*`, `HOME`, `PATH`, proxies, ... see the security page) "
                 "are refused; settings.py `KINETIC_ALLOWED_ENV` may allow one.",
                 example={"MLFLOW_TRACKING_URI": "http://mlflow.mlflow:5000"}, default="none"),
    "secret_env": _Meta(
        "mapping: NAME -> {secret, key}",
        "Environment variables read from Kubernetes Secrets (`secretKeyRef`). The local "
        "backend refuses them.", default="none", map_key="DB_PASSWORD"),
    "secret_env.<NAME>.secret": _Meta("DNS-1123 label, required", "Name of the Secret.",
                                      example="db-credentials"),
    "secret_env.<NAME>.key": _Meta("string, required", "Key in the Secret.",
                                   example="password"),
    "node_selector": _Meta("mapping: label -> value", "Extra node selector labels.",
                           example={"cloud.google.com/gke-nodepool": "highmem"},
                           default="none"),
    "tolerations": _Meta("list", "Extra tolerations (the GPU, TPU and spot ones are added "
                         "automatically).", default="none"),
    "tolerations[].key": _Meta("string", "Taint key.", example="dedicated"),
    "tolerations[].operator": _Meta("Exists | Equal", "How `value` is compared.",
                                    example="Equal"),
    "tolerations[].value": _Meta("string", "Taint value (with `Equal`).", example="kedro"),
    "tolerations[].effect": _Meta("NoSchedule | PreferNoSchedule | NoExecute",
                                  "Taint effect to tolerate.", example="NoExecute"),
    "tolerations[].toleration_seconds": _Meta(
        "integer >= 0", "With `NoExecute`: how long the pod stays after the taint appears.",
        example=600),
    "service_account": _Meta(
        "DNS-1123 label", "Kubernetes service account of the pod; with Workload Identity it "
        "gives the pod its Google identity (GCS access).", example="kedro-runner"),
    "labels": _Meta("mapping: name -> value", "Extra labels on the Job and its pods.",
                    example={"team": "forecasting"}, default="none"),
    "annotations": _Meta("mapping: name -> value", "Extra annotations on the Job.",
                         example={"owner": "ml-platform@example.com"}, default="none"),
}

_PLACEHOLDERS = {"tags": "<tag>", "nodes": "<node>", "pipelines": "<pipeline>",
                 "secret_env": "<NAME>"}


@dataclass(frozen=True)
class KeyDoc:
    """One key of the ``kinetic:`` block, as documented.

    ``scope`` is ``run`` (keys of ``kinetic:`` and of ``pipelines.<pipeline>``) or ``node``
    (keys of ``defaults``, ``tags.<tag>`` and ``nodes.<node>``); ``path`` is relative to it.
    """

    scope: str
    path: str
    type: str
    default: str
    meaning: str
    meta: _Meta


def _schema_paths(schema: Mapping[str, Any], prefix: str = "",
                  skip: tuple[Mapping[str, Any], ...] = ()) -> Iterator[str]:
    """Key paths of a schema; nested schemas in ``skip`` (or subsets of them) are not entered."""
    for key, sub in schema.items():
        if key == cfg.REQUIRED:
            continue
        path = f"{prefix}{key}"
        yield path
        inner, child = sub, f"{path}."
        if isinstance(sub, tuple):
            kind, inner = sub
            child = f"{path}.{_PLACEHOLDERS.get(key, '<name>')}." if kind == "map" else f"{path}[]."
        if isinstance(inner, dict) and not any(
            inner is s or set(inner) - {cfg.REQUIRED} <= set(s) for s in skip
        ):
            yield from _schema_paths(inner, child, skip)


def _defaults(scope: str) -> dict[str, Any]:
    if scope == "run":
        return {f.name: getattr(cfg.RunConfig(), f.name) for f in fields(cfg.RunConfig)}
    out = {f.name: getattr(cfg.NodeSettings(), f.name) for f in fields(cfg.NodeSettings)}
    for name, klass in (("gpu", cfg.GPU), ("tpu", cfg.TPU)):
        for f in fields(klass):
            out[f"{name}.{f.name}"] = f.default  # dataclasses.MISSING when required
    return out


def _has_default(value: Any) -> bool:
    from dataclasses import MISSING

    return value is not MISSING and value is not None


def _show(value: Any) -> str:
    import yaml

    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix(
        "\n...").removesuffix(" ...")


def reference() -> list[KeyDoc]:
    """Every key of the ``kinetic:`` schema with its type, default and meaning.

    Raises:
        KeyError: A schema key has no description here (add one to ``_RUN``/``_NODE``).
    """
    docs = []
    for scope, schema, meta, skip in (
        ("run", cfg.RUN_SCHEMA, _RUN, (cfg.RUN_SCHEMA, cfg.NODE_SCHEMA)),
        ("node", cfg.NODE_SCHEMA, _NODE, ()),
    ):
        defaults = _defaults(scope)
        paths = list(_schema_paths(schema, skip=skip))
        missing = [p for p in paths if p not in meta]
        if missing:
            raise KeyError(f"kinetic schema keys without a description in scaffold.py: {missing}")
        for path in paths:
            m = meta[path]
            value = defaults.get(path)
            if m.default is not None:
                default = m.default
            elif _has_default(value) and value not in ({}, ()):
                default = _show(value)
            else:
                default = "none" if "required" not in m.type else "—"
            docs.append(KeyDoc(scope, path, m.type, default, m.meaning, m))
    return docs


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


def _plain(default: str) -> bool:
    return default in ("none", "—", "see below") or default.startswith("=")


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


def reference_markdown() -> str:
    """The key tables of the configuration reference page (docs/configuration.md)."""
    def table(scope: str) -> list[str]:
        rows = ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
        for d in reference():
            if d.scope == scope:
                default = d.default if _plain(d.default) else f"`{d.default}`"
                cells = [f"`{d.path}`", d.type, default, d.meaning]
                rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return rows

    lines = ["### Run settings", "",
             "Keys of `kinetic:` (and of `kinetic.pipelines.<pipeline>`).", "",
             *table("run"), "",
             "### Node settings", "",
             ("Keys of `kinetic.defaults`, `kinetic.tags.<tag>` and `kinetic.nodes.<node>` "
              "(and of the same sections under `pipelines.<pipeline>` and `--runner-params`)."),
             "",
             *table("node")]
    return "\n".join(lines) + "\n"


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
    return _fill(_read_template("Dockerfile.tmpl"), kinetic_version=__version__,
                 python_version=version, image_name=image_name, workdir=IMAGE_WORKDIR,
                 uid=IMAGE_UID)


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
        raise click.ClickException("not inside a Kedro project (no pyproject.toml with [tool.kedro])")
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
        click.echo("Next, for GKE: build and push the image; declare its repository in "
                   "settings.py (KINETIC_IMAGE_REPOSITORIES = "
                   "['REGION-docker.pkg.dev/PROJECT/REPOSITORY/']); set kinetic.image to it by "
                   "digest in conf/<env>/parameters.yml; then `kedro kinetic doctor --env "
                   f"<env>`. The image's WORKDIR is {IMAGE_WORKDIR}.")


_BEGIN = re.compile(r"<!-- BEGIN kinetic keys[^>]*-->\n")
_END = "<!-- END kinetic keys -->"


def update_reference(page: Path) -> bool:
    """Rewrite the generated key tables of a docs page in place; return whether it changed."""
    text = page.read_text(encoding="utf-8")
    start = _BEGIN.search(text)
    if not start or _END not in text:
        raise ValueError(f"{page} has no '<!-- BEGIN kinetic keys ... -->' / '{_END}' markers")
    new = f"{text[:start.end()]}\n{reference_markdown()}{text[text.index(_END):]}"
    page.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    # python -m kedro_kinetic.scaffold [docs/configuration.md]: print or update the key tables
    if len(sys.argv) > 1:
        changed = update_reference(Path(sys.argv[1]))
        click.echo(f"{sys.argv[1]}: {'updated' if changed else 'up to date'}")
    else:
        click.echo(reference_markdown(), nl=False)
