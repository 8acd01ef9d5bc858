"""Render one node's ``batch/v1`` Job: a pure function of its plan and settings.

The same dict is submitted to Kubernetes and executed by the local backend,
so the embedded default and GKE share one path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_kinetic.errors import ManifestError
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.naming import key_secret, sanitise
from kedro_kinetic.wire.result import EXIT_BAD_SPEC, EXIT_PAYLOAD_UNUSABLE, EXIT_VERIFICATION_FAILED

if TYPE_CHECKING:
    from kedro_kinetic.config import NodeSettings, RunConfig

MANAGED_BY = "kedro-kinetic"
LABEL_RUN = "kedro-kinetic.io/run"
LABEL_NODE = "kedro-kinetic.io/node"
LABEL_PIPELINE = "kedro-kinetic.io/pipeline"
ANN_NODE_NAME = "kedro-kinetic.io/node-name"
ANN_RUN_ID = "kedro-kinetic.io/run-id"
ANN_PAYLOAD = "kedro-kinetic.io/payload-sha256"
ANN_SPEC = "kedro-kinetic.io/spec-sha256"
ANN_GROUP_NODES = "kedro-kinetic.io/group-nodes"
CONTAINER = "node"
CREDENTIALS_MOUNT = "/var/run/secrets/kedro-kinetic"
#: Every node process starts without its working folder on ``sys.path``: the project's
#: ``data/`` (files a dataset-content or store writer can place) is there, and a library
#: that imports a module named by a setting must never find one of them.
SAFE_PATH_ENV = {"name": "PYTHONSAFEPATH", "value": "1"}
_DIGEST_IMAGE = re.compile(r"@sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pins:
    """Where a node's payload, spec and result live, the digests and sizes pinned, and
    the attempt whose key seals the results."""

    payload_uri: str
    payload_sha256: str
    spec_uri: str
    spec_sha256: str
    result_uri: str
    #: This submission's nonce (``seal.new_attempt``): results count for it only.
    attempt: str
    payload_bytes: int = 0
    spec_bytes: int = 0
    #: For a group: its group spec (which pins every node's payload and spec).
    group_uri: str | None = None
    group_sha256: str | None = None
    group_bytes: int = 0
    #: Where the pod rings after each result (results first on GCS; a hint, never trusted).
    notice_uri: str | None = None


@dataclass(frozen=True)
class JobIdentity:
    """The names a node's Job carries."""

    job_name: str
    node_name: str
    node_key: str
    run_id: str
    run_label: str
    pipeline: str


#: Pod exit codes that retrying cannot fix.
NOT_RETRIABLE_EXIT_CODES = (EXIT_VERIFICATION_FAILED, EXIT_BAD_SPEC, EXIT_PAYLOAD_UNUSABLE)


def pod_failure_policy() -> dict[str, Any]:
    """Fail the Job at once on a digest/spec refusal; don't count disruptions as retries."""
    return {"rules": [
        {"action": "FailJob", "onExitCodes": {
            "containerName": CONTAINER, "operator": "In",
            "values": list(NOT_RETRIABLE_EXIT_CODES)}},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
    ]}


def image_is_pinned(image: str) -> bool:
    """Tell whether an image reference is pinned by digest."""
    return bool(_DIGEST_IMAGE.search(image))


def container_args(pins: Pins) -> list[str]:
    """The entrypoint arguments that pin the payload and spec (or a group's spec), their
    sizes, and the attempt."""
    tail = ["--result", pins.result_uri, "--attempt", pins.attempt]
    if pins.notice_uri:
        tail += ["--notice", pins.notice_uri]
    if pins.group_uri:
        return ["--group", pins.group_uri, "--group-sha256", str(pins.group_sha256),
                "--group-bytes", str(pins.group_bytes), *tail]
    return [
        "--spec", pins.spec_uri, "--spec-sha256", pins.spec_sha256,
        "--spec-bytes", str(pins.spec_bytes),
        "--payload", pins.payload_uri, "--payload-sha256", pins.payload_sha256,
        "--payload-bytes", str(pins.payload_bytes), *tail,
    ]


def attempt_of(container: dict[str, Any]) -> str | None:
    """The attempt nonce a rendered container pins (``None`` if it pins none)."""
    args = container.get("args") or []
    try:
        value = args[args.index("--attempt") + 1]
    except (ValueError, IndexError):
        return None
    return value if seal.is_attempt(value) else None


