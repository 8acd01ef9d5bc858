"""Catalog entries that exist only as Python objects cannot travel to a pod.

A pod rebuilds each node's datasets from plain configuration (the project's
catalog YAML, checked against the allowlist). A dataset added in code (in a
hook, ``settings.py``, or by building a ``DataCatalog`` by hand) has no such
configuration: sending it would mean pickling the object, and treating it as a
free intermediate would silently bypass its own ``save``. So the run stops
before anything is stored, naming every such entry and what to do.

In-memory datasets added in code are fine: the driver uploads the data of a
pipeline input held in memory (:mod:`kedro_kinetic.driver.driver_io`), and a memory
dataset a node writes is an intermediate like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro_kinetic.errors import CatalogSpecError
from kedro_kinetic.planning.catalog_spec import in_code_fix, is_parameter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


def code_only(names: Iterable[str], catalog: Any,
              declared: Callable[[str], bool]) -> list[tuple[str, str]]:
    """``(name, class)`` of every dataset of ``names`` that only code created.

    Args:
        names: The pipeline's datasets.
        catalog: The run's catalog (objects are looked at, never loaded).
        declared: Whether the catalog configuration declares a name (an entry
            or a factory pattern).
    """
    from kedro.io import MemoryDataset

    found = []
    for name in sorted(names):
        if is_parameter(name) or declared(name) or name not in catalog:
            continue
        dataset = catalog.get(name)
        if dataset is None or isinstance(dataset, MemoryDataset):
            continue
        kind = type(dataset)
        found.append((name, f"{kind.__module__}.{kind.__qualname__}"))
    return found


def refuse_code_only(names: Iterable[str], catalog: Any,
                     declared: Callable[[str], bool]) -> None:
    """Stop the run if a dataset exists only as a Python object.

    Raises:
        CatalogSpecError: Naming each entry, its class, and how to declare it.
    """
    found = code_only(names, catalog, declared)
    if not found:
        return
    listed = ", ".join(f"'{name}' ({kind})" for name, kind in found)
    many = len(found) > 1
    raise CatalogSpecError(
        f"catalog {'entries' if many else 'entry'} {listed} "
        f"{'exist only as Python objects' if many else 'exists only as a Python object'}, "
        "created in code rather than in the catalog configuration; GKERunner rebuilds each "
        f"node's datasets in its pod from plain configuration, so {in_code_fix(many)}")
