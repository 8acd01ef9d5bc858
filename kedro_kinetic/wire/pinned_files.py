"""Pin the bytes of catalog datasets whose loading can execute code (pickles).

A ``pickle.PickleDataset`` (any backend: pickle, joblib, dill, cloudpickle,
compress_pickle) runs code chosen by whoever wrote its file. Its file lives in
the store or a bucket a store writer can replace, so it gets the same rule as
an intermediate: the producing pod reports the SHA-256 of the exact bytes it
wrote (its result is sealed), the driver pins that digest into the consumer's
spec, and the consumer reads the file **once**, verifies the bytes, and
unpickles from the verified copy (never a second read of the remote object).

This works by wrapping the dataset's fsspec filesystem (``_fs``): writes are
hashed as they stream out, reads are fetched whole and verified. An input that
no node of the run produced must be pinned by the project (settings.py
``KINETIC_PINNED_DATA``) or trusted explicitly (``KINETIC_TRUSTED_DATA``).

Shared by the pod (load/save) and the driver (free outputs); standard library
and the dataset objects only.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from typing import Any

from kedro_kinetic.errors import CatalogSpecError, VerificationError
from kedro_kinetic.wire.digest import verify

#: Dataset classes whose load can execute code chosen by the file's writer.
CODE_LOADING = frozenset({
    "kedro_datasets.pickle.PickleDataset",
    "kedro_datasets.pickle.pickle_dataset.PickleDataset",
    "kedro_datasets.redis.PickleDataset",
    "kedro_datasets.redis.redis_dataset.PickleDataset",
    "kedro_datasets.pandas.GenericDataset",
    "kedro_datasets.pandas.HDFDataset",
    "kedro_datasets.tensorflow.TensorFlowModelDataset",
})
#: Wrappers that hold one dataset (``dataset:``) and load through it.
WRAPPERS = frozenset({"kedro.io.CachedDataset"})
#: Wrappers of many files: their partitions cannot be pinned one by one.
MULTI = frozenset({"kedro_datasets.partitions.PartitionedDataset",
                   "kedro_datasets.partitions.IncrementalDataset"})


def loads_code(config: Any) -> bool:
    """Whether a (checked, canonical) catalog config loads a code-executing format, itself
    or through any config it holds: ``dataset`` (wrappers, partitions) and ``checkpoint``
    (``IncrementalDataset`` loads its checkpoint with the class it names)."""
    if not isinstance(config, Mapping):
        return False
    if config.get("type") in CODE_LOADING:
        return True
    nested = config.get("dataset")
    if isinstance(nested, str) and nested in CODE_LOADING:
        return True
    return loads_code(nested) or loads_code(config.get("checkpoint"))


def pinnable(config: Mapping[str, Any]) -> bool:
    """Whether the code-executing file of ``config`` can be pinned (one fsspec file)."""
    if config.get("type") in WRAPPERS:
        nested = config.get("dataset")
        return isinstance(nested, Mapping) and pinnable(nested)
    return config.get("type") == "kedro_datasets.pickle.PickleDataset"


def _inner(dataset: Any, name: str) -> Any:
    """The dataset object that reads and writes the file (through cache wrappers)."""
    while hasattr(dataset, "_dataset") and not hasattr(dataset, "_fs"):
        dataset = dataset._dataset
    if not hasattr(dataset, "_fs"):
        raise CatalogSpecError(f"dataset '{name}' loads a code-executing format but has no "
                               "fsspec filesystem to pin its bytes through")
    return dataset


class _HashingWriter:
    """A file opened for writing whose bytes are hashed as they pass."""

    def __init__(self, handle: Any, owner: DigestFS) -> None:
        self._handle = handle
        self._owner = owner
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._hash.update(chunk)
        self._size += len(chunk)
        return self._handle.write(data)

    def seek(self, *args: Any) -> Any:
        raise VerificationError(f"{self._owner.what}: the writer seeks, so its bytes cannot "
                                "be pinned as they stream")

    def close(self) -> None:
        self._handle.close()
        self._owner.written.append((self._hash.hexdigest(), self._size))

    def __enter__(self) -> _HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._handle.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


class DigestFS:
    """An fsspec filesystem seen through a pin: reads verified, writes hashed."""

    def __init__(self, fs: Any, expected: str | None, what: str,
                 size: int | None = None) -> None:
        self._fs = fs
        self.expected = expected
        self.size = size  # pinned beside the digest when known: never read further
        self.what = what
        self.written: list[tuple[str, int]] = []

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "w" in mode or "x" in mode:
            if "b" not in mode:
                raise VerificationError(f"{self.what}: only binary writes can be pinned")
            return _HashingWriter(self._fs.open(path, mode, **kwargs), self)
        if "a" in mode or "+" in mode:
            raise VerificationError(f"{self.what}: appending cannot be pinned")
        if self.expected is None:
            raise VerificationError(f"{self.what}: no pinned digest; refusing to load a "
                                    "code-executing format from unverified bytes")
        with self._fs.open(path, "rb", **kwargs) as handle:
            # the one read: what is verified is what is loaded
            data = handle.read() if self.size is None else handle.read(self.size + 1)
        if self.size is not None and len(data) > self.size:
            raise VerificationError(f"{self.what}: larger than the {self.size} bytes its "
                                    "producer wrote; the file was replaced after it was pinned")
        verify(data, self.expected, self.what)
        buffer = io.BytesIO(data)
        return buffer if "b" in mode else io.TextIOWrapper(buffer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fs, name)


def pin(dataset: Any, name: str, expected: str | None, size: int | None = None) -> DigestFS:
    """Route ``dataset``'s file access through a :class:`DigestFS`; return it.

    Args:
        dataset: The catalog's dataset object (cache wrappers are looked through).
        name: The dataset's name, for messages.
        expected: The pinned SHA-256 for loads (``None``: loads are refused).
        size: The pinned size, when known: a load reads no further.
    """
    inner = _inner(dataset, name)
    fs = inner._fs
    if isinstance(fs, DigestFS):
        fs.expected, fs.size = expected, size
        return fs
    wrapped = DigestFS(fs, expected, f"dataset '{name}'", size)
    inner._fs = wrapped
    return wrapped


def written_digest(fs: DigestFS) -> tuple[str, int]:
    """The digest and size of the one file written through ``fs``.

    Raises:
        VerificationError: No file, or several, were written (nothing to pin).
    """
    if len(fs.written) != 1:
        raise VerificationError(f"{fs.what}: expected one file written to pin, got "
                                f"{len(fs.written)}")
    return fs.written[0]
