"""The test kubelet: registers GKE-like Nodes, schedules pods onto them, runs them as processes.

It plays kube-scheduler (binding pods that fit via ``pods/binding``, or setting
``PodScheduled=False/Unschedulable`` with kube-scheduler's message) and the kubelet of every Node
it registered (see :mod:`tests.bench.pod_worker`), serves container logs for the API server, and
is the fault injector of the bench:

* image name containing ``does-not-exist`` -> ``ErrImagePull`` then ``ImagePullBackOff``;
  an image name that does not parse -> ``InvalidImageName`` (see :mod:`tests.bench.containers`);
* ``valueFrom.secretKeyRef`` to a missing Secret/key -> ``CreateContainerConfigError`` (retried);
* a pod no Node can host -> ``PodScheduled=False``, reason ``Unschedulable``, message like
  ``0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: ...``;
* a container above its memory limit (RSS of its process group, sampled every 0.1 s) ->
  SIGKILL, exit code 137, reason ``OOMKilled``;
* :meth:`BenchKubelet.kill_pod` -> SIGKILL, exit code 137, reason ``Error``;
* :meth:`BenchKubelet.set_node_ready` -> Node ``Ready=False`` plus the
  ``node.kubernetes.io/not-ready:NoSchedule`` taint (no new pods land there).

Everything it learns about pods comes from one list+watch over all pods.
"""

from __future__ import annotations

import copy
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.bench.certs import KeyPair
from tests.bench.kube_api import (
    REQUEST_TIMEOUT,
    ListWatcher,
    discard,
    log,
    now_rfc3339,
    read_json,
    status_code,
)
from tests.bench.log_server import ContainerLog, LogNotAvailable, LogServer
from tests.bench.pod_worker import PodWorker
from tests.bench.scheduling import misfit_reasons, pod_requests, unschedulable_message
from tests.bench.status_manager import StatusManager

NODEPOOL = "cloud.google.com/gke-nodepool"
ACCELERATOR = "cloud.google.com/gke-accelerator"
SPOT = "cloud.google.com/gke-spot"
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
KUBELET_VERSION = "v1.34.4"
_TERMINAL = ("Succeeded", "Failed")


@dataclass
class NodeSpec:
    """A Node the test kubelet registers.

    Attributes:
        name: Node name.
        labels: Extra labels (added to ``kubernetes.io/hostname``, os and arch).
        taints: Taints as API dicts (``key``, ``value``, ``effect``).
        capacity: Capacity (= allocatable), e.g. ``{"cpu": "8", "memory": "32Gi"}``.
    """

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    capacity: dict[str, str] = field(default_factory=lambda: {"cpu": "8", "memory": "32Gi"})


def cpu_node(name: str = "gke-bench-default-pool-0") -> NodeSpec:
    """An untainted general-purpose node in node pool ``default-pool``."""
    return NodeSpec(
        name,
        labels={NODEPOOL: "default-pool", "node.kubernetes.io/instance-type": "e2-standard-8"},
        capacity={"cpu": "8", "memory": "32Gi"},
    )


def spot_node(name: str = "gke-bench-spot-pool-0") -> NodeSpec:
    """A spot node: ``cloud.google.com/gke-spot=true`` label and NoSchedule taint."""
    return NodeSpec(
        name,
        labels={NODEPOOL: "spot-pool", SPOT: "true", "node.kubernetes.io/instance-type": "e2-standard-4"},
        taints=[{"key": SPOT, "value": "true", "effect": "NoSchedule"}],
        capacity={"cpu": "4", "memory": "16Gi"},
    )


def gpu_node(
    name: str = "gke-bench-gpu-pool-0", accelerator: str = "nvidia-tesla-t4", gpus: int = 1
) -> NodeSpec:
    """A GPU node as GKE makes it: accelerator label, ``nvidia.com/gpu`` capacity and taint."""
    return NodeSpec(
        name,
        labels={NODEPOOL: "gpu-pool", ACCELERATOR: accelerator, "node.kubernetes.io/instance-type": "n1-standard-8"},
        taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
        capacity={"cpu": "8", "memory": "30Gi", "nvidia.com/gpu": str(gpus)},
    )


def tpu_node(
    name: str = "gke-bench-tpu-pool-0",
    accelerator: str = "tpu-v5-lite-podslice",
    topology: str = "2x2",
    chips: int = 4,
) -> NodeSpec:
    """A TPU node as GKE makes it: TPU accelerator/topology labels, ``google.com/tpu`` capacity
    and taint."""
    return NodeSpec(
        name,
        labels={
            NODEPOOL: "tpu-pool",
            "cloud.google.com/gke-tpu-accelerator": accelerator,
            "cloud.google.com/gke-tpu-topology": topology,
        },
        taints=[{"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"}],
        capacity={"cpu": "24", "memory": "48Gi", "google.com/tpu": str(chips)},
    )


