"""The pod entrypoint: fetch -> verify -> safe-load -> check -> load -> run -> save.

Run as ``python -m kedro_kinetic.entrypoint`` (or the ``kinetic-pod`` script)
with the arguments the Job manifest pins, for one node::

    --spec URI --spec-sha256 HEX --spec-bytes N --payload URI --payload-sha256 HEX
    --payload-bytes N --result URI --attempt NONCE

or for a group of nodes (one Job)::

    --group URI --group-sha256 HEX --group-bytes N --result URI --attempt NONCE

A group spec pins, for each node in the order they run, its spec's and its
payload's SHA-256 and size and its result URI. Nothing is read past its pinned
size, and nothing is parsed or unpickled before its digest matched the pin; in
a group **every** node is verified before any of them is unpickled or run;
catalog class paths are checked against the allowlist before anything is
imported. Every node writes its own result, sealed with the key of this
attempt (``--attempt``, see :mod:`kedro_kinetic.wire.seal`), as soon as it ends; the
exit code says which stage failed (see :mod:`kedro_kinetic.wire.result`).

This module imports nothing from the driver side (runner, planning, backends,
CLI) so that it stays small, fast to import and easy to audit.
"""

from __future__ import annotations

import argparse
import signal
import sys
from functools import partial
from typing import Any

from kedro_kinetic.confine.landlock import confine_from_env
from kedro_kinetic.errors import SpecError
from kedro_kinetic.pod import logs
from kedro_kinetic.pod.node import PodNode, read_pinned
from kedro_kinetic.wire import result as results
from kedro_kinetic.wire import seal
from kedro_kinetic.wire.digest import VerificationError, is_digest
from kedro_kinetic.wire.task_spec import format_refused, safe_load

GROUP_FORMAT = "kedro-kinetic/group@1"
_ENTRY_KEYS = ("node", "spec_uri", "spec_sha256", "payload_uri", "payload_sha256",
               "result_uri")
_SIZE_KEYS = ("spec_bytes", "payload_bytes")


class _Args(argparse.Namespace):
    spec: str | None
    spec_sha256: str | None
    spec_bytes: str | None
    payload: str | None
    payload_sha256: str | None
    payload_bytes: str | None
    group: str | None
    group_sha256: str | None
    group_bytes: str | None
    result: str | None
    attempt: str | None
    notice: str | None


