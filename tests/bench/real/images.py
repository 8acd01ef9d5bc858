"""The real bench's images, built on this machine without a registry and cached by input hash.

* **base** — Debian bookworm (minbase + python3, pip, venv, ca-certificates) made by
  ``mmdebstrap``, one uncompressed layer. It is named ``docker.io/library/python:3.11-slim`` too,
  so the unchanged ``FROM python:3.11-slim`` of the generated Dockerfile builds on it. Its user
  is root, which is what the ``runAsNonRoot`` test needs.
* **pause** — the pod sandbox: the static Go program in ``pause/``, alone in its image.
* **demo** — demo_project's image, built by ``buildah`` from the Dockerfile that the real
  ``kedro kinetic init`` writes, unchanged, with kedro-kinetic passed as a wheel built from this
  checkout (``--build-arg KEDRO_KINETIC=./wheels/...``).

Each image lives in ``$KINETIC_IMAGE_CACHE`` (default ``~/.cache/kedro-kinetic/images``) as an
OCI layout named ``<image>-<key>``, the key being a hash of everything that goes into it, so a
warm machine builds nothing. buildah's own storage (``buildah/storage`` there) is kept too: when
only kedro_kinetic changes, the expensive ``pip install -r requirements.txt`` layer is reused and
only the last two layers are rebuilt.

Run ``python -m tests.bench.real.images`` to build (or check) all three outside pytest.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.binaries import REPO_ROOT
from tests.bench.real.host import created_paths_removed, unmount_below
from tests.bench.real.oci import Layout, finish_directory, is_complete
from tests.bench.real.pins import pinned_requirements

#: Bump when a recipe below changes in a way its hashed inputs do not show.
BASE_RECIPE, PAUSE_RECIPE, DEMO_RECIPE = "1", "1", "1"
#: Every bench image lives under this repository prefix (the projects' image allowlist).
REPOSITORY_PREFIX = "kinetic.local/"
BASE_REPO = "kinetic.local/bench-base"
PAUSE_REPO = "kinetic.local/pause"
DEMO_REPO = "kinetic.local/demo-project"
SUITE = "bookworm"
#: Debian's Python in bookworm; the generated Dockerfile asks for the driver's major.minor.
PYTHON_VERSION = "3.11"
BASE_PACKAGES = ("python3", "python3-pip", "python3-venv", "python-is-python3",
                 "ca-certificates", "passwd")
SOURCES = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
# Runs on the host after the packages are installed; $1 is the new root filesystem. pip in the
# builds must trust this machine's CA bundle (its egress may be intercepted), under any pip
# version the Dockerfile upgrades to; Debian's "externally managed" marker would make the
# Dockerfile's `pip install` fail.
CUSTOMIZE = r"""set -e
root="$1"
for crt in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$crt" ] && cp "$crt" "$root/usr/local/share/ca-certificates/"
done
chroot "$root" update-ca-certificates >/dev/null
rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
"""
DPKG_EXCLUDES = ("path-exclude=/usr/share/man/*", "path-exclude=/usr/share/doc/*",
                 "path-exclude=/usr/share/info/*", "path-exclude=/usr/share/locale/*")
PAUSE_SOURCE = Path(__file__).with_name("pause")
DEMO_SOURCE = REPO_ROOT / "demo_project"
KINETIC_SOURCES = ("kedro_kinetic", "pyproject.toml", "README.md")
#: Where containers/image keeps its blob-info cache whatever the storage settings say.
CONTAINERS_PATHS = ("/var/lib/containers", "/run/containers")


def cache_root() -> Path:
    """Where built images are kept (``$KINETIC_IMAGE_CACHE`` or ~/.cache/kedro-kinetic/images)."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("KINETIC_IMAGE_CACHE") or default / "kedro-kinetic" / "images")


class ImageBuildError(RuntimeError):
    """An image could not be built; the message has the tool's output."""


