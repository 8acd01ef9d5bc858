"""Results first on a local folder: each expected result is posted once, authentic and new."""

from __future__ import annotations

import os
import queue
import time

import pytest

from kedro_kinetic import store
from kedro_kinetic.backends.base import EventKind
from kedro_kinetic.driver.result_watch import ResultWatcher
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.result import NodeResult

KEY = seal.new_key()
WAIT = 30.0  # a generous ceiling: each wait ends on the event itself


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    return store.to_uri(str(folder))


@pytest.fixture
def watcher(results):
    events: queue.Queue = queue.Queue()
    watch = ResultWatcher(results, events.put, interval=0.01)
    yield watch, events
    watch.stop()


def write_result(uri: str, node: str, key: bytes = KEY, status: str = "succeeded") -> None:
    store.write_bytes(uri, NodeResult(node=node, status=status, exit_code=0).sealed(key, uri))


def polls_after(watch: ResultWatcher, count: int = 3) -> None:
    """Return once the watcher has polled ``count`` more times."""
    target = watch.listings + count
    for _ in range(int(WAIT / 0.01)):
        if watch.listings >= target:
            return
        time.sleep(0.01)
    raise AssertionError("the watcher stopped polling")


def test_a_result_written_after_submit_is_posted_once_with_its_job_and_node(watcher, results):
    watch, events = watcher
    uri = store.join(results, "a-1.json")
    watch.expect("job-a", {"a": uri}, KEY)
    write_result(uri, "a")
    event = events.get(timeout=WAIT)
    assert (event.job_name, event.kind, event.node) == ("job-a", EventKind.NODE_RESULT, "a")
    assert event.result.status == "succeeded"
    polls_after(watch)
    assert events.empty()  # the same version is never posted twice


def test_a_result_already_there_at_submit_waits_for_the_new_attempt(watcher, results):
    watch, events = watcher
    uri = store.join(results, "a-1.json")
    write_result(uri, "a", status="failed")  # an earlier attempt's result
    watch.expect("job-a", {"a": uri}, KEY)
    polls_after(watch)
    assert events.empty()
    write_result(uri, "a")  # the new attempt rewrites it
    assert events.get(timeout=WAIT).result.status == "succeeded"


def test_a_result_sealed_with_another_key_is_never_posted(watcher, results):
    watch, events = watcher
    uri = store.join(results, "a-1.json")
    watch.expect("job-a", {"a": uri}, KEY)
    write_result(uri, "a", key=seal.new_key())
    polls_after(watch)
    assert events.empty()
    write_result(uri, "a")
    assert events.get(timeout=WAIT).result.node == "a"


def test_an_earlier_attempts_genuine_result_is_never_posted(watcher, results):
    watch, events = watcher
    run_key = seal.new_key()
    earlier, now = seal.new_attempt(), seal.new_attempt()
    uri = store.join(results, "a-1.json")
    watch.expect("job-a", {"a": uri}, seal.attempt_key(run_key, now))
    write_result(uri, "a", key=seal.attempt_key(run_key, earlier))  # kept, written back
    polls_after(watch)
    assert events.empty()
    write_result(uri, "a", key=seal.attempt_key(run_key, now), status="failed")
    assert events.get(timeout=WAIT).result.status == "failed"


def test_a_settled_node_is_no_longer_watched(watcher, results):
    watch, events = watcher
    uri = store.join(results, "a-1.json")
    watch.expect("job-a", {"a": uri}, KEY)
    watch.settled([uri])
    write_result(uri, "a")
    watch.expect("job-b", {"b": store.join(results, "b-1.json")}, KEY)  # keeps it polling
    polls_after(watch)
    assert events.empty()


def test_a_local_poll_stats_only_the_expected_results_however_many_the_run_has(
        watcher, results, monkeypatch):
    watch, events = watcher
    for k in range(200):  # finished nodes' results
        write_result(store.join(results, f"done-{k}.json"), f"done-{k}")
    stats: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *args, **kwargs):
        stats.append(str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    monkeypatch.setattr(os, "fwalk", lambda *a, **k: pytest.fail("the folder was walked"))
    uri = store.join(results, "a-1.json")
    watch.expect("job-a", {"a": uri}, KEY)
    polls_after(watch)
    assert stats and set(stats) == {"a-1.json"}
    write_result(uri, "a")
    assert events.get(timeout=WAIT).node == "a"
