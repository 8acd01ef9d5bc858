"""The ``kinetic:`` block of ``parameters.yml``: validated, merged, frozen.

Precedence for a node's settings, lowest first: ``defaults`` < the run's
``pipelines.<name>`` section < ``tags.<tag>`` < ``nodes.<node name>`` <
``--runner-params``. Every problem is reported at once, each line naming its
key path; nothing is submitted when the block is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro_kinetic import quantities
from kedro_kinetic.errors import ConfigError

if TYPE_CHECKING:
    from kedro_kinetic.project_settings import ProjectSettings

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BACKENDS = ("local", "kubernetes")
IMAGE_POLICIES = ("warn", "require_digest", "allow")
DEFAULT_COMMAND = ("python", "-m", "kedro_kinetic.entrypoint")
LOCAL_IMAGE = "local/kedro-project:latest"


__all__ = ["ConfigError", "NodeSettings", "RunConfig", "load"]

#: Settings that choose what runs, so only code may give them (see project_settings).
CODE_ONLY = {
    "command": "the node command can only be set in code: settings.py KINETIC_COMMAND = "
               "[...] or GKERunner(command=(...)) in Python",
    "kubeconfig": "a kubeconfig can run commands (exec credential plugins), so it can only "
                  "be chosen by $KUBECONFIG or settings.py KINETIC_KUBECONFIG",
    "dataset_allowlist": "the allowlist can only be extended in code: settings.py "
                         "KINETIC_DATASET_ALLOWLIST or GKERunner(allow=[...])",
}
#: Environment variables configuration may not set: they change what a process loads
#: (interpreter, dynamic loader, shells, libraries reading plugins or config files by
#: name), where credentials come from, or how kedro-kinetic reaches and verifies the
#: store. Exact names and prefixes, compared upper-cased. Code may allow a name
#: (settings.py KINETIC_ALLOWED_ENV); manifest hooks (code) may set anything.
REFUSED_ENV_PREFIXES = (
    "PYTHON", "LD_", "DYLD_", "KINETIC_", "KEDRO_", "GOOGLE_", "GCLOUD", "CLOUDSDK_",
    "KUBE", "AWS_", "AZURE_", "JAVA", "_JAVA", "JDK_", "SPARK_", "PYSPARK_", "HADOOP_",
    "OPENSSL_", "SSL_", "GCONV", "MALLOC_", "GLIBC_", "MPL", "MATPLOTLIB", "FSSPEC_",
    "PIP_", "CONDA", "VIRTUAL_ENV", "NODE_", "PERL", "RUBY", "GIT_", "XDG_", "IPYTHON",
    "JUPYTER", "BASH_", "GRPC_", "REQUESTS_", "CURL_", "NUMBA_", "JOBLIB_", "TCL",
    "TK_", "QT_", "GTK_", "GST_", "GIO_", "DBUS_",
)
REFUSED_ENV_NAMES = frozenset({
    "HOME", "PATH", "SHELL", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND",
    "IFS", "CDPATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF", "LOCALDOMAIN",
    "RES_OPTIONS", "TMPDIR", "TEMP", "TMP", "CLASSPATH", "STORAGE_EMULATOR_HOST",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY", "EDITOR", "VISUAL",
    "PAGER", "BROWSER", "TERMINFO", "TERMINFO_DIRS", "MAGIC", "HF_HOME", "TORCH_HOME",
})


def env_name_refused(name: str) -> bool:
    """Whether configuration may not set environment variable ``name``."""
    upper = name.upper()
    return upper in REFUSED_ENV_NAMES or upper.startswith(REFUSED_ENV_PREFIXES)


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
        out[key] = item if isinstance(item, str) else str(item).lower() if isinstance(item, bool) else str(item)
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


NODE_SCHEMA: dict[str, Any] = {
    "image": _str, "cpu": _quantity, "memory": _quantity,
    "ephemeral_storage": _quantity, "cpu_limit": _quantity, "memory_limit": _quantity,
    "gpu": _GPU, "tpu": _TPU, "spot": _bool, "retries": _int(0),
    "deadline_seconds": _int(1), "ttl_seconds_after_finished": _int(0),
    "env": _env_map, "secret_env": ("map", _SECRET_REF), "node_selector": _str_map,
    "tolerations": ("list", _TOLERATION), "service_account": _dns_label,
    "labels": _str_map, "annotations": _str_map,
}

_RUN_SCALARS: dict[str, Any] = {
    "backend": _choice(BACKENDS), "image": _str,
    "image_policy": _choice(IMAGE_POLICIES), "namespace": _dns_label, "store": _str,
    "max_parallel": _int(1), "fail_fast": _bool, "stream_logs": _bool,
    "workdir": _str, "unschedulable_timeout_seconds": _int(1),
    "credentials_secret": _dns_label, "kube_context": _str,
    "event_source": _choice(("watch", "poll")), "poll_interval_seconds": _int(1),
    "progress": _choice(("auto", "live", "plain", "off")),
}
_SECTION_SCHEMA: dict[str, Any] = {
    **_RUN_SCALARS, "defaults": NODE_SCHEMA,
    "tags": ("map", NODE_SCHEMA), "nodes": ("map", NODE_SCHEMA),
}
RUN_SCHEMA: dict[str, Any] = {**_SECTION_SCHEMA, "pipelines": ("map", _SECTION_SCHEMA)}


def _check(value: Any, schema: Any, path: str, errors: list[str]) -> Any:
    """Validate ``value`` against ``schema``, appending ``path: problem`` lines."""
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
        for key, item in value.items():
            if key not in schema or key == REQUIRED:
                known = ", ".join(sorted(k for k in schema if k != REQUIRED))
                errors.append(f"{path}.{key}: unknown key (known keys: {known})")
                continue
            out[key] = _check(item, schema[key], f"{path}.{key}", errors)
        return out
    if isinstance(schema, tuple):
        kind, inner = schema
        if kind == "map":
            if not isinstance(value, Mapping):
                errors.append(f"{path}: expected a mapping, got {value!r}")
                return None
            return {str(k): _check(v, inner, f"{path}.{k}", errors) for k, v in value.items()}
        if not isinstance(value, (list, tuple)):
            errors.append(f"{path}: expected a list, got {value!r}")
            return None
        return [_check(v, inner, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    try:
        return schema(value)
    except ValueError as exc:
        errors.append(f"{path}: {exc}")
        return None


def _merge(base: Mapping[str, Any], *layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Deep-merge mappings; later layers win, ``None`` values are ignored."""
    out = dict(base)
    for layer in layers:
        for key, value in (layer or {}).items():
            if value is None:
                continue
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = _merge(out[key], value)
            else:
                out[key] = value
    return out