@dataclass(frozen=True)
class BuiltImage:
    """An image in the cache, and the names a bench containerd imports it under.

    Attributes:
        repo: Repository name (``kinetic.local/...``).
        key: Hash of the inputs (also the image's tag).
        layout: The cached OCI layout.
        seconds: How long the build took (0 when it came from the cache).
        cached: Whether the cache already had it.
        aliases: Further names (``docker.io/library/python:3.11-slim`` for the base).
    """

    repo: str
    key: str
    layout: Layout
    seconds: float = 0.0
    cached: bool = True
    aliases: tuple[str, ...] = field(default=())

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the image manifest."""
        return self.layout.manifest_digest()

    @property
    def by_digest(self) -> str:
        """``repo@sha256:...``: how Pods reference it (``image_policy: require_digest``)."""
        return f"{self.repo}@{self.digest}"

    @property
    def by_tag(self) -> str:
        """``repo:<key>``."""
        return f"{self.repo}:{self.key}"

    @property
    def names(self) -> tuple[str, ...]:
        """Every name containerd should know the image by."""
        return (self.by_tag, self.by_digest, *self.aliases)


# --- helpers ---------------------------------------------------------------------------------


def _hash(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:16]


def _tree_hash(root: Path, paths: list[Path]) -> str:
    parts: list[bytes | str] = []
    for path in sorted(paths):
        parts += [path.relative_to(root).as_posix(), path.read_bytes()]
    return _hash(*parts)


def _files(root: Path, skip_dirs: set[str] = frozenset()) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and not p.name.endswith(".pyc")
            and not (set(p.relative_to(root).parts[:-1]) & skip_dirs)]


def _run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
         log: Path | None = None, timeout: float = 1800) -> str:
    """Run a build tool; on failure raise with the tail of its output."""
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    if log is not None:
        with open(log, "a") as handle:
            handle.write(f"\n$ {' '.join(argv)}\n{proc.stdout}")
    if proc.returncode != 0:
        raise ImageBuildError(f"{' '.join(argv[:3])} ... exited {proc.returncode}:\n"
                              f"{proc.stdout[-6000:]}")
    return proc.stdout


@contextmanager
def _locked(cache: Path, name: str) -> Iterator[None]:
    """Serialise builders of one image across processes (several pytest sessions)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".lock-{name}", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _progress(message: str) -> None:
    print(f"[bench images] {message}", file=sys.__stderr__, flush=True)


def _cached_or_build(repo: str, key: str, builder, aliases: tuple[str, ...] = ()) -> BuiltImage:
    cache = cache_root()
    short = repo.rsplit("/", 1)[-1]
    dest = cache / f"{short}-{key}"
    if is_complete(dest):
        return BuiltImage(repo, key, Layout(dest), aliases=aliases)
    with _locked(cache, short):
        if is_complete(dest):  # another process built it meanwhile
            return BuiltImage(repo, key, Layout(dest), aliases=aliases)
        start = time.monotonic()
        _progress(f"building {repo}:{key} ...")
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{short}-", dir=cache))
        try:
            builder(tmp, f"{repo}:{key}")
            finish_directory(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for old in cache.glob(f"{short}-*"):  # older builds of the same image
            if old != dest:
                shutil.rmtree(old, ignore_errors=True)
        seconds = time.monotonic() - start
        _progress(f"built {repo}:{key} in {seconds:.0f} s")
        return BuiltImage(repo, key, Layout(dest), seconds=seconds, cached=False,
                          aliases=aliases)


# --- base ------------------------------------------------------------------------------------


def base_key() -> str:
    """Hash of the base image's recipe and of this machine's CA certificates."""
    cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    return _hash(BASE_RECIPE, SUITE, *BASE_PACKAGES, *SOURCES, CUSTOMIZE, *DPKG_EXCLUDES,
                 *(p.read_bytes() for p in cas))


def _build_base(tmp: Path, _name: str) -> None:
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError("mmdebstrap is not installed (scripts/test.sh installs it)")
    rootfs = tmp / "rootfs.tar"
    argv = ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar",
            f"--include={','.join(BASE_PACKAGES)}", "--skip=output/dev",
            *(f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES),
            f"--customize-hook={CUSTOMIZE}", SUITE, str(rootfs), *SOURCES]
    _run(argv, env={**os.environ, "SOURCE_DATE_EPOCH": "0", "TMPDIR": str(tmp)},
         log=tmp.parent / f"{BASE_REPO.rsplit('/', 1)[-1]}.log")
    Layout(tmp).write_single_layer(rootfs, {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8"],
        "Cmd": ["python3"],
    })


