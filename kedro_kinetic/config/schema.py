"""The schema of the ``kinetic:`` block: small validators and typed node settings.

Each validator returns the cleaned value or raises ``ValueError``; :func:`check`
walks a raw block against a schema and collects ``path: problem`` lines, so
every problem is reported at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kedro_kinetic.config import quantities

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Where a run's Jobs run: a closed set (``backends.create`` builds one per kind).
BackendKind = Literal["local", "kubernetes"]
BACKENDS: tuple[BackendKind, ...] = ("local", "kubernetes")
#: The node cache (see docs/caching.md): reuse and record, reuse only, record only, neither.
CACHE_MODES = ("on", "off", "read", "write")
IMAGE_POLICIES = ("warn", "require_digest", "allow")
LOCAL_IMAGE = "local/kedro-project:latest"


# --- small validators: each returns the cleaned value or raises ValueError -----

def _str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _int(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        return value
    return check


def _choice(options: Iterable[str]) -> Callable[[Any], str]:
    options = tuple(options)

    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {list(options)}, got {value!r}")
        return value
    return check


def _quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a Kubernetes quantity, got {value!r}")
    return quantities.normalise(value)


def _dns_label(value: Any) -> str:
    if not isinstance(value, str) or not DNS1123_LABEL.match(value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lower case, digits, '-')")
    return value


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping of strings, got {value!r}")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or isinstance(item, (Mapping, list)) or item is None:
            raise ValueError(f"entry {key!r}: expected a scalar value, got {item!r}")
        # YAML true -> "true", as Kubernetes labels expect
        out[key] = str(item).lower() if isinstance(item, bool) else str(item)
    return out


def _env_map(value: Any) -> dict[str, str]:
    out = _str_map(value)
    for key in out:
        if not ENV_NAME.match(key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
    return out


# --- schemas -------------------------------------------------------------------

REQUIRED = "__required__"

_GPU = {"type": _str, "count": _int(1), REQUIRED: ("type",)}
_TPU = {"type": _str, "topology": _str, "count": _int(1), REQUIRED: ("type", "topology")}
_SECRET_REF = {"secret": _dns_label, "key": _str, REQUIRED: ("secret", "key")}
_TOLERATION = {
    "key": _str, "operator": _choice(("Exists", "Equal")), "value": _str,
    "effect": _choice(("NoSchedule", "PreferNoSchedule", "NoExecute")),
    "toleration_seconds": _int(0),
}


@dataclass(frozen=True)
class GPU:
    type: str
    count: int = 1


@dataclass(frozen=True)
class TPU:
    type: str
    topology: str
    count: int = 1


@dataclass(frozen=True)
class NodeSettings:
    """Everything that shapes one node's Job. Treat the mappings as read-only."""

    image: str = LOCAL_IMAGE
    cpu: str = "500m"
    memory: str = "512Mi"
    ephemeral_storage: str | None = None
    cpu_limit: str | None = None
    memory_limit: str | None = None
    gpu: GPU | None = None
    tpu: TPU | None = None
    spot: bool = False
    retries: int = 0
    deadline_seconds: int = 3600
    ttl_seconds_after_finished: int = 3600
    env: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, dict[str, str]] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    service_account: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    group: str | None = None
    #: ``false``: never reuse or record this node (its code is not deterministic).
    cache: bool = True


GROUPINGS = ("none", "namespace", "chains")
_GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _group(value: Any) -> str:
    if not isinstance(value, str) or not _GROUP_NAME.match(value):
        raise ValueError(f"{value!r} is not a group name (letters, digits, '_', '.', '-'; "
                         "at most 63)")
    return value


NODE_SCHEMA: dict[str, Any] = {
    "image": _str, "cpu": _quantity, "memory": _quantity,
    "ephemeral_storage": _quantity, "cpu_limit": _quantity, "memory_limit": _quantity,
    "gpu": _GPU, "tpu": _TPU, "spot": _bool, "retries": _int(0),
    "deadline_seconds": _int(1), "ttl_seconds_after_finished": _int(0),
    "env": _env_map, "secret_env": ("map", _SECRET_REF), "node_selector": _str_map,
    "tolerations": ("list", _TOLERATION), "service_account": _dns_label,
    "labels": _str_map, "annotations": _str_map, "group": _group, "cache": _bool,
}

