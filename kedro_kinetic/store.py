"""Put and get bytes by URI: a local folder (``file://``) or GCS (``gs://``).

Shared by the driver and the pod. Writes are atomic: a local object is written
to a temporary name and renamed; a GCS upload becomes visible only when it is
complete. ``google-cloud-storage`` is imported only when a ``gs://`` URI is
used, and honours ``STORAGE_EMULATOR_HOST`` (fake-gcs-server in tests).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from kedro_kinetic.errors import ObjectNotFound, StoreError

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = [
    "ObjectNotFound", "StoreError", "delete", "delete_tree", "exists", "join",
    "list_objects", "list_versions", "local_path", "read_bytes", "to_uri", "write_bytes",
    "write_new",
]


def join(base: str, *parts: str) -> str:
    """Join URI path segments with ``/``."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def to_uri(location: str, project_path: Path | None = None) -> str:
    """Turn a configured store location into a URI.

    ``gs://`` passes through; a ``file://`` URI or a plain path is made absolute
    (relative to ``project_path`` when given) with every symlink resolved, so
    that the local store can refuse any symlink below it later.
    """
    if location.startswith("gs://"):
        return location.rstrip("/")
    path = _local_path(location) if location.startswith("file://") else Path(location)
    path = path.expanduser()
    if not path.is_absolute():
        path = (project_path or Path.cwd()) / path
    return path.resolve().as_uri()