def base_image() -> BuiltImage:
    """The Debian base image (built on first use)."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_VERSION:
        raise ImageBuildError(
            f"the real bench's base image has Debian {SUITE}'s Python {PYTHON_VERSION}; the "
            f"driver runs Python {sys.version.split()[0]}, and payloads pickled by one minor "
            "version do not load in another")
    return _cached_or_build(BASE_REPO, base_key(), _build_base,
                            aliases=(f"docker.io/library/python:{PYTHON_VERSION}-slim",))


# --- pause -----------------------------------------------------------------------------------


def _go_version() -> str:
    return _run(["go", "env", "GOVERSION"]).strip()


def pause_key() -> str:
    return _hash(PAUSE_RECIPE, _go_version(), _tree_hash(PAUSE_SOURCE, _files(PAUSE_SOURCE)))


def _build_pause(tmp: Path, _name: str) -> None:
    import tarfile

    binary = tmp / "pause"
    _run(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."],
         cwd=PAUSE_SOURCE, env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"})
    rootfs = tmp / "rootfs.tar"
    with tarfile.open(rootfs, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tar.gettarinfo(str(binary), arcname="pause")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755
        with open(binary, "rb") as handle:
            tar.addfile(info, handle)
    binary.unlink()
    Layout(tmp).write_single_layer(rootfs, {"Entrypoint": ["/pause"], "User": "65535:65535"})


def pause_image() -> BuiltImage:
    """The sandbox image of every pod (containerd's ``sandbox_image``)."""
    return _cached_or_build(PAUSE_REPO, pause_key(), _build_pause)


# --- demo ------------------------------------------------------------------------------------


def _demo_files() -> list[Path]:
    skip = {"data", "logs", ".viz", "kinetic", "notebooks"}
    return [p for p in _files(DEMO_SOURCE) if not set(p.relative_to(DEMO_SOURCE).parts) & skip]


def demo_key(base: BuiltImage) -> str:
    """Hash of the base image, demo_project, kedro_kinetic's sources and the pinned versions."""
    kinetic = [p for name in KINETIC_SOURCES for p in (
        _files(REPO_ROOT / name) if (REPO_ROOT / name).is_dir() else [REPO_ROOT / name])]
    pins = pinned_requirements(DEMO_SOURCE / "requirements.txt", ["kedro-kinetic"])
    return _hash(DEMO_RECIPE, base.key, sys.version.split()[0].rsplit(".", 1)[0], pins,
                 _tree_hash(DEMO_SOURCE, _demo_files()), _tree_hash(REPO_ROOT, kinetic))


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
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
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
                _run(["skopeo", "--policy", policy[1], "copy", "--quiet", f"oci:{base.layout.root}",
                      f"containers-storage:{base.by_tag}"], env=env, log=log)
                for alias in base.aliases:
                    _run(["buildah", "tag", base.by_tag, alias], env=env, log=log)
                _run(["buildah", "bud", *policy, "--layers", "--pull=never", "--network=host",
                      "--build-arg", f"KEDRO_KINETIC=./wheels/{wheel.name}",
                      "-f", "Dockerfile", "-t", name, str(project)], env=env, log=log,
                     timeout=3600)
                _run(["buildah", "push", *policy, "--quiet", "--format", "oci", name,
                      f"oci:{tmp}"], env=env, log=log)
                Layout(tmp).decompress_layers()
                for old in _run(["buildah", "images", "--noheading", "--format",
                                 "{{.Name}}:{{.Tag}}"], env=env).split():
                    if old.startswith(f"{DEMO_REPO}:") and old != name:
                        # older demo builds; their cached layers stay
                        _run(["buildah", "rmi", old], env=env, log=log)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return build


def demo_image(base: BuiltImage | None = None) -> BuiltImage:
    """demo_project's image (built on first use; only the last layers when kedro_kinetic changed)."""
    base = base or base_image()
    return _cached_or_build(DEMO_REPO, demo_key(base), _build_demo(base))


def all_images() -> dict[str, BuiltImage]:
    """Base, pause and demo images, building what is missing."""
    base = base_image()
    return {"base": base, "pause": pause_image(), "demo": demo_image(base)}


if __name__ == "__main__":
    for kind, image in all_images().items():
        state = "cached" if image.cached else f"built in {image.seconds:.0f} s"
        print(f"{kind:6} {image.by_digest} ({state}, {image.layout.size_bytes() >> 20} MiB)")
