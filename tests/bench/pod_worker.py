"""One pod on the test kubelet: fault rules, env, processes, restarts, OOM, deletion, status.

A :class:`PodWorker` thread owns one bound pod from the moment the kubelet sees it until the pod
is gone from the API. It records the wanted status with the kubelet's status manager, which
pushes it; it never blocks on the API server except to read Secrets/ConfigMaps for env.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.bench import containers as ct
from tests.bench.kube_api import log, rfc3339
from tests.bench.log_server import ContainerLog, LogNotAvailable
from tests.bench.processes import forget_pid_group, kill_group, register_pid_group

if TYPE_CHECKING:
    from kubernetes import client

    from tests.bench.kubelet import BenchKubelet

_TICK = 0.05


@dataclass
class _Container:
    """Status-relevant state of one container, plus its process while it runs."""

    spec: dict[str, Any]
    init: bool = False
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    restart_count: int = 0
    popen: subprocess.Popen[bytes] | None = None
    log: ContainerLog | None = None
    previous_log: ContainerLog | None = None
    started_at: float = 0.0
    limit: int | None = None
    oom: bool = False
    restart_at: float | None = None

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def running(self) -> bool:
        return self.popen is not None and "running" in self.state

    @property
    def exit_code(self) -> int | None:
        return self.state.get("terminated", {}).get("exitCode")

    def status(self) -> dict[str, Any]:
        container_id = f"bench://{self.popen.pid}" if self.popen is not None else ""
        state = {k: dict(v, containerID=container_id) if k == "terminated" and container_id else v
                 for k, v in self.state.items()}
        out: dict[str, Any] = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": f"bench://{self.spec.get('image', '')}" if self.popen is not None else "",
            "ready": self.running and not self.init,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": self.last_state,
        }
        if container_id:
            out["containerID"] = container_id
        return out


class PodWorker:
    """Runs one pod's containers as local processes and reports their status.

    Args:
        kubelet: The owning kubelet (status manager, settings, API client).
        pod: The pod as last seen (a dict in the API's JSON shape).
    """

    def __init__(self, kubelet: BenchKubelet, pod: dict[str, Any]) -> None:
        self.kubelet = kubelet
        self.pod = pod
        meta = pod["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        spec = pod["spec"]
        self.restart_policy: str = spec.get("restartPolicy") or "Always"
        self.init = [_Container(c, init=True) for c in spec.get("initContainers") or []]
        self.main = [_Container(c) for c in spec.get("containers") or []]
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.start_time = time.time()
        self.directory = Path(kubelet.workdir) / "pods" / self.uid
        self.finished = threading.Event()
        self._terminate = threading.Event()  # stop the processes (deletion or deadline)
        self._deleting = False
        self._abandoned = False
        self._grace = 30.0
        self._lock = threading.RLock()
        self._transitions: dict[str, tuple[str, str]] = {}
        self._thread = threading.Thread(target=self._main, name=f"pod-{self.name}", daemon=True)

    # --- control from the kubelet / tests ----------------------------------------------------

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def terminate(self, grace: float) -> None:
        """The pod is being deleted: stop its processes (SIGTERM, SIGKILL after the grace)."""
        with self._lock:
            if self._deleting:
                return
            self._deleting = True
            self._grace = grace
            self._terminate.set()
            finished = self.finished.is_set()
        if finished and not self._abandoned:
            self.kubelet.status.delete_pod(self.namespace, self.name, self.uid)

    def abandon(self) -> None:
        """The pod is gone from the API: kill everything, report nothing more."""
        self._abandoned = True
        self._terminate.set()
        self._grace = 0
        with self._lock:
            for container in self.init + self.main:
                if container.popen is not None:
                    kill_group(container.popen.pid)

    def join(self, timeout: float) -> None:
        """Wait for the worker thread."""
        self._thread.join(timeout)

    def _container(self, name: str | None) -> _Container | None:
        candidates = self.main + self.init
        if name is None:
            return next((c for c in candidates if c.running), candidates[0] if candidates else None)
        return next((c for c in candidates if c.name == name), None)

    def kill(self, container: str | None = None) -> bool:
        """SIGKILL a running container's processes (exit 137, reason ``Error``)."""
        with self._lock:
            targets = [c for c in self.main + self.init if c.running and container in (None, c.name)]
            for target in targets:
                kill_group(target.popen.pid)  # type: ignore[union-attr]
        return bool(targets)

    def pid(self, container: str | None = None) -> int | None:
        """Process id of a container's last process (None if it never started)."""
        found = self._container(container)
        return found.popen.pid if found is not None and found.popen is not None else None

    def container_log(self, container: str, previous: bool) -> ContainerLog:
        """The log of a container for the log server.

        Raises:
            LogNotAvailable: Unknown container or nothing started yet.
        """
        found = self._container(container)
        if found is None:
            raise LogNotAvailable(f'container "{container}" in pod "{self.name}" is not available')
        chosen = found.previous_log if previous else found.log
        if chosen is None:
            if previous:
                raise LogNotAvailable(
                    f'previous terminated container "{container}" in pod "{self.name}" not found'
                )
            reason = next(iter(found.state.values()), {}).get("reason", "ContainerCreating")
            raise LogNotAvailable(
                f'container "{container}" in pod "{self.name}" is waiting to start: {reason}'
            )
        return chosen

    # --- the pod's life ----------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._push()
            if not self._images_ok():
                self._terminate.wait()  # until the pod is deleted
                return
            for container in self.init:
                if not self._run([container]) or self._terminate.is_set():
                    return
            self._run(self.main)
        except Exception:  # noqa: BLE001 - a kubelet bug must not hang the test silently
            log.exception("pod worker %s/%s crashed", self.namespace, self.name)
            self.phase, self.reason, self.message = "Failed", "BenchKubeletError", "see test log"
        finally:
            self._cleanup()
            self._push()
            with self._lock:
                self.finished.set()
                delete = self._deleting and not self._abandoned
            if delete:
                self.kubelet.status.delete_pod(self.namespace, self.name, self.uid)
            self.kubelet.wake_scheduler()

    def _images_ok(self) -> bool:
        broken = False
        for container in self.init + self.main:
            problem = ct.image_problem(container.spec.get("image", ""))
            if problem is not None:
                broken = True
                container.state = {"waiting": {"reason": problem[0], "message": problem[1]}}
        if not broken:
            return True
        self._push()
        # A pull error turns into back-off after a moment, as on a real node.
        if not self._terminate.wait(self.kubelet.image_pull_backoff_after):
            for container in self.init + self.main:
                waiting = container.state.get("waiting", {})
                if waiting.get("reason") == "ErrImagePull":
                    container.state = {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": f'Back-off pulling image "{container.spec.get("image")}"',
                        }
                    }
            self._push()
        return False

    def _resolve_env(self, container: _Container, core: client.CoreV1Api) -> dict[str, str] | None:
        while not self._terminate.is_set():
            try:
                return ct.container_env(core, self.pod, container.spec)
            except ct.ContainerConfigError as error:
                waiting = {"reason": "CreateContainerConfigError", "message": str(error)}
                if container.state.get("waiting") != waiting:
                    container.state = {"waiting": waiting}
                    self._push()
            except Exception as error:  # noqa: BLE001 - API server away: retry
                log.debug("env of %s/%s: %s", self.namespace, self.name, error)
            self._terminate.wait(1.0)
        return None

    def _start(self, container: _Container, core: client.CoreV1Api) -> bool:
        declared = self._resolve_env(container, core)
        if declared is None:
            return False
        argv = ct.command_line(container.spec, declared)
        now = time.time()
        if container.log is not None:
            container.previous_log = container.log
        container.log = ContainerLog(self.directory / f"{container.name}-{container.restart_count}.log")
        container.limit = ct.memory_limit(container.spec)
        container.oom = False
        if not argv:
            error = "test kubelet runs only containers with an explicit command (no image entrypoints)"
        else:
            try:
                with self._lock:
                    container.popen = subprocess.Popen(
                        argv,
                        cwd=self.kubelet.cwd,
                        env=ct.process_environment(declared, self.name, self.kubelet.extra_env),
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
            except OSError as exc:
                error = f"failed to start container {container.name!r}: {exc}"
            else:
                register_pid_group(container.popen.pid)
                container.log.capture(container.popen.stdout)  # type: ignore[arg-type]
                container.started_at = now
                container.state = {"running": {"startedAt": rfc3339(now)}}
                return True
        container.log.done.set()
        container.state = {
            "terminated": {
                "exitCode": 128, "reason": "StartError", "message": error,
                "startedAt": rfc3339(now), "finishedAt": rfc3339(now),
            }
        }
        return True

    def _finish(self, container: _Container, returncode: int) -> None:
        popen = container.popen
        assert popen is not None
        kill_group(popen.pid)  # the rest of the container's processes go with it
        forget_pid_group(popen.pid)
        if container.log is not None:
            container.log.finish()
        code = ct.exit_code(returncode)
        reason = "OOMKilled" if container.oom else ("Completed" if code == 0 else "Error")
        container.state = {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                "startedAt": rfc3339(container.started_at),
                "finishedAt": rfc3339(time.time()),
            }
        }
        policy = container.spec.get("terminationMessagePolicy")
        if code != 0 and policy == "FallbackToLogsOnError" and container.log is not None:
            # The kubelet's fallback: the last 80 lines of the log, at most 2048 bytes.
            tail = "".join(container.log.text().splitlines(keepends=True)[-80:]).encode()[-2048:]
            if tail:
                container.state["terminated"]["message"] = tail.decode(errors="replace")

    def _wants_restart(self, container: _Container) -> bool:
        if self._terminate.is_set():
            return False
        code = container.exit_code
        return self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and code != 0)

    def _run(self, group: list[_Container]) -> bool:
        """Run a group of containers until none will run again; True when all exited 0."""
        core = self.kubelet.core
        for container in group:
            if not self._start(container, core):
                return False
        if any(c.running for c in group) and not group[0].init:
            self.phase = "Running"
        self._push()
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        next_sample = 0.0
        while True:
            changed = False
            if self._terminate.is_set():
                self._stop_all(group)
                break
            if deadline is not None and time.time() - self.start_time > deadline:
                self.reason = "DeadlineExceeded"
                self.message = "Pod was active on the node longer than the specified deadline"
                self._terminate.set()
                self._grace = 0
                continue
            sample = time.monotonic() >= next_sample
            if sample:
                next_sample = time.monotonic() + 0.1
            for container in group:
                popen = container.popen
                if container.running and popen is not None:
                    code = popen.poll()
                    if code is None:
                        if sample and container.limit and ct.group_rss(popen.pid) > container.limit:
                            container.oom = True
                            kill_group(popen.pid)
                        continue
                    self._finish(container, code)
                    changed = True
                    if self._wants_restart(container):
                        container.last_state = container.state
                        container.restart_at = time.monotonic() + self.kubelet.restart_backoff
                        container.state = {
                            "waiting": {
                                "reason": "CrashLoopBackOff",
                                "message": f"back-off restarting failed container {container.name}",
                            }
                        }
                elif container.restart_at is not None and time.monotonic() >= container.restart_at:
                    container.restart_at = None
                    container.restart_count += 1
                    self._start(container, core)
                    changed = True
            if all(not c.running and c.restart_at is None for c in group):
                break
            if changed:
                self._push()
            time.sleep(_TICK)
        ok = all(c.exit_code == 0 for c in group)
        is_init = bool(group) and group[0].init
        if not ok or not is_init or self._terminate.is_set():
            self.phase = "Succeeded" if ok and not self.reason else "Failed"
        self._push()
        return ok

    def _stop_all(self, group: list[_Container]) -> None:
        grace = min(self._grace, self.kubelet.termination_grace_cap)
        live = [c for c in group if c.running and c.popen is not None]
        for container in live:
            kill_group(container.popen.pid, signal.SIGTERM)  # type: ignore[union-attr]
        end = time.monotonic() + grace
        while time.monotonic() < end and any(c.popen.poll() is None for c in live):  # type: ignore[union-attr]
            time.sleep(_TICK)
        for container in live:
            kill_group(container.popen.pid)  # type: ignore[union-attr]
            self._finish(container, container.popen.wait())  # type: ignore[union-attr]
        for container in group:
            container.restart_at = None

    def _cleanup(self) -> None:
        with self._lock:
            for container in self.init + self.main:
                if container.popen is not None:
                    kill_group(container.popen.pid)
                    forget_pid_group(container.popen.pid)

    # --- status ------------------------------------------------------------------------------

    def _condition(self, kind: str, ok: bool, reason: str | None = None) -> dict[str, Any]:
        value = "True" if ok else "False"
        previous = self._transitions.get(kind)
        if previous is None or previous[0] != value:
            previous = (value, rfc3339(time.time()))
            self._transitions[kind] = previous
        out = {"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": previous[1]}
        if reason and not ok:
            out["reason"] = reason
        return out

    def _push(self) -> None:
        if self._abandoned:
            return
        terminal = self.phase in ("Succeeded", "Failed")
        initialized = all(c.exit_code == 0 for c in self.init)
        ready = not terminal and bool(self.main) and all(c.running for c in self.main)
        not_ready_reason = "PodCompleted" if terminal else "ContainersNotReady"
        status: dict[str, Any] = {
            "phase": self.phase,
            "conditions": [
                self._condition("PodReadyToStartContainers", not terminal),
                self._condition("Initialized", initialized, "ContainersNotInitialized"),
                self._condition("Ready", ready, not_ready_reason),
                self._condition("ContainersReady", ready, not_ready_reason),
                self._condition("PodScheduled", True),
            ],
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": rfc3339(self.start_time),
            "containerStatuses": [c.status() for c in self.main],
        }
        if self.init:
            status["initContainerStatuses"] = [c.status() for c in self.init]
        if self.reason:
            status["reason"] = self.reason
            status["message"] = self.message
        self.kubelet.status.set_status(self.namespace, self.name, self.uid, status)
