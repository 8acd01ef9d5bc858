"""The ``kinetic:`` block of ``parameters.yml``: validated, merged, frozen.

Precedence for a node's settings, lowest first: ``defaults`` < the run's
``pipelines.<name>`` section < ``tags.<tag>`` < ``nodes.<node name>`` <
``--runner-params``. Every problem is reported at once, each line naming its
key path; nothing is submitted when the block is invalid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kedro_kinetic.config.policy import (
    CODE_ONLY,
    REFUSED_ENV_NAMES,
    REFUSED_ENV_PREFIXES,
    env_name_refused,
    image_allowed,
    image_errors,
    policy_errors,
)
from kedro_kinetic.config.schema import (
    BACKENDS,
    CACHE_MODES,
    GPU,
    GROUPINGS,
    IMAGE_POLICIES,
    LOCAL_IMAGE,
    NODE_SCHEMA,
    REQUIRED,
    RUN_SCALARS,
    RUN_SCHEMA,
    RUNNER_ARGUMENTS,
    TPU,
    BackendKind,
    NodeSettings,
    check,
)
from kedro_kinetic.errors import ConfigError

if TYPE_CHECKING:
    from kedro_kinetic.config.project_settings import ProjectSettings

DEFAULT_COMMAND = ("python", "-m", "kedro_kinetic.entrypoint")

__all__ = [
    "BACKENDS",
    "CACHE_MODES",
    "CODE_ONLY",
    "DEFAULT_COMMAND",
    "GPU", "GROUPINGS",
    "IMAGE_POLICIES",
    "LOCAL_IMAGE",
    "NODE_SCHEMA",
    "REFUSED_ENV_NAMES",
    "REFUSED_ENV_PREFIXES",
    "REQUIRED",
    "RUN_SCHEMA",
    "TPU",
    "ConfigError",
    "NodeSettings",
    "RunConfig",
    "env_name_refused",
    "image_allowed",
    "load",
    "named_images",
    "named_secrets",
    "named_service_accounts",
]


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

    backend: BackendKind = "local"
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
    scale_up_timeout_seconds: int = 1800
    credentials_secret: str | None = None
    kubeconfig: str | None = None
    #: Pods mount their service account's Kubernetes API token (settings.py opt-in only).
    mount_service_account_token: bool = False
    kube_context: str | None = None
    event_source: str = "watch"
    progress: str = "auto"
    poll_interval_seconds: int = 5
    grouping: str = "none"
    results_first: bool = True
    #: The node cache's mode; ``None``: on for the local backend, off for Kubernetes.
    cache: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    def node_settings(self, name: str, tags: Iterable[str] = ()) -> NodeSettings:
        """Return the merged, typed settings of one node."""
        rp = self.overrides
        layers: list[Mapping[str, Any] | None] = [self.defaults]
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


def _without_code_only(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of a raw block without the code-only keys (reported by the policy check)."""
    out = {k: v for k, v in raw.items() if k not in CODE_ONLY}
    if isinstance(out.get("pipelines"), Mapping):
        out["pipelines"] = {
            name: ({k: v for k, v in section.items() if k not in CODE_ONLY}
                   if isinstance(section, Mapping) else section)
            for name, section in out["pipelines"].items()}
    return out


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
            repositories, allowed env names, Secrets and service accounts configuration
            may name, whether pods mount their API token).
        check_images: Refuse images outside the project's declared repositories
            (``kedro kinetic doctor`` reports them one by one instead).

    Raises:
        ConfigError: Listing every invalid key with its path.
    """
    from kedro_kinetic.config.project_settings import ProjectSettings

    settings = settings or ProjectSettings()
    block, overrides = dict(block or {}), dict(overrides or {})
    images: list[tuple[str, str]] = []
    errors = policy_errors(block, "kinetic", settings, images)
    errors += policy_errors(overrides, "--runner-params", settings, images)
    base = check(_without_code_only(block), RUN_SCHEMA, "kinetic", errors) or {}
    rp = check(_without_code_only(overrides), RUN_SCHEMA, "--runner-params", errors,
               also_known=RUNNER_ARGUMENTS) or {}
    if errors:
        raise ConfigError("invalid kinetic configuration:\n  " + "\n  ".join(errors))
    sections = base.pop("pipelines", None) or {}
    merged = _merge(base, *(sections.get(n) for n in pipeline_names))
    if rp.pop("pipelines", None):
        raise ConfigError("invalid kinetic configuration:\n  --runner-params.pipelines: "
                          "pipeline sections belong in parameters.yml; override with "
                          "defaults.*, tags.* or nodes.* instead")
    scalars = {k: v for k, v in rp.items() if k in RUN_SCALARS}
    merged = _merge(merged, scalars)
    merged["command"] = settings.command or DEFAULT_COMMAND
    merged["kubeconfig"] = settings.kubeconfig
    merged["mount_service_account_token"] = settings.mount_service_account_token
    config = RunConfig(
        **{k: v for k, v in merged.items() if v is not None},
        overrides={k: rp[k] for k in ("defaults", "tags", "nodes") if k in rp},
    )
    if config.image:  # the run-level image in effect (an overridden one is never used)
        source = "--runner-params" if "image" in rp else "kinetic"
        images.insert(0, (f"{source}.image", config.image))
    if config.backend == "kubernetes" and images and check_images:
        problems = image_errors(images, settings)
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


def _node_layers(cfg: RunConfig) -> list[Mapping[str, Any]]:
    """Every node-settings mapping of the merged config (runner params included)."""
    over = cfg.overrides
    layers: list[Mapping[str, Any]] = [cfg.defaults, *cfg.tags.values(), *cfg.nodes.values()]
    layers += [over.get("defaults") or {}, *(over.get("tags") or {}).values(),
               *(over.get("nodes") or {}).values()]
    return [layer for layer in layers if layer]


def named_images(cfg: RunConfig) -> list[str]:
    """Every image reference a node of this config can get."""
    images = {cfg.image or LOCAL_IMAGE}
    images |= {layer["image"] for layer in _node_layers(cfg) if layer.get("image")}
    return sorted(images)


def named_service_accounts(cfg: RunConfig) -> list[str]:
    """Every Kubernetes service account the config names."""
    return sorted({layer["service_account"] for layer in _node_layers(cfg)
                   if layer.get("service_account")})


def named_secrets(cfg: RunConfig) -> dict[str, set[str]]:
    """Secret name -> the keys the pods read from it."""
    secrets: dict[str, set[str]] = {}
    if cfg.credentials_secret:
        secrets.setdefault(cfg.credentials_secret, set()).add("credentials.yml")
    for layer in _node_layers(cfg):
        for ref in (layer.get("secret_env") or {}).values():
            secrets.setdefault(ref["secret"], set()).add(ref["key"])
    return secrets
