"""The pod entrypoint: fetch -> verify -> safe-load -> check -> load -> run -> save.

Run as ``python -m kedro_kinetic.entrypoint`` (or the ``kinetic-pod`` script)
with the arguments the Job manifest pins::

    --spec URI --spec-sha256 HEX --payload URI --payload-sha256 HEX --result URI

Nothing is parsed or unpickled before its digest matched the pin; catalog
class paths are checked against the allowlist before anything is imported.
Whatever happens, a JSON result is written last, and the exit code says which
stage failed (see :mod:`kedro_kinetic.result`).

This module imports nothing from the driver side (runner, planning, backends,
CLI) so that it stays small, fast to import and easy to audit.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from typing import Any

from kedro_kinetic import result as results
from kedro_kinetic import seal, store
from kedro_kinetic.allowlist import CatalogSpecError, build_allowlist, check_entry
from kedro_kinetic.digest import VerificationError, sha256_hex, verify
from kedro_kinetic.errors import SpecError
from kedro_kinetic.pod_errors import node_traceback, save_failed
from kedro_kinetic.task_spec import safe_load, validate_spec

_PHASE_EXIT = {
    "verify": results.EXIT_VERIFICATION_FAILED,
    "payload": results.EXIT_PAYLOAD_UNUSABLE,
    "spec": results.EXIT_BAD_SPEC,
    "load": results.EXIT_DATA_ERROR,
    "run": results.EXIT_NODE_RAISED,
    "save": results.EXIT_DATA_ERROR,
}


class _Args(argparse.Namespace):
    spec: str | None
    spec_sha256: str | None
    payload: str | None
    payload_sha256: str | None
    result: str | None


def _parse(argv: list[str]) -> _Args:
    parser = argparse.ArgumentParser(prog="kinetic-pod", description=__doc__)
    for flag in ("--spec", "--spec-sha256", "--payload", "--payload-sha256", "--result"):
        parser.add_argument(flag)
    return parser.parse_args(argv, namespace=_Args())


def _log(message: str) -> None:
    print(f"[kinetic-pod] {message}", file=sys.stderr, flush=True)


class _Pod:
    """One node's execution, tracking its phase for the result."""

    def __init__(self, args: _Args) -> None:
        self.args = args
        self.res = results.NodeResult(node="?", started_at=time.time())
        self.key: bytes | None = None

    def _timed(self, name: str, start: float) -> None:
        self.res.timings[name] = round(time.perf_counter() - start, 6)

    def run(self) -> int:
        """Verify, then load, run and save the node; every phase is timed."""
        spec_bytes, payload_bytes = self._fetch_verified()
        spec, pay, configs, creds = self._read(spec_bytes, payload_bytes)
        self.res.phase = "load"
        t0 = time.perf_counter()
        catalog = _build_catalog(configs, creds, spec) if configs else None
        written = _pin_code_loading(spec, configs, catalog)
        inputs = {name: _load_input(name, entry, catalog)
                  for name, entry in spec["inputs"].items()}
        self._timed("load", t0)
        self.res.phase = "run"
        t0 = time.perf_counter()
        _log(f"running node {pay.name}")
        from kedro_kinetic.node_call import call

        value = call(pay.name, pay.func, pay.inputs, inputs)
        self._timed("run", t0)
        self.res.phase = "save"
        t0 = time.perf_counter()
        self._save(spec, pay, value, catalog, configs, written)
        self._timed("save", t0)
        self.res.phase = "done"
        self.res.status = "succeeded"
        return results.EXIT_OK

    def _fetch_verified(self) -> tuple[bytes, bytes]:
        """The spec's and payload's bytes, each matching its pin (nothing parsed yet)."""
        args = self.args
        self.res.phase = "verify"
        if not args.spec or not args.payload or not args.result:
            raise VerificationError("--spec, --payload and --result are required")
        if self.key is None:
            raise VerificationError(
                f"the pod has no run key (${seal.KEY_ENV}), so its result could not be "
                "authenticated; the node was not run")
        t0 = time.perf_counter()
        spec_bytes = verify(store.read_bytes(args.spec), args.spec_sha256, "task spec")
        payload_bytes = verify(store.read_bytes(args.payload), args.payload_sha256, "payload")
        self._timed("fetch_verify", t0)
        return spec_bytes, payload_bytes

    def _read(self, spec_bytes: bytes, payload_bytes: bytes) -> tuple[Any, Any, dict, dict]:
        """Parse the spec (safe loader), unpickle the payload, check the catalog entries."""
        self.res.phase = "spec"
        spec = validate_spec(safe_load(spec_bytes, "task spec"))
        self.res.node = spec["node"]
        from kedro_kinetic import credentials
        from kedro_kinetic import payload as payloads

        self.res.phase = "payload"  # verified; failing now means the image does not fit it
        pay = payloads.load(payload_bytes, self.args.payload_sha256)
        self.res.phase = "spec"
        if pay.name != spec["node"]:
            raise SpecError(
                f"payload holds node '{pay.name}' but the spec is for '{spec['node']}'"
            )
        allowed = build_allowlist(pay.allow)
        configs = {}
        for side in ("inputs", "outputs"):
            for name, entry in spec[side].items():
                if entry["kind"] == "catalog":
                    configs[name] = check_entry(name, entry["config"], allowed)
        return spec, pay, configs, credentials.resolve(spec.get("credentials", []))

    def _save(self, spec: Any, pay: Any, value: Any, catalog: Any, configs: dict,
              written: dict) -> None:
        for name, data in self._items(spec, pay, value):
            entry = spec["outputs"].get(name)
            if entry is None:
                raise SpecError(f"node produced '{name}', which the spec does not name")
            if name in written:  # a generator's chunks: the file holds the last one
                written[name].written.clear()
            try:
                self.res.outputs[name] = _save_output(name, entry, data, catalog,
                                                      written.get(name))
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                if entry["kind"] != "pickle":
                    raise
                raise save_failed(name, exc) from None  # names the dataset, as Kedro does
        for name in pay.confirms:
            if catalog is not None and name in configs:
                catalog.confirm(name)

    def _items(self, spec: Any, pay: Any, value: Any) -> Any:
        """``(dataset, data)`` to save: a generator node's chunks as they come (see chunks)."""
        from kedro_kinetic import chunks
        from kedro_kinetic.node_call import outputs_of

        if not chunks.is_chunked(pay.func, value):
            return outputs_of(pay.name, pay.outputs, value).items()

        def keep_last(name: str) -> bool:
            return (spec["outputs"].get(name) or {}).get("kind") == "pickle"

        def phase(name: str) -> None:
            self.res.phase = name

        return chunks.chunks(pay.name, pay.outputs, value, keep_last, phase)

    def fail(self, exc: BaseException) -> int:
        if isinstance(exc, VerificationError):
            code = results.EXIT_VERIFICATION_FAILED
        elif isinstance(exc, (CatalogSpecError, SpecError)):
            code = results.EXIT_BAD_SPEC
        else:
            code = _PHASE_EXIT.get(self.res.phase, results.EXIT_INTERNAL)
        self.res.status = "failed"
        self.res.error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
        self.res.error_message = str(exc)
        self.res.traceback = node_traceback(exc)
        _log(f"{results.EXIT_MEANINGS[code]} in phase '{self.res.phase}': {exc}")
        return code

    def finish(self, code: int) -> int:
        self.res.exit_code = code
        self.res.finished_at = time.time()
        if self.args.result:
            data = (self.res.sealed(self.key, self.args.result) if self.key is not None
                    else self.res.to_json())
            try:
                store.write_bytes(self.args.result, data)
            except Exception as exc:
                _log(f"could not write the result to {self.args.result}: {exc}")
        return code


