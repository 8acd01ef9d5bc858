"""Generator nodes: save each chunk as it is produced, as Kedro does.

Kedro 1.x runs a node whose function is a generator by saving every yielded
chunk to the node's output datasets as it comes (``kedro/runner/task.py``:
outputs interleaved in declaration order, one ``catalog.save`` per chunk), so
a dataset that appends (e.g. ``pandas.CSVDataset`` with ``mode: a``) collects
them all, and one that replaces keeps the last. The pod does the same with
:func:`chunks`.

A *free intermediate* (a dataset Kedro would keep in a ``MemoryDataset``)
holds, after a generator node, what a ``MemoryDataset`` holds: the **last**
chunk (each ``save`` replaces its data). The pod keeps only that chunk and
pickles it once, at the end; its digest is the digest of those exact bytes,
pinned into the consumers' specs like any other intermediate. Nothing else is
pickled, so a chunk the consumer never sees is never written.

Standard library only: the pod imports it.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from kedro_kinetic.pod.node_call import outputs_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kedro_kinetic.pod.node_call import Decl


def is_chunked(func: Callable[..., Any], value: Any) -> bool:
    """Whether ``value`` is the chunk stream of a generator node (Kedro's test)."""
    return inspect.isgeneratorfunction(func) and inspect.isgenerator(value)


def chunks(name: str, outputs: Decl, stream: Any, keep_last: Callable[[str], bool],
           phase: Callable[[str], None]) -> Iterator[tuple[str, Any]]:
    """``(dataset, data)`` pairs to save, in Kedro's order.

    Args:
        name: The node's name (for error messages).
        outputs: The node's output declaration (a name, a list or a mapping).
        stream: The generator the node's function returned.
        keep_last: Datasets of which only the last chunk is saved, after the
            stream ends (free intermediates: what a ``MemoryDataset`` would hold).
        phase: Called with ``"run"`` while the node's code produces a chunk and
            ``"save"`` while chunks are saved, so a failure names the right phase.

    Raises:
        ValueError: A chunk does not match the output declaration.
    """
    if not outputs:
        return  # Kedro never iterates a generator node without outputs
    last: dict[str, Any] = {}
    while True:
        phase("run")
        try:
            value = next(stream)
        except StopIteration:
            break
        phase("save")
        for dataset, data in outputs_of(name, outputs, value).items():
            if keep_last(dataset):
                last[dataset] = data
            else:
                yield dataset, data
    phase("save")
    yield from last.items()
