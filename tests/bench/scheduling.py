"""Pure scheduling rules of the test kubelet: does a pod fit a node, and if not, why not.

Pods and nodes are plain dicts in the API's JSON shape (camelCase). The messages imitate
kube-scheduler's, e.g. ``0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) had
untolerated taint {cloud.google.com/gke-spot: true}. preemption: ...``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]{0,2})$")


def parse_quantity(value: str | float) -> Decimal:
    """Parse a Kubernetes resource quantity (``500m``, ``2Gi``, ``1e3``) into a Decimal.

    Raises:
        ValueError: Not a quantity.
    """
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip())
    if not match or match.group(2) not in _SUFFIXES:
        raise ValueError(f"invalid quantity {value!r}")
    number, suffix = match.groups()
    return Decimal(number) * Decimal(_SUFFIXES[suffix])


def pod_requests(pod: Mapping[str, Any]) -> dict[str, Decimal]:
    """Effective requests of a pod: sum over containers, at least the max of any init container.

    A container's limit stands in for a missing request (the API defaults it that way for
    extended resources and for cpu/memory when only limits are given).
    """

    def container_requests(container: Mapping[str, Any]) -> dict[str, Decimal]:
        resources = container.get("resources") or {}
        merged = dict(resources.get("limits") or {})
        merged.update(resources.get("requests") or {})
        return {name: parse_quantity(q) for name, q in merged.items()}

    spec = pod.get("spec") or {}
    total: Counter[str] = Counter()
    for container in spec.get("containers") or []:
        total.update(container_requests(container))
    for container in spec.get("initContainers") or []:
        for name, quantity in container_requests(container).items():
            total[name] = max(total[name], quantity)
    return dict(total)


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Whether one of ``tolerations`` tolerates ``taint`` (same rules as the API types)."""
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = toleration.get("key") or ""
        operator = toleration.get("operator") or "Equal"
        if not key:
            if operator == "Exists":
                return True
            continue
        if key != taint.get("key"):
            continue
        if operator == "Exists":
            return True
        if operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _match_expression(labels: Mapping[str, str], expr: Mapping[str, Any]) -> bool:
    key, operator = expr.get("key"), expr.get("operator")
    values = expr.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            left, right = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return left > right if operator == "Gt" else left < right
    return False


def matches_node_selection(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """Whether ``node`` satisfies the pod's nodeSelector and required node affinity."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    spec = pod.get("spec") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    )
    terms = required.get("nodeSelectorTerms") or []
    if terms:
        name = (node.get("metadata") or {}).get("name")
        fields = {"metadata.name": name}
        return any(
            all(_match_expression(labels, e) for e in term.get("matchExpressions") or [])
            and all(_match_expression(fields, e) for e in term.get("matchFields") or [])
            for term in terms
        )
    return True


def misfit_reasons(
    pod: Mapping[str, Any], node: Mapping[str, Any], used: Mapping[str, Decimal]
) -> list[str]:
    """Why ``pod`` cannot run on ``node`` (empty when it fits), in kube-scheduler's words.

    Args:
        pod: The pod.
        node: The node, with ``status.allocatable``.
        used: Requests of the pods already bound to the node and not finished, plus their
            number under ``pods``.
    """
    # Same order as kube-scheduler's filters, which stop at the first failing one per node.
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return ["node(s) were unschedulable"]
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"]
    if not matches_node_selection(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    allocatable = {
        name: parse_quantity(q)
        for name, q in ((node.get("status") or {}).get("allocatable") or {}).items()
    }
    reasons = []
    if "pods" in allocatable and used.get("pods", Decimal(0)) + 1 > allocatable["pods"]:
        reasons.append("Too many pods")
    for name, quantity in sorted(pod_requests(pod).items()):
        if quantity <= 0:
            continue
        if used.get(name, Decimal(0)) + quantity > allocatable.get(name, Decimal(0)):
            reasons.append(f"Insufficient {name}")
    return reasons


def unschedulable_message(reasons_by_node: Mapping[str, list[str]]) -> str:
    """kube-scheduler's FailedScheduling message for the per-node reasons."""
    total = len(reasons_by_node)
    counts: Counter[str] = Counter()
    for reasons in reasons_by_node.values():
        counts.update(reasons)
    detail = ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))
    if total == 0:
        return "no nodes available to schedule pods"
    return (
        f"0/{total} nodes are available: {detail}. preemption: 0/{total} nodes are available: "
        f"{total} Preemption is not helpful for scheduling."
    )