def result_keys(job: dict[str, Any]) -> list[str]:
    """The node keys whose results a Job (a rendered manifest, or a Job read from the API)
    writes: its own node's, or each node's of its group."""
    from kedro_kinetic.wire.naming import node_key

    metadata = job.get("metadata") or {}
    members = (metadata.get("annotations") or {}).get(ANN_GROUP_NODES)
    if members:
        try:
            names = json.loads(members)
        except ValueError:
            names = None
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return [node_key(n) for n in names]
    own = (metadata.get("labels") or {}).get(LABEL_NODE)
    return [own] if isinstance(own, str) and own else []


def without_attempt(argv: list[str]) -> list[str]:
    """A command line without its ``--attempt`` pair: the same Job in another attempt."""
    if "--attempt" not in argv:
        return list(argv)
    at = argv.index("--attempt")
    return [*argv[:at], *argv[at + 2:]]


def _resources(s: NodeSettings) -> dict[str, Any]:
    requests = {"cpu": s.cpu, "memory": s.memory}
    limits = {"memory": s.memory_limit or s.memory}
    if s.cpu_limit:
        limits["cpu"] = s.cpu_limit
    if s.ephemeral_storage:
        requests["ephemeral-storage"] = limits["ephemeral-storage"] = s.ephemeral_storage
    if s.gpu:
        limits["nvidia.com/gpu"] = str(s.gpu.count)
    if s.tpu:
        limits["google.com/tpu"] = str(s.tpu.count)
        requests["google.com/tpu"] = str(s.tpu.count)
    return {"requests": requests, "limits": limits}


def _scheduling(s: NodeSettings) -> tuple[dict[str, str], list[dict[str, Any]]]:
    selector = dict(s.node_selector)
    tolerations = [
        {("tolerationSeconds" if k == "toleration_seconds" else k): v for k, v in t.items()}
        for t in s.tolerations
    ]
    if s.gpu:
        selector["cloud.google.com/gke-accelerator"] = s.gpu.type
        tolerations.append({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
    if s.tpu:
        selector["cloud.google.com/gke-tpu-accelerator"] = s.tpu.type
        selector["cloud.google.com/gke-tpu-topology"] = s.tpu.topology
        tolerations.append({"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"})
    if s.spot:
        selector["cloud.google.com/gke-spot"] = "true"
        tolerations.append({"key": "cloud.google.com/gke-spot", "operator": "Equal",
                            "value": "true", "effect": "NoSchedule"})
    return selector, tolerations


def key_env(run_label: str) -> dict[str, Any]:
    """The env entry that gives the pod the run's key, from the run's Secret."""
    return {"name": seal.KEY_ENV, "valueFrom": {"secretKeyRef": {
        "name": key_secret(run_label), "key": seal.SECRET_DATA_KEY}}}


def _env(s: NodeSettings, run: RunConfig, run_label: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(s.env.items())]
    for name, ref in sorted(s.secret_env.items()):
        env.append({"name": name, "valueFrom": {"secretKeyRef": {
            "name": ref["secret"], "key": ref["key"]}}})
    if run.credentials_secret:
        env.append({"name": "KINETIC_CREDENTIALS_FILE",
                    "value": f"{CREDENTIALS_MOUNT}/credentials.yml"})
    env.append(dict(SAFE_PATH_ENV))
    env.append(key_env(run_label))
    return env


def _container(ident: JobIdentity, pins: Pins, settings: NodeSettings,
               run: RunConfig) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": settings.image,
        "command": list(run.command),
        "args": container_args(pins),
        "env": _env(settings, run, ident.run_label),
        "resources": _resources(settings),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": False,
        },
    }
    if run.workdir:
        container["workingDir"] = run.workdir
    if run.credentials_secret:
        container["volumeMounts"] = [{"name": "kinetic-credentials",
                                      "mountPath": CREDENTIALS_MOUNT, "readOnly": True}]
    return container


