"""One node inside a pod: verify, read, load, run, save, and report a sealed result.

Used by :mod:`kedro_kinetic.entrypoint` for every node its Job runs (one, or
the nodes of a group in DAG order). The phases are separate methods so that a
group verifies **every** node's spec and payload before it unpickles or runs
any of them. Each node writes its own result, sealed for its own URI, as soon
as it finishes, so the driver learns of each node as it completes.

Pod side: imports nothing from the driver (runner, planning, backends, CLI).
"""

from __future__ import annotations

import logging
import pickle
import sys
import time
from typing import Any

from kedro_kinetic import store
from kedro_kinetic.errors import SpecError, StoreObjectError
from kedro_kinetic.pod.errors import missing_input, node_traceback, save_failed
from kedro_kinetic.wire import result as results
from kedro_kinetic.wire.allowlist import CatalogSpecError, build_allowlist, check_entry
from kedro_kinetic.wire.digest import VerificationError, sha256_hex, verify
from kedro_kinetic.wire.result import Status
from kedro_kinetic.wire.task_spec import safe_load, validate_spec

_PHASE_EXIT = {
    "verify": results.EXIT_VERIFICATION_FAILED,
    "payload": results.EXIT_PAYLOAD_UNUSABLE,
    "spec": results.EXIT_BAD_SPEC,
    "load": results.EXIT_DATA_ERROR,
    "run": results.EXIT_NODE_RAISED,
    "save": results.EXIT_DATA_ERROR,
}


def read_pinned(uri: str, sha256: Any, size: Any, what: str) -> bytes:
    """Read an object no further than its pinned size, then check its pinned digest.

    A planted object larger than its pin is refused without being read whole, so it
    cannot exhaust the pod's memory.

    Raises:
        VerificationError: No size pinned, too large, or its digest does not match.
    """
    if type(size) is not int or size < 0:
        raise VerificationError(f"{what}: no valid size pinned ({size!r}); refusing to read it")
    try:
        data = store.read_bytes(uri, max_bytes=size)
    except StoreObjectError as exc:  # larger than its pin: altered after it was pinned
        raise VerificationError(f"{what}: {exc}") from None
    return verify(data, sha256, what)


def log(message: str) -> None:
    """A line on the pod's log (stderr), prefixed so it stands out from node output."""
    print(f"[kinetic-pod] {message}", file=sys.stderr, flush=True)


