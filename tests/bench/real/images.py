"""The real bench's images, built on this machine and cached by input hash.

* **base** — Debian bookworm (minbase + python3, pip, venv, ca-certificates) made by
  ``mmdebstrap``, one uncompressed layer. It is named ``docker.io/library/python:3.11-slim`` too,
  so the unchanged ``FROM python:3.11-slim`` of the generated Dockerfile builds on it. Its user
  is root, which is what the ``runAsNonRoot`` test needs. Pushed to the bench's registry too
  (tagged with its key), where pods pull it from.
* **pause** — the pod sandbox: the static Go program in ``pause/``, alone in its image; the one
  image containerd gets imported (a GKE node has its sandbox image before any pod too).
* **demo** — demo_project's image, built and pushed by ``kedro kinetic build --builder buildah
  --push`` from the Dockerfile that the real ``kedro kinetic init`` writes, unchanged
  (:mod:`tests.bench.real.demo_image`). Pods pull it from the registry by digest.

Base and pause live in the cache of :mod:`tests.bench.real.image_cache` (OCI layouts keyed by a
hash of their inputs); the registry's storage is kept too, so a warm machine builds and pushes
nothing.

Run ``python -m tests.bench.real.images`` to build (or check) all three outside pytest.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from tests.bench.real.demo_image import PushedImage, demo_image, push_base
from tests.bench.real.image_cache import (
    BuiltImage,
    ImageBuildError,
    cached_or_build,
    digest_of,
    run_tool,
    source_files,
    tree_digest,
)
from tests.bench.real.oci import Layout

if TYPE_CHECKING:
    from tests.bench.real.registry import BenchRegistry

__all__ = ["REPOSITORY_PREFIX", "BuiltImage", "ImageBuildError", "PushedImage", "all_images",
           "base_image", "pause_image"]

#: Bump when a recipe below changes in a way its hashed inputs do not show.
BASE_RECIPE, PAUSE_RECIPE = "1", "1"
#: The images built here are named under this prefix (those the pods pull are in the
#: registry, under :attr:`tests.bench.real.registry.BenchRegistry.prefix`).
REPOSITORY_PREFIX = "kinetic.local/"
BASE_REPO = "kinetic.local/bench-base"
PAUSE_REPO = "kinetic.local/pause"
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


# --- base ------------------------------------------------------------------------------------


def base_key() -> str:
    """Hash of the base image's recipe and of this machine's CA certificates."""
    cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    return digest_of(BASE_RECIPE, SUITE, *BASE_PACKAGES, *SOURCES, CUSTOMIZE, *DPKG_EXCLUDES,
                 *(p.read_bytes() for p in cas))


def _build_base(tmp: Path, _name: str) -> None:
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError("mmdebstrap is not installed (scripts/test.sh installs it)")
    rootfs = tmp / "rootfs.tar"
    argv = ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar",
            f"--include={','.join(BASE_PACKAGES)}", "--skip=output/dev",
            *(f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES),
            f"--customize-hook={CUSTOMIZE}", SUITE, str(rootfs), *SOURCES]
    run_tool(argv, env={**os.environ, "SOURCE_DATE_EPOCH": "0", "TMPDIR": str(tmp)},
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
    return cached_or_build(BASE_REPO, base_key(), _build_base,
                            aliases=(f"docker.io/library/python:{PYTHON_VERSION}-slim",))


# --- pause -----------------------------------------------------------------------------------


def _go_version() -> str:
    return run_tool(["go", "env", "GOVERSION"]).strip()


def pause_key() -> str:
    return digest_of(PAUSE_RECIPE, _go_version(),
                     tree_digest(PAUSE_SOURCE, source_files(PAUSE_SOURCE)))


def _build_pause(tmp: Path, _name: str) -> None:
    binary = tmp / "pause"
    run_tool(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), "."],
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
    return cached_or_build(PAUSE_REPO, pause_key(), _build_pause)


def all_images(registry: BenchRegistry) -> dict[str, BuiltImage | PushedImage]:
    """Pause (imported by containerd), base and demo (in ``registry``), building and pushing
    what is missing."""
    base = base_image()
    return {"pause": pause_image(), "base": push_base(base, registry),
            "demo": demo_image(base, registry)}


if __name__ == "__main__":
    import tempfile

    from tests.bench.real.registry import persistent_registry

    with persistent_registry(Path(tempfile.mkdtemp(prefix="kinetic-registry-"))) as reg:
        for kind, image in all_images(reg).items():
            state = "cached" if image.cached else f"built in {image.seconds:.0f} s"
            print(f"{kind:6} {image.by_digest} ({state})")
