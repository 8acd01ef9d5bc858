"""demo_project's image: built by ``kedro kinetic build --builder buildah --push`` into the
bench's registry, from the Dockerfile ``kedro kinetic init`` writes.

The build context is a copy of demo_project in which the real ``kedro kinetic init --no-params``
wrote its Dockerfile and .dockerignore (used unchanged), with a ``requirements.txt`` pinned to
the driver's versions (:mod:`tests.bench.real.pins`) and settings.py allowing the registry's
repositories. ``kedro kinetic build`` bundles this checkout's kedro-kinetic as a wheel, builds
with buildah for linux/amd64, pushes, and prints the digest it read back from the registry:
that is the image the bench's Jobs pin. ``FROM python:3.11-slim`` resolves to the bench's base
image, copied into buildah's storage first; nothing is pulled from outside.

Cache: the registry's storage is kept (:func:`tests.bench.real.registry.persistent_registry`),
and the pushed image is tagged ``cache-<key>``, the key a hash of its inputs (base image,
demo_project, kedro_kinetic's sources, pinned versions). A session whose key is already tagged
builds nothing. The three most recently used builds stay; older ones are deleted from the
registry, and their layers collected when it stops. buildah's storage lives in the image cache too, so when only kedro_kinetic
changed the ``pip install -r requirements.txt`` layer is reused and only the last layers are
rebuilt and pushed. Nothing goes to /var/lib/containers or /etc/containers: storage, registries
and signature policy are given to buildah and skopeo explicitly (containers/image still writes
a blob-info cache under /var/lib/containers, removed when the bench created it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kedro_kinetic.cli.build_context import TAG_PREFIX
from tests.bench.binaries import REPO_ROOT
from tests.bench.real.host import created_paths_removed, unmount_below
from tests.bench.real.image_cache import (
    KEEP,
    BuiltImage,
    ImageBuildError,
    cache_root,
    digest_of,
    locked,
    progress,
    run_tool,
    source_files,
    tree_digest,
)
from tests.bench.real.pins import pinned_requirements

if TYPE_CHECKING:
    from tests.bench.real.registry import BenchRegistry

#: Bump when the recipe changes in a way its hashed inputs do not show.
DEMO_RECIPE = "2"
DEMO_NAME = "demo-project"
#: The tag that marks a pushed image as the build of one input key.
CACHE_TAG = "cache-"
#: buildah's local name of the last demo image built (its layers are the next build's cache).
LAST_BUILD = "kinetic.local/bench-demo-build:last"
DEMO_SOURCE = REPO_ROOT / "demo_project"
KINETIC_SOURCES = ("kedro_kinetic", "pyproject.toml", "README.md")
#: What buildah and skopeo create whatever their settings say: containers/image's blob-info
#: cache, and buildah's CNI configuration folder and lock (made at start even with
#: ``--network=host``). Removed after the build when the build created them.
CONTAINERS_PATHS = ("/var/lib/containers", "/run/containers", "/etc/cni", "/var/lib/cni")


@dataclass(frozen=True)
class PushedImage:
    """An image in the bench's registry, as the Jobs reference it.

    Attributes:
        repo: ``127.0.0.1:<port>/kinetic/<name>``.
        key: Hash of its inputs (its ``cache-<key>`` tag).
        digest: ``sha256:...`` of the manifest the registry serves.
        seconds: How long building and pushing took (0 when the registry had it).
        cached: Whether the registry already had it.
    """

    repo: str
    key: str
    digest: str
    seconds: float = 0.0
    cached: bool = True

    @property
    def by_digest(self) -> str:
        """``repo@sha256:...``: how Pods reference it (``image_policy: require_digest``)."""
        return f"{self.repo}@{self.digest}"

    @property
    def by_tag(self) -> str:
        return f"{self.repo}:{CACHE_TAG}{self.key}"


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


def _build_context(work: Path, repositories: str) -> Path:
    """A copy of demo_project with the Dockerfile of ``kedro kinetic init`` and pinned
    requirements, whose settings.py allows ``repositories``."""
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
    settings = project / "src" / "demo_project" / "settings.py"
    settings.write_text(settings.read_text() + "\n# the real bench's registry\n"
                        f"KINETIC_IMAGE_REPOSITORIES = [{repositories!r}]\n")
    return project


@contextmanager
def buildah_env(work: Path, registry: str = "") -> Iterator[dict[str, str]]:
    """Environment for buildah and skopeo: private storage (kept in the cache), config and
    temporary files; ``registry`` (``host:port``) is reached over plain HTTP.

    Nothing goes to /var/lib/containers or /etc/containers: the graph root is the cache's
    ``buildah/storage``, the run root and temporary files are under ``work``.
    """
    graph = cache_root() / "buildah" / "storage"
    graph.mkdir(parents=True, exist_ok=True)
    conf = work / "containers"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{graph}"\nrunroot = "{work / "run"}"\n')
    insecure = f'\n[[registry]]\nlocation = "{registry}"\ninsecure = true\n' if registry else ""
    (conf / "registries.conf").write_text(
        'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n'
        + insecure)
    (conf / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}\n')
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
           "CONTAINERS_REGISTRIES_CONF": str(conf / "registries.conf"),
           "CONTAINERS_POLICY_JSON": str(conf / "policy.json"),
           "TMPDIR": str(work), "BUILDAH_LAYERS": "true"}
    try:
        yield env
    finally:
        unmount_below([work])  # leave no overlay mounted from the private run root


def _kinetic_build(project: Path, repo: str, env: dict[str, str], policy: Path,
                   log: Path) -> str:
    """``kedro kinetic build --builder buildah --push`` in ``project``; the pinned digest."""
    from tests.conftest import kedro_cmd, subprocess_env

    argv = [*kedro_cmd(), "kinetic", "build", "--builder", "buildah", "--push",
            "--repository", repo, "--builder-arg=--pull=never", "--builder-arg=--network=host",
            "--builder-arg=--layers", f"--builder-arg=--signature-policy={policy}"]
    output = run_tool(argv, env=subprocess_env(**{k: v for k, v in env.items()
                                                  if k.startswith(("CONTAINERS_", "BUILDAH_",
                                                                   "TMPDIR"))}),
                      cwd=project, log=log, timeout=3600)
    found = re.search(rf"^image: {re.escape(repo)}@(sha256:[0-9a-f]{{64}})$", output, re.M)
    if not found:
        raise ImageBuildError(f"kedro kinetic build printed no `image: {repo}@sha256:...`:\n"
                              f"{output[-4000:]}")
    return found.group(1)


def _build_and_push(base: BuiltImage, registry: BenchRegistry, log: Path) -> str:
    for tool in ("buildah", "skopeo"):
        if shutil.which(tool) is None:
            raise ImageBuildError(f"{tool} is not installed (scripts/test.sh installs it)")
    work = Path(tempfile.mkdtemp(prefix="kinetic-buildah-"))
    repo = registry.repository(DEMO_NAME)
    try:
        project = _build_context(work, registry.prefix)
        with created_paths_removed(CONTAINERS_PATHS), buildah_env(work, registry.host) as env:
            policy = work / "containers" / "policy.json"
            # idempotent: on a warm cache the layer is already in buildah's storage
            run_tool(["skopeo", "--policy", str(policy), "copy", "--quiet",
                      f"oci:{base.layout.root}", f"containers-storage:{base.by_tag}"],
                     env=env, log=log)
            for alias in base.aliases:
                run_tool(["buildah", "tag", base.by_tag, alias], env=env, log=log)
            with blob_info_cache_kept():
                digest = _kinetic_build(project, repo, env, policy, log)
            _keep_only_this_build(env, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return digest


def _keep_only_this_build(env: dict[str, str], log: Path) -> None:
    """Name the image just built :data:`LAST_BUILD` and remove the previous one.

    buildah's layer cache (``--layers``) is its intermediate images, which live as long as an
    image built from them does: the last build stays, so the next one reuses every layer up to
    what changed. Its registry names (``127.0.0.1:<port>/kinetic/demo-project:ctx-...``, a new
    port each session) are removed; the registry keeps the image.
    """
    # working containers an interrupted build left hold their images: the storage is the
    # bench's own and builds run under its lock, so none is in use
    run_tool(["buildah", "rm", "--all"], env=env, log=log)
    names = run_tool(["buildah", "images", "--noheading", "--format", "{{.Name}}:{{.Tag}}"],
                     env=env).split()
    built = [n for n in names if re.search(rf"/kinetic/{DEMO_NAME}:{TAG_PREFIX}", n)]
    if not built:
        return
    if LAST_BUILD in names:  # the previous build, and the layers only it used
        run_tool(["buildah", "rmi", LAST_BUILD], env=env, log=log)
    run_tool(["buildah", "tag", built[0], LAST_BUILD], env=env, log=log)
    for name in built:
        run_tool(["buildah", "rmi", name], env=env, log=log)  # untags: LAST_BUILD stays


@contextmanager
def blob_info_cache_kept() -> Iterator[None]:
    """Keep containers/image's blob-info cache between builds (in the image cache).

    It maps each layer to its compressed digests and where they were pushed; without it a push
    compresses and uploads every layer again to learn what the registry already has. It lives
    in /var/lib/containers/cache (no setting moves it for root), which the bench removes after
    each build when it created it: restored before the build, saved after.
    """
    system = Path("/var/lib/containers/cache")
    kept = cache_root() / "containers-cache"
    owned = not system.exists()
    if owned and kept.is_dir():
        shutil.copytree(kept, system)
    try:
        yield
    finally:
        if owned and system.is_dir():
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(system, kept)


def _keep_recent(registry: BenchRegistry, key: str, digest: str) -> None:
    """Record that the build of ``key`` was used now; delete the registry's demo images beyond
    the :data:`KEEP` most recently used (their layers go when the registry stops)."""
    record = cache_root() / "registry-demo-builds.json"
    try:
        used = json.loads(record.read_text())
    except (OSError, ValueError):
        used = {}
    used[key] = {"digest": digest, "used": time.time()}
    recent = sorted(used, key=lambda k: used[k]["used"], reverse=True)
    kept = {used[k]["digest"] for k in recent[:KEEP]}
    for old in recent[KEEP:]:
        if used[old]["digest"] not in kept:
            registry.delete_manifest(DEMO_NAME, used[old]["digest"])
        del used[old]
    record.write_text(json.dumps(used, indent=1))


def demo_image(base: BuiltImage, registry: BenchRegistry) -> PushedImage:
    """demo_project's image on ``base`` in ``registry`` (built and pushed on first use; only
    its last layers when kedro_kinetic changed)."""
    key = demo_key(base)
    tag = f"{CACHE_TAG}{key}"
    repo = registry.repository(DEMO_NAME)
    found = registry.digest(DEMO_NAME, tag)
    if found:
        _keep_recent(registry, key, found)
        return PushedImage(repo, key, found)
    cache = cache_root()
    with locked(cache, DEMO_NAME):
        found = registry.digest(DEMO_NAME, tag)  # another process pushed it meanwhile
        if found:
            return PushedImage(repo, key, found)
        start = time.monotonic()
        progress(f"building {repo} ({tag}) with kedro kinetic build ...")
        log = cache / f"{DEMO_NAME}.log"
        log.write_text("")
        digest = _build_and_push(base, registry, log)
        registry.tag(DEMO_NAME, digest, tag)
        _keep_recent(registry, key, digest)
        seconds = time.monotonic() - start
        progress(f"built and pushed {repo}@{digest} in {seconds:.0f} s")
        return PushedImage(repo, key, digest, seconds=seconds, cached=False)


def push_base(base: BuiltImage, registry: BenchRegistry) -> PushedImage:
    """The base image in ``registry`` (tagged by its key; pushed when missing)."""
    name = base.repo.rsplit("/", 1)[-1]
    repo = registry.repository(name)
    found = registry.digest(name, base.key)
    if found:
        return PushedImage(repo, base.key, found)
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="kinetic-skopeo-"))
    try:
        with created_paths_removed(CONTAINERS_PATHS), buildah_env(work, registry.host) as env:
            run_tool(["skopeo", "--policy", str(work / "containers" / "policy.json"), "copy",
                      "--quiet", "--dest-tls-verify=false", f"oci:{base.layout.root}",
                      f"docker://{repo}:{base.key}"], env=env,
                     log=cache_root() / f"{name}.log")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    digest = registry.digest(name, base.key)
    if digest is None:
        raise ImageBuildError(f"skopeo pushed {repo}:{base.key} but the registry lacks it")
    return PushedImage(repo, base.key, digest, seconds=time.monotonic() - start, cached=False)
