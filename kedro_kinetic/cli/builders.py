"""The image builders of ``kedro kinetic build``: a fixed list of programs, run with argv lists.

Configuration names the image's repository; it never chooses a program. The builder is one of
:data:`BUILDERS`, each tied to its executable by this table (found on ``PATH``), and every
command is an argv list run without a shell. Each step streams the program's output as it
goes, and a failure names the step, the program and what usually fixes it.

* ``docker``: ``docker build --platform`` (BuildKit), ``docker push``; the digest from
  ``docker buildx imagetools inspect``.
* ``podman``: ``podman build --platform``, ``podman push --digestfile``; the digest from
  ``skopeo inspect``.
* ``buildah``: ``buildah bud --platform``, ``buildah push --digestfile IMAGE docker://IMAGE``;
  the digest from ``skopeo inspect``.
* ``cloud-build``: ``gcloud builds submit --config`` (Docker builds and pushes on Google
  Cloud); the digest from ``gcloud artifacts docker images describe`` (Artifact Registry),
  else ``skopeo inspect``.

When the tool for the digest is missing, or fails, the registry's HTTP API is read directly
(:mod:`kedro_kinetic.cli.registry`). The digest the registry serves is pinned only when it is
the one the push itself reported (docker, podman, buildah): whoever can push to the repository
could move the tag in between.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from kedro_kinetic.cli import registry
from kedro_kinetic.errors import BuildError
from kedro_kinetic.wire.text import printable

if TYPE_CHECKING:
    from pathlib import Path

#: Builder name -> the program it runs. Nothing else is ever executed.
PROGRAMS = {"docker": "docker", "podman": "podman", "buildah": "buildah",
            "cloud-build": "gcloud"}
BUILDERS = tuple(PROGRAMS)
INSTALL = {
    "docker": "install Docker (https://docs.docker.com/engine/install/) and start it",
    "podman": "install podman (https://podman.io/docs/installation)",
    "buildah": "install buildah (e.g. apt-get install buildah)",
    "gcloud": "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)",
    "skopeo": "install skopeo (e.g. apt-get install skopeo)",
}
_TAIL = 40


@dataclass(frozen=True)
class BuildRequest:
    """What to build: the project's Dockerfile, for one platform, as ``image`` (``repo:tag``)."""

    context: Path
    dockerfile: str
    image: str
    platform: str = "linux/amd64"
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    builder_args: tuple[str, ...] = ()


def program(name: str, builder: str | None = None) -> str:
    """The absolute path of ``name`` (a program of :data:`PROGRAMS` or skopeo) on PATH.

    Raises:
        BuildError: Not installed, naming the builder and what to install.
    """
    found = shutil.which(name)
    if found is None:
        what = f"the {builder} builder needs" if builder else "reading the digest needs"
        raise BuildError(f"{what} `{name}`, which is not on PATH: {INSTALL.get(name, '')}"
                         + ("; or choose another --builder (docker, podman, buildah, "
                            "cloud-build)" if builder else ""))
    return found


def _hint(output: str, image: str) -> str:
    host = registry.parse_reference(image).host
    text = output.lower()
    if "cannot connect to the docker daemon" in text or "is the docker daemon running" in text:
        return "the Docker daemon is not running: start Docker"
    if re.search(r"unauthori[sz]ed|authentication required|denied|\b401\b|\b403\b|"
                 r"permission_denied|forbidden", text):
        login = (f"gcloud auth configure-docker {host}" if registry.google_registry(host)
                 else f"`docker login {host}` (or podman/buildah/skopeo login)")
        return f"no credentials for {host}: {login}"
    if re.search(r"name unknown|name_unknown|repository .*not found|not_found|\b404\b", text):
        fix = ("gcloud artifacts repositories create REPOSITORY --repository-format=docker "
               "--location=REGION" if registry.google_registry(host) else
               "create it in the registry")
        return f"the repository {registry.parse_reference(image).repository} is missing: {fix}"
    if re.search(r"connection refused|no such host|dial tcp|network is unreachable|"
                 r"timeout", text):
        return f"cannot reach the registry {host}"
    return ""


def run_step(step: str, argv: list[str], image: str, cwd: Path | None = None,
             echo: bool = True) -> str:
    """Run one step's program, streaming its output; return the output.

    Raises:
        BuildError: The program failed; the message names the step, the program, the likely
            cause and the output's last lines.
    """
    tail: deque[str] = deque(maxlen=_TAIL)
    lines: list[str] = []
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise BuildError(f"step '{step}': cannot start {argv[0]}: {exc}") from None
    if proc.stdout is None:  # pragma: no cover - stdout=PIPE always gives one
        raise BuildError(f"step '{step}': no output pipe from {argv[0]}")
    for line in proc.stdout:  # shown escaped: it quotes registries and build steps
        lines.append(line)
        shown = printable(line.rstrip(), newlines=False)
        tail.append(shown)
        if echo:
            click.echo(f"  | {shown}", err=True)
    code = proc.wait()
    output = "".join(lines)
    if code != 0:
        hint = _hint(output, image)
        shown = "\n".join(f"  | {line}" for line in tail)
        raise BuildError(f"step '{step}': {' '.join(argv[:2])} exited with {code}"
                         + (f": {hint}" if hint else "") + f"\n{shown}")
    return output


