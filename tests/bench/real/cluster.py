"""The real bench: control plane + kube-scheduler + containerd + a real kubelet + a registry.

Start order matters for speed and for a clean end: under the machine-wide lock, the registry
starts first (its storage kept in the image cache), the images are built or found (base and
demo in the registry, pause in the image cache), then the control plane, containerd (only the
pause image imported: pods pull theirs from the registry by digest), and the kubelet, which is
ready when its Node is. Teardown runs backwards and deletes Pods while the kubelet still runs,
so it stops their containers itself; whatever is left is removed through containerd; then
:class:`~tests.bench.real.host.HostGuard` restores the host and the registry stops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from kubernetes import client

from tests.bench.binaries import Binaries
from tests.bench.clients import AdminClients
from tests.bench.processes import StartupError
from tests.bench.real.containerd import Containerd
from tests.bench.real.control_plane_real import RealControlPlane
from tests.bench.real.host import KEEP_MARK, HostGuard
from tests.bench.real.images import REPOSITORY_PREFIX, BuiltImage, PushedImage, all_images
from tests.bench.real.kubelet_real import RealKubelet
from tests.bench.real.reaper import reap_stale
from tests.bench.real.registry import persistent_registry

NAMESPACE = "kinetic-real"
NODE_NAME = "kinetic-real-node"


def machine_address() -> str:
    """The first global IPv4 address of an interface that is up (not loopback)."""
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "up", "scope", "global"],
                         capture_output=True, text=True, check=True).stdout
    for link in json.loads(out or "[]"):
        for addr in link.get("addr_info", []):
            if addr.get("family") == "inet" and addr.get("local"):
                return addr["local"]
    raise StartupError("this machine has no global IPv4 address for the Node's InternalIP")


class RealCluster(AdminClients):
    """A running real bench.

    Args:
        binaries: Paths of the bench binaries (kubelet and kube-scheduler included).

    Attributes:
        kubeconfig: Admin kubeconfig path (for ``KUBECONFIG`` of ``kedro run``).
        namespace: The session's namespace.
        images: ``{"base", "demo"}`` -> :class:`PushedImage` (in the registry, by digest),
            ``"pause"`` -> :class:`BuiltImage` (imported: the sandbox image).
        registry: The bench's registry (:class:`~tests.bench.real.registry.BenchRegistry`).
        repositories: What a bench project's settings.py allows ``image`` to name.
        preloaded: The images containerd had before any pod started.
        node_name: The real Node.
        timings: Seconds per start-up step (images, control plane, containerd, imports, ...).
    """

    def __init__(self, binaries: Binaries) -> None:
        self.timings: dict[str, float] = {}
        start = time.monotonic()
        self.work = Path(tempfile.mkdtemp(prefix="kinetic-real-"))
        self.guard = HostGuard(self.work)
        self.guard.lock()
        reap_stale(self.work)  # what a session that died without its teardown left
        self.guard.record()
        self.namespace = NAMESPACE
        self.node_name = NODE_NAME
        self.containerd: Containerd | None = None
        self.kubelet: RealKubelet | None = None
        self.control_plane: RealControlPlane | None = None
        self._registry = ExitStack()
        self.preloaded: list[str] = []
        try:
            self.registry = self._timed("registry", self._registry.enter_context,
                                        persistent_registry(self.work / "registry"))
            self.images: dict[str, BuiltImage | PushedImage] = all_images(self.registry)
            for kind, image in self.images.items():
                self.timings[f"image {kind} ({'cached' if image.cached else 'built'})"] = \
                    image.seconds
            self._start(binaries)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - start

    @property
    def repositories(self) -> list[str]:
        """The image repositories a bench project allows: the registry's, and the names of
        images built here (a Job naming one fails to pull it, which some tests want)."""
        return [self.registry.prefix, REPOSITORY_PREFIX]

    def _timed(self, label: str, fn, *args):
        start = time.monotonic()
        result = fn(*args)
        self.timings[label] = time.monotonic() - start
        return result

    def _start(self, binaries: Binaries) -> None:
        node_ip = machine_address()
        self.control_plane = RealControlPlane(binaries, self.node_name, node_ip, self.work)
        self._timed("control plane + scheduler", self.control_plane.start)
        self.kubeconfig = str(self.control_plane.kubeconfig)
        self.server = self.control_plane.server
        pause = self.images["pause"]
        assert isinstance(pause, BuiltImage)
        self.containerd = Containerd(self.work / "containerd", pause.by_tag,
                                     self.registry.host)
        self._timed("containerd", self.containerd.start)
        self._timed("import pause", self.containerd.import_image, pause)
        self.preloaded = self.containerd.ctr("images", "list", "--quiet").stdout.split()
        assert self.control_plane.kubelet_tls is not None
        self.kubelet = RealKubelet(
            binaries.kubelet, self.work / "kubelet", self.node_name, node_ip,
            self.control_plane.kubelet_kubeconfig, self.control_plane.ca.cert_path,
            self.control_plane.kubelet_tls, self.containerd.endpoint)
        self.kubelet.start()
        try:
            self._timed("kubelet Ready", self.kubelet.wait_ready, self.core_v1())
        except StartupError as exc:
            tail = self.containerd.process.log_tail() if self.containerd.process else ""
            raise StartupError(f"{exc}\n--- containerd log ---\n{tail}") from exc
        self.core_v1().create_namespace({"metadata": {"name": self.namespace}})

    # --- images (clients: tests.bench.clients.AdminClients) ---------------------------------

    def image(self, kind: str) -> str:
        """The by-digest reference of an image (``base``, ``demo``: in the registry)."""
        return self.images[kind].by_digest

    # --- teardown --------------------------------------------------------------------------

    def _delete_pods(self, timeout: float = 120.0) -> None:
        """Delete every Pod while the kubelet runs, and wait until the kubelet let them go."""
        core = self.core_v1()
        for pod in core.list_pod_for_all_namespaces().items:
            try:
                core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace,
                                           grace_period_seconds=1)
            except client.ApiException:
                pass
        deadline = time.monotonic() + timeout
        while core.list_pod_for_all_namespaces().items and time.monotonic() < deadline:
            time.sleep(0.5)

    def stop(self) -> list[str]:
        """Tear everything down and restore the host.

        Returns:
            Problems left on the host (empty when it is as it was).
        """
        if self.kubelet is not None and self.kubelet.process.running() and \
                self.control_plane is not None:
            try:
                self._timed("teardown: delete pods", self._delete_pods)
            except Exception as exc:  # noqa: BLE001 - containerd removes what is left
                print(f"[real bench] deleting pods failed: {exc}", file=sys.__stderr__)
        if self.kubelet is not None:
            self._timed("teardown: kubelet", self.kubelet.stop)
        if self.containerd is not None:
            self._timed("teardown: containerd", self.containerd.stop)
        self._timed("teardown: registry", self._registry.close)
        problems = self._timed("teardown: host restored", self.guard.restore)
        if problems:
            print(f"[real bench] host not fully restored: {problems}", file=sys.__stderr__)
        if self.control_plane is not None:
            self._timed("teardown: control plane", self.control_plane.stop)
        if os.environ.get("KINETIC_BENCH_KEEP") == "1":
            (self.work / KEEP_MARK).write_text("kept with KINETIC_BENCH_KEEP=1\n")
            print(f"[real bench] KINETIC_BENCH_KEEP=1: kept {self.work}", file=sys.__stderr__)
        elif not problems:  # never delete through a mount that is still there
            # ~1 GiB of unpacked image layers: rm is several times faster than shutil.rmtree
            self._timed("teardown: remove work folder", subprocess.run,
                        ["rm", "-rf", "--one-file-system", str(self.work)])
        return problems

    def logs(self) -> dict[str, str]:
        """Tails of every process log, for debugging."""
        out = self.control_plane.logs() if self.control_plane else {}
        if getattr(self, "registry", None) is not None:
            out["registry"] = self.registry.process.log_tail()
        if self.kubelet is not None:
            out["kubelet"] = self.kubelet.log_tail()
        if self.containerd is not None and self.containerd.process is not None:
            out["containerd"] = self.containerd.process.log_tail()
        return out
