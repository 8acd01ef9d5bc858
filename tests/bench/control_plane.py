"""A real Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager.

Secure serving on 127.0.0.1 with certificates generated at start, RBAC, a static token file with
an admin user in ``system:masters``; the controller manager runs only the controllers a Job needs
(job, garbage collector, pod GC, TTL-after-finished). No scheduler and no kubelet: the
:mod:`tests.bench.kubelet` plays both parts.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import ssl
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.bench.binaries import Binaries
from tests.bench.certs import CertificateAuthority, KeyPair, service_account_keys
from tests.bench.processes import ManagedProcess, StartupError, free_port

ADMIN_USER = "kinetic-admin"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
CONTROLLERS = "job,garbagecollector,podgc,ttl-after-finished"
_STOP_TIMEOUT = 2.0


def _kubeconfig(server: str, ca_pem: bytes, user: str, token: str) -> str:
    """A one-context kubeconfig (JSON is valid YAML) with inline CA and a bearer token."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "bench",
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": user}}],
            "current-context": "bench",
        },
        indent=2,
    )


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager in a temporary directory.

    Args:
        binaries: Paths of the bench binaries.
        workdir: Parent for the temporary directory (default: the system temp dir).

    Attributes:
        directory: The session's temporary directory (removed by :meth:`stop`).
        kubeconfig: Admin kubeconfig path, loadable by ``kubernetes.config.load_kube_config``.
        server: ``https://127.0.0.1:<port>`` of the API server.
        token: Bearer token of the admin user (in ``system:masters``).
        ca: The CA that signed every certificate (``ca.cert_path``).
        kubelet_serving: Certificate the test kubelet serves its log endpoint with.
        startup_seconds: How long :meth:`start` took.
    """

    def __init__(self, binaries: Binaries, workdir: Path | None = None) -> None:
        self.binaries = binaries
        self.directory = Path(tempfile.mkdtemp(prefix="kinetic-bench-", dir=workdir))
        self.token = secrets.token_hex(16)
        self._kcm_token = secrets.token_hex(16)
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.apiserver_port = free_port()
        self.server = f"https://127.0.0.1:{self.apiserver_port}"
        self.kubeconfig = self.directory / "kubeconfig"
        self.startup_seconds = 0.0
        self._pki = self.directory / "pki"
        self.ca = CertificateAuthority(self._pki)
        self.kubelet_serving: KeyPair | None = None
        self.etcd: ManagedProcess | None = None
        self.apiserver: ManagedProcess | None = None
        self.controller_manager: ManagedProcess | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Generate certificates and config, start the three processes, wait until ready.

        Raises:
            StartupError: A process exited or did not become ready; the message has its log.
        """
        start = time.monotonic()
        try:
            self._write_config()
            self._start_etcd()
            self.start_apiserver()
            self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - start

    def stop(self) -> None:
        """Stop every process (controller manager first) and remove the temporary directory
        (kept, with every log, when ``KINETIC_BENCH_KEEP=1``)."""
        for proc in (self.controller_manager, self.apiserver, self.etcd):
            if proc is not None:
                proc.stop(timeout=_STOP_TIMEOUT)
        if os.environ.get("KINETIC_BENCH_KEEP") == "1":
            print(f"[bench] KINETIC_BENCH_KEEP=1: kept logs in {self.directory}", file=sys.__stderr__)
            return
        shutil.rmtree(self.directory, ignore_errors=True)

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver only (etcd and the controller manager keep running).

        SIGTERM first; its graceful shutdown waits for open watches, so SIGKILL follows after
        two seconds.
        """
        if self.apiserver is not None:
            self.apiserver.stop(timeout=_STOP_TIMEOUT)

    def start_apiserver(self, timeout: float = 90.0) -> None:
        """Start kube-apiserver (again) on the same port and wait for ``/readyz``."""
        if self.apiserver is None:
            self.apiserver = ManagedProcess(
                "kube-apiserver", self._apiserver_argv(), self.directory / "kube-apiserver.log"
            )
        self.apiserver.start()
        self.apiserver.wait_until(self.ready, timeout, "ready (/readyz)")

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver; clients reconnect to the same address."""
        self.stop_apiserver()
        self.start_apiserver()

    def ready(self) -> bool:
        """Whether ``/readyz`` of the API server answers ``ok``."""
        context = ssl.create_default_context(cafile=str(self.ca.cert_path))
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, context=context, timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"

    # --- pieces ----------------------------------------------------------------------------

    def _write_config(self) -> None:
        pki = self._pki
        self._serving = self.ca.issue(
            "apiserver",
            "kube-apiserver",
            hosts=[
                "127.0.0.1", "localhost", "10.0.0.1", "kubernetes", "kubernetes.default",
                "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
            ],
            server=True,
        )
        self._kubelet_client = self.ca.issue(
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            organizations=["system:masters"],
            client=True,
        )
        self.kubelet_serving = self.ca.issue(
            "kubelet", "test-kubelet", hosts=["127.0.0.1", "localhost"], server=True
        )
        self._sa = service_account_keys(pki)
        tokens = pki / "tokens.csv"
        tokens.write_text(
            f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
            f'{self._kcm_token},system:kube-controller-manager,kcm,"system:masters"\n'
        )
        tokens.chmod(0o600)
        self._tokens = tokens
        self.kubeconfig.write_text(_kubeconfig(self.server, self.ca.pem, ADMIN_USER, self.token))
        self._kcm_kubeconfig = self.directory / "kube-controller-manager.kubeconfig"
        self._kcm_kubeconfig.write_text(
            _kubeconfig(self.server, self.ca.pem, "system:kube-controller-manager", self._kcm_token)
        )

    def _start_etcd(self) -> None:
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{self.etcd_peer_port}"
        self.etcd = ManagedProcess(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=bench",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=bench={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            self.directory / "etcd.log",
        )
        self.etcd.start()

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client_url}/health", timeout=2) as response:
                return json.loads(response.read()).get("health") == "true"

        self.etcd.wait_until(healthy, 30, "healthy (/health)")

    def _apiserver_argv(self) -> list[str]:
        pki = self._pki
        return [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={self._serving.cert}",
            f"--tls-private-key-file={self._serving.key}",
            f"--client-ca-file={self.ca.cert_path}",
            f"--token-auth-file={self._tokens}",
            "--authorization-mode=RBAC",
            "--anonymous-auth=false",
            f"--service-account-key-file={self._sa.cert}",
            f"--service-account-signing-key-file={self._sa.key}",
            f"--service-account-issuer={self.server}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            f"--kubelet-client-certificate={self._kubelet_client.cert}",
            f"--kubelet-client-key={self._kubelet_client.key}",
            f"--kubelet-certificate-authority={self.ca.cert_path}",
            "--kubelet-preferred-address-types=InternalIP",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=1",
        ]

    def _start_controller_manager(self) -> None:
        kubeconfig = self._kcm_kubeconfig
        self.controller_manager = ManagedProcess(
            "kube-controller-manager",
            [
                str(self.binaries.kube_controller_manager),
                f"--kubeconfig={kubeconfig}",
                f"--controllers={CONTROLLERS}",
                "--leader-elect=false",
                "--secure-port=0",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={self._sa.key}",
                f"--root-ca-file={self.ca.cert_path}",
                "--v=1",
            ],
            self.directory / "kube-controller-manager.log",
        )
        self.controller_manager.start()
        # No serving port to probe: wait until the log says the job controller and the garbage
        # collector have synced their caches.
        log = self.controller_manager.log_path
        marks = ('"Caches are synced" controller="job"', "Proceeding to collect garbage")
        self.controller_manager.wait_until(
            lambda: all(mark in log.read_text(errors="replace") for mark in marks),
            60,
            "running the job controller and garbage collector",
        )

    def logs(self) -> dict[str, str]:
        """Tails of every process log, for debugging failed tests."""
        return {
            proc.name: proc.log_tail()
            for proc in (self.etcd, self.apiserver, self.controller_manager)
            if proc is not None
        }


__all__ = ["ADMIN_USER", "ControlPlane", "StartupError"]
