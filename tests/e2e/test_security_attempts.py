"""A result counts for one attempt only (local backend): replays of genuine earlier results.

Every Job submission pins a fresh attempt nonce in its args, and its pod seals results with
a key derived for that attempt. A store writer who kept a *genuine* sealed result of an
earlier attempt (and the pickles it pins) and writes it back later must not get it
accepted: not while the node's new attempt runs, and not on a later resume.

The earlier attempt's ``split_data_node`` produced intermediates whose unpickling writes
MARKER (``KINETIC_TEST_EVIL``, standing for any data the run has since replaced). The marker
sits under the project's ``data/``, where a node process may write, so that it would appear
if a consumer unpickled them. Each test proves the old result was back at its URI when the
driver could read it, then that the marker is absent.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.wire import naming
from tests.e2e.attack_kit import PausedRun, result_path, run_folder
from tests.e2e.bench_kit import DS_NODES, patch_node
from tests.kedro_run import START_CEILING, flat, kedro, run_id_of, wait_until

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e
SPLIT = "split_data_node"
SPLIT_OUTPUTS = ("X_train", "X_test", "y_train", "y_test")


def kedro_run(project: Path, *args: str, **env: str):
    """A run without the node cache: these nodes change behaviour through environment
    variables their Jobs do not declare, which the cache key cannot see (docs/caching.md)."""
    if "--runner-params" in args:
        at = args.index("--runner-params") + 1
        args = (*args[:at], args[at] + ",cache=off", *args[at + 1:])
    else:
        args = (*args, "--runner-params", "cache=off")
    return kedro(project, "run", "--runner=kedro_kinetic.GKERunner", *args,
                 env={"COLUMNS": "2000", **env})


def data_paths(folder: Path) -> list[Path]:
    return [folder / "data" / f"{naming.dataset_key(n)}.pkl" for n in SPLIT_OUTPUTS]


def evil_split(project: Path) -> Path:
    """split_data returns objects whose unpickling writes the marker, while KINETIC_TEST_EVIL
    is set; train_model fails while KINETIC_TEST_FAIL_TRAIN is set."""
    marker = project / "data" / "MARKER"
    patch_node(project, "def split_data(", f"""
        import os, pathlib
        class _Evil:
            def __reduce__(self):
                return (pathlib.Path.write_text, (pathlib.Path({str(marker)!r}), "unpickled"))
        if os.environ.get("KINETIC_TEST_EVIL"):
            return _Evil(), _Evil(), _Evil(), _Evil()
        """, nodes=DS_NODES)
    patch_node(project, "def train_model(", """
        import os
        if os.environ.get("KINETIC_TEST_FAIL_TRAIN"):
            raise RuntimeError("planned failure")
        """, nodes=DS_NODES)
    return marker


class Kept:
    """What a store writer keeps of one attempt of split_data_node: its sealed result and
    the pickles it pins."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.result = result_path(folder, SPLIT).read_bytes()
        self.data = {p: p.read_bytes() for p in data_paths(folder)}

    def write_back(self) -> None:
        result_path(self.folder, SPLIT).write_bytes(self.result)
        for path, blob in self.data.items():
            path.write_bytes(blob)

    def is_back(self) -> bool:
        return result_path(self.folder, SPLIT).read_bytes() == self.result


def first_evil_run(project: Path) -> tuple[str, Kept, Path]:
    """Run 1: split_data_node succeeds with the evil intermediates (its consumer unpickles
    them: the marker proves the bytes are live), then the run fails."""
    marker = evil_split(project)
    first = kedro_run(project, KINETIC_TEST_EVIL="1")
    text = flat(first)
    assert first.returncode != 0, text[-3000:]
    assert marker.exists(), text[-3000:]  # the kept pickles do run code when unpickled
    marker.unlink()
    run_id = run_id_of(text)
    return run_id, Kept(run_folder(project, run_id)), marker


