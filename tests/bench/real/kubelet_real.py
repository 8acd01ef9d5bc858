"""A real kubelet (built from k8s.io/kubernetes, same version as the control plane).

Settings that this kind of machine needs (cgroup v1 mounted on a tmpfs, no systemd, a VM whose
root cannot raise every limit) are in :func:`kubelet_config`; each has its reason next to it.
The kubelet registers its Node tainted ``node.kubernetes.io/not-ready:NoSchedule``; only the
node-lifecycle controller removes that taint on a real cluster, and the bench does not run it,
so :meth:`RealKubelet.wait_ready` removes it once the Node is Ready.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.bench.processes import ManagedProcess, StartupError, free_port

NOT_READY_TAINT = "node.kubernetes.io/not-ready"


def kubelet_config(directory: Path, node_ip: str, port: int, ca: Path, tls_cert: Path,
                   tls_key: Path, runtime_endpoint: str) -> dict[str, Any]:
    """The KubeletConfiguration of the bench's kubelet."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # serve only on the machine's own address, on a port picked at start
        "address": node_ip, "port": port, "readOnlyPort": 0, "healthzPort": 0,
        "tlsCertFile": str(tls_cert), "tlsPrivateKeyFile": str(tls_key),
        # the API server (client certificate from the bench CA) is the only client
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                           "x509": {"clientCAFile": str(ca)}},
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": runtime_endpoint,
        # cgroup v1 on a tmpfs, no systemd: cgroupfs driver, no QoS hierarchy, no node
        # allocatable enforcement; cgroup v1 is deprecated, so say it is on purpose
        "cgroupDriver": "cgroupfs", "cgroupsPerQOS": False, "enforceNodeAllocatable": [],
        "failCgroupV1": False, "failSwapOn": False,
        # no KUBE-FIREWALL / KUBE-MARK chains in the host's iptables
        "makeIPTablesUtilChains": False,
        # refusing would make the kubelet exit; the bench restores the sysctls it sets
        "protectKernelDefaults": False,
        # images cannot be pulled back from anywhere: never garbage-collect them, and keep
        # eviction from reacting to a machine that is merely busy
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%",
                         "nodefs.inodesFree": "1%", "imagefs.available": "1%"},
        "podLogsDir": str(directory / "pod-logs"),
        "volumePluginDir": str(directory / "volume-plugins"),
        "staticPodPath": "",
        "serializeImagePulls": False,
        "maxPods": 50,
    }


class RealKubelet:
    """The kubelet process, its configuration and readiness.

    Args:
        binary: Path of the kubelet.
        directory: Folder for its root dir, config and logs (created).
        node_name: Node name (must match the CN of its client certificate).
        node_ip: The Node's InternalIP (the machine's own interface address).
        kubeconfig: Kubeconfig with the kubelet's client certificate.
        ca: The bench CA (client CA of the kubelet's server).
        tls: The kubelet's serving certificate and key.
        runtime_endpoint: containerd's CRI endpoint.
    """

    def __init__(self, binary: Path, directory: Path, node_name: str, node_ip: str,
                 kubeconfig: Path, ca: Path, tls, runtime_endpoint: str) -> None:
        self.binary = Path(binary)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.node_name = node_name
        self.node_ip = node_ip
        self.port = free_port()
        self.root_dir = self.directory / "root"
        config = kubelet_config(self.directory, node_ip, self.port, ca, tls.cert, tls.key,
                                runtime_endpoint)
        self.config_path = self.directory / "config.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        self.process = ManagedProcess("kubelet", [
            str(self.binary), f"--config={self.config_path}", f"--kubeconfig={kubeconfig}",
            f"--hostname-override={node_name}", f"--node-ip={node_ip}",
            f"--root-dir={self.root_dir}", f"--cert-dir={self.directory / 'pki'}", "--v=2",
        ], self.directory / "kubelet.log")

    def start(self) -> None:
        """Start the kubelet (returns at once; see :meth:`wait_ready`)."""
        self.process.start()

    def wait_ready(self, core_v1, timeout: float = 180.0) -> float:
        """Wait for the Node to be Ready, then remove the not-ready taint; return seconds.

        Raises:
            StartupError: The kubelet exited or the Node was not Ready in time.
        """
        start = time.monotonic()

        def ready() -> bool:
            node = core_v1.read_node(self.node_name)
            return any(c.type == "Ready" and c.status == "True"
                       for c in node.status.conditions or [])

        self.process.wait_until(ready, timeout, f"Ready (Node {self.node_name})")
        node = core_v1.read_node(self.node_name)
        taints = [t.to_dict() for t in node.spec.taints or [] if t.key != NOT_READY_TAINT]
        if len(taints) != len(node.spec.taints or []):
            core_v1.patch_node(self.node_name, {"spec": {"taints": taints or None}})
        node = core_v1.read_node(self.node_name)
        if any(t.key == NOT_READY_TAINT for t in node.spec.taints or []):
            raise StartupError(f"Node {self.node_name} kept the {NOT_READY_TAINT} taint")
        return time.monotonic() - start

    def stop(self) -> None:
        """Stop the kubelet (SIGTERM, then SIGKILL after 10 s)."""
        self.process.stop(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        """The end of the kubelet's log, for error messages."""
        return self.process.log_tail(lines)
