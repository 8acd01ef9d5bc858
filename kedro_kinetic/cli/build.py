"""``kedro kinetic build``: from the project to an image pinned by digest, in one command.

Steps (each announced on stderr; a failure names its step):

1. **configuration** — the image's repository: ``--repository`` or the repository part of the
   environment's ``kinetic.image``; it must lie in a repository settings.py allows
   (``KINETIC_IMAGE_REPOSITORIES``), as every image a run uses must.
2. **context** — the project's Dockerfile and .dockerignore (written as ``kedro kinetic init``
   writes them when missing); a context that would carry credentials is refused; kedro-kinetic
   goes in as a wheel of the installed distribution unless it came from a package index
   (``--kinetic-from``); the tag is a hash of the context and of the build's arguments.
3. **build** — with the chosen builder, for ``linux/amd64`` unless ``--platform`` says
   otherwise, labelled with the kedro-kinetic version and the task-spec format it reads.
4. **push** (``--push``) — to the repository.
5. **digest** — of the manifest the registry now serves (never a local image id), and only
   when it is the one the push itself reported (a tag moved in between is refused); prints
   ``image: REPO@sha256:...`` on stdout, and with ``--write`` records it in the environment's
   kinetic parameters.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kedro_kinetic import __version__
from kedro_kinetic.cli import build_context, builders
from kedro_kinetic.cli.doctor_checks import IMAGE_REFERENCE
from kedro_kinetic.cli.image_version import image_labels_for_build
from kedro_kinetic.config.policy import image_repository
from kedro_kinetic.errors import BuildError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro_kinetic.config.project_settings import ProjectSettings

#: Where the kedro-kinetic wheel is put in the build context (removed after the build).
WHEEL_DIR = ".kinetic-build"
STEPS = 5


def _say(step: int, text: str) -> None:
    click.echo(f"[kinetic build {step}/{STEPS}] {text}", err=True)


def choose_repository(option: str | None, block: Any,
                      settings: ProjectSettings) -> str:
    """The repository to push to, checked against settings.py's allowed repositories.

    Raises:
        BuildError: None named, malformed, or not allowed by the project's code.
    """
    from kedro_kinetic.config import image_allowed
    from kedro_kinetic.config.schema import LOCAL_IMAGE

    configured = block.get("image") if isinstance(block, dict) else None
    source = "--repository" if option else "kinetic.image"
    image = option or (configured if isinstance(configured, str) else None)
    if not image or image == LOCAL_IMAGE:
        raise BuildError("step 'configuration': no repository to push to: set kinetic.image "
                         "in conf/<env>/parameters.yml (e.g. REGION-docker.pkg.dev/PROJECT/"
                         "REPOSITORY/IMAGE) or pass --repository")
    repo = image_repository(image)
    if not IMAGE_REFERENCE.match(repo) or len(repo) > 255:
        raise BuildError(f"step 'configuration': {source} {image!r} is not a well-formed image "
                         "repository (REGISTRY/PATH with a lower-case path)")
    allowed = settings.image_repositories or ()
    if not image_allowed(repo, allowed):
        declared = ", ".join(allowed) or "none"
        raise BuildError(f"step 'configuration': {source} names repository {repo}, which "
                         "settings.py does not allow (KINETIC_IMAGE_REPOSITORIES declares "
                         f"{declared}); add it (or its prefix ending in '/') there")
    return repo


def ensure_docker_files(project: Path, project_name: str) -> None:
    """Write the Dockerfile and .dockerignore ``kedro kinetic init`` writes, when missing."""
    from kedro_kinetic.cli.scaffold import render_dockerfile, render_dockerignore

    name = project_name.lower().replace(" ", "-").replace("_", "-")
    for path, render in ((project / "Dockerfile", lambda: render_dockerfile(name)),
                         (project / ".dockerignore", render_dockerignore)):
        if not path.exists():
            path.write_text(render(), encoding="utf-8")
            click.echo(f"  wrote {path.name} (as `kedro kinetic init` writes it)", err=True)


def kinetic_source(project: Path, choice: str, rules: list[build_context.Rule]) -> str:
    """What the Dockerfile's ``KEDRO_KINETIC`` argument installs: a bundled wheel or a version.

    Raises:
        BuildError: The wheel cannot be built, or .dockerignore would keep it out.
    """
    from kedro_kinetic.cli import wheel

    if choice == "index" or (choice == "auto" and wheel.installed_from_index()):
        click.echo(f"  kedro-kinetic=={__version__} from the image's package index", err=True)
        return f"kedro-kinetic=={__version__}"
    out = project / WHEEL_DIR
    shutil.rmtree(out, ignore_errors=True)
    built = wheel.build_wheel(out)
    rel = f"{WHEEL_DIR}/{built.name}"
    if build_context.ignored(rel, rules):
        raise BuildError(f"step 'context': .dockerignore keeps {rel} out of the build context; "
                         f"add the line `!{WHEEL_DIR}/` at its end")
    click.echo(f"  bundled kedro-kinetic {__version__} as {rel} (not on the public index)",
               err=True)
    return f"./{rel}"


def _parse_args(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--build-arg")
        out[key] = value
    return out


def _cloud_build(request: builders.BuildRequest, rules_text: str) -> None:
    exe = builders.program("gcloud", "cloud-build")
    with tempfile.TemporaryDirectory(prefix="kinetic-cloud-build-") as tmp:
        config = Path(tmp) / "cloudbuild.json"
        config.write_text(builders.cloud_build_config(request), encoding="utf-8")
        ignore = Path(tmp) / "gcloudignore"  # the upload leaves out what the image does
        kept = {"Dockerfile", ".dockerignore", request.dockerfile}
        ignore.write_text("\n".join([".gcloudignore", *(line for line in rules_text.splitlines()
                                                         if line.strip() not in kept)]) + "\n")
        builders.run_step("build", builders.cloud_build_argv(exe, config, ignore, request),
                          request.image)


def _check_labels(read: Mapping[str, str] | None, wanted: Mapping[str, str]) -> None:
    if read is None:
        return
    missing = {k: v for k, v in wanted.items() if read.get(k) != v}
    if missing:
        click.echo(f"  warning: the pushed image lacks the labels {missing}; `kedro kinetic "
                   "doctor` cannot tell which kedro-kinetic it runs", err=True)


def run_build(project: Path, project_name: str, env: str | None, options: dict[str, Any],
              block: Any, settings: ProjectSettings) -> str | None:
    """Build (and push) the project's image; return ``REPO@sha256:...`` when pushed."""
    builder, platform, push = options["builder"], options["platform"], options["push"]
    _say(1, f"configuration (env {env or 'default'})")
    repo = choose_repository(options["repository"], block, settings)
    exe = builders.program(builders.PROGRAMS[builder], builder)
    _say(2, f"build context {project}")
    ensure_docker_files(project, project_name)
    ignore_file = project / ".dockerignore"
    rules_text = ignore_file.read_text(encoding="utf-8") if ignore_file.exists() else ""
    rules = build_context.parse_dockerignore(rules_text)
    build_context.check_secrets(project, rules)
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    if "ARG KEDRO_KINETIC" not in dockerfile:
        click.echo("  note: the Dockerfile declares no `ARG KEDRO_KINETIC`: install "
                   "kedro-kinetic in it yourself (the argument names what to install)", err=True)
    try:
        args = {"KEDRO_KINETIC": kinetic_source(project, options["kinetic_from"], rules),
                **options["build_args"]}
        labels = image_labels_for_build()
        tag = build_context.content_tag(project, rules, [
            dockerfile, platform, json.dumps(args, sort_keys=True),
            json.dumps(labels, sort_keys=True), *options["builder_args"]])
        request = builders.BuildRequest(project, "Dockerfile", f"{repo}:{tag}", platform, args,
                                        labels, tuple(options["builder_args"]))
        _say(3, f"building {request.image} for {platform} with {builder}")
        if builder == "cloud-build":
            _cloud_build(request, rules_text)
        else:
            builders.run_step("build", builders.build_argv(builder, exe, request),
                              request.image, cwd=project)
    finally:
        shutil.rmtree(project / WHEEL_DIR, ignore_errors=True)
    if not push:
        click.echo(f"built {request.image}; not pushed, so it has no registry digest yet "
                   "(--push pushes it and prints the reference to pin)", err=True)
        return None
    pushed = None
    if builder != "cloud-build":  # Cloud Build pushes on Google Cloud: the registry is read
        _say(4, f"pushing {request.image}")
        with tempfile.TemporaryDirectory(prefix="kinetic-push-") as folder:
            digest_file = Path(folder) / "digest"
            output = builders.run_step(
                "push", builders.push_argv(builder, exe, request.image, digest_file),
                request.image)
            pushed = builders.digest_pushed(builder, output, digest_file)
    _say(5, "reading the pushed manifest's digest from the registry")
    digest, read_labels = builders.read_pushed(builder, request.image, platform)
    builders.check_served(request.image, pushed, digest)
    _check_labels(read_labels, labels)
    return f"{repo}@{digest}"