class PodNode:
    """One node's journey inside the pod, tracking its phase for its result."""

    def __init__(self, entry: dict[str, Any], notice_uri: str | None = None) -> None:
        """Args:
            entry: Where the node's spec, payload and result live and the pinned
                digests: ``spec_uri``, ``spec_sha256``, ``payload_uri``,
                ``payload_sha256``, ``result_uri`` (and ``node`` in a group).
            notice_uri: The Job's doorbell, written (empty) after each result so that
                the driver's listing finds it (optional).
        """
        self.entry = entry
        self.result_uri: str = entry["result_uri"]
        self.notice_uri = notice_uri
        self.res = results.NodeResult(node=entry.get("node") or "?", started_at=time.time())
        self._bytes: tuple[bytes, bytes] | None = None
        self.spec: dict[str, Any] = {}
        self.pay: Any = None
        self.configs: dict[str, Any] = {}
        self.creds: dict[str, Any] = {}

    def _timed(self, name: str, start: float) -> None:
        self.res.timings[name] = round(time.perf_counter() - start, 6)

    # -- before anything runs ------------------------------------------------------
    def fetch_verified(self) -> None:
        """Fetch the spec and payload; keep them only if they match their pins."""
        self.res.phase = "verify"
        entry, t0 = self.entry, time.perf_counter()
        what = f" of node '{entry['node']}'" if entry.get("node") else ""
        spec = read_pinned(entry["spec_uri"], entry.get("spec_sha256"),
                           entry.get("spec_bytes"), f"task spec{what}")
        payload = read_pinned(entry["payload_uri"], entry.get("payload_sha256"),
                              entry.get("payload_bytes"), f"payload{what}")
        self._bytes = (spec, payload)
        self._timed("fetch_verify", t0)

    def read(self) -> None:
        """Parse the verified spec (safe loader), unpickle the verified payload, check
        the catalog entries against the allowlist and their local paths against the
        data roots (never trusting the driver's checks), resolve credential names."""
        from kedro_kinetic.pod import credentials
        from kedro_kinetic.wire import data_paths
        from kedro_kinetic.wire import payload as payloads

        if self._bytes is None:
            raise VerificationError("the node's spec and payload were not verified")
        spec_bytes, payload_bytes = self._bytes
        self.res.phase = "spec"
        self.spec = validate_spec(safe_load(spec_bytes, "task spec"))
        if isinstance(self.spec.get("log_level"), int):  # the lowest the driver shows
            logging.getLogger().setLevel(self.spec["log_level"])
        if self.res.node not in ("?", self.spec["node"]):
            raise SpecError(f"the group names node '{self.res.node}' but its spec is for "
                            f"'{self.spec['node']}'")
        self.res.node = self.spec["node"]
        self.res.phase = "payload"  # verified; failing now means the image does not fit it
        self.pay = payloads.load(payload_bytes, self.entry.get("payload_sha256"))
        self.res.phase = "spec"
        if self.pay.name != self.spec["node"]:
            raise SpecError(f"payload holds node '{self.pay.name}' but the spec is for "
                            f"'{self.spec['node']}'")
        allowed = build_allowlist(self.pay.allow)
        for side in ("inputs", "outputs"):
            for name, item in self.spec[side].items():
                if item["kind"] == "catalog":
                    self.configs[name] = check_entry(name, item["config"], allowed)
        data_paths.check_datasets(self.configs, data_paths.spec_roots(self.spec), self.spec)
        self.creds = credentials.resolve(self.spec.get("credentials", []))

    # -- running -------------------------------------------------------------------
    def execute(self, memory: dict[str, Any], written: dict[str, str],
                keep: frozenset[str] = frozenset()) -> None:
        """Load the inputs, call the node, save its outputs (timed phase by phase).

        Args:
            memory: Values an earlier node of the same pod kept in memory.
            written: SHA-256 of pickled catalog files earlier nodes of the pod wrote.
            keep: Outputs a later node of the pod reads from memory.
        """
        from kedro_kinetic.pod import logs
        from kedro_kinetic.pod.node_call import call

        spec, configs = self.spec, self.configs
        logs.running(self.pay.name)
        self.res.phase = "load"
        t0 = time.perf_counter()
        catalog = _build_catalog(configs, self.creds, spec) if configs else None
        recorders = _pin_code_loading(spec, configs, catalog, written)
        inputs = {name: _load_input(name, spec["inputs"][name], catalog, memory)
                  for name in _declared_order(self.pay.inputs, spec["inputs"])}
        self._timed("load", t0)
        self.res.phase = "run"
        t0 = time.perf_counter()
        logging.getLogger(__name__).debug("running node %s", self.pay.name)
        value = call(self.pay.name, self.pay.func, self.pay.inputs, inputs)
        self._timed("run", t0)
        self.res.phase = "save"
        t0 = time.perf_counter()
        self._save(value, catalog, recorders, memory, written, keep)
        self._timed("save", t0)
        self.res.phase = "done"
        self.res.status = Status.SUCCEEDED
        self.res.exit_code = results.EXIT_OK

    def _save(self, value: Any, catalog: Any, recorders: dict[str, Any],
              memory: dict[str, Any], written: dict[str, str], keep: frozenset[str]) -> None:
        for name, data in self._items(value):
            item = self.spec["outputs"].get(name)
            if item is None:
                raise SpecError(f"node produced '{name}', which the spec does not name")
            if name in keep or item["kind"] == "memory":
                memory[name] = _copied(data)
            if name in recorders:  # a generator's chunks: the file holds the last one
                recorders[name].written.clear()
            try:
                report = _save_output(name, item, data, catalog, recorders.get(name))
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                if item["kind"] != "pickle":
                    raise
                raise save_failed(name, exc) from None  # names the dataset, as Kedro does
            if report is not None:
                self.res.outputs[name] = report
                if report["kind"] == "catalog" and report.get("sha256"):
                    written[name] = report["sha256"]
        for name in self.pay.confirms:
            if catalog is not None and name in self.configs:
                catalog.confirm(name)

    def _items(self, value: Any) -> Any:
        """``(dataset, data)`` to save: a generator node's chunks as they come (see chunks)."""
        from kedro_kinetic.pod import chunks
        from kedro_kinetic.pod.node_call import outputs_of

        if not chunks.is_chunked(self.pay.func, value):
            return outputs_of(self.pay.name, self.pay.outputs, value).items()

        def keep_last(name: str) -> bool:  # free intermediates hold the last chunk
            return (self.spec["outputs"].get(name) or {}).get("kind") in ("pickle", "memory")

        def phase(name: str) -> None:
            self.res.phase = name

        return chunks.chunks(self.pay.name, self.pay.outputs, value, keep_last, phase)

    # -- the end -------------------------------------------------------------------
    def fail(self, exc: BaseException) -> int:
        """Record ``exc`` in the result; return the exit code of the phase it ended."""
        if isinstance(exc, VerificationError):
            code = results.EXIT_VERIFICATION_FAILED
        elif isinstance(exc, (CatalogSpecError, SpecError)):
            code = results.EXIT_BAD_SPEC
        else:
            code = _PHASE_EXIT.get(self.res.phase, results.EXIT_INTERNAL)
        self.res.status = Status.FAILED
        self.res.exit_code = code
        self.res.error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        self.res.error_message = str(exc)
        self.res.traceback = node_traceback(exc)
        log(f"{results.EXIT_MEANINGS[code]} in phase '{self.res.phase}' of node "
            f"{self.res.node}: {exc}")
        return code

    def report(self, key: bytes | None) -> None:
        """Write the result, sealed for its own URI with the run's key (never raises)."""
        self.res.finished_at = time.time()
        data = self.res.sealed(key, self.result_uri) if key is not None else self.res.to_json()
        try:
            store.write_bytes(self.result_uri, data)
            if self.notice_uri:
                store.write_bytes(self.notice_uri, b"")
        except Exception as exc:
            log(f"could not write the result to {self.result_uri} or its notice: {exc}")


