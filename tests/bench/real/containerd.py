"""A private containerd (Debian's 1.6 package) for the real bench, and image import into it.

Its root, state, sockets, runc state and CNI configuration all live in the bench's folder; only
the shims' sockets (``/run/containerd/s``, fixed in containerd 1.6) and the CNI cache fall outside
it, and :mod:`tests.bench.real.host` removes those. ``restrict_oom_score_adj`` is required on
machines whose root lacks ``CAP_SYS_RESOURCE`` in its bounding set (a VM like this one): without
it runc cannot write the sandbox's ``oom_score_adj`` and fails with "can't get final child's PID
from pipe: EOF".

Images are pulled as a GKE node pulls them, by digest from a registry: the bench's own
(:mod:`tests.bench.real.registry`, on 127.0.0.1, plain HTTP: ``registries/<host:port>/
hosts.toml``). Only the sandbox (pause) image is imported. Every other registry host
(``registries/_default/hosts.toml``, with a ``[host]`` entry, without which containerd 1.6
ignores ``server``) points at a closed port on 127.0.0.1, so a pull from anywhere else fails at
once (``ErrImagePull``, "connection refused") with no DNS query and no packet leaving the machine.

The CNI network is a bridge with a /24 that exists only in this machine's network namespaces:
no gateway, no masquerading, no route out. The bench's own Pods use ``hostNetwork`` (they reach
fake-gcs-server on 127.0.0.1); the bridge is there so the Node reports Ready as a real one does.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from tests.bench.processes import ManagedProcess, StartupError, free_port
from tests.bench.real.host import unmount_below
from tests.bench.real.oci import write_import_archive

NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace
CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
#: Upper bound of containerd's in-memory root (pages are used only as files are written).
ROOT_TMPFS_SIZE = "8g"


def _free_subnet() -> str:
    """A 10.x.y.0/24 that no route of this machine covers."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                            text=True, check=False).stdout
    taken = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        try:
            taken.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    for _ in range(200):
        second, third = secrets.randbelow(200) + 50, secrets.randbelow(250)
        net = ipaddress.ip_network(f"10.{second}.{third}.0/24")
        if not any(net.overlaps(t) for t in taken if t.prefixlen > 0):
            return str(net)
    raise StartupError("no free 10.x.y.0/24 for the bench's pod network")


