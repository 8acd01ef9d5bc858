"""Datasets as the driver sees them: somewhere else, pinned by digest.

The driver never holds intermediate data. Hooks receive :class:`RemoteData`
placeholders; free outputs are returned as :class:`PinnedPickleDataset`,
which fetches and checks the digest reported by the producing pod only when
the caller explicitly loads it.
"""

from __future__ import annotations

import pickle
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from kedro_kinetic import store
from kedro_kinetic.errors import StoreObjectError
from kedro_kinetic.wire.digest import VerificationError, verify


class RemoteData:
    """Stands for a dataset's value that lives in a pod or the store."""

    def __init__(self, name: str, location: str | None = None, sha256: str | None = None):
        self.name = name
        self.location = location
        self.sha256 = sha256

    def __repr__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"<RemoteData {self.name}{where}>"


class PinnedPickleDataset(AbstractDataset[None, Any]):
    """A free output stored by its producing pod, loaded only after its digest matches."""

    def __init__(self, uri: str, sha256: str, size: int | None = None):
        self._uri = uri
        self._sha256 = sha256
        self._size = size

    def load(self) -> Any:
        """Fetch (no further than the reported size), verify against the producer's
        reported digest, then unpickle."""
        what = f"free output {self._uri}"
        try:
            data = store.read_bytes(self._uri, self._size)
        except StoreObjectError as exc:  # larger than the producer reported: replaced
            raise VerificationError(f"{what}: {exc}") from None
        verify(data, self._sha256, what)
        return pickle.loads(data)  # noqa: S301 - verified against its pin

    def save(self, data: None) -> None:
        raise DatasetError("a free output of a GKERunner run is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"uri": self._uri, "sha256": self._sha256}


class RefusedFreeOutput(AbstractDataset[None, Any]):
    """A free output whose loading would run code chosen by whoever wrote its files, and
    that cannot be pinned (partitions of pickles, ...): ``.load()`` is refused unless
    settings.py trusts it (``KINETIC_TRUSTED_DATA``)."""

    def __init__(self, name: str, described: dict[str, Any]):
        self._name = name
        self._described = described

    def load(self) -> Any:
        raise VerificationError(
            f"free output '{self._name}' loads a code-executing format (a pickle) from files "
            "kedro-kinetic cannot pin (several files, or not one fsspec file), and the store "
            "or data folder they live in is not trusted; refusing to load it. If only your "
            f"pipeline writes it, trust it in code: settings.py KINETIC_TRUSTED_DATA = "
            f"['{self._name}']")

    def save(self, data: None) -> None:
        raise DatasetError("a free output of a GKERunner run is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"refused": self._name, **self._described}


def placeholders(entries: dict[str, dict[str, Any]], digests: dict[str, str]) -> dict[str, Any]:
    """What hooks see for a node's datasets: parameter values, or remote placeholders."""
    out: dict[str, Any] = {}
    for name, entry in entries.items():
        if entry["kind"] == "param":
            out[name] = entry["value"]
        else:
            out[name] = RemoteData(name, entry.get("uri"), digests.get(name))
    return out