def _conf_folders(project: Path, env: str | None) -> tuple[Path, str, str]:
    """The configuration folder, the environment ``--write`` edits and the base environment."""
    from kedro.framework.project import settings

    loader_args = getattr(settings, "CONFIG_LOADER_ARGS", None) or {}
    base_env = loader_args.get("base_env", "base")
    # without --env: the base environment (conf/local is the machine's own, not shared)
    return project / settings.CONF_SOURCE, env or base_env, base_env


@click.command()
@click.option("--env", "-e", default=None,
              help="Kedro configuration environment whose kinetic.image names the repository "
                   "(and where --write records the image).")
@click.option("--push", is_flag=True,
              help="Push the image and print its digest, read from the registry.")
@click.option("--builder", type=click.Choice(builders.BUILDERS), default="docker",
              show_default=True, help="The program that builds (cloud-build: gcloud, on "
                                      "Google Cloud; it always pushes).")
@click.option("--write", is_flag=True,
              help="Record image: REPO@sha256:... in the environment's kinetic parameters.")
@click.option("--repository", default=None,
              help="Image repository (default: the repository part of kinetic.image).")
@click.option("--platform", default="linux/amd64", show_default=True,
              help="Platform of the image (GKE's default node pools are linux/amd64).")
@click.option("--kinetic-from", type=click.Choice(("auto", "wheel", "index")), default="auto",
              show_default=True,
              help="How the image gets kedro-kinetic: a wheel of the installed one, or this "
                   "version from the image's package index (auto: the wheel unless it was "
                   "installed from an index).")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE",
              help="A build argument for the Dockerfile (repeatable).")
