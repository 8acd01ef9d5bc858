"""The run's watch reads the cluster autoscaler's Events of the namespace through a field
selector (Events carry no labels), resumes from its resourceVersion, and gives up on
Events alone, with one warning, when the driver may not read them. A fake API."""

from __future__ import annotations

import json
import logging
import threading

from kubernetes.client.exceptions import ApiException

from kedro_kinetic.backends.kubernetes.watch import EVENT_SELECTOR, RunWatch
from tests.autoscaler_kit import SCALE_UP, autoscaler_event


class Stream:
    """A response: a listing's body, or a watch's lines."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self) -> bytes:
        return self.body

    def stream(self, amt=None, decode_content=False):
        yield self.body

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class Core:
    def __init__(self, forbidden: bool = False) -> None:
        self.forbidden = forbidden
        self.calls: list[dict] = []
        self.seen = threading.Event()

    def list_namespaced_pod(self, namespace, **kwargs):  # the other two threads' calls
        raise AssertionError("only the Events thread runs here")

    list_namespaced_job = list_namespaced_pod

    def list_namespaced_event(self, namespace, **kwargs):
        self.calls.append(kwargs)
        if self.forbidden:
            raise ApiException(status=403, reason="Forbidden")
        if not kwargs.get("watch"):
            return Stream(json.dumps({"items": [], "metadata": {"resourceVersion": "7"}})
                          .encode())
        event = autoscaler_event("p-1", "TriggeredScaleUp", SCALE_UP)
        event["metadata"]["resourceVersion"] = "8"
        if len(self.calls) > 2:
            self.seen.set()
            return Stream(lines({"type": "ERROR", "object": {"code": 410}}))
        return Stream(lines({"type": "ADDED", "object": event}))


def lines(*watch_events: dict) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in watch_events).encode()


def test_events_are_listed_then_watched_through_the_autoscaler_field_selector():
    core, handled = Core(), []
    watch = RunWatch(core, core, "kedro", "kedro-kinetic.io/run=r-1",
                     lambda kind, obj, deleted: handled.append((kind, obj["reason"])))
    thread = threading.Thread(target=watch._run, args=("event",), daemon=True)
    thread.start()
    assert core.seen.wait(30)
    watch.stop()
    thread.join(30)
    assert handled[0] == ("event", "TriggeredScaleUp")
    assert core.calls[0] == {"field_selector": EVENT_SELECTOR, "_preload_content": False}
    assert core.calls[1]["resource_version"] == "7" and core.calls[1]["watch"] is True
    assert core.calls[2]["resource_version"] == "8"  # resumed where the stream ended
    assert EVENT_SELECTOR == "involvedObject.kind=Pod,source=cluster-autoscaler"


def test_a_driver_that_may_not_read_events_warns_once_and_watches_the_rest(caplog):
    core = Core(forbidden=True)
    watch = RunWatch(core, core, "kedro", "kedro-kinetic.io/run=r-1", lambda *a: None)
    with caplog.at_level(logging.WARNING):
        watch._run("event")  # returns: no retry loop against a 403
    assert len(core.calls) == 1
    [record] = caplog.records
    assert "Cannot watch Events in namespace kedro (403 Forbidden)" in record.getMessage()
    assert "list and watch on events" in record.getMessage()