def _cache_mode(value: Any) -> str:
    """A cache mode; YAML reads a bare ``on``/``off`` as true/false, which mean the same."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return _choice(CACHE_MODES)(value)


RUN_SCALARS: dict[str, Any] = {
    "backend": _choice(BACKENDS), "image": _str,
    "image_policy": _choice(IMAGE_POLICIES), "namespace": _dns_label, "store": _str,
    "max_parallel": _int(1), "fail_fast": _bool, "stream_logs": _bool,
    "workdir": _str, "unschedulable_timeout_seconds": _int(1),
    "scale_up_timeout_seconds": _int(1),
    "credentials_secret": _dns_label, "kube_context": _str,
    "event_source": _choice(("watch", "poll")), "poll_interval_seconds": _int(1),
    "progress": _choice(("auto", "live", "plain", "off")),
    "grouping": _choice(GROUPINGS),
    "results_first": _bool,
    "cache": _cache_mode,
}
_SECTION_SCHEMA: dict[str, Any] = {
    **RUN_SCALARS, "defaults": NODE_SCHEMA,
    "tags": ("map", NODE_SCHEMA), "nodes": ("map", NODE_SCHEMA),
}
RUN_SCHEMA: dict[str, Any] = {**_SECTION_SCHEMA, "pipelines": ("map", _SECTION_SCHEMA)}
#: ``--runner-params`` that ``GKERunner`` takes itself (not ``kinetic`` settings): listed
#: beside the schema's keys when a runner param is unknown.
RUNNER_ARGUMENTS = ("resume",)


def closest(word: str, names: Iterable[str]) -> str | None:
    """The name of ``names`` nearest to a misspelt ``word``, or ``None`` if none is near."""
    matches = difflib.get_close_matches(str(word), sorted(set(names)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a name of ``names`` is near ``word``, else ``""``."""
    match = closest(word, names)
    return f"; did you mean '{match}'?" if match is not None else ""


def check(value: Any, schema: Any, path: str, errors: list[str],
          also_known: Iterable[str] = ()) -> Any:
    """Validate ``value`` against ``schema``, appending ``path: problem`` lines.

    Args:
        value: The raw value.
        schema: A mapping of keys, a ``("map" | "list", inner)`` pair, or a validator.
        path: The key path of ``value``, for messages.
        errors: Where problems are appended.
        also_known: Top-level keys accepted elsewhere (``resume`` of ``--runner-params``):
            listed and suggested for an unknown key, never validated here.
    """
    if value is None:
        return None
    if isinstance(schema, dict):
        if not isinstance(value, Mapping):
            errors.append(f"{path}: expected a mapping, got {value!r}")
            return None
        out = {}
        for key in schema.get(REQUIRED, ()):
            if value.get(key) is None:
                errors.append(f"{path}.{key}: required")
        names = sorted({*(k for k in schema if k != REQUIRED), *also_known})
        for key, item in value.items():
            if key not in schema or key == REQUIRED:
                errors.append(f"{path}.{key}: unknown key{did_you_mean(key, names)} "
                              f"(known keys: {', '.join(names)})")
                continue
            out[key] = check(item, schema[key], f"{path}.{key}", errors)
        return out
    if isinstance(schema, tuple):
        kind, inner = schema
        if kind == "map":
            if not isinstance(value, Mapping):
                errors.append(f"{path}: expected a mapping, got {value!r}")
                return None
            return {str(k): check(v, inner, f"{path}.{k}", errors) for k, v in value.items()}
        if not isinstance(value, (list, tuple)):
            errors.append(f"{path}: expected a list, got {value!r}")
            return None
        return [check(v, inner, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    try:
        return schema(value)
    except ValueError as exc:
        errors.append(f"{path}: {exc}")
        return None
