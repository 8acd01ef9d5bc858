"""The bench's control plane as a real kubelet needs it, plus kube-scheduler.

Differences from :class:`tests.bench.control_plane.ControlPlane` (whose pieces are reused):
the API server authorizes with ``Node,RBAC`` and admits with ``NodeRestriction``, so the kubelet
(user ``system:node:<name>`` in ``system:nodes``) may read only the Secrets of Pods bound to it,
as on GKE; the kubelet gets a client certificate and a serving certificate for the machine's
own address (the API server dials the Node's InternalIP for logs; a loopback node IP is refused);
kube-scheduler binds Pods (the test kubelet does that itself, a real one does not).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from tests.bench.binaries import Binaries
from tests.bench.certs import KeyPair
from tests.bench.control_plane import ControlPlane, _kubeconfig
from tests.bench.processes import ManagedProcess


def _client_cert_kubeconfig(server: str, ca: Path, cert: KeyPair) -> str:
    """A kubeconfig that authenticates with a client certificate (the kubelet's)."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "bench", "cluster": {"server": server,
                                                   "certificate-authority": str(ca)}}],
        "users": [{"name": "kubelet", "user": {"client-certificate": str(cert.cert),
                                               "client-key": str(cert.key)}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "kubelet"}}],
        "current-context": "bench",
    }, indent=2)


class RealControlPlane(ControlPlane):
    """etcd + kube-apiserver (Node,RBAC) + kube-controller-manager + kube-scheduler.

    Args:
        binaries: Paths of the bench binaries (kube-scheduler included).
        node_name: Name the kubelet registers its Node under.
        node_ip: The machine's own interface address (the Node's InternalIP).
        workdir: Parent of its temporary folder (the real bench's own work folder, so that a
            crashed session's processes can be found by it; see ``host.reap_stale``).

    Attributes:
        kubelet_kubeconfig: Kubeconfig of the kubelet (client certificate).
        kubelet_tls: The kubelet's serving certificate (SAN: ``node_ip``).
    """

    def __init__(self, binaries: Binaries, node_name: str, node_ip: str,
                 workdir: Path | None = None) -> None:
        super().__init__(binaries, workdir)
        self.node_name = node_name
        self.node_ip = node_ip
        self.kubelet_kubeconfig = self.directory / "kubelet.kubeconfig"
        self.kubelet_tls: KeyPair | None = None
        self.scheduler: ManagedProcess | None = None
        self._scheduler_token = secrets.token_hex(16)

    def _write_config(self) -> None:
        super()._write_config()
        client = self.ca.issue("kubelet-client", f"system:node:{self.node_name}",
                               organizations=["system:nodes"], client=True)
        self.kubelet_kubeconfig.write_text(
            _client_cert_kubeconfig(self.server, self.ca.cert_path, client))
        self.kubelet_tls = self.ca.issue("kubelet-serving", f"system:node:{self.node_name}",
                                         hosts=[self.node_ip, self.node_name], server=True)
        with open(self._tokens, "a") as tokens:
            tokens.write(f'{self._scheduler_token},system:kube-scheduler,kube-scheduler,'
                         '"system:masters"\n')
        self._scheduler_kubeconfig = self.directory / "kube-scheduler.kubeconfig"
        self._scheduler_kubeconfig.write_text(_kubeconfig(
            self.server, self.ca.pem, "system:kube-scheduler", self._scheduler_token))

    def _apiserver_argv(self) -> list[str]:
        argv = [a for a in super()._apiserver_argv() if not a.startswith("--authorization-mode=")]
        return [*argv, "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction"]

    def start(self) -> None:
        """Start etcd, the API server, the controller manager and the scheduler."""
        super().start()
        try:
            self._start_scheduler()
        except BaseException:
            self.stop()
            raise

    def _start_scheduler(self) -> None:
        self.scheduler = ManagedProcess(
            "kube-scheduler",
            [str(self.binaries.kube_scheduler), f"--kubeconfig={self._scheduler_kubeconfig}",
             "--leader-elect=false", "--secure-port=0", "--v=2"],
            self.directory / "kube-scheduler.log")
        self.scheduler.start()
        log = self.scheduler.log_path
        # no serving port to probe: ready once its Pod and Node informers have listed
        marks = ('Caches populated" type="*v1.Pod"', 'Caches populated" type="*v1.Node"')
        self.scheduler.wait_until(
            lambda: all(m in log.read_text(errors="replace") for m in marks), 60,
            "listing Pods and Nodes")

    def stop(self) -> None:
        """Stop the scheduler, then the rest (see :meth:`ControlPlane.stop`)."""
        if self.scheduler is not None:
            self.scheduler.stop(timeout=2)
        super().stop()

    def logs(self) -> dict[str, str]:
        out = super().logs()
        if self.scheduler is not None:
            out["kube-scheduler"] = self.scheduler.log_tail()
        return out