def _parse(argv: list[str]) -> _Args:
    parser = argparse.ArgumentParser(prog="kinetic-pod", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag in ("--spec", "--spec-sha256", "--spec-bytes", "--payload", "--payload-sha256",
                 "--payload-bytes", "--group", "--group-sha256", "--group-bytes", "--result",
                 "--attempt", "--notice"):
        parser.add_argument(flag)
    return parser.parse_args(argv, namespace=_Args())


def _size(text: str | None, what: str) -> int:
    """A pinned size from the args.

    Raises:
        VerificationError: Missing or not a number of bytes.
    """
    if text is None or not text.isdigit():
        raise VerificationError(f"no valid size pinned for the {what} ({text!r}); "
                                "refusing to read it")
    return int(text)


class _Stop(Exception):
    """A node failed: the pod stops with its exit code (its result is written)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _group_entries(args: _Args) -> list[dict[str, Any]]:
    """The nodes a group spec pins, after the group spec itself matched its pin."""
    data = read_pinned(str(args.group), args.group_sha256,
                       _size(args.group_bytes, "group spec"), "group spec")
    group = safe_load(data, "group spec")
    if isinstance(group, dict) and group.get("format") != GROUP_FORMAT:
        raise SpecError(format_refused("group spec", group, GROUP_FORMAT))
    if not isinstance(group, dict) or not isinstance(group.get("nodes"), list) or not group[
            "nodes"]:
        raise SpecError(f"group spec is not a {GROUP_FORMAT} document with nodes")
    for entry in group["nodes"]:
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(k), str) for k in _ENTRY_KEYS) or not all(
                is_digest(entry[k]) for k in ("spec_sha256", "payload_sha256")) or not all(
                type(entry.get(k)) is int and entry[k] >= 0 for k in _SIZE_KEYS):
            raise SpecError("group spec: every node needs node, spec_uri, spec_sha256, "
                            "spec_bytes, payload_uri, payload_sha256, payload_bytes and "
                            "result_uri")
    return group["nodes"]


def _entries(args: _Args) -> list[dict[str, Any]]:
    if args.group:
        return _group_entries(args)
    if not args.spec or not args.payload:
        raise VerificationError("--spec and --payload (or --group) are required")
    return [{"node": None, "spec_uri": args.spec, "spec_sha256": args.spec_sha256,
             "spec_bytes": _size(args.spec_bytes, "task spec"),
             "payload_uri": args.payload, "payload_sha256": args.payload_sha256,
             "payload_bytes": _size(args.payload_bytes, "payload"),
             "result_uri": args.result}]


def _guard(run: PodNode, key: bytes | None, step: Any) -> None:
    try:
        step()
    except Exception as exc:
        code = run.fail(exc)
        run.report(key)
        raise _Stop(code) from exc


def _memory_reads(runs: list[PodNode]) -> list[frozenset[str]]:
    """For each node, which of its outputs a later node of the pod reads from memory."""
    later: set[str] = set()
    keeps = []
    for run in reversed(runs):
        keeps.append(frozenset(later))
        later |= {n for n, e in run.spec["inputs"].items() if e["kind"] == "memory"}
    return list(reversed(keeps))


def run_nodes(runs: list[PodNode], key: bytes | None) -> int:
    """Verify every node, read every node, then run them in order; return the exit code."""
    try:
        for run in runs:
            _guard(run, key, run.fetch_verified)
        for run in runs:
            _guard(run, key, run.read)
        memory: dict[str, Any] = {}
        written: dict[str, str] = {}
        for run, keep in zip(runs, _memory_reads(runs), strict=True):
            _guard(run, key, partial(run.execute, memory, written, keep))
            run.report(key)  # each node's sealed result as soon as it is done
    except _Stop as stop:
        return stop.code
    return results.EXIT_OK


def _refused(args: _Args, key: bytes | None, exc: Exception) -> int:
    """Nothing could start: one failed result at ``--result`` (sealed when a key is in
    hand); return the exit code."""
    first = PodNode({"result_uri": args.result or "", "node": None}, args.notice)
    first.res.phase = "verify"
    code = first.fail(exc)
    if args.result:
        first.report(key)
    return code


def _run_parsed(args: _Args, key: bytes | None) -> int:
    try:
        if not args.result:
            raise VerificationError("--result is required")
        if key is None:
            raise VerificationError(
                f"the pod has no key (${seal.KEY_ENV} or ${seal.ATTEMPT_KEY_ENV}), so its "
                "results could not be authenticated; nothing was run")
        runs = [PodNode(entry, args.notice) for entry in _entries(args)]
    except Exception as exc:
        return _refused(args, key, exc)
    return run_nodes(runs, key)


def run_with_key(argv: list[str], key: bytes | None) -> int:
    """Run the node(s) ``argv`` pins with this attempt's key already in hand; return the
    exit code. :func:`main` without the process-wide steps (signals, the environment,
    confinement): the in-process test tier runs pod code this way."""
    return _run_parsed(_parse(argv), key)


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the node (or group of nodes) as its pod does; return the process exit code.

    SIGTERM ends the process at once (exit code 143, no result): the container's PID 1
    gets no default signal action from the kernel, so without a handler a deleted pod, a
    cancelled run or a passed deadline would keep the node running for the whole
    termination grace period.
    """
    signal.signal(signal.SIGTERM, _stop)
    args = _parse(sys.argv[1:] if argv is None else argv)
    key: bytes | None = None
    try:
        attempt = args.attempt if seal.is_attempt(args.attempt) else None
        key = seal.take_key_from_env(attempt)  # first: node code never sees a key
        note = confine_from_env()  # next (local backend): only the run's folders are reachable
        if note:
            print(f"[kinetic-pod] {note}", file=sys.stderr, flush=True)
        logs.install()  # every logging record: one structured line, for the driver
    except Exception as exc:
        return _refused(args, key, exc)
    return _run_parsed(args, key)


if __name__ == "__main__":
    sys.exit(main())
