"""Pod log streams: the end of a run waits only for streams that started."""

from __future__ import annotations

import io
import threading

from kedro_kinetic.backends.kubernetes.logs import PodLogs


class _Response:
    def __init__(self, lines: bytes, release: threading.Event) -> None:
        self._lines, self._release = lines, release

    def stream(self, size: int):
        self._release.wait(60)
        yield self._lines


class _Core:
    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def read_namespaced_pod_log(self, pod, namespace, **kwargs):
        return _Response(b"hello\nworld", self.release)


def test_a_stream_is_listed_for_drain_only_once_its_thread_started(monkeypatch):
    """drain() on the run's closing thread joined a stream another thread had listed but not
    yet started ("cannot join thread before it is started"; seen on the real bench)."""
    sink, release = io.StringIO(), threading.Event()
    logs = PodLogs(_Core(release), "ns", sink, threading.RLock())
    listed_before_start = []
    original = threading.Thread.start

    def start(thread):
        listed_before_start.append(thread in logs._threads)
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    logs.follow("clean", "pod-1")
    assert listed_before_start == [False]
    release.set()
    logs.drain(60)
    assert sink.getvalue() == "[clean] hello\n[clean] world\n"