def build_argv(builder: str, exe: str, request: BuildRequest) -> list[str]:
    """The build command of ``builder`` (docker, podman or buildah)."""
    verb = "bud" if builder == "buildah" else "build"
    argv = [exe, verb, "--platform", request.platform, "-f", request.dockerfile,
            "-t", request.image]
    for key, value in sorted(request.build_args.items()):
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(request.labels.items()):
        argv += ["--label", f"{key}={value}"]
    return [*argv, *request.builder_args, str(request.context)]


def push_argv(builder: str, exe: str, image: str, digest_file: Path) -> list[str]:
    """The push command; buildah and podman write the pushed manifest's digest to
    ``digest_file`` (docker prints it)."""
    if builder == "buildah":
        return [exe, "push", "--digestfile", str(digest_file), image, f"docker://{image}"]
    if builder == "podman":
        return [exe, "push", "--digestfile", str(digest_file), image]
    return [exe, "push", image]


_PUSHED = re.compile(r"\bdigest: (sha256:[0-9a-f]{64})\b")


def digest_pushed(builder: str, output: str, digest_file: Path) -> str | None:
    """The digest of the manifest the push itself uploaded: ``--digestfile`` (buildah,
    podman) or docker's ``<tag>: digest: sha256:... size: N`` line; None when not told."""
    if builder in ("buildah", "podman"):
        try:
            text = digest_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if registry.DIGEST.fullmatch(text) else None
    found = set(_PUSHED.findall(output))
    return found.pop() if len(found) == 1 else None


def check_served(image: str, pushed: str | None, served: str) -> None:
    """Refuse to pin ``served`` (what the registry now serves for the tag) unless it is the
    manifest this build pushed: anyone who can push to the repository could have moved the tag
    between the push and the read.

    Raises:
        BuildError: The registry serves another manifest under the tag.
    """
    if pushed is not None and served != pushed:
        raise BuildError(
            f"step 'read digest': the registry serves {served} for {image}, but this build "
            f"pushed {pushed}: the tag was moved after the push (another push to the "
            "repository, or someone who can write it); nothing was pinned. Check who can "
            "push to the repository, then run the build again")


def cloud_build_config(request: BuildRequest) -> str:
    """A Cloud Build configuration that builds ``request`` with Docker and pushes it."""
    args = [*build_argv("docker", "docker", request)[1:-1], "."]
    return json.dumps({"steps": [{"name": "gcr.io/cloud-builders/docker", "args": args}],
                       "images": [request.image]}, indent=2) + "\n"


def cloud_build_argv(exe: str, config: Path, ignore_file: Path,
                     request: BuildRequest) -> list[str]:
    return [exe, "builds", "submit", "--config", str(config), "--ignore-file",
            str(ignore_file), str(request.context)]


def _skopeo_argv(exe: str, image: str, platform: str) -> list[str]:
    os_name, _, arch = platform.partition("/")
    return [exe, "--override-os", os_name, "--override-arch", arch.partition("/")[0],
            "inspect", "--no-tags", f"docker://{image}"]


def digest_readers(builder: str, image: str, platform: str) -> list[tuple[str, list[str]]]:
    """``(tool, argv)`` of the tools that can read ``image``'s digest, best first."""
    readers: list[tuple[str, list[str]]] = []
    host = registry.parse_reference(image).host
    if builder == "docker" and shutil.which("docker"):
        readers.append(("docker buildx imagetools", [
            str(shutil.which("docker")), "buildx", "imagetools", "inspect", image, "--format",
            "{{json .Manifest}}"]))
    if builder == "cloud-build" and host.endswith("-docker.pkg.dev") and shutil.which("gcloud"):
        readers.append(("gcloud artifacts", [
            str(shutil.which("gcloud")), "artifacts", "docker", "images", "describe", image,
            "--format=value(image_summary.digest)"]))
    if shutil.which("skopeo"):
        readers.append(("skopeo", _skopeo_argv(str(shutil.which("skopeo")), image, platform)))
    return readers


def read_pushed(builder: str, image: str, platform: str) -> tuple[str, dict[str, str] | None]:
    """The digest of the manifest the registry now serves for ``image`` (``repo:tag``), and
    its labels when the tool reports them (skopeo does).

    Raises:
        BuildError: No tool and not the registry's HTTP API could tell it.
    """
    problems = []
    for tool, argv in digest_readers(builder, image, platform):
        try:
            output = run_step("read digest", argv, image, echo=False)
        except BuildError as exc:
            problems.append(f"{tool}: {str(exc).splitlines()[0]}")
            continue
        digest = registry.find_digest(output)
        if digest:
            labels = None
            if tool == "skopeo":
                try:
                    labels = json.loads(output).get("Labels") or {}
                except (ValueError, AttributeError):
                    labels = None
            return digest, labels
        problems.append(f"{tool}: printed no single sha256 digest")
    try:
        return registry.pushed_digest(image), None
    except BuildError as exc:
        problems.append(f"the registry's HTTP API: {exc}")
    raise BuildError(f"step 'read digest': could not read the digest of {image} from its "
                     "registry (" + "; ".join(problems) + ")")
