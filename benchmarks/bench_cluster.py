"""The test benches (tests/bench) outside pytest: cluster + fake GCS + an observer watch.

``started_bench()`` starts the bench with the test kubelet (pods are processes);
``started_real_bench()`` the real one (tests/bench/real: a real kubelet runs every pod in a runc
container of demo_project's image, pinned by digest).

The observer watches the namespace's Jobs and Pods (label
``app.kubernetes.io/managed-by=kedro-kinetic``) from the benchmark process and
records, on this machine's clock, when each Job was first seen, when its pod's
container was first seen terminated and when the Job was first seen
``Complete``/``Failed``. That splits a reaction latency into its hops.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Iterator

IMAGE = "europe-docker.pkg.dev/kinetic-bench/kedro/bench@sha256:" + "a" * 64
SELECTOR = "app.kubernetes.io/managed-by=kedro-kinetic"
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


class Observer:
    """First-seen times of Job/Pod transitions (driver-independent).

    Objects arrive as plain JSON (kedro-kinetic's own ``RunWatch``): client models cost
    several times the CPU, which this process would take from the measured driver on the
    bench's two cores while a fan-out creates its Jobs.
    """

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._watch: Any = None

    def start(self) -> None:
        from kubernetes import client

        from kedro_kinetic.backends.kubernetes.watch import RunWatch

        api = self.cluster.api_client()
        self._watch = RunWatch(client.BatchV1Api(api), client.CoreV1Api(api),
                               self.cluster.namespace, SELECTOR, self._seen)
        self._watch.start()

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.stop()

    def _entry(self, job: str) -> dict[str, Any]:
        return self.jobs.setdefault(job, {})

    def _seen(self, kind: str, obj: dict[str, Any], deleted: bool = False) -> None:
        from datetime import datetime

        now = time.time()
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        with self._lock:
            if kind == "job":
                entry = self._entry(meta.get("name", ""))
                entry.setdefault("seen", now)
                if meta.get("creationTimestamp"):
                    entry.setdefault("creation_timestamp", datetime.fromisoformat(
                        meta["creationTimestamp"]).timestamp())
                entry.setdefault("node", (meta.get("annotations") or {}).get(
                    "kedro-kinetic.io/node-name"))
                for cond in status.get("conditions") or []:
                    if cond.get("status") == "True":
                        entry.setdefault(f"cond_{cond.get('type')}", now)
                return
            labels = meta.get("labels") or {}
            job = next((labels[k] for k in JOB_NAME_LABELS if k in labels), None)
            if job is None:
                return
            entry = self._entry(job)
            entry.setdefault("pod_seen", now)
            for container in status.get("containerStatuses") or []:
                state = container.get("state") or {}
                if state.get("running"):
                    entry.setdefault("pod_running", now)
                if state.get("terminated"):
                    entry.setdefault("pod_terminated", now)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self.jobs.items()}


class Bench:
    """A started bench: ``cluster``, ``gcs``, ``observer``; ``params()`` for a project.

    Attributes:
        kind: ``test kubelet`` or ``real kubelet``.
        environ: Extra environment of the driver process (the real bench's ``KUBECONFIG``).
    """

    kind = "test kubelet"

    def __init__(self, cluster: Any, gcs: Any, observer: Observer) -> None:
        self.cluster = cluster
        self.gcs = gcs
        self.observer = observer
        self.environ: dict[str, str] = {}

    def params(self, prefix: str, **extra: Any) -> dict[str, Any]:
        """A ``kinetic:`` block for the bench (backend kubernetes, store in fake GCS)."""
        return {
            "backend": "kubernetes", "image": IMAGE, "image_policy": "require_digest",
            "namespace": self.cluster.namespace, "store": f"gs://{self.gcs.bucket}/{prefix}",
            "max_parallel": 8,
            "defaults": {"cpu": "100m", "memory": "512Mi", "deadline_seconds": 900},
            **extra,
        }

    def write_env(self, project: Path, prefix: str, env: str = "bench", **extra: Any) -> str:
        """Write ``conf/<env>/parameters.yml`` for the bench; return the env name."""
        folder = project / "conf" / env
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "parameters.yml").write_text(
            yaml.safe_dump({"kinetic": self.params(prefix, **extra)}, sort_keys=False))
        from benchmarks.projects import add_code_settings

        add_code_settings(project, kubeconfig=self.cluster.kubeconfig,
                          image_repositories=self.image_repositories(),
                          shared_paths=["data"])  # pods see data/: same disk, or a hostPath
        return env

    def image_repositories(self) -> list[str]:
        """What the bench projects' settings.py allows ``image`` to name."""
        from benchmarks.projects import BENCH_REPOSITORIES

        return BENCH_REPOSITORIES

    @contextlib.contextmanager
    def workdir(self, project: Path) -> Iterator[None]:
        """Run pods in ``project`` (the image's WORKDIR)."""
        previous = self.cluster.kubelet.cwd
        self.cluster.kubelet.cwd = str(project)
        try:
            yield
        finally:
            self.cluster.kubelet.cwd = previous

    def delete_run(self, run_label: str) -> None:
        """Delete a finished run's Jobs and Pods (keeps the API server lean between runs)."""
        from kubernetes import client

        api = self.cluster.api_client()
        selector = f"kedro-kinetic.io/run={run_label}"
        with contextlib.suppress(Exception):
            client.BatchV1Api(api).delete_collection_namespaced_job(
                self.cluster.namespace, label_selector=selector, propagation_policy="Background")
        with contextlib.suppress(Exception):
            client.CoreV1Api(api).delete_collection_namespaced_pod(
                self.cluster.namespace, label_selector=selector, grace_period_seconds=1)


class RealBench(Bench):
    """The real bench: pods are runc containers of demo_project's image (node functions travel
    in the payloads, so any project of the same Python and packages runs in it).

    The cluster is named through ``KUBECONFIG`` in the driver's environment; the pods' network
    and store settings come from the project's own ``kinetic_job_manifest`` hook, which
    :meth:`write_env` installs (tests/bench/real/pod_hooks.py).
    """

    kind = "real kubelet"

    def __init__(self, cluster: Any, gcs: Any, observer: Observer) -> None:
        super().__init__(cluster, gcs, observer)
        self.environ = {"KUBECONFIG": cluster.kubeconfig}

    def params(self, prefix: str, **extra: Any) -> dict[str, Any]:
        block = super().params(prefix, **extra)
        block["image"] = self.cluster.image("demo")
        return block

    def image_repositories(self) -> list[str]:
        return list(self.cluster.repositories)  # the bench registry's, which pods pull from

    def write_env(self, project: Path, prefix: str, env: str = "bench", **extra: Any) -> str:
        from benchmarks.projects import PACKAGE
        from tests.bench.real.project import install_pod_hooks

        if not (project / "src" / PACKAGE / "kinetic_real_bench.py").exists():
            install_pod_hooks(project, PACKAGE)
        return super().write_env(project, prefix, env, **extra)

    @contextlib.contextmanager
    def workdir(self, project: Path) -> Iterator[None]:
        """Nothing to do: the image has its own WORKDIR."""
        yield


@contextlib.contextmanager
def started_real_bench(gcs: Any = None) -> Iterator[RealBench]:
    """Start the real bench (and fake GCS unless ``gcs`` is one already running).

    Raises:
        RuntimeError: The real bench cannot be started (message says why).
    """
    from tests.bench.binaries import BinariesUnavailable, ensure_binaries
    from tests.bench.fixtures import GcsEmulator
    from tests.bench.real.cluster import RealCluster

    try:
        binaries = ensure_binaries()
    except BinariesUnavailable as exc:
        raise RuntimeError(f"bench binaries unavailable: {exc}") from exc
    own_gcs = gcs is None
    gcs = gcs or GcsEmulator(Path(binaries.fake_gcs_server))
    cluster = None
    observer = None
    try:
        if own_gcs:
            gcs.start()
        cluster = RealCluster(binaries)
        observer = Observer(cluster)
        observer.start()
        yield RealBench(cluster, gcs, observer)
    finally:
        if observer is not None:
            observer.stop()
        problems = cluster.stop() if cluster is not None else []
        if own_gcs:
            gcs.stop()
        if problems:
            raise RuntimeError(f"the real bench left the host changed: {problems}")


@contextlib.contextmanager
def started_bench() -> Iterator[Bench]:
    """Start cluster + fake GCS (binaries from scripts/build-bench-binaries.sh).

    Raises:
        RuntimeError: The bench cannot be started (message says why).
    """
    from tests.bench.binaries import BinariesUnavailable, ensure_binaries
    from tests.bench.fixtures import GcsEmulator, K8sCluster

    try:
        binaries = ensure_binaries()
    except BinariesUnavailable as exc:
        raise RuntimeError(f"bench binaries unavailable: {exc}") from exc
    gcs = GcsEmulator(Path(binaries.fake_gcs_server))
    cluster = None
    observer = None
    try:
        gcs.start()
        cluster = K8sCluster(binaries)
        observer = Observer(cluster)
        observer.start()
        yield Bench(cluster, gcs, observer)
    finally:
        if observer is not None:
            observer.stop()
        if cluster is not None:
            cluster.stop()
        gcs.stop()