def _local_path(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def local_path(uri: str) -> Path | None:
    """The folder or file behind a ``file://`` URI; ``None`` for other schemes."""
    return _local_path(uri) if uri.startswith("file://") else None


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class _LocalStore:
    """A folder of objects that never follows a symlink or ``..``.

    The store is writable by others than the run (that is the threat model), so
    every path is walked one component at a time from ``/`` with ``O_NOFOLLOW``:
    a planted symlink (to a file or folder outside the store) or FIFO is refused
    instead of being read, truncated or appended to. Store roots are resolved
    when configured (:func:`to_uri`), so a legitimately symlinked data folder
    still works.
    """

    @staticmethod
    def _split(uri: str) -> tuple[list[str], str]:
        path = _local_path(uri)
        parts = list(path.parts[1:]) if path.is_absolute() else []
        if not parts or any(part in ("..", ".") for part in parts):
            raise StoreError(f"refusing store path {uri!r}: it must be absolute, without '..'")
        return parts[:-1], parts[-1]

    @staticmethod
    def _open_dir(uri: str, parts: list[str], create: bool) -> int:
        fd = os.open("/", _DIR_FLAGS)
        try:
            for part in parts:
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise ObjectNotFound(f"no object at {uri}") from None
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o777, dir_fd=fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
        except (ObjectNotFound, StoreError):
            os.close(fd)
            raise
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise StoreError(f"refusing {uri}: a component of its path is a symlink or "
                                 "not a folder (the local store never follows links)") from None
            raise StoreError(f"cannot open the folder of {uri}: {exc}") from exc
        return fd

    def read(self, uri: str) -> bytes:
        parents, name = self._split(uri)
        folder = self._open_dir(uri, parents, create=False)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"no object at {uri}") from exc
        except OSError as exc:
            raise StoreError(f"cannot read {uri}: {exc.strerror} (a symlink is refused)") from exc
        finally:
            os.close(folder)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise StoreError(f"refusing {uri}: not a regular file")
            os.set_blocking(handle.fileno(), True)
            return handle.read()

    def write(self, uri: str, data: bytes) -> None:
        parents, name = self._split(uri)
        folder = self._open_dir(uri, parents, create=True)
        tmp = f".{name}.{secrets.token_hex(6)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                         dir_fd=folder)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=folder)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write {uri}: {exc}") from exc
        finally:
            os.close(folder)

    def write_new(self, uri: str, data: bytes) -> None:
        if not self.exists(uri):
            self.write(uri, data)

    def exists(self, uri: str) -> bool:
        parents, name = self._split(uri)
        try:
            folder = self._open_dir(uri, parents, create=False)
        except StoreError:
            return False
        try:
            return stat.S_ISREG(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
        except OSError:
            return False
        finally:
            os.close(folder)

    def list(self, prefix: str) -> list[str]:
        return sorted(self.versions(prefix))

    def versions(self, prefix: str, names: Collection[str] | None = None) -> dict[str, str]:
        parents, name = self._split(prefix.rstrip("/"))
        try:
            folder = self._open_dir(prefix, [*parents, name], create=False)
        except StoreError:
            return {}
        root = _local_path(prefix.rstrip("/"))
        found = {}
        try:  # given names: a stat each, right below the prefix; else the whole tree
            tree = ([(".", [n for n in names if "/" not in n], folder)] if names is not None
                    else ((top, files, fd) for top, _dirs, files, fd
                          in os.fwalk(".", dir_fd=folder)))
            for top, files, top_fd in tree:
                for file in files:
                    if file.startswith("."):
                        continue  # a write in progress
                    try:
                        info = os.stat(file, dir_fd=top_fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(info.st_mode):
                        # a write replaces the file (a new inode), so this changes with it
                        found[(root / top / file).as_uri()] = (
                            f"{info.st_ino}:{info.st_mtime_ns}:{info.st_size}")
        finally:
            os.close(folder)
        return found

    def delete(self, uri: str) -> None:
        parents, name = self._split(uri)
        try:
            folder = self._open_dir(uri, parents, create=False)
        except ObjectNotFound:
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder)
        finally:
            os.close(folder)

    def delete_tree(self, uri: str) -> None:
        import shutil

        parents, name = self._split(uri.rstrip("/"))
        try:
            folder = self._open_dir(uri, parents, create=False)
        except ObjectNotFound:
            return
        try:
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(name, dir_fd=folder)  # fd-based: never leaves the folder
            else:
                os.unlink(name, dir_fd=folder)  # a planted link or file: remove it only
        except FileNotFoundError:
            pass
        finally:
            os.close(folder)


class _GCSStore:
    def __init__(self) -> None:
        self._client: Any = None

    def _bucket_and_name(self, uri: str) -> tuple[Any, str]:
        parsed = urlparse(uri)
        if self._client is None:
            from kedro_kinetic.gcs_client import client_for

            self._client = client_for(uri)
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
        return sorted(self.versions(prefix))

    def versions(self, prefix: str, names: Collection[str] | None = None) -> dict[str, str]:
        bucket, name = self._bucket_and_name(prefix)
        base = name.rstrip("/") + "/"  # names given: one listing from the first on
        blobs = bucket.client.list_blobs(bucket, prefix=base,
                                         start_offset=base + min(names) if names else None,
                                         fields="items(name,generation),nextPageToken")
        found = {}
        for page in blobs.pages:  # the listing's JSON as is: results first lists often,
            for item in page.raw_page.get("items", ()):  # a Blob per item cost ~50 us
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    found[f"gs://{bucket.name}/{item['name']}"] = str(item.get("generation"))
        return found

    def delete_tree(self, uri: str) -> None:
        for name in self.list(uri):
            self.delete(name)

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


def list_versions(prefix: str, names: Collection[str] | None = None) -> dict[str, str]:
    """``{uri: version}`` of every object below ``prefix`` in one listing.

    The version (a GCS generation, or a local file's inode, time and size)
    changes whenever the object is written again. ``names`` (objects right
    below ``prefix``) narrows a local folder to a stat of each, and a GCS
    listing (still one request) to the names from the first of them on (in
    name order), so the result may hold more.
    """
    return _store_for(prefix).versions(prefix, names)


def delete(uri: str) -> None:
    """Delete the object if it exists."""
    _store_for(uri).delete(uri)


def delete_tree(uri: str) -> None:
    """Delete every object below ``uri`` (a local folder: the folder itself too)."""
    _store_for(uri).delete_tree(uri)
