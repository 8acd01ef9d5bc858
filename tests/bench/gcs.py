"""fake-gcs-server as a GCS emulator for tests (in-memory backend, plain HTTP on 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from tests.bench.processes import ManagedProcess, free_port

if TYPE_CHECKING:
    from google.cloud import storage

PROJECT = "kinetic-bench"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


class GcsEmulator:
    """A running fake-gcs-server.

    Args:
        binary: Path of the ``fake-gcs-server`` binary.
        bucket: Name of the bucket created at start.

    Attributes:
        host: ``http://127.0.0.1:<port>`` (the value of ``STORAGE_EMULATOR_HOST``).
        port: The port.
        bucket: Name of the bucket created at start.
        project: Project the clients use.
    """

    def __init__(self, binary: Path, bucket: str = "kinetic-bench") -> None:
        self.port = free_port()
        self.host = f"http://127.0.0.1:{self.port}"
        self.bucket = bucket
        self.project = PROJECT
        self._directory = Path(tempfile.mkdtemp(prefix="kinetic-gcs-"))
        self._previous_env: str | None = None
        self.process = ManagedProcess(
            "fake-gcs-server",
            [
                str(binary),
                "-backend", "memory",
                "-scheme", "http",
                "-host", "127.0.0.1",
                "-port", str(self.port),
                "-external-url", self.host,
                "-public-host", f"127.0.0.1:{self.port}",
                "-log-level", "warn",
            ],
            self._directory / "fake-gcs-server.log",
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start the server, point ``STORAGE_EMULATOR_HOST`` at it and create the bucket."""
        self.process.start()

        def ready() -> bool:
            with urllib.request.urlopen(f"{self.host}/storage/v1/b?project={self.project}", timeout=2) as r:
                return r.status == 200

        self.process.wait_until(ready, timeout, "serving /storage/v1/b")
        self._previous_env = os.environ.get(EMULATOR_ENV)
        os.environ[EMULATOR_ENV] = self.host
        self.client().create_bucket(self.bucket)

    def stop(self) -> None:
        """Stop the server, restore ``STORAGE_EMULATOR_HOST``, remove the temp directory."""
        self.process.stop()
        if os.environ.get(EMULATOR_ENV) == self.host:
            if self._previous_env is None:
                os.environ.pop(EMULATOR_ENV, None)
            else:
                os.environ[EMULATOR_ENV] = self._previous_env
        shutil.rmtree(self._directory, ignore_errors=True)

    def client(self) -> storage.Client:
        """A ``google.cloud.storage.Client`` talking to the emulator anonymously."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.host},
        )
