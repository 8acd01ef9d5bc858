"""Route every local file a catalog dataset touches through :class:`ConfinedFileSystem`.

Most allowlisted datasets open their files through their fsspec filesystem
(``self._fs``), which :func:`confine_dataset` replaces with a confined one
named after the dataset. Some load a local file by handing its *path* to a
library, which opens it with plain ``open()`` and follows links: pandas'
``CSVDataset``, ``ParquetDataset``, ``JSONDataset``, ``ExcelDataset``,
``FeatherDataset``, ``XMLDataset`` and polars' ``CSVDataset``
(:data:`READERS`). For a local path their ``load`` is replaced, on the
dataset object only, by one that opens the file through the confined
filesystem and gives the library the open file (a Parquet folder goes to
pyarrow with the confined filesystem). Partitioned datasets list, delete and
build their partitions (and an ``IncrementalDataset`` its checkpoint) through
the same filesystem, every partition dataset confined in turn.

Node processes also register the confined filesystem for fsspec's ``file``
and ``local`` protocols (:func:`install`) before their catalog is built; the
driver confines only the dataset objects a run hands back (free outputs),
never its process as a whole. Pod side: standard library, fsspec, and the
dataset objects it is given.
"""

from __future__ import annotations

import functools
from typing import Any

from kedro_kinetic.confine.filesystem import ConfinedFileSystem, filesystem_class
from kedro_kinetic.wire.data_paths import LOCAL_PROTOCOLS, ResolvedRoots

#: Datasets that load a local path with a library's own ``open()``: ``(module, reader)``.
READERS = {
    "kedro_datasets.pandas.csv_dataset.CSVDataset": ("pandas", "read_csv"),
    "kedro_datasets.pandas.parquet_dataset.ParquetDataset": ("pandas", "read_parquet"),
    "kedro_datasets.pandas.json_dataset.JSONDataset": ("pandas", "read_json"),
    "kedro_datasets.pandas.excel_dataset.ExcelDataset": ("pandas", "read_excel"),
    "kedro_datasets.pandas.feather_dataset.FeatherDataset": ("pandas", "read_feather"),
    "kedro_datasets.pandas.xml_dataset.XMLDataset": ("pandas", "read_xml"),
    "kedro_datasets.polars.csv_dataset.CSVDataset": ("polars", "read_csv"),
}
#: Datasets of many files, listed and deleted through ``_filesystem``.
PARTITIONS = frozenset({
    "kedro_datasets.partitions.partitioned_dataset.PartitionedDataset",
    "kedro_datasets.partitions.incremental_dataset.IncrementalDataset",
})
_MARK = "_kinetic_confined"
_CLASSES: dict[type, type] = {}


def install(roots: ResolvedRoots) -> type[ConfinedFileSystem]:
    """Make fsspec's ``file`` and ``local`` protocols confined to ``roots`` in this process.

    For node processes only, before their catalog is built: every filesystem
    fsspec builds afterwards for a local path is confined (its instance cache
    is per class, and confined instances are not cached at all).
    """
    import fsspec

    cls = filesystem_class(roots)
    for protocol in LOCAL_PROTOCOLS:
        fsspec.register_implementation(protocol, cls, clobber=True)
    return cls


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def confine_dataset(dataset: Any, name: str, roots: ResolvedRoots) -> Any:
    """Route ``dataset``'s local files through a filesystem confined to ``roots``.

    Wrappers (``CachedDataset``) are looked through; datasets of other
    protocols (``gs://``, memory) are left as they are. Returns ``dataset``.

    Args:
        dataset: A dataset object of the catalog.
        name: Its name, for messages.
        roots: The data roots of this process.
    """
    if dataset is None or getattr(dataset, _MARK, False):
        return dataset
    nested = getattr(dataset, "_dataset", None)
    if nested is not None and not hasattr(dataset, "_fs"):
        confine_dataset(nested, name, roots)
    _confine_fs(dataset, name, roots)
    path = _class_path(type(dataset))
    if path in PARTITIONS:
        _confine_partitions(dataset, name, roots)
    elif path in READERS and getattr(dataset, "_protocol", None) in LOCAL_PROTOCOLS:
        dataset.load = functools.partial(_load, dataset, READERS[path])
    setattr(dataset, _MARK, True)
    return dataset