def _build_catalog(configs: dict[str, Any], creds: dict[str, Any], spec: dict) -> Any:
    from kedro.io import DataCatalog

    return DataCatalog.from_config(
        catalog=configs,
        credentials=creds,
        load_versions=spec.get("load_versions") or {},
        save_version=spec.get("save_version"),
    )


def _pin_code_loading(spec: dict[str, Any], configs: dict[str, Any],
                      catalog: Any) -> dict[str, Any]:
    """Route code-executing catalog datasets (pickles) through their pins.

    Inputs load only bytes whose SHA-256 matches the spec's pin (or the project
    trusted them in code); outputs have the digest of what they write recorded.
    Returns the recorders of the outputs, by dataset name.

    Raises:
        VerificationError: A code-executing input has no pin and is not trusted.
    """
    from kedro_kinetic import pinned_files

    for name, entry in spec["inputs"].items():
        if entry["kind"] != "catalog" or not pinned_files.loads_code(configs[name]):
            continue
        if entry.get("trusted") is True:
            continue
        if "sha256" not in entry:
            raise VerificationError(
                f"input '{name}' loads a code-executing format (a pickle) and the spec pins "
                "no digest for it; refusing to load it")
        pinned_files.pin(catalog[name], name, entry["sha256"])
    return {
        name: pinned_files.pin(catalog[name], name, None)
        for name, entry in spec["outputs"].items()
        if entry["kind"] == "catalog" and pinned_files.loads_code(configs[name])
        and pinned_files.pinnable(configs[name])
    }


def _load_input(name: str, entry: dict[str, Any], catalog: Any) -> Any:
    kind = entry["kind"]
    if kind == "param":
        return entry["value"]
    if kind == "pickle":
        data = verify(store.read_bytes(entry["uri"]), entry.get("sha256"),
                      f"intermediate dataset '{name}'")
        return pickle.loads(data)  # noqa: S301 - verified against its pin
    return catalog.load(name)


def _save_output(name: str, entry: dict[str, Any], data: Any, catalog: Any,
                 recorder: Any = None) -> dict:
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
        from kedro_kinetic.pinned_files import written_digest

        digest, size = written_digest(recorder)
        return {"kind": "catalog", "sha256": digest, "bytes": size}
    return {"kind": "catalog"}


def main(argv: list[str] | None = None) -> int:
    """Run one node as its pod does; return the process exit code."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    pod = _Pod(args)
    try:
        pod.key = seal.take_key_from_env()  # first: node code never sees it
        code = pod.run()
    except Exception as exc:
        code = pod.fail(exc)
    return pod.finish(code)


if __name__ == "__main__":
    sys.exit(main())