def default_nodes() -> list[NodeSpec]:
    """The session's nodes: one general-purpose node and one spot node (no GPU node)."""
    return [cpu_node(), spot_node()]


class BenchKubelet:
    """Scheduler + kubelet for every registered Node, running pods as local processes.

    Args:
        make_api: Returns a new ``kubernetes.client.ApiClient`` for the cluster.
        serving: Certificate/key for the HTTPS log endpoint (IP SAN 127.0.0.1).
        client_ca: CA of the API server's kubelet client certificate.
        nodes: Nodes to register (default :func:`default_nodes`).
        cwd: Working directory of container processes (default: the current directory).
        workdir: Where pod logs go (default: a new temporary directory).

    Attributes:
        cwd: Working directory of container processes; change it between tests if needed.
        extra_env: Variables added to every container's environment (below the declared env).
        termination_grace_cap: Longest wait between SIGTERM and SIGKILL on deletion (seconds).
        image_pull_backoff_after: Seconds from ``ErrImagePull`` to ``ImagePullBackOff``.
        restart_backoff: Seconds before restarting a container (restartPolicy OnFailure/Always).
    """

    def __init__(
        self,
        make_api: Callable[[], client.ApiClient],
        serving: KeyPair,
        client_ca: Path,
        nodes: list[NodeSpec] | None = None,
        cwd: str | Path | None = None,
        workdir: str | Path | None = None,
    ) -> None:
        self._make_api = make_api
        self.core = client.CoreV1Api(make_api())
        self.cwd = str(cwd or Path.cwd())
        self.extra_env: dict[str, str] = {}
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kinetic-kubelet-"))
        self.termination_grace_cap = 2.0
        self.image_pull_backoff_after = 1.0
        self.restart_backoff = 1.0
        self._node_specs = {n.name: n for n in (nodes if nodes is not None else default_nodes())}
        self._not_ready: set[str] = set()
        self._pods: dict[str, dict[str, Any]] = {}
        self._workers: dict[str, PodWorker] = {}
        self._by_name: dict[tuple[str, str], PodWorker] = {}
        self._assumed: dict[str, str] = {}
        self._unschedulable: dict[str, str] = {}
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._sched_wake = threading.Event()
        self.status = StatusManager(make_api, self._current_pod)
        self._logs = LogServer(self._lookup_log, serving, client_ca)
        self._watcher = ListWatcher(
            client.CoreV1Api(make_api()).list_pod_for_all_namespaces,
            self._on_sync,
            self._on_event,
            self._stopped,
        )
        self._threads = [
            threading.Thread(target=self._watcher.run, name="kubelet-watch", daemon=True),
            threading.Thread(target=self._schedule_loop, name="kubelet-scheduler", daemon=True),
        ]

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Port of the HTTPS log endpoint (the Nodes' kubeletEndpoint port)."""
        return self._logs.port

    def start(self) -> None:
        """Serve logs, register the Nodes, start watching and scheduling."""
        self._logs.start()
        for spec in self._node_specs.values():
            self._register(spec)
        self.status.start()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop all threads and kill every container process."""
        self._stopped.set()
        self._sched_wake.set()
        self._watcher.close()
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.abandon()
        for worker in workers:
            worker.join(5)
        self.status.stop()
        self._logs.stop()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(5)

    def wake_scheduler(self) -> None:
        """Re-run scheduling now (resources were freed, a node changed)."""
        self._sched_wake.set()

    # --- nodes -------------------------------------------------------------------------------

    @property
    def nodes(self) -> list[str]:
        """Names of the Nodes this kubelet manages."""
        return list(self._node_specs)

    def add_node(self, spec: NodeSpec) -> None:
        """Register another Node (e.g. :func:`gpu_node`) and reconsider pending pods."""
        self._node_specs[spec.name] = spec
        self._register(spec)
        self.wake_scheduler()

    def remove_node(self, name: str) -> None:
        """Delete a Node this kubelet registered (its pods keep running until deleted)."""
        self._node_specs.pop(name, None)
        self._not_ready.discard(name)
        try:
            self.core.delete_node(name, _request_timeout=REQUEST_TIMEOUT)
        except Exception as error:
            if status_code(error) != 404:
                raise
        self.wake_scheduler()

    def set_node_ready(self, name: str, ready: bool = True) -> None:
        """Flip a Node's Ready condition and its ``not-ready:NoSchedule`` taint.

        Pods already running there keep running and reporting (the node lifecycle controller,
        which would evict them, is not part of the bench).
        """
        spec = self._node_specs[name]
        if ready:
            self._not_ready.discard(name)
        else:
            self._not_ready.add(name)
        self._patch_node_status(spec)
        self._sync_not_ready_taint(name)
        self.wake_scheduler()

    def _sync_not_ready_taint(self, name: str) -> None:
        """Add or drop ``node.kubernetes.io/not-ready:NoSchedule`` as the node lifecycle controller
        would (the API server's TaintNodesByCondition admission adds it to every new Node)."""
        node = read_json(self.core.read_node(name, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        taints = node["spec"].get("taints") or []
        kept = [t for t in taints if t.get("key") != NOT_READY_TAINT["key"]]
        if name in self._not_ready:
            kept.append(dict(NOT_READY_TAINT, timeAdded=now_rfc3339()))
        if kept != taints:
            discard(self.core.patch_node(
                name,
                [{"op": "add", "path": "/spec/taints", "value": kept}],
                _request_timeout=REQUEST_TIMEOUT,
                _preload_content=False,
            ))

    def _node_status(self, spec: NodeSpec) -> dict[str, Any]:
        now = now_rfc3339()
        ready = spec.name not in self._not_ready

        def condition(kind: str, ok: bool, reason: str, message: str) -> dict[str, str]:
            return {
                "type": kind, "status": "True" if ok else "False", "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now,
            }

        return {
            "capacity": dict(spec.capacity, pods=spec.capacity.get("pods", "110")),
            "allocatable": dict(spec.capacity, pods=spec.capacity.get("pods", "110")),
            "conditions": [
                condition("MemoryPressure", False, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", False, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", False, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", ready, "KubeletReady" if ready else "KubeletNotReady",
                          "kubelet is posting ready status" if ready else "test kubelet: node set NotReady"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": spec.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": spec.name, "systemUUID": spec.name, "bootID": spec.name,
                "kernelVersion": "bench", "osImage": "kedro-kinetic test bench",
                "containerRuntimeVersion": "bench://1", "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
            },
        }

    def _register(self, spec: NodeSpec) -> None:
        labels = {
            "kubernetes.io/hostname": spec.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            **spec.labels,
        }
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": spec.name, "labels": labels},
            "spec": {"taints": copy.deepcopy(spec.taints)} if spec.taints else {},
        }
        try:
            self.core.create_node(body, _request_timeout=REQUEST_TIMEOUT)
        except Exception as error:
            if status_code(error) != 409:
                raise
        self._patch_node_status(spec)
        self._sync_not_ready_taint(spec.name)

    def _patch_node_status(self, spec: NodeSpec) -> None:
        discard(self.core.patch_node_status(
            spec.name,
            [{"op": "add", "path": "/status", "value": self._node_status(spec)}],
            _request_timeout=REQUEST_TIMEOUT,
            _preload_content=False,
        ))

    # --- fault injection and inspection ----------------------------------------------------------

    def worker(self, namespace: str, name: str) -> PodWorker | None:
        """The worker of the latest pod with this name that ran here (kept for its logs)."""
        with self._lock:
            return self._by_name.get((namespace, name))

    def kill_pod(self, namespace: str, name: str, container: str | None = None) -> bool:
        """SIGKILL a running pod's container processes: exit code 137, reason ``Error``.

        Returns:
            Whether a running process was killed.
        """
        worker = self.worker(namespace, name)
        return worker.kill(container) if worker is not None else False

    def pod_pid(self, namespace: str, name: str, container: str | None = None) -> int | None:
        """Process id of a pod's container process (None if it never started here)."""
        worker = self.worker(namespace, name)
        return worker.pid(container) if worker is not None else None

    def pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        """A container's log as written locally (without going through the API server)."""
        worker = self.worker(namespace, name)
        if worker is None:
            raise LookupError(f"pod {namespace}/{name} never ran on the test kubelet")
        target = container or worker.main[0].name
        return worker.container_log(target, previous=False).text()

    def _lookup_log(self, namespace: str, pod: str, container: str, previous: bool) -> ContainerLog:
        worker = self.worker(namespace, pod)
        if worker is None:
            raise LogNotAvailable(f'pod "{pod}" in namespace "{namespace}" is not running on this node')
        return worker.container_log(container, previous)

    # --- pods ----------------------------------------------------------------------------------

    def _current_pod(self, uid: str) -> dict[str, Any] | None:
        with self._lock:
            return self._pods.get(uid)

    def _on_sync(self, items: list[dict[str, Any]]) -> None:
        seen = {p["metadata"]["uid"] for p in items}
        with self._lock:
            gone = [self._pods[uid] for uid in self._pods if uid not in seen]
        for pod in gone:
            self._on_event("DELETED", pod)
        for pod in items:
            self._on_event("MODIFIED", pod)

    def _on_event(self, kind: str, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        if kind == "DELETED":
            with self._lock:
                self._pods.pop(uid, None)
                self._assumed.pop(uid, None)
                self._unschedulable.pop(uid, None)
                worker = self._workers.pop(uid, None)
            if worker is not None:
                worker.abandon()
            self.status.forget(uid)
            self.wake_scheduler()
            return
        node = pod["spec"].get("nodeName")
        with self._lock:
            self._pods[uid] = pod
            if node:
                self._assumed.pop(uid, None)
                self._unschedulable.pop(uid, None)
            worker = self._workers.get(uid)
            if worker is None and node in self._node_specs and not meta.get("deletionTimestamp") \
                    and pod.get("status", {}).get("phase") not in _TERMINAL:
                worker = self._workers[uid] = PodWorker(self, pod)
                self._by_name[(meta["namespace"], meta["name"])] = worker
                worker.start()
            elif worker is not None:
                worker.pod = pod
        if node in self._node_specs and meta.get("deletionTimestamp"):
            if worker is not None:
                worker.terminate(float(meta.get("deletionGracePeriodSeconds") or 0))
            elif meta.get("deletionGracePeriodSeconds") != 0:
                self.status.delete_pod(meta["namespace"], meta["name"], uid)
        if not node or pod.get("status", {}).get("phase") in _TERMINAL:
            self.wake_scheduler()

    # --- scheduling ------------------------------------------------------------------------------

    def _schedule_loop(self) -> None:
        core = client.CoreV1Api(self._make_api())
        while not self._stopped.is_set():
            self._sched_wake.wait(1.0)
            self._sched_wake.clear()
            if self._stopped.is_set():
                return
            try:
                self._schedule_pending(core)
            except Exception as error:  # noqa: BLE001 - API server away: next round
                log.debug("scheduling pass failed: %s", error)

    def _schedule_pending(self, core: client.CoreV1Api) -> None:
        with self._lock:
            pending = [
                p for uid, p in self._pods.items()
                if not p["spec"].get("nodeName")
                and uid not in self._assumed
                and not p["metadata"].get("deletionTimestamp")
                and p.get("status", {}).get("phase") not in _TERMINAL
                and p["spec"].get("schedulerName", "default-scheduler") == "default-scheduler"
            ]
            if not pending:
                return
            used: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
            for uid, p in self._pods.items():
                node = p["spec"].get("nodeName") or self._assumed.get(uid)
                if node and p.get("status", {}).get("phase") not in _TERMINAL:
                    used[node]["pods"] += 1
                    for resource, quantity in pod_requests(p).items():
                        used[node][resource] += quantity
        nodes = read_json(core.list_node(_preload_content=False, _request_timeout=REQUEST_TIMEOUT))["items"]
        for pod in sorted(pending, key=lambda p: p["metadata"].get("creationTimestamp", "")):
            reasons = {n["metadata"]["name"]: misfit_reasons(pod, n, used[n["metadata"]["name"]]) for n in nodes}
            fitting = [name for name, why in reasons.items() if not why]
            if fitting:
                target = fitting[0]
                if self._bind(core, pod, target):
                    used[target]["pods"] += 1
                    for resource, quantity in pod_requests(pod).items():
                        used[target][resource] += quantity
            else:
                self._mark_unschedulable(core, pod, unschedulable_message(reasons))

    def _bind(self, core: client.CoreV1Api, pod: dict[str, Any], node: str) -> bool:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            discard(core.create_namespaced_pod_binding(
                meta["name"], meta["namespace"], body, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            ))
        except Exception as error:
            if status_code(error) in (404, 409):
                return False  # gone or already bound
            raise
        with self._lock:
            self._assumed[meta["uid"]] = node
        return True

    def _mark_unschedulable(self, core: client.CoreV1Api, pod: dict[str, Any], message: str) -> None:
        meta = pod["metadata"]
        with self._lock:
            if self._unschedulable.get(meta["uid"]) == message:
                return
        condition = {
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastProbeTime": None, "lastTransitionTime": now_rfc3339(),
        }
        try:
            discard(core.patch_namespaced_pod_status(
                meta["name"],
                meta["namespace"],
                {"metadata": {"uid": meta["uid"]}, "status": {"conditions": [condition]}},
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            ))
        except Exception as error:
            if status_code(error) not in (404, 409, 422):
                raise
            return
        with self._lock:
            self._unschedulable[meta["uid"]] = message