def test_an_earlier_attempts_result_written_back_while_the_node_runs_again_is_refused(
        demo, tmp_path):
    """The store writer hides the result so that resume runs the node again, then writes
    the kept one back while the new attempt runs (before its own result): results first
    reads it and must not settle the node with it."""
    run_id, kept, marker = first_evil_run(demo)
    result_path(kept.folder, SPLIT).unlink()  # hidden: the node runs again on resume

    def launch(race: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        return (["run", "--runner=kedro_kinetic.GKERunner", "--runner-params",
                 f"resume={run_id},cache=off"], race)

    with PausedRun(demo, tmp_path, naming.node_key(SPLIT), launch, before=True) as run:
        run.paused_result()  # the new attempt is about to write its result
        path = result_path(kept.folder, SPLIT)
        staged = path.with_name(".staged")
        staged.write_bytes(kept.result)
        info = staged.stat()  # an access time older than its change: relatime updates it
        os.utime(staged, ns=(info.st_mtime_ns - 10**9, info.st_mtime_ns))  # on first read
        for data_path, blob in kept.data.items():
            data_path.write_bytes(blob)
        staged.rename(path)  # delivered at once, never read before this
        wait_until(lambda: path.stat().st_atime_ns > path.stat().st_mtime_ns, START_CEILING,
                   process=run.driver, message="results first never read the replayed result")
        assert kept.is_back()  # the genuine earlier result is at its URI
        text = run.resume_and_wait()
    assert "Completed node: split_data_node" in text, text[-4000:]
    assert not kept.is_back()  # the new attempt's own result replaced it and settled it
    # the node was settled by its own attempt's digests: the old pickles written back with
    # the old result fail their check in the consumer instead of being unpickled
    assert "intermediate dataset 'X_train': SHA-256 mismatch" in text, text[-4000:]
    assert not marker.exists(), text[-4000:]


def test_an_earlier_attempts_result_read_at_the_jobs_end_is_refused(demo, tmp_path):
    """The same replay, written over the new attempt's result and read when its Job ends
    (``results_first: false``): the node fails, naming the object; nothing is unpickled."""
    run_id, kept, marker = first_evil_run(demo)
    result_path(kept.folder, SPLIT).unlink()

    def launch(race: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        return (["run", "--runner=kedro_kinetic.GKERunner", "--runner-params",
                 f"resume={run_id},results_first=false,cache=off"], race)

    with PausedRun(demo, tmp_path, naming.node_key(SPLIT), launch) as run:
        run.paused_result()  # the new attempt wrote its result; the store writer strikes
        kept.write_back()
        assert kept.is_back()
        text = run.resume_and_wait()
    assert run.driver.returncode != 0
    assert result_path(kept.folder, SPLIT).as_uri() in text and "failed authentication" in text
    assert "node 'split_data_node' failed" in text, text[-4000:]
    assert not marker.exists()


def test_a_rolled_back_result_is_refused_on_a_later_resume(demo, tmp_path):
    """Attempt 1 (evil) is hidden, resume 1 runs the node again (attempt 2, genuine) and
    fails later; before resume 2 the store writer puts attempt 1 back. Resume 2 must not
    count it as finished: the private run folder records attempt 2."""
    run_id, kept, marker = first_evil_run(demo)
    result_path(kept.folder, SPLIT).unlink()
    second = kedro_run(demo, "--runner-params", f"resume={run_id}",
                       KINETIC_TEST_FAIL_TRAIN="1")
    text = flat(second)
    assert second.returncode != 0 and "planned failure" in text, text[-3000:]
    assert "Completed node: split_data_node" in text  # attempt 2 succeeded
    kept.write_back()
    assert kept.is_back()

    third = kedro_run(demo, "--runner-params", f"resume={run_id}")
    text = flat(third)
    assert third.returncode == 0, text[-4000:]
    assert "Resume: node split_data_node runs again" in text  # read, refused, run again
    assert "failed authentication" in text
    assert not marker.exists()


def test_planted_shapes_at_result_paths_are_skipped_on_resume(demo, tmp_path):
    """A folder, a FIFO and a link planted at results of a failed run: resume reports them
    and runs those nodes again instead of aborting; nothing outside the store is touched."""
    run_id, kept, marker = first_evil_run(demo)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("kept")
    planted = {}
    for node, shape in (("split_data_node", "folder"), ("train_model_node", "fifo"),
                        ("predict_node", "link")):
        path = result_path(kept.folder, node)
        if path.exists() or path.is_symlink():
            path.unlink()
        if shape == "folder":
            (path / "inner").mkdir(parents=True)
        elif shape == "fifo":
            os.mkfifo(path)
        else:
            path.symlink_to(outside)
        planted[node] = path
    resumed = kedro_run(demo, "--runner-params", f"resume={run_id}")
    text = flat(resumed)
    assert resumed.returncode == 0, text[-4000:]
    for node in planted:
        assert f"Completed node: {node}" in text
    assert (outside / "keep.txt").read_text() == "kept"  # the link was never followed
    assert not marker.exists()
    shutil.rmtree(outside)
