"""Every key of the ``kinetic:`` block with its type, default and meaning.

The key list is walked from the schema itself (:func:`reference`), so a key
added to the schema without a description here fails loudly instead of going
undocumented. The same descriptions feed the parameters file that
``kedro kinetic init`` writes and the configuration reference of the docs
(:func:`reference_markdown`, kept in ``docs/configuration.md`` by
``python -m kedro_kinetic.cli.scaffold docs/configuration.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from kedro_kinetic import config as cfg

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

#: The image's working directory, written into the Dockerfile and documented for ``workdir``.
IMAGE_WORKDIR = "/home/kedro/project"
_NO_DEFAULT = object()


# --- what every key means --------------------------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    type: str
    meaning: str
    example: Any = _NO_DEFAULT  # shown (commented out) when the key has no default
    active: bool = False  # written uncommented, with its default
    default: str | None = None  # overrides the default read from the dataclasses
    map_key: str | None = None  # example name for the entries of a mapping


_RUN: dict[str, _Meta] = {
    "backend": _Meta(
        " | ".join(cfg.BACKENDS),
        "Where each node's Job runs. `local` executes the rendered Job's container command as a "
        "process on this machine, in the project folder; `kubernetes` creates the Job in the "
        "cluster of `kube_context` (in `$KUBECONFIG`, or settings.py `KINETIC_KUBECONFIG`).",
        active=True),
    "image": _Meta(
        "string",
        "Container image of every node (a node may name its own). Required when `backend` is "
        "`kubernetes`; pin it by digest (`...@sha256:<64 hex>`). Build it from the Dockerfile "
        "that `kedro kinetic init` writes. Its repository must be listed in settings.py "
        "`KINETIC_IMAGE_REPOSITORIES` (an image chooses code, so code declares where from).",
        example="REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE@sha256:DIGEST"),
    "image_policy": _Meta(
        " | ".join(cfg.IMAGE_POLICIES),
        "What a `kubernetes` run does with an image not pinned by digest: `warn` logs a "
        "warning, `require_digest` stops the run before anything is submitted, `allow` says "
        "nothing. A tag can move between two nodes of one run; a digest cannot.", active=True),
    "namespace": _Meta("DNS-1123 label", "Kubernetes namespace of the run's Jobs.", active=True),
    "store": _Meta(
        "path | gs://bucket/prefix",
        "Where a run keeps payloads, task specs, results and in-memory datasets (under "
        "`runs/<run>/`): a folder (relative to the project) or a GCS prefix. The `kubernetes` "
        "backend needs `gs://`, since pods share no disk with the driver.", active=True),
    "max_parallel": _Meta("integer >= 1", "Nodes running at once.", active=True),
    "fail_fast": _Meta(
        "boolean",
        "After the first failure no new node starts either way; `true` also cancels the nodes "
        "still running.", active=True),
    "stream_logs": _Meta(
        "boolean", "Print each node's output as it runs, prefixed by `[node name]`.",
        active=True),
    "workdir": _Meta(
        "string",
        f"Working directory of the node container (`workingDir`); relative catalog paths "
        f"resolve against it. Unset: the image's `WORKDIR` ({IMAGE_WORKDIR} in the Dockerfile "
        f"of `kedro kinetic init`). The local backend always runs in the project folder.",
        example=IMAGE_WORKDIR),
    "unschedulable_timeout_seconds": _Meta(
        "integer >= 1",
        "How long a pod may stay `Unschedulable` before its node fails. GPU/TPU node pools that "
        "scale up from zero need several minutes. It also bounds how long a container may "
        "wait while the kubelet retries a Secret or ConfigMap cache that has not synced yet.",
        active=True),
    "scale_up_timeout_seconds": _Meta(
        "integer >= 1",
        "How long a pending pod may wait, from the cluster autoscaler's first "
        "`TriggeredScaleUp` Event on it, for the node that scale-up adds (a GPU/TPU node pool "
        "growing from zero takes minutes), instead of `unschedulable_timeout_seconds`. A "
        "`NotTriggerScaleUp` Event fails the node at once when neither a node pool the "
        "autoscaler may grow nor a node of the cluster can fit the pod, or when the pools "
        "that fit are at their maximum size and no other node of the run is active. The "
        "driver needs list and watch on `events` to read them.",
        active=True),
    "credentials_secret": _Meta(
        "DNS-1123 label",
        "Kubernetes Secret with a `credentials.yml` key, mounted read-only into every pod; "
        "catalog entries find their `credentials:` there by name. It must be listed in "
        "settings.py `KINETIC_SECRETS` (kedro-kinetic's own `kinetic-run-*` and "
        "`kinetic-cache-*` Secrets never may be).",
        example="kedro-credentials"),
    "kube_context": _Meta(
        "string", "Kubeconfig context to use. Unset: the current context.",
        example="gke_my-project_europe-west4_kedro"),
    "event_source": _Meta(
        "watch | poll",
        "How the `kubernetes` backend follows Jobs and Pods: one watch per run, or a listing "
        "every `poll_interval_seconds` (a baseline for benchmarks; keep `watch`).",
        example="watch"),
    "progress": _Meta(
        "auto | live | plain | off",
        "How the driver shows what every node is doing: `live` a table that stays at the "
        "bottom of the terminal while logs scroll above it, `plain` one line per change (for "
        "CI logs), `auto` live on a terminal and plain elsewhere, `off` nothing.", active=True),
    "poll_interval_seconds": _Meta(
        "integer >= 1", "Seconds between listings when `event_source` is `poll`.", example=5),
    "grouping": _Meta(
        " | ".join(cfg.GROUPINGS),
        "How many nodes share one Job. `none`: one Job per node. `namespace`: the nodes of "
        "one Kedro namespace run in one Job (refused, naming the nodes, when they cannot). "
        "`chains`: every linear chain (a node whose only consumer has it as its only "
        "producer) is fused into one Job where the nodes' images and scheduling agree. Nodes "
        "with a `group` setting form their groups first. Every node keeps its own pins, "
        "hooks, status and result.", active=True),
    "results_first": _Meta(
        "boolean",
        "Learn that a node finished from its sealed result in the store (on GCS one listing "
        "of the run's `notices/`, the Jobs' doorbells, every 0.2 s while nodes run; locally a "
        "stat of each result still expected every 0.05 s) instead of "
        "waiting for the kubelet to report the container's exit (about 1.7 s on GKE). Nodes "
        "of a group report one by one only with it on. What ends without a result (OOM, "
        "eviction, deadline) is always reported by the backend.", active=True),
    "cache": _Meta(
        " | ".join(cfg.CACHE_MODES),
        "The node cache (docs/caching.md): `on` skips a node whose code, inputs' bytes, "
        "parameters and environment match an authenticated earlier execution whose outputs "
        "still hold what it wrote, and records each node that succeeds; `read` only reuses, "
        "`write` only records, `off` neither. Unset: `on` for the `local` backend, `off` for "
        "`kubernetes`. A node tagged `no-cache` always runs.", example="on"),
    "defaults": _Meta(
        "node settings", "Node settings for every node (the keys below).", active=True,
        default="see below"),
    "tags": _Meta(
        "mapping: tag -> node settings",
        "Node settings for the nodes with a Kedro tag. A node with several such tags gets them "
        "merged in sorted tag order (later names win).",
        example={"heavy": {"cpu": "2", "memory": "4Gi"},
                 "kinetic.gpu": {"gpu": {"type": "nvidia-l4", "count": 1}, "spot": True}},
        default="none"),
    "nodes": _Meta(
        "mapping: node name -> node settings", "Node settings for one node, by its name.",
        example={"train_model_node": {"deadline_seconds": 7200}}, default="none"),
    "pipelines": _Meta(
        "mapping: pipeline -> settings",
        "Any key above except `pipelines`, for runs of that pipeline (`kedro run --pipelines "
        "NAME`); merged over the top level, `defaults`, `tags` and `nodes` included.",
        example={"data_science": {"max_parallel": 2, "defaults": {"memory": "1Gi"}}},
        default="none"),
}

_NODE: dict[str, _Meta] = {
    "image": _Meta("string", "Image of this node's container.",
                   example="REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE-GPU@sha256:DIGEST",
                   default="kinetic.image"),
    "cpu": _Meta("quantity", "CPU request (`500m`, `2`).", active=True),
    "memory": _Meta("quantity", "Memory request, and the limit unless `memory_limit` is set.",
                    active=True),
    "ephemeral_storage": _Meta("quantity", "Ephemeral-storage request and limit.",
                               example="2Gi"),
    "cpu_limit": _Meta("quantity", "CPU limit. Unset: no CPU limit.", example="2"),
    "memory_limit": _Meta("quantity", "Memory limit; above it the container is OOMKilled.",
                          example="2Gi", default="= memory"),
    "gpu": _Meta("mapping", "NVIDIA GPUs: a GKE accelerator node selector, an `nvidia.com/gpu` "
                 "limit and its toleration."),
    "gpu.type": _Meta("string, required", "GKE accelerator type (`nvidia-l4`, `nvidia-tesla-t4`, "
                      "`nvidia-a100-80gb`, ...).", example="nvidia-l4"),
    "gpu.count": _Meta("integer >= 1", "GPUs per pod."),
    "tpu": _Meta("mapping", "Cloud TPUs: GKE TPU accelerator and topology node selectors, a "
                 "`google.com/tpu` request/limit and its toleration."),
    "tpu.type": _Meta("string, required", "GKE TPU accelerator (`tpu-v5-lite-podslice`, ...).",
                      example="tpu-v5-lite-podslice"),
    "tpu.topology": _Meta("string, required", "TPU topology (`2x4`, ...).", example="2x4"),
    "tpu.count": _Meta("integer >= 1", "TPU chips per pod.", example=8),
    "spot": _Meta("boolean", "Run on GKE Spot VMs (node selector `cloud.google.com/gke-spot` "
                  "and its toleration).", active=True),
    "retries": _Meta("integer >= 0", "Pod retries: the Job's `backoffLimit`.", active=True),
    "deadline_seconds": _Meta(
        "integer >= 1", "The Job's `activeDeadlineSeconds`; the local backend kills the process "
        "too.", active=True),
    "ttl_seconds_after_finished": _Meta(
        "integer >= 0", "Seconds a finished Job (and its pods and logs) is kept.", active=True),
    "env": _Meta("mapping: NAME -> string",
                 "Plain environment variables of the container. Names that change what a "
                 "process loads or how data is verified (`PYTHON*`, `LD_*`, `KINETIC_*`, "
                 "`KEDRO_*`, `GOOGLE_*`, `HOME`, `PATH`, proxies, ... see the security page) "
                 "are refused; settings.py `KINETIC_ALLOWED_ENV` may allow one.",
                 example={"MLFLOW_TRACKING_URI": "http://mlflow.mlflow:5000"}, default="none"),
    "secret_env": _Meta(
        "mapping: NAME -> {secret, key}",
        "Environment variables read from Kubernetes Secrets (`secretKeyRef`). The local "
        "backend refuses them.", default="none", map_key="DB_PASSWORD"),
    "secret_env.<NAME>.secret": _Meta(
        "DNS-1123 label, required", "Name of the Secret; it must be listed in settings.py "
        "`KINETIC_SECRETS` (never a `kinetic-run-*` or `kinetic-cache-*` key Secret).",
        example="db-credentials"),
    "secret_env.<NAME>.key": _Meta("string, required", "Key in the Secret.",
                                   example="password"),
    "node_selector": _Meta("mapping: label -> value", "Extra node selector labels.",
                           example={"cloud.google.com/gke-nodepool": "highmem"},
                           default="none"),
    "tolerations": _Meta("list", "Extra tolerations (the GPU, TPU and spot ones are added "
                         "automatically).", default="none"),
    "tolerations[].key": _Meta("string", "Taint key.", example="dedicated"),
    "tolerations[].operator": _Meta("Exists | Equal", "How `value` is compared.",
                                    example="Equal"),
    "tolerations[].value": _Meta("string", "Taint value (with `Equal`).", example="kedro"),
    "tolerations[].effect": _Meta("NoSchedule | PreferNoSchedule | NoExecute",
                                  "Taint effect to tolerate.", example="NoExecute"),
    "tolerations[].toleration_seconds": _Meta(
        "integer >= 0", "With `NoExecute`: how long the pod stays after the taint appears.",
        example=600),
    "service_account": _Meta(
        "DNS-1123 label", "Kubernetes service account of the pod; with Workload Identity it "
        "gives the pod its Google identity (GCS access). It must be listed in settings.py "
        "`KINETIC_SERVICE_ACCOUNTS`. Its Kubernetes API token is not mounted "
        "(`automountServiceAccountToken: false`) unless settings.py sets "
        "`KINETIC_MOUNT_SERVICE_ACCOUNT_TOKEN = True`.", example="kedro-runner"),
    "labels": _Meta("mapping: name -> value", "Extra labels on the Job and its pods.",
                    example={"team": "forecasting"}, default="none"),
    "annotations": _Meta("mapping: name -> value", "Extra annotations on the Job.",
                         example={"owner": "ml-platform@example.com"}, default="none"),
    "group": _Meta(
        "group name",
        "Nodes with the same group name run in one Job, in DAG order, intermediates between "
        "them kept in the pod's memory. The group must be convex (no path leaves it and comes "
        "back) and its nodes must agree on image, GPU/TPU, spot, node selector, tolerations "
        "and service account; its resources are the largest of its nodes', its deadline the "
        "sum. Otherwise the run is refused before anything is submitted.",
        example="features"),
    "cache": _Meta(
        "boolean",
        "`false`: the node cache never reuses or records this node (code that is not "
        "deterministic, or that reads what its key cannot see: undeclared environment "
        "variables, the clock, a network service). A `no-cache` Kedro tag does the same.",
        example=False),
}

_PLACEHOLDERS = {"tags": "<tag>", "nodes": "<node>", "pipelines": "<pipeline>",
                 "secret_env": "<NAME>"}


@dataclass(frozen=True)
class KeyDoc:
    """One key of the ``kinetic:`` block, as documented.

    ``scope`` is ``run`` (keys of ``kinetic:`` and of ``pipelines.<pipeline>``) or ``node``
    (keys of ``defaults``, ``tags.<tag>`` and ``nodes.<node>``); ``path`` is relative to it.
    """

    scope: str
    path: str
    type: str
    default: str
    meaning: str
    meta: _Meta


def _schema_paths(schema: Mapping[str, Any], prefix: str = "",
                  skip: tuple[Mapping[str, Any], ...] = ()) -> Iterator[str]:
    """Key paths of a schema; nested schemas in ``skip`` (or subsets of them) are not entered."""
    for key, sub in schema.items():
        if key == cfg.REQUIRED:
            continue
        path = f"{prefix}{key}"
        yield path
        inner, child = sub, f"{path}."
        if isinstance(sub, tuple):
            kind, inner = sub
            child = f"{path}.{_PLACEHOLDERS.get(key, '<name>')}." if kind == "map" else f"{path}[]."
        if isinstance(inner, dict) and not any(
            inner is s or set(inner) - {cfg.REQUIRED} <= set(s) for s in skip
        ):
            yield from _schema_paths(inner, child, skip)


def _defaults(scope: str) -> dict[str, Any]:
    if scope == "run":
        return {f.name: getattr(cfg.RunConfig(), f.name) for f in fields(cfg.RunConfig)}
    out = {f.name: getattr(cfg.NodeSettings(), f.name) for f in fields(cfg.NodeSettings)}
    for name, klass in (("gpu", cfg.GPU), ("tpu", cfg.TPU)):
        for f in fields(klass):
            out[f"{name}.{f.name}"] = f.default  # dataclasses.MISSING when required
    return out


def _has_default(value: Any) -> bool:
    from dataclasses import MISSING

    return value is not MISSING and value is not None


def _show(value: Any) -> str:
    import yaml

    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix(
        "\n...").removesuffix(" ...")


def reference() -> list[KeyDoc]:
    """Every key of the ``kinetic:`` schema with its type, default and meaning.

    Raises:
        KeyError: A schema key has no description here (add one to ``_RUN``/``_NODE``).
    """
    docs = []
    for scope, schema, meta, skip in (
        ("run", cfg.RUN_SCHEMA, _RUN, (cfg.RUN_SCHEMA, cfg.NODE_SCHEMA)),
        ("node", cfg.NODE_SCHEMA, _NODE, ()),
    ):
        defaults = _defaults(scope)
        paths = list(_schema_paths(schema, skip=skip))
        missing = [p for p in paths if p not in meta]
        if missing:
            raise KeyError(f"kinetic schema keys without a description in scaffold.py: {missing}")
        for path in paths:
            m = meta[path]
            value = defaults.get(path)
            if m.default is not None:
                default = m.default
            elif _has_default(value) and value not in ({}, ()):
                default = _show(value)
            else:
                default = "none" if "required" not in m.type else "—"
            docs.append(KeyDoc(scope, path, m.type, default, m.meaning, m))
    return docs


def _plain(default: str) -> bool:
    return default in ("none", "—", "see below") or default.startswith("=")


def reference_markdown() -> str:
    """The key tables of the configuration reference page (docs/configuration.md)."""
    def table(scope: str) -> list[str]:
        rows = ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
        for d in reference():
            if d.scope == scope:
                default = d.default if _plain(d.default) else f"`{d.default}`"
                cells = [f"`{d.path}`", d.type, default, d.meaning]
                rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return rows

    lines = ["### Run settings", "",
             "Keys of `kinetic:` (and of `kinetic.pipelines.<pipeline>`).", "",
             *table("run"), "",
             "### Node settings", "",
             ("Keys of `kinetic.defaults`, `kinetic.tags.<tag>` and `kinetic.nodes.<node>` "
              "(and of the same sections under `pipelines.<pipeline>` and `--runner-params`)."),
             "",
             *table("node")]
    return "\n".join(lines) + "\n"


_BEGIN = re.compile(r"<!-- BEGIN kinetic keys[^>]*-->\n")
_END = "<!-- END kinetic keys -->"


def update_reference(page: Path) -> bool:
    """Rewrite the generated key tables of a docs page in place; return whether it changed."""
    text = page.read_text(encoding="utf-8")
    start = _BEGIN.search(text)
    if not start or _END not in text:
        raise ValueError(f"{page} has no '<!-- BEGIN kinetic keys ... -->' / '{_END}' markers")
    new = f"{text[:start.end()]}\n{reference_markdown()}{text[text.index(_END):]}"
    page.write_text(new, encoding="utf-8")
    return new != text
