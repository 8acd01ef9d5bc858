"""Put and get bytes by URI: a local folder (``file://``) or GCS (``gs://``).

Shared by the driver and the pod. Writes are atomic: a local object is written
to a temporary name and renamed (:mod:`kedro_kinetic.store.local`, which never
follows a link); a GCS upload becomes visible only when it is complete.
``google-cloud-storage`` is imported only when a ``gs://`` URI is used, and
honours ``STORAGE_EMULATOR_HOST`` (fake-gcs-server in tests).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from kedro_kinetic.errors import ObjectNotFound, StoreError, StoreObjectError
from kedro_kinetic.store.local import LocalStore, within
from kedro_kinetic.store.local import path_of as _local_path

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


def local_path(uri: str) -> Path | None:
    """The folder or file behind a ``file://`` URI; ``None`` for other schemes."""
    return _local_path(uri) if uri.startswith("file://") else None


#: Names per page of a listing (GCS's own default), and the pages one listing for given
#: ``names`` reads at most: the doorbells of the Jobs still running come first, and a flood
#: of names planted after them is not read on.
LISTING_PAGE_SIZE = 1000
NAMED_LISTING_PAGES = 10


class _GCSStore:
    def __init__(self) -> None:
        self._client: Any = None

    def _bucket_and_name(self, uri: str) -> tuple[Any, str]:
        parsed = urlparse(uri)
        if self._client is None:
            from kedro_kinetic.store.gcs_client import client_for

            self._client = client_for(uri)
        return self._client.bucket(parsed.netloc), parsed.path.lstrip("/")

    def read(self, uri: str, max_bytes: int | None = None) -> bytes:
        from google.api_core import exceptions
        from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
        from requests import RequestException

        bucket, name = self._bucket_and_name(uri)
        try:  # with a bound, one byte more than it: enough to tell an object too large;
            # raw: the stored bytes, never decoded by a Content-Encoding a writer planted
            # (a gzip bomb would grow past any bound; garbage raised from requests)
            data = bytes(bucket.blob(name).download_as_bytes(
                raw_download=True,
                **({} if max_bytes is None else {"start": 0, "end": max_bytes})))
        except exceptions.NotFound as exc:
            raise ObjectNotFound(f"no object at {uri}") from exc
        except exceptions.RequestRangeNotSatisfiable:
            return b""  # a ranged read of an empty object
        except exceptions.BadRequest as exc:  # e.g. an object planted with its own key
            raise StoreObjectError(f"cannot read {uri}: {exc}") from exc
        except exceptions.GoogleAPIError as exc:
            raise StoreError(f"cannot read {uri}: {exc}") from exc
        except (DataCorruption, InvalidResponse) as exc:  # checksums, a malformed response
            raise StoreObjectError(f"cannot read {uri}: {type(exc).__name__}: {exc}") from exc
        except RequestException as exc:  # the network, once the client's retries are spent
            raise StoreError(f"cannot read {uri}: {type(exc).__name__}: {exc}") from exc
        return within(uri, data, max_bytes)

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
            with contextlib.suppress(StoreError, StoreObjectError):
                if self.read(uri, max_bytes=len(data)) == data:
                    return
            self.write(uri, data)  # other bytes under this name (planted): replaced

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
                                         page_size=LISTING_PAGE_SIZE,
                                         fields="items(name,generation),nextPageToken")
        found = {}
        for number, page in enumerate(blobs.pages):  # the listing's JSON as is: results
            if names and number >= NAMED_LISTING_PAGES:  # names a store writer planted
                break  # after the first ones: those Jobs are settled by their own end
            for item in page.raw_page.get("items", ()):  # first lists often; a Blob: ~50 us
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    found[f"gs://{bucket.name}/{item['name']}"] = str(item.get("generation"))
        return found

    def fingerprint(self, uri: str) -> str | None:
        """A SHA-256 over the generation of the object at ``uri`` or of every object below
        it (a generation changes whenever an object is written: nothing is downloaded)."""
        import hashlib

        bucket, name = self._bucket_and_name(uri)
        blob = bucket.get_blob(name)
        found = ({uri: str(blob.generation)} if blob is not None
                 else self.versions(uri.rstrip("/")))
        if not found:
            return None
        text = "\n".join(f"{k}\0{v}" for k, v in sorted(found.items()))
        return hashlib.sha256(text.encode()).hexdigest()

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
        _STORES[scheme] = LocalStore() if scheme == "file" else _GCSStore()
    return _STORES[scheme]


def read_bytes(uri: str, max_bytes: int | None = None) -> bytes:
    """Return the object's bytes.

    Args:
        uri: The object.
        max_bytes: Refuse an object larger than this (it is never read whole).

    Raises:
        ObjectNotFound: No such object.
        StoreObjectError: The object is larger than ``max_bytes``.
        StoreError: Any other failure.
    """
    return _store_for(uri).read(uri, max_bytes)


def write_bytes(uri: str, data: bytes) -> None:
    """Write the object atomically (complete or not at all)."""
    _store_for(uri).write(uri, data)


def write_new(uri: str, data: bytes) -> None:
    """Write the object unless the same bytes are at ``uri`` (content-addressed objects).

    Readers verify the digest before using the bytes, so other bytes under the name
    (planted in the store) could never be used; they are replaced, so that a run can
    still be resumed.
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


def fingerprint(uri: str) -> str | None:
    """A SHA-256 standing for what is at ``uri`` now (a file or folder's bytes, read without
    following links; a GCS object's or prefix's generations), ``None`` if nothing is there.

    Raises:
        StoreError: The store could not be read.
    """
    if uri.startswith("file://"):
        from kedro_kinetic.store.local import fingerprint as local_fingerprint

        return local_fingerprint(uri)
    store = _store_for(uri)
    return store.fingerprint(uri) if hasattr(store, "fingerprint") else None


def delete(uri: str) -> None:
    """Delete the object if it exists."""
    _store_for(uri).delete(uri)


def delete_tree(uri: str) -> None:
    """Delete every object below ``uri`` (a local folder: the folder itself too)."""
    _store_for(uri).delete_tree(uri)
