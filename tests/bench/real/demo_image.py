"""demo_project's image, built by buildah from the Dockerfile ``kedro kinetic init`` writes.

The build context is a copy of demo_project in which the real ``kedro kinetic init --no-params``
wrote its Dockerfile and .dockerignore (used unchanged), plus kedro-kinetic as a wheel built
from this checkout (``--build-arg KEDRO_KINETIC=./wheels/...``) and a ``requirements.txt``
pinned to the driver's versions (:mod:`tests.bench.real.pins`). ``FROM python:3.11-slim``
resolves to the bench's base image, copied into buildah's storage first; nothing is pulled.

buildah's storage lives in the image cache and is kept between builds, so when only
kedro_kinetic changes the ``pip install -r requirements.txt`` layer is reused and only the last
two layers are rebuilt. Nothing goes to /var/lib/containers or /etc/containers: storage,
registries and signature policy are given to buildah and skopeo explicitly (containers/image
still writes a blob-info cache under /var/lib/containers, removed when the bench created it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.bench.binaries import REPO_ROOT
from tests.bench.real.host import created_paths_removed, unmount_below
from tests.bench.real.image_cache import (
    BuiltImage,
    ImageBuildError,
    cache_root,
    cached_or_build,
    digest_of,
    run_tool,
    source_files,
    tree_digest,
)
from tests.bench.real.oci import Layout
from tests.bench.real.pins import pinned_requirements

#: Bump when the recipe changes in a way its hashed inputs do not show.
DEMO_RECIPE = "1"
DEMO_REPO = "kinetic.local/demo-project"
DEMO_SOURCE = REPO_ROOT / "demo_project"
KINETIC_SOURCES = ("kedro_kinetic", "pyproject.toml", "README.md")
#: What buildah and skopeo create whatever their settings say: containers/image's blob-info
#: cache, and buildah's CNI configuration folder and lock (made at start even with
#: ``--network=host``). Removed after the build when the build created them.
CONTAINERS_PATHS = ("/var/lib/containers", "/run/containers", "/etc/cni", "/var/lib/cni")


def _demo_files() -> list[Path]:
    skip = {"data", "logs", ".viz", "kinetic", "notebooks"}
    return [p for p in source_files(DEMO_SOURCE)
            if not set(p.relative_to(DEMO_SOURCE).parts) & skip]


def demo_key(base: BuiltImage) -> str:
    """Hash of the base image, demo_project, kedro_kinetic's sources and the pinned versions."""
    kinetic = [p for name in KINETIC_SOURCES for p in (
        source_files(REPO_ROOT / name) if (REPO_ROOT / name).is_dir() else [REPO_ROOT / name])]
    pins = pinned_requirements(DEMO_SOURCE / "requirements.txt", ["kedro-kinetic"])
    return digest_of(DEMO_RECIPE, base.key, sys.version.split()[0].rsplit(".", 1)[0], pins,
                 tree_digest(DEMO_SOURCE, _demo_files()), tree_digest(REPO_ROOT, kinetic))


def _kinetic_wheel(out: Path, work: Path) -> Path:
    """kedro-kinetic as a wheel built from this checkout (in a copy: no build/ in the tree)."""
    src = work / "kedro-kinetic-src"
    for name in KINETIC_SOURCES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, src / name)
    run_tool([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
          "-w", str(out), str(src)])
    wheels = list(out.glob("kedro_kinetic-*.whl"))
    if len(wheels) != 1:
        raise ImageBuildError(f"expected one kedro_kinetic wheel in {out}, found {wheels}")
    return wheels[0]


def _build_context(work: Path) -> tuple[Path, Path]:
    """A copy of demo_project with the Dockerfile of ``kedro kinetic init`` and the wheel."""
    from benchmarks.projects import copy_demo
    from tests.conftest import kedro_cmd, subprocess_env

    project = copy_demo(work)
    proc = subprocess.run([*kedro_cmd(), "kinetic", "init", "--no-params"], cwd=project,
                          env=subprocess_env(), capture_output=True, text=True, timeout=300,
                          check=False)
    if proc.returncode != 0 or not (project / "Dockerfile").is_file():
        raise ImageBuildError(f"kedro kinetic init failed:\n{proc.stdout}\n{proc.stderr}")
    (project / "requirements.txt").write_text(
        pinned_requirements(DEMO_SOURCE / "requirements.txt", ["kedro-kinetic"]))
    wheel = _kinetic_wheel(project / "wheels", work)
    return project, wheel


@contextmanager
def buildah_env(work: Path) -> Iterator[dict[str, str]]:
    """Environment for buildah: private storage (kept in the cache), config and temp files.

    Nothing goes to /var/lib/containers or /etc/containers: the graph root is the cache's
    ``buildah/storage``, the run root and temporary files are under ``work``.
    """
    graph = cache_root() / "buildah" / "storage"
    graph.mkdir(parents=True, exist_ok=True)
    conf = work / "containers"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{graph}"\nrunroot = "{work / "run"}"\n')
    (conf / "registries.conf").write_text(
        'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n')
    (conf / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}\n')
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
           "CONTAINERS_REGISTRIES_CONF": str(conf / "registries.conf"),
           "TMPDIR": str(work), "BUILDAH_LAYERS": "true"}
    try:
        yield env
    finally:
        unmount_below([work])  # leave no overlay mounted from the private run root


def _build_demo(base: BuiltImage):
    def build(tmp: Path, name: str) -> None:
        for tool in ("buildah", "skopeo"):
            if shutil.which(tool) is None:
                raise ImageBuildError(f"{tool} is not installed (scripts/test.sh installs it)")
        work = Path(tempfile.mkdtemp(prefix="kinetic-buildah-"))
        log = tmp.parent / f"{DEMO_REPO.rsplit('/', 1)[-1]}.log"
        log.write_text("")
        try:
            project, wheel = _build_context(work)
            with created_paths_removed(CONTAINERS_PATHS), buildah_env(work) as env:
                policy = ["--signature-policy", str(work / "containers" / "policy.json")]
                # idempotent: on a warm cache the layer is already in buildah's storage
                run_tool(["skopeo", "--policy", policy[1], "copy", "--quiet",
                          f"oci:{base.layout.root}", f"containers-storage:{base.by_tag}"],
                         env=env, log=log)
                for alias in base.aliases:
                    run_tool(["buildah", "tag", base.by_tag, alias], env=env, log=log)
                run_tool(["buildah", "bud", *policy, "--layers", "--pull=never", "--network=host",
                      "--build-arg", f"KEDRO_KINETIC=./wheels/{wheel.name}",
                      "-f", "Dockerfile", "-t", name, str(project)], env=env, log=log,
                     timeout=3600)
                run_tool(["buildah", "push", *policy, "--quiet", "--format", "oci", name,
                      f"oci:{tmp}"], env=env, log=log)
                Layout(tmp).decompress_layers()
                for old in run_tool(["buildah", "images", "--noheading", "--format",
                                 "{{.Name}}:{{.Tag}}"], env=env).split():
                    if old.startswith(f"{DEMO_REPO}:") and old != name:
                        # older demo builds; their cached layers stay
                        run_tool(["buildah", "rmi", old], env=env, log=log)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return build


def demo_image(base: BuiltImage) -> BuiltImage:
    """demo_project's image on ``base`` (built on first use; only its last layers when
    kedro_kinetic changed)."""
    return cached_or_build(DEMO_REPO, demo_key(base), _build_demo(base))