@dataclass(frozen=True)
class RunConfig:
    """The validated configuration for one run (one set of pipeline names)."""

    backend: str = "local"
    image: str | None = None
    image_policy: str = "warn"
    namespace: str = "default"
    store: str = "data/kinetic"
    max_parallel: int = 4
    fail_fast: bool = True
    stream_logs: bool = True
    command: tuple[str, ...] = DEFAULT_COMMAND
    workdir: str | None = None
    unschedulable_timeout_seconds: int = 300
    credentials_secret: str | None = None
    kubeconfig: str | None = None
    kube_context: str | None = None
    event_source: str = "watch"
    progress: str = "auto"
    poll_interval_seconds: int = 5
    defaults: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    def node_settings(self, name: str, tags: Iterable[str] = ()) -> NodeSettings:
        """Return the merged, typed settings of one node."""
        rp = self.overrides
        layers = [self.defaults]
        layers += [self.tags[t] for t in sorted(tags) if t in self.tags]
        layers.append(self.nodes.get(name))
        layers.append(rp.get("defaults"))
        layers += [rp.get("tags", {})[t] for t in sorted(tags) if t in rp.get("tags", {})]
        layers.append(rp.get("nodes", {}).get(name))
        merged = _merge({"image": self.image or LOCAL_IMAGE}, *layers)
        if merged.get("gpu"):
            merged["gpu"] = GPU(**merged["gpu"])
        if merged.get("tpu"):
            merged["tpu"] = TPU(**merged["tpu"])
        if "tolerations" in merged:
            merged["tolerations"] = tuple(merged["tolerations"])
        return NodeSettings(**merged)


