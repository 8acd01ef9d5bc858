"""Kubernetes resource quantities (``500m``, ``2Gi``, ``1.5``), validated and parsed."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(
    r"^(?P<num>[+]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
_FACTORS: dict[str, Decimal | int] = {
    "": 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def parse(value: str | int | float) -> Decimal:
    """Return the quantity as a number (bytes for memory, cores for CPU).

    Raises:
        ValueError: Not a Kubernetes quantity.
    """
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 4Gi)"
        )
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex forbids it
        raise ValueError(f"{value!r} is not a Kubernetes quantity") from exc
    suffix = match["suffix"] or ""
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * Decimal(_FACTORS[suffix])


def normalise(value: str | int | float) -> str:
    """Validate and return the quantity as the string Kubernetes expects."""
    parse(value)
    return str(value).strip()
