"""A run's pod logs, streamed through the API server: records logged, output prefixed.

One thread per pod follows its container's log (the stream ends when the
container does). Results first can settle the run's last nodes before their
containers have exited, so the end of a run waits, bounded, for the streams to
finish printing; a cancelled run does not wait (its pods are being deleted).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import IO, Any

from kedro_kinetic.backends import node_output
from kedro_kinetic.planning.manifest import CONTAINER

logger = logging.getLogger(__name__)

#: How long the end of a run waits, at most, for its pods' log streams to finish.
DRAIN_SECONDS = 10.0


class PodLogs:
    """Follows pods' logs and prints each line as ``[node] line`` to a sink."""

    def __init__(self, core: Any, namespace: str, sink: IO[str], lock: Any) -> None:
        """Args:
            core: The ``CoreV1Api`` client.
            namespace: The run's namespace.
            sink: Where lines go (the driver's stdout, or the live view's).
            lock: Held while a line is written (shared with other writers).
        """
        self._core = core
        self._namespace = namespace
        self._sink = sink
        self._lock = lock
        self._threads: list[threading.Thread] = []
        self.cancelled = False

    def follow(self, display: str, pod: str) -> None:
        """Start printing ``pod``'s log, prefixed by ``display``."""
        thread = threading.Thread(target=self._stream, args=(display, pod), daemon=True)
        with self._lock:  # listed once started: drain() joins only started threads
            thread.start()
            self._threads.append(thread)

    def drain(self, seconds: float = DRAIN_SECONDS) -> None:
        """Wait, at most ``seconds`` in all, for the streams to end (not when cancelled)."""
        deadline = time.monotonic() + seconds
        with self._lock:
            threads = [] if self.cancelled else list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _stream(self, display: str, pod: str) -> None:
        try:
            response = self._core.read_namespaced_pod_log(
                pod, self._namespace, container=CONTAINER, follow=True,
                _preload_content=False)
            pending = b""
            for chunk in response.stream(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._print(display, line)
            if pending:
                self._print(display, pending)
        except Exception as exc:
            logger.debug("log stream of %s ended: %s", pod, exc)

    def _print(self, display: str, line: bytes) -> None:
        node_output.show(line, display, self._sink, self._lock)