def _pod_spec(container: dict[str, Any], settings: NodeSettings,
              run: RunConfig) -> dict[str, Any]:
    selector, tolerations = _scheduling(settings)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        # Node code needs no Kubernetes API token (Workload Identity's Google tokens come
        # from the node's metadata server); settings.py may opt in (see project_settings).
        "automountServiceAccountToken": run.mount_service_account_token,
        "containers": [container],
    }
    if selector:
        pod_spec["nodeSelector"] = selector
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if settings.service_account:
        pod_spec["serviceAccountName"] = settings.service_account
    if run.credentials_secret:
        pod_spec["volumes"] = [{"name": "kinetic-credentials",
                                "secret": {"secretName": run.credentials_secret}}]
    return pod_spec


def render(ident: JobIdentity, pins: Pins, settings: NodeSettings,
           run: RunConfig, group_nodes: list[str] | None = None) -> dict[str, Any]:
    """Return the Job manifest for one node (or one group of nodes).

    Args:
        ident: The Job's names (node or group, run, pipeline).
        pins: Payload/spec locations and their digests (both required), or a group's
            spec digest.
        settings: The node's (or group's) merged settings.
        run: The run's configuration (namespace, command, credentials Secret).
        group_nodes: For a group, its nodes' names in the order they run.
    """
    labels = {
        **settings.labels,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_RUN: ident.run_label,
        LABEL_NODE: ident.node_key,
        LABEL_PIPELINE: sanitise(ident.pipeline),
    }
    annotations = {
        **settings.annotations,
        ANN_NODE_NAME: ident.node_name,
        ANN_RUN_ID: ident.run_id,
        ANN_PAYLOAD: pins.group_sha256 or pins.payload_sha256,
        ANN_SPEC: pins.group_sha256 or pins.spec_sha256,
    }
    if group_nodes:
        annotations[ANN_GROUP_NODES] = json.dumps(group_nodes)
    pod_spec = _pod_spec(_container(ident, pins, settings, run), settings, run)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": ident.job_name, "namespace": run.namespace,
                     "labels": labels, "annotations": annotations},
        "spec": {
            "backoffLimit": settings.retries,
            "podFailurePolicy": pod_failure_policy(),
            "activeDeadlineSeconds": settings.deadline_seconds,
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "template": {
                "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
                "spec": pod_spec,
            },
        },
    }


def fail_job_exit_codes(manifest: dict[str, Any]) -> set[int]:
    """Exit codes for which the manifest's podFailurePolicy fails the Job at once."""
    codes: set[int] = set()
    for rule in (manifest["spec"].get("podFailurePolicy") or {}).get("rules", []):
        on = rule.get("onExitCodes") or {}
        if rule.get("action") == "FailJob" and on.get("operator") == "In":
            codes |= set(on.get("values", []))
    return codes


def container_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return the node container of a rendered (possibly patched) manifest."""
    containers = manifest["spec"]["template"]["spec"]["containers"]
    for container in containers:
        if container.get("name") == CONTAINER:
            return container
    raise ValueError(f"manifest {manifest['metadata']['name']} has no '{CONTAINER}' container")


def check_patched(original: dict[str, Any], patched: Any, node_name: str) -> dict[str, Any]:
    """Validate a manifest returned by a ``kinetic_job_manifest`` hook.

    Raises:
        ManifestError: Naming the node and the field that changed or is missing.
    """
    def fail(what: str) -> ManifestError:
        return ManifestError(f"node '{node_name}': the patched Job manifest {what}")

    if not isinstance(patched, dict) or patched.get("kind") != "Job":
        raise fail("is not a batch/v1 Job mapping")
    for key in ("name", "namespace"):
        if patched.get("metadata", {}).get(key) != original["metadata"][key]:
            raise fail(f"changed metadata.{key}")
    labels = patched["metadata"].get("labels") or {}
    pod_labels = (patched.get("spec", {}).get("template", {}).get("metadata", {})
                  .get("labels") or {})
    for key in (LABEL_RUN, LABEL_NODE):
        if labels.get(key) != original["metadata"]["labels"][key] or \
                pod_labels.get(key) != original["metadata"]["labels"][key]:
            raise fail(f"changed or removed the label {key}")
    try:
        container = container_of(patched)
        restart = patched["spec"]["template"]["spec"].get("restartPolicy")
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(f"has no '{CONTAINER}' container") from exc
    want = container_of(original)
    for key in ("command", "args"):
        if container.get(key) != want[key]:
            raise fail(f"changed the {CONTAINER} container's {key} (the pinned digests)")
    if restart != "Never":
        raise fail("changed restartPolicy (must be Never)")
    return patched
