"""A container registry on 127.0.0.1 for the benches: distribution's reference registry.

GKE nodes pull every image by digest from a registry; so does the real bench. The registry is
``github.com/distribution/distribution/v3/cmd/registry`` (built and cached by
``scripts/build-bench-binaries.sh``, version in ``bench/versions.env``), serving plain HTTP on a
free port of 127.0.0.1, with deletes enabled. Its storage is a folder: the real bench keeps it in
the image cache, so the images it pushed (tagged by their input hash) are there for the next
session; a test that only needs a registry gives it a temporary folder.

:class:`BenchRegistry` also writes to it directly through the distribution API (blobs,
manifests, tags), for what a test must arrange: another manifest under an existing tag, an
image whose labels claim another kedro-kinetic.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.bench.binaries import BUILD_SCRIPT, REPO_ROOT
from tests.bench.processes import ManagedProcess, StartupError, free_port

#: Every bench image lives under this path of the registry.
NAMESPACE = "kinetic"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def registry_binary() -> Path:
    """The cached registry binary (``scripts/build-bench-binaries.sh`` builds it).

    Raises:
        StartupError: Not built yet.
    """
    out = subprocess.run(["bash", str(BUILD_SCRIPT), "--print-paths"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=False).stdout
    paths = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    binary = Path(paths.get("registry", ""))
    if not binary.is_file():
        raise StartupError(f"the registry binary is not built ({binary}); run "
                           f"{BUILD_SCRIPT.relative_to(REPO_ROOT)}")
    return binary


class BenchRegistry:
    """distribution's registry serving ``storage`` on ``127.0.0.1:<free port>``.

    Args:
        binary: The registry program.
        storage: Its storage folder (created; kept).
        directory: Where its configuration and log go.
    """

    def __init__(self, binary: Path, storage: Path, directory: Path) -> None:
        self.storage = Path(storage)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        self.host = f"127.0.0.1:{free_port()}"
        config = self.directory / "registry.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n"
            f"http:\n  addr: {self.host}\n  secret: kinetic-bench\n")
        self.process = ManagedProcess("registry", [str(binary), "serve", str(config)],
                                      self.directory / "registry.log")
        #: Whether a manifest was deleted (its blobs wait for :meth:`garbage_collect`).
        self.deleted = False

    @property
    def prefix(self) -> str:
        """``127.0.0.1:<port>/kinetic/``: the repositories a bench project may pull from."""
        return f"{self.host}/{NAMESPACE}/"

    def repository(self, name: str) -> str:
        """``127.0.0.1:<port>/kinetic/<name>``."""
        return f"{self.prefix}{name}"

    def start(self, timeout: float = 60.0) -> float:
        """Start it and wait until ``/v2/`` answers; return the seconds that took."""
        self.process.start()
        return self.process.wait_until(
            lambda: urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).status == 200,
            timeout, "serving /v2/")

    def stop(self) -> None:
        self.process.stop(timeout=10)

    # --- the distribution API ------------------------------------------------------------

    def _request(self, method: str, path: str, data: bytes | None = None,
                 headers: dict[str, str] | None = None):
        url = path if path.startswith("http") else f"http://{self.host}{path}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        return urllib.request.urlopen(request, timeout=60)

    def digest(self, name: str, ref: str) -> str | None:
        """The manifest digest the registry serves for ``kinetic/<name>:<ref>``, or None."""
        from kedro_kinetic.cli.registry import Registry
        from kedro_kinetic.errors import BuildError

        try:
            return Registry(self.host).manifest(f"{NAMESPACE}/{name}", ref)[2]
        except BuildError as exc:
            if "404" in str(exc):
                return None
            raise

    def manifest(self, name: str, ref: str) -> tuple[bytes, str]:
        """The manifest bytes and media type of ``kinetic/<name>:<ref>``."""
        from kedro_kinetic.cli.registry import Registry

        body, media, _ = Registry(self.host).manifest(f"{NAMESPACE}/{name}", ref)
        return body, media

    def put_blob(self, name: str, data: bytes) -> str:
        """Upload ``data`` as a blob of ``kinetic/<name>``; return its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with self._request("POST", f"/v2/{NAMESPACE}/{name}/blobs/uploads/") as response:
            location = response.headers["Location"]
        separator = "&" if "?" in location else "?"
        with self._request("PUT", f"{location}{separator}digest={digest}", data,
                           {"Content-Type": "application/octet-stream"}):
            pass
        return digest

    def put_manifest(self, name: str, ref: str, data: bytes, media: str = OCI_MANIFEST) -> str:
        """Put a manifest under ``kinetic/<name>:<ref>``; return its digest."""
        with self._request("PUT", f"/v2/{NAMESPACE}/{name}/manifests/{ref}", data,
                           {"Content-Type": media}):
            pass
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def tag(self, name: str, digest: str, tag: str) -> None:
        """Give the manifest ``digest`` of ``kinetic/<name>`` the tag ``tag`` as well."""
        body, media = self.manifest(name, digest)
        self.put_manifest(name, tag, body, media)

    def tags(self, name: str) -> list[str]:
        """The tags of ``kinetic/<name>`` ([] when the repository does not exist)."""
        try:
            with self._request("GET", f"/v2/{NAMESPACE}/{name}/tags/list?n=1000") as response:
                return list(json.loads(response.read()).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise

    def delete_manifest(self, name: str, digest: str) -> None:
        """Delete the manifest ``digest`` of ``kinetic/<name>`` (and so its tags); its blobs go
        at the next :meth:`garbage_collect`."""
        try:
            with self._request("DELETE", f"/v2/{NAMESPACE}/{name}/manifests/{digest}"):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
        self.deleted = True

    def garbage_collect(self) -> None:
        """Remove blobs and manifests no tag reaches (the registry must be stopped)."""
        with open(self.process.log_path, "ab") as log:
            subprocess.run([self.process.argv[0], "garbage-collect", "--delete-untagged",
                            self.process.argv[-1]], stdout=log, stderr=subprocess.STDOUT,
                           timeout=600, check=False)

    def blob(self, name: str, digest: str) -> bytes:
        """The blob ``digest`` of ``kinetic/<name>``, checked against its digest."""
        with self._request("GET", f"/v2/{NAMESPACE}/{name}/blobs/{digest}") as response:
            data = response.read()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise AssertionError(f"blob {digest} of {name} does not match its digest")
        return data

    def derived_image(self, name: str, source: str, tag: str, *,
                      labels: dict[str, str] | None = None, layer: bytes | None = None,
                      env: list[str] = ()) -> str:
        """Push under ``tag`` a variant of the image ``source`` (a digest of ``kinetic/<name>``):
        its labels updated, one more layer (an uncompressed tar) and environment entries
        added. Returns the new manifest's digest."""
        body, media = self.manifest(name, source)
        manifest = json.loads(body)
        if media != OCI_MANIFEST:
            raise AssertionError(f"{name}@{source} is a {media}, not an OCI image manifest")
        config = json.loads(self.blob(name, manifest["config"]["digest"]))
        image_config = config.setdefault("config", {})
        if labels:
            image_config["Labels"] = {**(image_config.get("Labels") or {}), **labels}
        image_config["Env"] = [*(image_config.get("Env") or []), *env]
        if layer is not None:
            digest = self.put_blob(name, layer)
            manifest["layers"].append({"mediaType": OCI_LAYER, "digest": digest,
                                       "size": len(layer)})
            config["rootfs"]["diff_ids"].append(digest)  # uncompressed: the same digest
        config_bytes = json.dumps(config, sort_keys=True).encode()
        manifest["config"] = {"mediaType": OCI_CONFIG,
                              "digest": self.put_blob(name, config_bytes),
                              "size": len(config_bytes)}
        return self.put_manifest(name, tag, json.dumps(manifest, sort_keys=True).encode())


@contextmanager
def persistent_registry(directory: Path, binary: Path | None = None
                        ) -> Iterator[BenchRegistry]:
    """The registry on the storage kept in the image cache (``<cache>/registry``).

    One registry at a time serves that storage: a second session waits for the first to
    stop it (a lock file beside it).

    Args:
        directory: Where this registry's configuration and log go (the session's folder).
        binary: The registry program (default: the cached build).
    """
    from tests.bench.real.image_cache import cache_root, progress

    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock-registry", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress("waiting for another session's registry to stop ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        registry = BenchRegistry(binary or registry_binary(), cache / "registry", directory)
        try:
            registry.start()
            yield registry
        finally:
            registry.stop()
            if registry.deleted:  # old builds were dropped: free their layers
                registry.garbage_collect()
            fcntl.flock(lock, fcntl.LOCK_UN)
