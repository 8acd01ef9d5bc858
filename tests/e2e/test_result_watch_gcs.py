"""Results first on GCS (fake-gcs-server): doorbells, one narrow listing, results posted once."""

from __future__ import annotations

import queue
import time
import uuid

import pytest

from kedro_kinetic import store
from kedro_kinetic.driver.result_watch import ResultWatcher
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.result import NodeResult

pytestmark = pytest.mark.bench

KEY = seal.new_key()
WAIT = 60.0  # a generous ceiling: each wait ends on the event itself


@pytest.fixture
def run_root(gcs_emulator):
    return f"gs://{gcs_emulator.bucket}/watch-test/{uuid.uuid4().hex}"


@pytest.fixture
def watcher(run_root):
    events: queue.Queue = queue.Queue()
    watch = ResultWatcher(store.join(run_root, "results"), events.put, interval=0.02,
                          notices=store.join(run_root, "notices"))
    yield watch, events
    watch.stop()


def result(run_root: str, node: str) -> str:
    return store.join(run_root, "results", f"{node}.json")


def notice(run_root: str, seq: int, job: str) -> str:
    return store.join(run_root, "notices", f"{seq:020d}-{job}")


def finish(uri: str, node: str, bell: str | None, key: bytes = KEY) -> None:
    """What a pod does: write the sealed result, then ring the Job's doorbell."""
    store.write_bytes(uri, NodeResult(node=node, status="succeeded", exit_code=0)
                      .sealed(key, uri))
    if bell:
        store.write_bytes(bell, b"")


def polls_after(watch: ResultWatcher, count: int = 3) -> None:
    target = watch.listings + count
    deadline = time.monotonic() + WAIT
    while watch.listings < target:
        assert time.monotonic() < deadline, "the watcher stopped polling"
        time.sleep(0.01)


def test_a_rung_result_is_posted_once_and_the_listing_starts_at_the_oldest_doorbell(
        watcher, run_root, monkeypatch):
    watch, events = watcher
    for k in range(120):  # an earlier part of the run: results and rung doorbells
        finish(result(run_root, f"old-{k}"), f"old-{k}", notice(run_root, k, f"old-{k}"))
    sizes: list[int] = []
    real = store.list_versions

    def measured(prefix, names=None):
        found = real(prefix, names)
        sizes.append(len(found))
        return found

    monkeypatch.setattr(store, "list_versions", measured)
    bells = {n: notice(run_root, 1000 + k, f"job-{n}") for k, n in enumerate("ab")}
    for node, bell in bells.items():
        watch.expect(f"job-{node}", {node: result(run_root, node)}, KEY, bell)
    finish(result(run_root, "b"), "b", bells["b"])
    event = events.get(timeout=WAIT)
    assert (event.job_name, event.node, event.result.status) == ("job-b", "b", "succeeded")
    watch.settled([result(run_root, "b")])
    finish(result(run_root, "a"), "a", bells["a"])
    assert events.get(timeout=WAIT).node == "a"
    polls_after(watch)
    assert events.empty()
    # 120 results and doorbells were there, but each listing held only this run's newest
    assert sizes and max(sizes) <= 2, sizes


def test_a_planted_doorbell_or_forged_result_posts_nothing_and_the_real_one_still_does(
        watcher, run_root):
    watch, events = watcher
    uri, bell = result(run_root, "a"), notice(run_root, 1, "job-a")
    watch.expect("job-a", {"a": uri}, KEY, bell)
    store.write_bytes(bell, b"rung by the store's attacker, with no result")
    polls_after(watch)
    finish(uri, "a", bell, key=seal.new_key())  # a forged result, rung again
    polls_after(watch)
    assert events.empty()
    finish(uri, "a", bell)  # the pod's genuine result
    event = events.get(timeout=WAIT)
    assert event.node == "a" and event.result.status == "succeeded"


def test_a_group_rings_once_per_node_and_each_node_is_posted_when_its_result_is_there(
        watcher, run_root):
    watch, events = watcher
    bell = notice(run_root, 1, "group-g")
    watch.expect("group-g", {"a": result(run_root, "a"), "b": result(run_root, "b")}, KEY,
                 bell)
    finish(result(run_root, "a"), "a", bell)
    assert events.get(timeout=WAIT).node == "a"
    polls_after(watch)
    assert events.empty()  # b has no result yet: nothing for it
    finish(result(run_root, "b"), "b", bell)
    assert events.get(timeout=WAIT).node == "b"


def test_a_job_without_a_doorbell_is_found_by_listing_the_results(watcher, run_root):
    watch, events = watcher
    watch.expect("job-a", {"a": result(run_root, "a")}, KEY)  # adopted: no doorbell known
    finish(result(run_root, "a"), "a", None)
    assert events.get(timeout=WAIT).node == "a"