@click.option("--builder-arg", "builder_args", multiple=True, metavar="ARG",
              help="One more argument for the builder's build command, e.g. "
                   "--builder-arg=--pull=never (repeatable).")
@click.pass_obj
def build(metadata: Any, **options: Any) -> None:
    """Build the project's image, push it and print it pinned by digest."""
    from kedro_kinetic.cli.image_params import record_image
    from kedro_kinetic.cli.runs import read_project
    from kedro_kinetic.cli.scaffold import _metadata

    env, write = options.pop("env"), options.pop("write")
    if write and not (options["push"] or options["builder"] == "cloud-build"):
        raise click.UsageError("--write records the pushed image's digest: add --push")
    meta = _metadata(metadata)
    project = Path(meta.project_path)
    options["push"] = options["push"] or options["builder"] == "cloud-build"
    options["build_args"] = _parse_args(options["build_args"])
    try:
        block, settings = read_project(project, env)
        pinned = run_build(project, meta.project_name, env, options, block, settings)
        if pinned is None:
            return
        click.echo(f"image: {pinned}")
        if write:
            conf, run_env, base_env = _conf_folders(project, env)
            path = record_image(conf, run_env, base_env, pinned)
            click.echo(f"recorded kinetic.image in {path.relative_to(project)}", err=True)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None