def _confine_fs(dataset: Any, name: str, roots: ResolvedRoots) -> None:
    """Replace a local ``_fs`` (also inside a digest pin) with a confined one."""
    from fsspec.implementations.local import LocalFileSystem

    from kedro_kinetic.wire.pinned_files import DigestFS

    holder = dataset
    current = getattr(dataset, "_fs", None)
    if isinstance(current, DigestFS):
        holder, current = current, current._fs
    if not isinstance(current, LocalFileSystem):
        return
    confined = ConfinedFileSystem(auto_mkdir=getattr(current, "auto_mkdir", False),
                                  roots=roots, label=name)
    holder._fs = confined
    for attribute, method in (("_exists_function", "exists"), ("_glob_function", "glob")):
        if hasattr(dataset, attribute):
            setattr(dataset, attribute, getattr(confined, method))


def _load(dataset: Any, reader: tuple[str, str]) -> Any:
    """What the dataset's own ``load`` does, with the file opened through its ``_fs``."""
    import importlib

    from kedro.io.core import DatasetError

    try:
        fs = dataset._fs
        path = dataset._get_load_path().as_posix()
        library = importlib.import_module(reader[0])
        read = getattr(library, reader[1])
        if reader[1] == "read_parquet" and fs.isdir(path):  # a folder of Parquet files
            return read(fs._strip_protocol(path), filesystem=fs, **dataset._load_args)
        handle = fs.open(path, "rb")
        try:
            data = read(handle, **dataset._load_args)
        except BaseException:
            handle.close()
            raise
        if not hasattr(data, "__next__"):  # a chunked reader reads on, and closes it
            handle.close()
        return data
    except DatasetError:
        raise
    except Exception as exc:  # as Kedro's own load wrapper words it
        raise DatasetError(f"Failed while loading data from dataset {dataset!s}.\n{exc!s}"
                           ) from exc


def _confine_partitions(dataset: Any, name: str, roots: ResolvedRoots) -> None:
    """List, delete and build partitions (and the checkpoint) through confined files."""
    if getattr(dataset, "_protocol", None) not in LOCAL_PROTOCOLS:
        return
    fs_args = dict(getattr(dataset, "_fs_args", None) or {})
    dataset.__dict__["_kinetic_fs"] = ConfinedFileSystem(
        auto_mkdir=bool(fs_args.get("auto_mkdir", False)), roots=roots, label=name)
    dataset.__dict__["_kinetic_roots"] = roots
    dataset.__dict__["_kinetic_name"] = name
    dataset.__class__ = _confined_class(type(dataset))
    dataset._dataset_type = _confining(dataset._dataset_type, f"{name} (a partition)", roots)


def _confining(dataset_type: Any, name: str, roots: ResolvedRoots) -> Any:
    """``dataset_type``, building datasets that are confined as they are made."""

    @functools.wraps(dataset_type, updated=())
    def build(*args: Any, **kwargs: Any) -> Any:
        return confine_dataset(dataset_type(*args, **kwargs), name, roots)

    return build


def _confined_class(cls: type) -> type:
    """A subclass of a partitioned dataset class whose filesystem and checkpoint are
    the confined ones of the object (set by :func:`_confine_partitions`); one per class."""
    if cls not in _CLASSES:
        _CLASSES[cls] = _make_confined_class(cls)
    return _CLASSES[cls]


def _make_confined_class(cls: type) -> type:

    def filesystem(self: Any) -> Any:
        return self.__dict__["_kinetic_fs"]

    namespace: dict[str, Any] = {"_filesystem": property(filesystem),
                                 "__module__": cls.__module__,
                                 "__qualname__": cls.__qualname__}
    checkpoint = getattr(cls, "_checkpoint", None)
    if isinstance(checkpoint, property) and checkpoint.fget is not None:
        build = checkpoint.fget

        def confined_checkpoint(self: Any) -> Any:
            return confine_dataset(build(self), f"{self.__dict__['_kinetic_name']} "
                                   "(its checkpoint)", self.__dict__["_kinetic_roots"])

        namespace["_checkpoint"] = property(confined_checkpoint)
    return type(cls.__name__, (cls,), namespace)
