"""Container logs of the test kubelet: timestamped log files and the HTTPS ``/containerLogs`` server.

A container's stdout and stderr go through a pipe into a reader thread that writes one record per
line, ``<RFC3339Nano timestamp> <line>``, so the server can honour ``timestamps``, ``sinceTime``,
``sinceSeconds`` and ``tailLines`` like the real kubelet. The API server reaches the server at the
Node's InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port`` with its kubelet client
certificate; ``CoreV1Api.read_namespaced_pod_log`` (also with ``follow``) then works end to end.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

from tests.bench.certs import KeyPair


def _timestamp(moment: float | None = None) -> str:
    when = dt.datetime.fromtimestamp(moment if moment is not None else time.time(), dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class ContainerLog:
    """The log file of one container run, filled from the process' output pipe.

    Args:
        path: File to write (truncated).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")
        self.done = threading.Event()
        self._thread: threading.Thread | None = None

    def capture(self, stream: IO[bytes]) -> None:
        """Copy ``stream`` line by line into the file in a background thread until EOF."""

        def copy() -> None:
            try:
                with open(self.path, "ab", buffering=0) as out:
                    out.writelines(_timestamp().encode() + b" " + line for line in iter(stream.readline, b""))
            finally:
                stream.close()
                self.done.set()

        self._thread = threading.Thread(target=copy, name=f"log-{self.path.name}", daemon=True)
        self._thread.start()

    def finish(self, timeout: float = 5.0) -> None:
        """Wait for the reader to reach EOF (the container's output is complete)."""
        self.done.wait(timeout)
        self.done.set()

    def records(self, offset: int = 0) -> tuple[list[tuple[float, bytes]], int]:
        """Complete records from byte ``offset``: ([(timestamp, line)], new offset)."""
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
        out = []
        consumed = 0
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n") and not self.done.is_set():
                break  # partial record still being written
            consumed += len(raw)
            stamp, _, line = raw.partition(b" ")
            out.append((_parse_time(stamp.decode()), line))
        return out, offset + consumed

    def text(self) -> str:
        """The whole log without timestamps (for tests)."""
        return b"".join(line for _, line in self.records()[0]).decode(errors="replace")


class LogNotAvailable(Exception):
    """The kubelet has no log for this request; the message is what the client sees."""


LogLookup = Callable[[str, str, str, bool], ContainerLog]


class LogServer:
    """HTTPS server for ``GET /containerLogs/{namespace}/{pod}/{container}``.

    Args:
        lookup: (namespace, pod, container, previous) -> ContainerLog; raises
            :class:`LogNotAvailable` with the message to return as a 400.
        serving: Certificate and key to serve with.
        client_ca: CA that client certificates must chain to (the API server's kubelet client).
    """

    def __init__(self, lookup: LogLookup, serving: KeyPair, client_ca: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(serving.cert), str(serving.key))
        context.load_verify_locations(str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
        handler = type("Handler", (_Handler,), {"lookup": staticmethod(lookup)})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="kubelet-logs", daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    lookup: LogLookup
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes (follow streams)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _error(self, code: int, message: str) -> None:
        body = message.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts == ["healthz"]:
            self._error(200, "ok")
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._error(404, f"not found: {url.path}")
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        flag = lambda name: query.get(name, "").lower() in ("1", "true")
        try:
            log = self.lookup(parts[1], parts[2], parts[3], flag("previous"))
        except LogNotAvailable as error:
            self._error(400, str(error))
            return
        since = None
        if "sinceSeconds" in query:
            since = time.time() - int(query["sinceSeconds"])
        elif "sinceTime" in query:
            since = _parse_time(query["sinceTime"])
        tail = int(query["tailLines"]) if "tailLines" in query else None
        limit = int(query["limitBytes"]) if "limitBytes" in query else None
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        try:
            self._stream(log, flag("follow"), flag("timestamps"), since, tail, limit)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def _stream(
        self,
        log: ContainerLog,
        follow: bool,
        timestamps: bool,
        since: float | None,
        tail: int | None,
        limit: int | None,
    ) -> None:
        sent = 0
        for chunk in _select(log, follow, since, tail):
            line = (_timestamp(chunk[0]).encode() + b" " + chunk[1]) if timestamps else chunk[1]
            if limit is not None:
                line = line[: max(0, limit - sent)]
            self.wfile.write(line)
            self.wfile.flush()
            sent += len(line)
            if limit is not None and sent >= limit:
                return


def _select(
    log: ContainerLog, follow: bool, since: float | None, tail: int | None
) -> Iterator[tuple[float, bytes]]:
    records, offset = log.records()
    if since is not None:
        records = [r for r in records if r[0] >= since]
    if tail is not None:
        records = records[-tail:] if tail > 0 else []
    yield from records
    while follow:
        finished = log.done.is_set()
        records, offset = log.records(offset)
        yield from records
        if finished and not records:
            return
        if not records:
            time.sleep(0.1)
