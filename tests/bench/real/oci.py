"""OCI image layouts on disk, written without Docker or a registry.

The real bench keeps every image it builds as an OCI image layout directory in a cache
(``oci-layout``, ``index.json``, ``blobs/sha256/...``): buildah pushes its result there
(``oci:DIR``), and the base and pause images are assembled here from a single root-filesystem
tar. Layers stay uncompressed: they are only ever read on this machine, and gzip on two cores
costs more than the bytes it saves.

When a session's containerd imports an image, :func:`write_import_archive` streams the layout
as an OCI archive whose ``index.json`` carries the names the image must have, among them the
``repo@sha256:<manifest digest>`` name that a Pod uses when it pins the image by digest. The
CRI plugin resolves a digest reference only through such an image record (a registry pull
creates one; ``ctr import`` of a tag alone does not).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
#: The annotation ``ctr images import`` reads an image's name from.
CONTAINERD_NAME = "io.containerd.image.name"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    """One OCI image layout directory holding a single image.

    Args:
        root: The directory (created when missing).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"

    # --- writing ---------------------------------------------------------------------------

    def _add_bytes(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        self.blobs.mkdir(parents=True, exist_ok=True)
        (self.blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    def _add_file(self, path: Path, media_type: str) -> dict[str, Any]:
        """Move ``path`` into the blob store (it is consumed)."""
        digest = sha256_file(path)
        self.blobs.mkdir(parents=True, exist_ok=True)
        target = self.blobs / digest
        size = path.stat().st_size
        shutil.move(str(path), target)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": size}

    def write_single_layer(self, rootfs_tar: Path, config: Mapping[str, Any]) -> str:
        """Make the layout an image of one uncompressed layer; return the manifest digest.

        Args:
            rootfs_tar: A tar of the whole root filesystem (moved into the layout).
            config: The image's runtime ``config`` (Env, Cmd, User, WorkingDir, ...).
        """
        layer = self._add_file(rootfs_tar, MEDIA_LAYER)
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": dict(config),
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
            "history": [{"created": "1970-01-01T00:00:00Z",
                         "created_by": "kedro-kinetic real bench (tests/bench/real/images.py)"}],
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": self._add_bytes(_json_bytes(image_config), MEDIA_CONFIG),
            "layers": [layer],
        }
        descriptor = self._add_bytes(_json_bytes(manifest), MEDIA_MANIFEST)
        (self.root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        (self.root / "index.json").write_bytes(
            _json_bytes({"schemaVersion": 2, "manifests": [descriptor]}))
        return descriptor["digest"]

    def decompress_layers(self) -> str:
        """Rewrite gzip layers as plain tar blobs; return the new manifest digest.

        buildah pushes gzip layers whatever it is told; uncompressed ones import faster, and
        the demo image's first layer then *is* the base image's layer blob (same digest), so
        containerd stores and unpacks it once for both images.
        """
        import gzip

        manifest = json.loads(self._read_blob(self.manifest_digest()))
        old_blobs = []
        for layer in manifest["layers"]:
            if not layer["mediaType"].endswith("+gzip"):
                continue
            source = self.blobs / layer["digest"].removeprefix("sha256:")
            target = self.blobs / ".decompressing"
            digest = hashlib.sha256()
            with gzip.open(source, "rb") as src, open(target, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
            size = target.stat().st_size
            os.replace(target, self.blobs / digest.hexdigest())
            old_blobs.append(source)
            layer.update(mediaType=MEDIA_LAYER, digest=f"sha256:{digest.hexdigest()}", size=size)
        old_blobs.append(self.blobs / self.manifest_digest().removeprefix("sha256:"))
        descriptor = self._add_bytes(_json_bytes(manifest), MEDIA_MANIFEST)
        (self.root / "index.json").write_bytes(
            _json_bytes({"schemaVersion": 2, "manifests": [descriptor]}))
        for path in old_blobs:
            path.unlink(missing_ok=True)
        return descriptor["digest"]

    # --- reading ---------------------------------------------------------------------------

    def manifest_descriptor(self) -> dict[str, Any]:
        """The descriptor of the layout's only image manifest."""
        index = json.loads((self.root / "index.json").read_text())
        manifests = [m for m in index.get("manifests", [])
                     if m.get("mediaType", MEDIA_MANIFEST) == MEDIA_MANIFEST]
        if len(manifests) != 1:
            raise ValueError(f"{self.root} holds {len(manifests)} image manifests, not one")
        return manifests[0]

    def manifest_digest(self) -> str:
        """``sha256:<hex>`` of the image manifest: what a Pod pins as ``image@<digest>``."""
        return self.manifest_descriptor()["digest"]

    def config_digest(self) -> str:
        """``sha256:<hex>`` of the image configuration (the image id of most tools)."""
        return json.loads(self._read_blob(self.manifest_digest()))["config"]["digest"]

    def config(self) -> dict[str, Any]:
        """The image configuration (``config.User``, ``config.Env``, ...)."""
        return json.loads(self._read_blob(self.config_digest()))

    def _read_blob(self, digest: str) -> bytes:
        return (self.blobs / digest.removeprefix("sha256:")).read_bytes()

    def blob_paths(self) -> Iterable[Path]:
        """Every blob file of the layout."""
        return sorted(self.blobs.iterdir())

    def size_bytes(self) -> int:
        """Total size of the blobs."""
        return sum(p.stat().st_size for p in self.blob_paths())


def write_import_archive(layout: Layout, names: Iterable[str], out: IO[bytes],
                         present: frozenset[str] = frozenset()) -> None:
    """Stream ``layout`` as an OCI archive to ``out``, naming the image once per name.

    ``ctr images import`` creates one image record per ``index.json`` entry, named by its
    ``io.containerd.image.name`` annotation; every entry points at the same manifest. Blobs
    whose ``sha256:<hex>`` is in ``present`` (already in containerd's content store, e.g. the
    base layer shared with the demo image) are left out of the stream.
    """
    descriptor = layout.manifest_descriptor()
    entries = []
    for name in names:
        entry = {k: v for k, v in descriptor.items() if k != "annotations"}
        entry["annotations"] = {CONTAINERD_NAME: name}
        entries.append(entry)
    index = _json_bytes({"schemaVersion": 2, "manifests": entries})
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("index.json", index)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for path in layout.blob_paths():
            if f"sha256:{path.name}" in present:
                continue
            info = tarfile.TarInfo(f"blobs/sha256/{path.name}")
            info.size = path.stat().st_size
            with open(path, "rb") as handle:
                tar.addfile(info, handle)


def finish_directory(tmp: Path, dest: Path) -> None:
    """Move a completed build directory into place (replacing an older one) atomically."""
    (tmp / ".complete").write_text("ok\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


def is_complete(path: Path) -> bool:
    """Whether a cache directory was moved into place by :func:`finish_directory`."""
    return (path / ".complete").is_file()
