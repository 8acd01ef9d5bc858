"""One node's plan (what is needed to submit it), and the pinning rules its datasets follow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from kedro_kinetic import store
from kedro_kinetic.wire import pinned_files
from kedro_kinetic.wire.digest import sha256_hex

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro.pipeline.node import Node

    from kedro_kinetic.config import NodeSettings
    from kedro_kinetic.planning import manifest
    from kedro_kinetic.store.layout import RunLayout


@dataclass
class NodePlan:
    """Everything needed to submit one node."""

    node: Node
    ident: manifest.JobIdentity
    settings: NodeSettings
    payload_uri: str
    payload_sha256: str
    payload_bytes: int
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    credentials: list[str]
    result_uri: str
    pins: manifest.Pins | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    #: The group whose Job runs this node (``None``: its own Job).
    group: str | None = None
    #: The attempt (nonce) of the Job submission whose result counts for this node: set
    #: when the node is pinned, replaced by an adopted Job's own, or read back on resume.
    attempt: str | None = None
    #: The node's code as its cache key sees it (see :func:`payload.code_identity`); empty
    #: when the run caches nothing.
    code_sha256: str = ""


def needs_digest(entry: Mapping[str, Any]) -> bool:
    """Whether a dataset spec is pinned by the digest its producer reports.

    Pickled intermediates always are; catalog entries whose loading runs code
    (pickles) are, unless the project pinned or trusted them in code.
    """
    if entry["kind"] == "pickle":
        return True
    return (entry["kind"] == "catalog" and not entry.get("trusted")
            and not entry.get("from_group") and pinned_files.loads_code(entry.get("config")))


def reported_digest(entry: Mapping[str, Any]) -> bool:
    """Whether a producing pod must report the digest of this output."""
    if entry["kind"] == "pickle":
        return True
    config = entry.get("config")
    return (entry["kind"] == "catalog" and isinstance(config, Mapping)
            and pinned_files.loads_code(config) and pinned_files.pinnable(config))


def put_content(layout: RunLayout, data: bytes,
                deferred: list[Callable[[], None]] | None = None) -> tuple[str, str]:
    """Store ``data`` content-addressed (once per run); return ``(uri, sha256)``.

    With ``deferred``, the write is appended to it instead of done now, so the
    caller can do the I/O off its thread (the digest and URI are known at once).
    """
    digest = sha256_hex(data)
    uri = layout.object_uri(digest)
    if layout.write:
        write = partial(store.write_new, uri, data)
        if deferred is None:
            write()
        else:
            deferred.append(write)
    return uri, digest
