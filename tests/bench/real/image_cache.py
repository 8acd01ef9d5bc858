"""The cache every real-bench image lives in: OCI layouts keyed by a hash of their inputs.

``$KINETIC_IMAGE_CACHE`` (default ``~/.cache/kedro-kinetic/images``) holds one OCI layout per
image and key, ``<image>-<key>/``, moved into place only once complete, so a warm machine builds
nothing and an interrupted build is redone. Builders of one image are serialised across
processes (several pytest sessions, several worktrees); the three most recently used keys of an
image are kept, so checkouts that differ (each hashes its own kedro_kinetic) do not evict each
other's image on every run.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench.real.oci import Layout, finish_directory, is_complete

#: How many keys of one image the cache keeps (most recently used first).
KEEP = 3


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


def digest_of(*parts: bytes | str) -> str:
    """A short hex digest of ``parts`` (length-prefixed, so no two lists collide)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:16]


def tree_digest(root: Path, paths: list[Path]) -> str:
    """Digest of files: their paths relative to ``root`` and their bytes."""
    parts: list[bytes | str] = []
    for path in sorted(paths):
        parts += [path.relative_to(root).as_posix(), path.read_bytes()]
    return digest_of(*parts)


def source_files(root: Path, skip_dirs: set[str] = frozenset()) -> list[Path]:
    """Files below ``root``, without Python caches or the ``skip_dirs`` folders."""
    return [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and not p.name.endswith(".pyc")
            and not (set(p.relative_to(root).parts[:-1]) & skip_dirs)]


def run_tool(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
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
def locked(cache: Path, name: str) -> Iterator[None]:
    """Serialise builders of one image across processes (several pytest sessions)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".lock-{name}", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def progress(message: str) -> None:
    print(f"[bench images] {message}", file=sys.__stderr__, flush=True)


def cached_or_build(repo: str, key: str, builder: Callable[[Path, str], None],
                    aliases: tuple[str, ...] = ()) -> BuiltImage:
    """The cached image ``repo:key``, built by ``builder(folder, name)`` when missing.

    ``builder`` writes an OCI layout into the (temporary) folder it is given.
    """
    cache = cache_root()
    short = repo.rsplit("/", 1)[-1]
    dest = cache / f"{short}-{key}"
    if is_complete(dest):
        os.utime(dest)  # recently used: kept by _prune
        return BuiltImage(repo, key, Layout(dest), aliases=aliases)
    with locked(cache, short):
        if is_complete(dest):  # another process built it meanwhile
            return BuiltImage(repo, key, Layout(dest), aliases=aliases)
        start = time.monotonic()
        progress(f"building {repo}:{key} ...")
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{short}-", dir=cache))
        try:
            builder(tmp, f"{repo}:{key}")
            finish_directory(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(cache, short)
        seconds = time.monotonic() - start
        progress(f"built {repo}:{key} in {seconds:.0f} s")
        return BuiltImage(repo, key, Layout(dest), seconds=seconds, cached=False,
                          aliases=aliases)


def _prune(cache: Path, short: str) -> None:
    """Keep the :data:`KEEP` most recently used keys of one image (called under its lock)."""
    builds = sorted((p for p in cache.glob(f"{short}-*") if p.is_dir()),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
