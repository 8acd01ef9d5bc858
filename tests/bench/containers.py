"""How the test kubelet turns a container spec into a local process, and the fault rules it applies.

Images are never pulled: the container's ``command`` + ``args`` run as a local subprocess. The image
name only drives fault injection:

* it does not parse as an image reference (e.g. upper case, spaces) -> ``InvalidImageName``;
* it contains one of :data:`UNPULLABLE_MARKERS` (``does-not-exist``) -> ``ErrImagePull``, then
  ``ImagePullBackOff``.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.bench.kube_api import REQUEST_TIMEOUT, read_json, status_code
from tests.bench.scheduling import parse_quantity

#: Image names containing one of these never pull.
UNPULLABLE_MARKERS: set[str] = {"does-not-exist"}

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ContainerConfigError(Exception):
    """The container cannot be configured yet (``CreateContainerConfigError``)."""


def image_problem(image: str) -> tuple[str, str] | None:
    """(waiting reason, message) when the image cannot be "pulled", else None."""
    if not image or not _REFERENCE.match(image):
        return (
            "InvalidImageName",
            (
                f'Failed to apply default image tag "{image}": couldn\'t parse image name '
                f'"{image}": invalid reference format'
            ),
        )
    if any(marker in image for marker in UNPULLABLE_MARKERS):
        return (
            "ErrImagePull",
            (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
                f"not found (test kubelet: names containing {sorted(UNPULLABLE_MARKERS)} never pull)"
            ),
        )
    return None


def expand(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` from the container's env like the kubelet (``$$`` escapes ``$``)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR_REF.sub(replace, text)


def _key_ref(
    core: client.CoreV1Api, namespace: str, ref: Mapping[str, Any], kind: str
) -> str | None:
    name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
    data = _read_source(core, namespace, name, kind, optional)
    if data is None:
        return None
    if key not in data:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key]


def _read_source(
    core: client.CoreV1Api, namespace: str, name: str, kind: str, optional: bool
) -> dict[str, str] | None:
    read = core.read_namespaced_secret if kind == "Secret" else core.read_namespaced_config_map
    try:
        obj = read_json(read(name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
    except Exception as error:
        if status_code(error) == 404:
            if optional:
                return None
            raise ContainerConfigError(f'{kind.lower()} "{name}" not found') from error
        raise
    if kind == "Secret":
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def _field_ref(pod: Mapping[str, Any], path: str) -> str:
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": "127.0.0.1",
        "status.podIP": "127.0.0.1",
    }
    if path in simple:
        return simple[path] or ""
    match = re.match(r"metadata\.(labels|annotations)\['(.+)'\]$", path)
    if match:
        return (meta.get(match.group(1)) or {}).get(match.group(2), "")
    return ""


def container_env(
    core: client.CoreV1Api, pod: Mapping[str, Any], container: Mapping[str, Any]
) -> dict[str, str]:
    """The env the container declares (``envFrom``, ``env`` with ``valueFrom``), resolved.

    Raises:
        ContainerConfigError: A referenced Secret/ConfigMap or key is missing.
    """
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
            ref = source.get(key)
            if ref:
                data = _read_source(core, namespace, ref.get("name", ""), kind, bool(ref.get("optional")))
                env.update({prefix + k: v for k, v in (data or {}).items()})
    for var in container.get("env") or []:
        name, source = var["name"], var.get("valueFrom")
        if not source:
            env[name] = expand(var.get("value") or "", env)
            continue
        value: str | None = None
        if "secretKeyRef" in source:
            value = _key_ref(core, namespace, source["secretKeyRef"], "Secret")
        elif "configMapKeyRef" in source:
            value = _key_ref(core, namespace, source["configMapKeyRef"], "ConfigMap")
        elif "fieldRef" in source:
            value = _field_ref(pod, source["fieldRef"].get("fieldPath", ""))
        elif "resourceFieldRef" in source:
            resources = container.get("resources") or {}
            resource = source["resourceFieldRef"].get("resource", "")
            group, _, res = resource.partition(".")
            value = str((resources.get(group) or {}).get(res, ""))
        if value is not None:
            env[name] = value
    return env


def process_environment(declared: Mapping[str, str], pod_name: str, extra: Mapping[str, str]) -> dict[str, str]:
    """Environment of the subprocess: the test process' env (so PATH and the current Python
    work, ``python`` meaning ``sys.executable``), ``HOSTNAME``, ``extra``, then the declared env."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["HOSTNAME"] = pod_name
    env.update(extra)
    env.update(declared)
    return env


def command_line(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expanded (empty when the spec has no command)."""
    return [expand(part, env) for part in (container.get("command") or []) + (container.get("args") or [])]


def memory_limit(container: Mapping[str, Any]) -> int | None:
    """The container's memory limit in bytes, if any."""
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return int(parse_quantity(limit)) if limit else None


_PAGE = os.sysconf("SC_PAGE_SIZE")


def group_rss(pgid: int) -> int:
    """Resident memory in bytes of every process in process group ``pgid``."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is field 3 (state): pgrp is field 5, rss (pages) is field 24.
        if int(fields[2]) == pgid:
            total += int(fields[21]) * _PAGE
    return total


def exit_code(returncode: int) -> int:
    """A Popen return code as a container exit code (signal N -> 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


SIGKILL_EXIT = 128 + signal.SIGKILL