def _build_catalog(configs: dict[str, Any], creds: dict[str, Any], spec: dict) -> Any:
    """The node's catalog, every local file of it under the data roots, never through a
    link: fsspec's local protocols are confined in this process before it is built."""
    from kedro.io import DataCatalog

    from kedro_kinetic.confine.datasets import confine_dataset, install
    from kedro_kinetic.wire.data_paths import spec_roots

    roots = spec_roots(spec)
    install(roots)
    catalog = DataCatalog.from_config(
        catalog=configs,
        credentials=creds,
        load_versions=spec.get("load_versions") or {},
        save_version=spec.get("save_version"),
    )
    for name in configs:  # named in refusals; pandas' own opens go through it too
        confine_dataset(catalog[name], name, roots)
    return catalog


def _pin_code_loading(spec: dict[str, Any], configs: dict[str, Any], catalog: Any,
                      written: dict[str, str]) -> dict[str, Any]:
    """Route code-executing catalog datasets (pickles) through their pins.

    Inputs load only bytes whose SHA-256 matches the spec's pin, the digest an
    earlier node of this pod recorded (``from_group``), or the project trusted
    them in code; outputs have the digest of what they write recorded. Returns
    the recorders of the outputs, by dataset name.

    Raises:
        VerificationError: A code-executing input has no pin and is not trusted.
    """
    from kedro_kinetic.wire import pinned_files

    for name, entry in spec["inputs"].items():
        if entry["kind"] != "catalog" or not pinned_files.loads_code(configs[name]):
            continue
        if entry.get("trusted") is True:
            continue
        digest = written.get(name) if entry.get("from_group") else entry.get("sha256")
        if digest is None:
            raise VerificationError(
                f"input '{name}' loads a code-executing format (a pickle) and no digest "
                "is pinned for it; refusing to load it")
        pinned_files.pin(catalog[name], name, digest,
                         None if entry.get("from_group") else entry.get("bytes"))
    return {
        name: pinned_files.pin(catalog[name], name, None)
        for name, entry in spec["outputs"].items()
        if entry["kind"] == "catalog" and pinned_files.loads_code(configs[name])
        and pinned_files.pinnable(configs[name])
    }


