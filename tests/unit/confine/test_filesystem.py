"""The confined filesystem: under the data roots only, never through a link.

Each attack plants what a dataset-content author could (a link, a FIFO) and proves it was
there and would have worked with a plain open, then that the confined filesystem refused or
replaced it and the secret or the outside file is untouched. Every test runs twice: with
``openat2`` (where the kernel has it) and with the ``O_NOFOLLOW`` walk.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from kedro_kinetic.confine import beneath
from kedro_kinetic.confine.datasets import confine_dataset, install
from kedro_kinetic.confine.filesystem import ConfinedFileSystem, PathRefused
from kedro_kinetic.wire.data_paths import DataRoots

if TYPE_CHECKING:
    from pathlib import Path

SECRET = "run-key-0123456789abcdef"


@pytest.fixture(params=["openat2", "walk"])
def project(request, tmp_path: Path, monkeypatch) -> Path:
    if request.param == "walk":
        monkeypatch.setattr(beneath, "openat2_available", lambda: False)
    elif not beneath.openat2_available():
        pytest.skip("this kernel has no openat2")
    project = tmp_path / "proj"
    (project / "data" / "01_raw").mkdir(parents=True)
    (project / "data" / "kinetic" / "runs").mkdir(parents=True)
    (project / "data" / "01_raw" / "sales.csv").write_text("a,b\n1,2\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "key").write_text(SECRET)
    monkeypatch.chdir(project)
    return project


@pytest.fixture
def fs(project: Path) -> ConfinedFileSystem:
    roots = DataRoots(("data",), ("data/kinetic",)).resolve(str(project))
    return ConfinedFileSystem(roots=roots, label="sales", auto_mkdir=True)


def outside(project: Path) -> Path:
    return project.parent / "outside"


def test_a_file_under_the_root_reads_and_writes(fs, project):
    assert fs.cat_file("data/01_raw/sales.csv") == b"a,b\n1,2\n"
    with fs.open("data/02/out.txt", "w") as handle:  # folders made as fsspec's auto_mkdir
        handle.write("hello")
    assert (project / "data" / "02" / "out.txt").read_text() == "hello"
    assert fs.isfile("data/02/out.txt") and fs.isdir("data/02") and fs.exists("data")
    assert sorted(os.listdir(project / "data" / "02")) == ["out.txt"]  # no partial left
    assert fs.find("data") == [str(project / "data" / n) for n in
                               ("01_raw/sales.csv", "02/out.txt")]  # the store is not listed
    assert fs.glob("data/**/*.csv") == [str(project / "data/01_raw/sales.csv")]


def test_a_link_at_the_file_is_refused(fs, project):
    link = project / "data" / "01_raw" / "key.csv"
    link.symlink_to(outside(project) / "key")
    assert link.read_text() == SECRET  # delivered: a plain open reads the key
    with pytest.raises(PathRefused, match=r"dataset 'sales': refusing .*key\.csv.*symbolic link"):
        fs.open("data/01_raw/key.csv").read()
    assert not fs.exists("data/01_raw/key.csv")
    assert str(link) not in fs.ls("data/01_raw")


def test_a_link_at_a_parent_folder_is_refused(fs, project):
    link = project / "data" / "linked"
    link.symlink_to(outside(project), target_is_directory=True)
    assert (link / "key").read_text() == SECRET
    with pytest.raises(PathRefused, match="symbolic link"):
        fs.open("data/linked/key").read()
    with pytest.raises(PathRefused, match="symbolic link"):
        fs.open("data/linked/new.txt", "wb").close()
    assert not fs.exists("data/linked/key") and not fs.isdir("data/linked")
    assert all("linked" not in name for name in fs.find("data", withdirs=True))
    assert sorted(p.name for p in outside(project).iterdir()) == ["key"]


def test_a_link_at_the_destination_of_a_write_is_replaced_not_written_through(fs, project):
    source = project / "src" / "nodes.py"
    source.parent.mkdir()
    source.write_text("def node(): ...\n")
    link = project / "data" / "01_raw" / "out.csv"
    link.symlink_to(source)
    assert link.read_text() == source.read_text()  # delivered
    with fs.open("data/01_raw/out.csv", "wb") as handle:
        handle.write(b"x,y\n")
    assert source.read_text() == "def node(): ...\n"
    assert not link.is_symlink() and link.read_bytes() == b"x,y\n"


def test_a_failed_write_leaves_the_destination_as_it_was(fs, project):
    path = project / "data" / "01_raw" / "sales.csv"
    with pytest.raises(RuntimeError), fs.open("data/01_raw/sales.csv", "wb") as handle:
        handle.write(b"half")
        raise RuntimeError("the writer failed")
    assert path.read_text() == "a,b\n1,2\n"
    assert sorted(os.listdir(path.parent)) == ["sales.csv"]


def test_a_fifo_is_refused_without_blocking(fs, project):
    fifo = project / "data" / "01_raw" / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(PathRefused, match="not a regular file"):
        fs.open("data/01_raw/pipe.csv", "rb")
    with pytest.raises(PathRefused, match="not a regular file"):
        fs.open("data/01_raw/pipe.csv", "ab")  # no reader: refused, not blocked


@pytest.mark.parametrize(("path", "why"), [
    ("data/../../outside/key", "'..'"), ("./../outside/key", "'..'"),
    ("~/key", "'~'"), ("/proc/self/environ", "/proc"), ("/dev/zero", "/dev"),
    ("data/kinetic/runs/x", "inside data/kinetic"),
])
def test_paths_outside_the_roots_are_refused(fs, project, path, why):
    with pytest.raises(PathRefused, match=why):
        fs.open(path, "rb")
    with pytest.raises(PathRefused):
        fs.exists(path)
    assert fs.roots is not None
    with pytest.raises(PathRefused):
        fs.open(str(outside(project) / "key"), "rb")


def test_rm_of_a_link_to_an_outside_folder_removes_the_link_only(fs, project):
    link = project / "data" / "parts"
    link.symlink_to(outside(project), target_is_directory=True)
    fs.rm("data/parts", recursive=True)
    assert not os.path.lexists(link)
    assert (outside(project) / "key").read_text() == SECRET


def test_rm_deletes_inside_a_root_never_through_a_link_nor_the_root(fs, project):
    parts = project / "data" / "parts" / "deeper"
    parts.mkdir(parents=True)
    (parts / "p.csv").write_text("1")
    (parts / "away").symlink_to(outside(project), target_is_directory=True)
    fs.rm("data/parts", recursive=True)
    assert not (project / "data" / "parts").exists()
    assert (outside(project) / "key").read_text() == SECRET
    with pytest.raises(PathRefused, match="holds data/kinetic"):
        fs.rm("data", recursive=True)
    with pytest.raises(PathRefused, match="outside the data roots"):
        fs.rm(str(outside(project)), recursive=True)
    assert (project / "data" / "kinetic").is_dir() and outside(project).is_dir()


def test_a_symlinked_root_is_followed_once_then_nothing_below_it(tmp_path, monkeypatch):
    real = tmp_path / "disk" / "data"
    real.mkdir(parents=True)
    (real / "x.csv").write_text("1")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "data").symlink_to(real, target_is_directory=True)
    (real / "key").symlink_to(tmp_path / "secret")
    (tmp_path / "secret").write_text(SECRET)
    monkeypatch.chdir(project)
    fs = ConfinedFileSystem(roots=DataRoots(("data",)).resolve(str(project)))
    assert fs.cat_file("data/x.csv") == b"1"
    assert fs.cat_file(str(real / "x.csv")) == b"1"
    with pytest.raises(PathRefused, match="symbolic link"):
        fs.cat_file("data/key")


def test_datasets_that_open_paths_themselves_go_through_the_confined_filesystem(fs, project):
    from kedro_datasets.pandas import CSVDataset, JSONDataset, ParquetDataset

    roots = fs.roots
    sales = confine_dataset(CSVDataset(filepath="data/01_raw/sales.csv"), "sales", roots)
    assert sales.load().to_dict() == {"a": {0: 1}, "b": {0: 2}}
    frame = pd.DataFrame({"q": [1, 2]})
    for cls, name in ((ParquetDataset, "f.parquet"), (JSONDataset, "f.json")):
        dataset = confine_dataset(cls(filepath=f"data/03/{name}"), name, roots)
        dataset.save(frame)
        assert dataset.load()["q"].tolist() == [1, 2]
    folder = project / "data" / "parts.parquet"
    folder.mkdir()
    for k in range(2):
        frame.to_parquet(folder / f"part-{k}.parquet")
    (folder / "away").symlink_to(outside(project), target_is_directory=True)
    parts = confine_dataset(ParquetDataset(filepath="data/parts.parquet"), "parts", roots)
    assert parts.load()["q"].tolist() == [1, 2, 1, 2]  # pyarrow lists through it, no link
    (project / "data" / "01_raw" / "key.csv").symlink_to(outside(project) / "key")
    stolen = confine_dataset(CSVDataset(filepath="data/01_raw/key.csv"), "stolen", roots)
    with pytest.raises(Exception, match="dataset 'stolen': refusing") as caught:
        stolen.load()
    assert SECRET not in str(caught.value)


def test_partitions_are_listed_built_and_deleted_through_it(fs, project):
    from kedro_datasets.partitions import PartitionedDataset

    parts = project / "data" / "parts"
    parts.mkdir()
    (parts / "a.csv").write_text("x\n1\n")
    (parts / "key.csv").symlink_to(outside(project) / "key")
    dataset = confine_dataset(PartitionedDataset(path="data/parts", dataset="pandas.CSVDataset",
                                                 overwrite=True, filename_suffix=".csv"),
                              "parts", fs.roots)
    loaded = dataset.load()
    assert sorted(loaded) == ["a"]  # the planted link is never listed
    dataset.save({"b": pd.DataFrame({"y": [2]})})  # overwrite: the link goes, not its target
    assert sorted(p.name for p in parts.iterdir()) == ["b.csv"]
    assert (outside(project) / "key").read_text() == SECRET


def test_a_partitioned_overwrite_outside_the_project_deletes_nothing(fs, project):
    from kedro_datasets.partitions import PartitionedDataset

    target = outside(project)
    dataset = confine_dataset(PartitionedDataset(path=str(target), dataset="text.TextDataset",
                                                 overwrite=True), "report", fs.roots)
    with pytest.raises(Exception, match=r"dataset 'report': refusing .*outside the data roots"):
        dataset.save({"p": "text"})
    assert (target / "key").read_text() == SECRET and sorted(os.listdir(target)) == ["key"]


def test_an_incremental_checkpoint_goes_through_it(fs, project):
    from kedro_datasets.partitions import IncrementalDataset

    parts = project / "data" / "inc"
    parts.mkdir()
    (parts / "a.txt").write_text("1")
    (parts / "CHECKPOINT").symlink_to(outside(project) / "key")
    dataset = confine_dataset(IncrementalDataset(path="data/inc", dataset="text.TextDataset"),
                              "inc", fs.roots)
    assert dataset.load() == {"a.txt": "1"}  # the linked checkpoint counts as absent
    dataset.confirm()
    assert (parts / "CHECKPOINT").read_text() == "a.txt"
    assert (outside(project) / "key").read_text() == SECRET


def test_install_confines_what_fsspec_builds_for_local_paths(fs, project):
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    try:
        install(fs.roots)
        built = fsspec.filesystem("file")
        assert isinstance(built, ConfinedFileSystem) and built.roots == fs.roots
        assert fsspec.filesystem("local").cat_file("data/01_raw/sales.csv") == b"a,b\n1,2\n"
        with pytest.raises(PathRefused):
            built.cat_file(str(outside(project) / "key"))
    finally:
        for protocol in ("file", "local"):
            fsspec.register_implementation(protocol, LocalFileSystem, clobber=True)
    assert not isinstance(fsspec.filesystem("file"), ConfinedFileSystem)


def test_free_outputs_handed_back_by_the_driver_are_confined(fs, project):
    from types import SimpleNamespace

    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline, node
    from kedro_datasets.text import TextDataset

    from kedro_kinetic.driver.driver_io import free_outputs

    report = project / "data" / "report.txt"
    report.symlink_to(outside(project) / "key")
    pipeline = Pipeline([node(lambda: "x", None, "report", name="write_report")])
    config = {"type": "kedro_datasets.text.TextDataset", "filepath": "data/report.txt"}
    plans = {pipeline.nodes[0]: SimpleNamespace(outputs={"report": {"kind": "catalog",
                                                                    "config": config}})}
    plain = DataCatalog({"report": TextDataset(filepath="data/report.txt")})
    assert free_outputs(pipeline, plain, plans, {})["report"].load() == SECRET  # delivered
    catalog = DataCatalog({"report": TextDataset(filepath="data/report.txt")})
    handed = free_outputs(pipeline, catalog, plans, {}, fs.roots)["report"]
    with pytest.raises(Exception, match="dataset 'report': refusing") as caught:
        handed.load()
    assert SECRET not in str(caught.value)
    import fsspec

    assert not isinstance(fsspec.filesystem("file"), ConfinedFileSystem)  # process untouched


def test_a_root_swapped_for_a_link_after_it_was_resolved_is_refused(fs, project):
    (project / "data").rename(project / "data-before")
    (project / "data").symlink_to(outside(project), target_is_directory=True)
    assert (project / "data" / "key").read_text() == SECRET  # delivered
    with pytest.raises(PathRefused, match="symbolic link"):
        fs.cat_file("data/key")
