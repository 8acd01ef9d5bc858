"""Put and get bytes by URI: a local folder (``file://``) or GCS (``gs://``).

Shared by the driver and the pod. Writes are atomic: a local object is written
to a temporary name and renamed; a GCS upload becomes visible only when it is
complete. ``google-cloud-storage`` is imported only when a ``gs://`` URI is
used, and honours ``STORAGE_EMULATOR_HOST`` (fake-gcs-server in tests).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse


class StoreError(Exception):
    """An object could not be read or written."""


class ObjectNotFound(StoreError):
    """The object does not exist."""


def join(base: str, *parts: str) -> str:
    """Join URI path segments with ``/``."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def to_uri(location: str, project_path: Path | None = None) -> str:
    """Turn a configured store location into a URI.

    ``gs://`` and ``file://`` pass through; a plain path is made absolute
    (relative to ``project_path`` when given).
    """
    if location.startswith(("gs://", "file://")):
        return location.rstrip("/")
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = (project_path or Path.cwd()) / path
    return path.resolve().as_uri()


def _local_path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def local_path(uri: str) -> Path | None:
    """The folder or file behind a ``file://`` URI; ``None`` for other schemes."""
    return _local_path(uri) if uri.startswith("file://") else None


class _LocalStore:
    def read(self, uri: str) -> bytes:
        try:
            return _local_path(uri).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"no object at {uri}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read {uri}: {exc}") from exc

    def write(self, uri: str, data: bytes) -> None:
        path = _local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_new(self, uri: str, data: bytes) -> None:
        if not self.exists(uri):
            self.write(uri, data)

    def exists(self, uri: str) -> bool:
        return _local_path(uri).is_file()

    def list(self, prefix: str) -> list[str]:
        root = _local_path(prefix)
        if not root.is_dir():
            return []
        return sorted(p.as_uri() for p in root.rglob("*") if p.is_file())

    def delete(self, uri: str) -> None:
        _local_path(uri).unlink(missing_ok=True)


class _GCSStore:
    def __init__(self) -> None:
        self._client: Any = None

    def _bucket_and_name(self, uri: str) -> tuple[Any, str]:
        parsed = urlparse(uri)
        if self._client is None:
            from google.cloud import storage

            if os.environ.get("STORAGE_EMULATOR_HOST"):
                from google.auth.credentials import AnonymousCredentials

                self._client = storage.Client(
                    project=os.environ.get("GOOGLE_CLOUD_PROJECT", "kinetic-test"),
                    credentials=AnonymousCredentials(),
                )
            else:
                self._client = storage.Client()
        return self._client.bucket(parsed.netloc), parsed.path.lstrip("/")

    def read(self, uri: str) -> bytes:
        from google.api_core import exceptions

        bucket, name = self._bucket_and_name(uri)
        try:
            return bucket.blob(name).download_as_bytes()
        except exceptions.NotFound as exc:
            raise ObjectNotFound(f"no object at {uri}") from exc
        except exceptions.GoogleAPIError as exc:
            raise StoreError(f"cannot read {uri}: {exc}") from exc

    def write(self, uri: str, data: bytes, **precondition: int) -> None:
        from google.api_core import exceptions

        from google.cloud.storage.retry import DEFAULT_RETRY

        bucket, name = self._bucket_and_name(uri)
        try:
            # objects are content-addressed or rewritten whole: retrying is idempotent
            bucket.blob(name).upload_from_string(data, retry=DEFAULT_RETRY, **precondition)
        except exceptions.PreconditionFailed:
            raise
        except exceptions.GoogleAPIError as exc:
            raise StoreError(f"cannot write {uri}: {exc}") from exc

    def write_new(self, uri: str, data: bytes) -> None:
        from google.api_core import exceptions

        try:
            # one request: create only if absent (a retried upload whose first try
            # landed meets 412, which means the same: the object is there)
            self.write(uri, data, if_generation_match=0)
        except exceptions.PreconditionFailed:
            pass

    def exists(self, uri: str) -> bool:
        bucket, name = self._bucket_and_name(uri)
        return bool(bucket.blob(name).exists())

    def list(self, prefix: str) -> list[str]:
        bucket, name = self._bucket_and_name(prefix)
        return sorted(
            f"gs://{bucket.name}/{blob.name}"
            for blob in bucket.client.list_blobs(bucket, prefix=name.rstrip("/") + "/")
        )

    def delete(self, uri: str) -> None:
        from google.api_core import exceptions

        bucket, name = self._bucket_and_name(uri)
        try:
            bucket.blob(name).delete()
        except exceptions.NotFound:
            pass


_STORES: dict[str, Any] = {}


def _store_for(uri: str) -> Any:
    scheme = urlparse(uri).scheme
    if scheme not in ("file", "gs"):
        raise StoreError(f"unsupported store URI {uri!r}: use a local path or gs://")
    if scheme not in _STORES:
        _STORES[scheme] = _LocalStore() if scheme == "file" else _GCSStore()
    return _STORES[scheme]


def read_bytes(uri: str) -> bytes:
    """Return the object's bytes.

    Raises:
        ObjectNotFound: No such object.
        StoreError: Any other failure.
    """
    return _store_for(uri).read(uri)


def write_bytes(uri: str, data: bytes) -> None:
    """Write the object atomically (complete or not at all)."""
    _store_for(uri).write(uri, data)


def write_new(uri: str, data: bytes) -> None:
    """Write the object unless one exists at ``uri`` (content-addressed objects).

    An object already there is left alone: its name is its digest, and readers
    verify the digest before using the bytes.
    """
    _store_for(uri).write_new(uri, data)


def exists(uri: str) -> bool:
    """Tell whether the object exists."""
    return _store_for(uri).exists(uri)


def list_objects(prefix: str) -> list[str]:
    """Return the URIs of all objects below ``prefix``."""
    return _store_for(prefix).list(prefix)


def delete(uri: str) -> None:
    """Delete the object if it exists."""
    _store_for(uri).delete(uri)