def _declared_order(declared: Any, names: dict[str, Any]) -> list[str]:
    """The spec's inputs in the order the node declares them (Kedro loads them so)."""
    listed = ([declared] if isinstance(declared, str) else list(declared.values())
              if isinstance(declared, dict) else list(declared or []))
    ordered = [n for n in dict.fromkeys(listed) if n in names]
    return ordered + [n for n in names if n not in ordered]


def _through_memory(name: str, value: Any, save: bool = False) -> Any:
    """``value`` handed through a Kedro ``MemoryDataset`` (as assigned, no copy), so that
    Kedro logs its own "Loading data from …" / "Saving data to …" line for a dataset
    that a normal Kedro run keeps in memory."""
    from kedro.io import DataCatalog, MemoryDataset

    memory_catalog = DataCatalog({name: MemoryDataset(copy_mode="assign")})
    if save:
        memory_catalog.save(name, value)  # Kedro: "Saving data to …"
        return value
    memory_catalog[name].save(value)
    return memory_catalog.load(name)  # Kedro: "Loading data from …"


def _load_input(name: str, entry: dict[str, Any], catalog: Any,
                memory: dict[str, Any]) -> Any:
    if entry["kind"] != "catalog":
        return _through_memory(name, _load_value(name, entry, memory))
    try:
        return catalog.load(name)
    except Exception as exc:
        missing = missing_input(name, entry.get("config"), exc)
        if missing is None:
            raise
        raise missing from exc  # one line first; the traceback that led to it after


def _load_value(name: str, entry: dict[str, Any], memory: dict[str, Any]) -> Any:
    kind = entry["kind"]
    if kind == "param":
        return entry["value"]
    if kind == "memory":
        if name not in memory:
            raise SpecError(f"input '{name}' should come from an earlier node of this pod")
        return _copied(memory[name])
    if kind == "pickle":
        data = read_pinned(entry["uri"], entry.get("sha256"), entry.get("bytes"),
                           f"intermediate dataset '{name}'")
        return pickle.loads(data)  # noqa: S301 - verified against its pin
    raise SpecError(f"input '{name}' is of kind {kind!r}, which the pod cannot load")


def _copied(value: Any) -> Any:
    """What a Kedro ``MemoryDataset`` would hand the next node (its copy rules)."""
    from kedro.io import MemoryDataset

    dataset: Any = MemoryDataset()
    dataset.save(value)
    return dataset.load()


def _save_output(name: str, entry: dict[str, Any], data: Any, catalog: Any,
                 recorder: Any) -> dict | None:
    if entry["kind"] in ("memory", "pickle"):
        _through_memory(name, data, save=True)
    if entry["kind"] == "memory":
        return None
    if entry["kind"] == "pickle":
        try:
            blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            import cloudpickle

            blob = cloudpickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        store.write_bytes(entry["uri"], blob)
        return {"kind": "pickle", "uri": entry["uri"], "sha256": sha256_hex(blob),
                "bytes": len(blob)}
    catalog.save(name, data)
    if recorder is not None:
        from kedro_kinetic.wire.pinned_files import written_digest

        digest, size = written_digest(recorder)
        return {"kind": "catalog", "sha256": digest, "bytes": size}
    return {"kind": "catalog"}
