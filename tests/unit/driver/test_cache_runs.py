"""The node cache, through whole in-process runs: reuse, what re-runs, and a store writer's
forged, replayed or stale entries (each refused, the node run again)."""

from __future__ import annotations

import json

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from kedro_kinetic.driver.cache import cache_prefix
from kedro_kinetic.wire import cache_entry, seal

CALLS: list[str] = []


def double(x: int) -> int:
    CALLS.append("double")
    return 2 * x


def shift(d: int, offset: int) -> int:
    CALLS.append("shift")
    return d + offset


def total(s: int, x: int) -> int:
    CALLS.append("total")
    return s + x


def pipeline(tags: tuple[str, ...] = ()) -> Pipeline:
    return Pipeline([
        node(double, "x", "d", name="double_node"),
        node(shift, ["d", "params:offset"], "s", name="shift_node", tags=list(tags)),
        node(total, ["s", "x"], "t", name="total_node"),
    ])


def catalog(x: int = 3, offset: int = 1) -> DataCatalog:
    return DataCatalog({"x": MemoryDataset(x), "params:offset": MemoryDataset(offset)})


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()


def entries(project) -> list:
    folder = project.store / "cache"
    return sorted(folder.glob("*.json")) if folder.exists() else []


def run(project, run_id, **kw):
    cat = kw.pop("cat", None) or catalog()
    CALLS.clear()
    out = project.run(kw.pop("pipe", None) or pipeline(), cat, run_id=run_id, **kw)
    return out, list(CALLS)


def test_an_unchanged_second_run_reuses_every_node_and_returns_the_same_outputs(inprocess):
    first, ran = run(inprocess, "run-a")
    assert sorted(ran) == ["double", "shift", "total"] and len(entries(inprocess)) == 3
    second, ran = run(inprocess, "run-b")
    assert ran == [] and inprocess.backends[-1].submitted == []  # no Job at all
    assert second["t"].load() == first["t"].load() == 2 * 3 + 1 + 3
    assert {r.phase for r in inprocess.last_runner.last_results.values()} == {"cached"}


def test_a_changed_parameter_reruns_its_node_and_what_depends_on_it_only(inprocess):
    run(inprocess, "run-a")
    out, ran = run(inprocess, "run-b", cat=catalog(offset=5))
    assert sorted(ran) == ["shift", "total"]
    assert out["t"].load() == 2 * 3 + 5 + 3


def test_cache_off_runs_everything_and_no_cache_tag_is_never_reused(inprocess):
    run(inprocess, "run-a")
    _, ran = run(inprocess, "run-b", cache="off")
    assert sorted(ran) == ["double", "shift", "total"]
    run(inprocess, "run-c", pipe=pipeline(("no-cache",)))
    _, ran = run(inprocess, "run-d", pipe=pipeline(("no-cache",)))
    assert ran == ["shift"]  # its output is the same bytes: total is reused


def test_forged_replayed_and_stale_entries_are_refused_and_the_node_runs(inprocess):
    run(inprocess, "run-a")
    paths = entries(inprocess)
    by_node = {}
    from tests.driver_kit import CACHE_KEYS

    key = CACHE_KEYS[inprocess.store.resolve().as_uri()]
    for path in paths:
        body = seal.unseal(key, cache_entry.context(path.stem), path.read_bytes(), "entry")
        by_node[json.loads(body)["node"]] = path
    # forged: a store writer's own entry for the total node (no key: cannot seal it)
    forged = cache_entry.CacheEntry("total_node", "evil-run", {}, 0.0)
    by_node["total_node"].write_bytes(forged.sealed(seal.new_key(), by_node["total_node"].stem))
    # replayed: double's genuine entry written where shift's key points
    by_node["shift_node"].write_bytes(by_node["double_node"].read_bytes())
    planted = {n: by_node[n].read_bytes() for n in ("total_node", "shift_node")}
    _, ran = run(inprocess, "run-b")
    assert sorted(ran) == ["shift", "total"]  # read, refused, run again
    for name, data in planted.items():  # and recorded anew, genuinely
        assert by_node[name].read_bytes() != data


def test_a_changed_output_is_refused_and_its_node_runs(inprocess):
    run(inprocess, "run-a")
    data = inprocess.store / "runs" / "run-a" / "data"
    [d_file] = [p for p in data.glob("*.pkl") if p.name.startswith("d-")]
    d_file.write_bytes(d_file.read_bytes() + b"tampered")
    _, ran = run(inprocess, "run-b")
    assert "double" in ran


def test_cache_prefix_is_beside_the_runs():
    assert cache_prefix("file:///s") == "file:///s/cache"


def test_a_rolled_back_entry_is_refused_and_its_node_runs(inprocess):
    run(inprocess, "run-a")
    older = {p: p.read_bytes() for p in entries(inprocess)}
    _, ran = run(inprocess, "run-b", cache="write")  # runs all; newer entries, same keys
    assert sorted(ran) == ["double", "shift", "total"]
    for path, data in older.items():
        assert path.read_bytes() != data
        path.write_bytes(data)  # a store writer puts run-a's authentic entries back
    _, ran = run(inprocess, "run-c")
    assert sorted(ran) == ["double", "shift", "total"]  # each refused as rolled back
    _, ran = run(inprocess, "run-d")
    assert ran == []  # run-c's entries are the latest now