class Containerd:
    """containerd with its own root, state and socket under ``directory``.

    Args:
        directory: The folder for everything containerd writes (created).
        sandbox_image: Name of the pause image (imported before any pod starts).
        registry: ``127.0.0.1:<port>`` of the bench's registry, pulled from over plain HTTP.
    """

    def __init__(self, directory: Path, sandbox_image: str, registry: str = "") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket = self.directory / "containerd.sock"
        self.sandbox_image = sandbox_image
        self.bridge = f"kin{secrets.token_hex(4)}"  # <= 15 characters
        self.subnet = _free_subnet()
        self.config_path = self.directory / "config.toml"
        #: Where every other image pull is sent: a port on 127.0.0.1 nobody listens on.
        self.closed_registry = f"127.0.0.1:{free_port()}"
        self.registry = registry
        self.process: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        """The CRI endpoint for the kubelet (``unix://...``)."""
        return f"unix://{self.socket}"

    def _write_config(self) -> None:
        d = self.directory
        cni_conf = d / "cni" / "net.d"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-kinetic-bench.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0",
            "name": "kinetic-bench",
            "plugins": [
                {"type": "bridge", "bridge": self.bridge, "isGateway": False, "ipMasq": False,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                          "dataDir": str(d / "cni" / "ipam")}},
                {"type": "loopback"},
            ],
        }, indent=2))
        registries = d / "registries"
        hosts = {"_default": self.closed_registry}  # every other registry host
        if self.registry:
            hosts[self.registry] = self.registry
        for host, server in hosts.items():
            (registries / host).mkdir(parents=True, exist_ok=True)
            (registries / host / "hosts.toml").write_text(
                f'server = "http://{server}"\n\n[host."http://{server}"]\n'
                '  capabilities = ["pull", "resolve"]\n')
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        self.config_path.write_text(f"""\
version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.socket}"

[ttrpc]
  address = "{self.socket}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'opt'}"

[plugins."io.containerd.runtime.v1.linux"]
  state = "{d / 'state' / 'v1-linux'}"
  runtime_root = "{d / 'runc-v1'}"

[{cri}]
  sandbox_image = "{self.sandbox_image}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_container_log_line_size = 16384
  netns_mounts_under_state_dir = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{d / 'runc'}"

[{cri}.registry]
  config_path = "{registries}"

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{cni_conf}"
  max_conf_num = 1
""")

    def start(self, timeout: float = 120.0) -> None:
        """Write the configuration, start containerd and wait until its API answers.

        Its root (content store and unpacked layers, ~2 GiB with the demo image) is a tmpfs:
        each session imports the images afresh, and on a disk that is both slow to write and
        slow to delete (tens of thousands of files); in memory it is neither, and teardown is
        one unmount.
        """
        root = self.directory / "root"
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={ROOT_TMPFS_SIZE},mode=0700",
                        "kinetic-real-containerd", str(root)], check=True)
        self._write_config()
        self.process = ManagedProcess(
            "containerd", ["containerd", "--config", str(self.config_path)],
            self.directory / "containerd.log")
        self.process.start()
        self.process.wait_until(lambda: self.ctr("version").returncode == 0, timeout,
                                "serving its API")

    def ctr(self, *args: str, input_stream=None,
            timeout: float = 600) -> subprocess.CompletedProcess:
        """Run ``ctr`` against this containerd in the CRI namespace."""
        return subprocess.run(["ctr", "--address", str(self.socket), "--namespace", NAMESPACE,
                               *args], stdin=input_stream, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def import_image(self, image) -> float:
        """Import a cached image (a :class:`~tests.bench.real.images.BuiltImage`) under all
        its names; return the seconds it took."""
        start = time.monotonic()
        present = frozenset(self.ctr("content", "list", "--quiet").stdout.split())
        proc = subprocess.Popen(
            ["ctr", "--address", str(self.socket), "--namespace", NAMESPACE, "images", "import",
             "--snapshotter", "overlayfs", "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert proc.stdin is not None
            write_import_archive(image.layout, image.names, proc.stdin, present)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        if proc.wait(timeout=600) != 0:
            raise StartupError(f"ctr images import of {image.by_tag} failed:\n{out[-3000:]}")
        listed = self.ctr("images", "list", "--quiet").stdout.split()
        missing = [n for n in image.names if n not in listed]
        if missing:
            raise StartupError(f"after importing {image.by_tag}, containerd lacks {missing}")
        return time.monotonic() - start

    def remove_all_containers(self) -> None:
        """Kill and delete every task and container left (after the kubelet stopped)."""
        for task in self.ctr("tasks", "list", "--quiet").stdout.split():
            self.ctr("tasks", "kill", "--signal", "SIGKILL", task, timeout=30)
        deadline = time.monotonic() + 30
        for task in self.ctr("tasks", "list", "--quiet").stdout.split():
            while self.ctr("tasks", "delete", task, timeout=30).returncode != 0 and \
                    time.monotonic() < deadline:
                time.sleep(0.5)
        for container in self.ctr("containers", "list", "--quiet").stdout.split():
            self.ctr("containers", "delete", container, timeout=30)

    def shim_pids(self) -> list[int]:
        """Process ids of the containerd shims serving this containerd (and no other)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and \
                    str(self.socket).encode() in argv:
                pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        """Remove containers, stop containerd, then end any shim of ours still running."""
        if self.process is not None and self.process.running():
            self.remove_all_containers()
        if self.process is not None:
            self.process.stop(timeout=10)
        for pid in self.shim_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        unmount_below([self.directory])  # the containers' mounts, then the tmpfs root
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)