def _sections(raw: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    """Yield ``(path, section, is_run_level)`` for every section of a raw block."""
    if not isinstance(raw, Mapping):
        return
    yield path, raw, True
    for name, section in (raw.get("pipelines") or {}).items() if isinstance(
            raw.get("pipelines"), Mapping) else ():
        yield from _sections(section, f"{path}.pipelines.{name}")
    if isinstance(raw.get("defaults"), Mapping):
        yield f"{path}.defaults", raw["defaults"], False
    for group in ("tags", "nodes"):
        for name, section in (raw.get(group) or {}).items() if isinstance(
                raw.get(group), Mapping) else ():
            if isinstance(section, Mapping):
                yield f"{path}.{group}.{name}", section, False


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def image_allowed(image: str, repositories: Iterable[str]) -> bool:
    """Whether ``image`` is in one of ``repositories`` (``repo`` or ``prefix/``)."""
    repo = _repository(image)
    return any(repo == allowed.rstrip("/") if not allowed.endswith("/")
               else repo.startswith(allowed) for allowed in repositories)


def _policy_errors(raw: Any, path: str, settings: ProjectSettings,
                   images: list[tuple[str, str]]) -> list[str]:
    """What configuration may not choose: code-only keys, refused env names."""
    errors = []
    for where, section, run_level in _sections(raw, path):
        if run_level:
            errors += [f"{where}.{key}: {why}" for key, why in CODE_ONLY.items()
                       if key in section]
        if isinstance(section.get("image"), str) and not run_level:
            images.append((f"{where}.image", section["image"]))
        for key in ("env", "secret_env"):
            names = section.get(key) if not run_level else None
            for name in names if isinstance(names, Mapping) else ():
                if env_name_refused(str(name)) and str(name) not in settings.allowed_env:
                    errors.append(
                        f"{where}.{key}.{name}: this variable changes what a node process "
                        "loads or how kedro-kinetic verifies its data, so configuration may "
                        "not set it (allow it in code: settings.py KINETIC_ALLOWED_ENV, or "
                        "patch the Job in a kinetic_job_manifest hook)")
    return errors


def _image_errors(images: list[tuple[str, str]], settings: ProjectSettings) -> list[str]:
    repos = settings.image_repositories
    if repos is None:
        return [f"{where}: '{image}' chooses the code every pod runs, so its repository must "
                "be declared in code: add KINETIC_IMAGE_REPOSITORIES = "
                f"['{_repository(image)}'] to the project's settings.py"
                for where, image in images]
    return [f"{where}: '{image}' is not in a repository listed in settings.py "
            f"KINETIC_IMAGE_REPOSITORIES ({', '.join(repos)})"
            for where, image in images if not image_allowed(image, repos)]


def load(
    block: Mapping[str, Any] | None,
    pipeline_names: Iterable[str] = ("__default__",),
    overrides: Mapping[str, Any] | None = None,
    settings: ProjectSettings | None = None,
    check_images: bool = True,
) -> RunConfig:
    """Validate the ``kinetic:`` block and the runner overrides; merge them.

    Args:
        block: The ``kinetic`` parameters (``params:kinetic``), or ``None``.
        pipeline_names: The pipelines being run, choosing ``pipelines.<name>``.
        overrides: Runner keyword arguments (``--runner-params``), highest precedence.
        settings: What the project's code decided (command, kubeconfig, image
            repositories, allowed env names).
        check_images: Refuse images outside the project's declared repositories
            (``kedro kinetic doctor`` reports them one by one instead).

    Raises:
        ConfigError: Listing every invalid key with its path.
    """
    from kedro_kinetic.project_settings import ProjectSettings

    settings = settings or ProjectSettings()
    block, overrides = dict(block or {}), dict(overrides or {})
    images: list[tuple[str, str]] = []
    errors = _policy_errors(block, "kinetic", settings, images)
    errors += _policy_errors(overrides, "--runner-params", settings, images)
    for raw in (block, overrides):
        for key in CODE_ONLY:
            raw.pop(key, None)
        for section in (raw.get("pipelines") or {}).values() if isinstance(
                raw.get("pipelines"), Mapping) else ():
            for key in CODE_ONLY:
                section.pop(key, None) if isinstance(section, dict) else None
    base = _check(block, RUN_SCHEMA, "kinetic", errors) or {}
    rp = _check(overrides, RUN_SCHEMA, "--runner-params", errors) or {}
    if errors:
        raise ConfigError("invalid kinetic configuration:\n  " + "\n  ".join(errors))
    sections = base.pop("pipelines", None) or {}
    merged = _merge(base, *(sections.get(n) for n in pipeline_names))
    if rp.pop("pipelines", None):
        raise ConfigError("invalid kinetic configuration:\n  --runner-params.pipelines: "
                          "pipeline sections belong in parameters.yml; override with "
                          "defaults.*, tags.* or nodes.* instead")
    scalars = {k: v for k, v in rp.items() if k in _RUN_SCALARS}
    merged = _merge(merged, scalars)
    merged["command"] = settings.command or DEFAULT_COMMAND
    merged["kubeconfig"] = settings.kubeconfig
    config = RunConfig(
        **{k: v for k, v in merged.items() if v is not None},
        overrides={k: rp[k] for k in ("defaults", "tags", "nodes") if k in rp},
    )
    if config.image:  # the run-level image in effect (an overridden one is never used)
        source = "--runner-params" if "image" in rp else "kinetic"
        images.insert(0, (f"{source}.image", config.image))
    if config.backend == "kubernetes" and images and check_images:
        problems = _image_errors(images, settings)
        if problems:
            raise ConfigError("invalid kinetic configuration:\n  " + "\n  ".join(problems))
    _check_backend(config)
    return config


def _check_backend(config: RunConfig) -> None:
    problems = []
    if config.backend == "kubernetes":
        if not config.image:
            problems.append("kinetic.image: required when backend is 'kubernetes'")
        if not config.store.startswith("gs://"):
            problems.append(
                f"kinetic.store: backend 'kubernetes' needs a gs://bucket/prefix store, "
                f"got {config.store!r}"
            )
    elif config.store.startswith("gs://") and config.backend == "local":
        pass  # a local run may use GCS as its store; the pod processes reach it
    if problems:
        raise ConfigError("invalid kinetic configuration:\n  " + "\n  ".join(problems))
