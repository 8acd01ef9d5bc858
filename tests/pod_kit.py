"""Build pod invocations by hand, for tests of the entrypoint's refusals."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

from kedro.pipeline import node as kedro_node

from kedro_kinetic import store
from kedro_kinetic.wire import payload, seal
from kedro_kinetic.wire.digest import sha256_hex
from kedro_kinetic.wire.task_spec import SPEC_FORMAT

MARKER_FUNCS = '''
def touch(marker, *inputs):
    import pathlib
    pathlib.Path(marker).write_text("node ran")
    return {"value": 42, "inputs": [repr(i) for i in inputs]}

def boom(marker, *inputs):
    raise ValueError("kaboom from the node")

def hang(marker, *inputs):
    import pathlib, time
    pathlib.Path(marker).write_text("node started")
    time.sleep(600)
'''


def marker_function(name: str = "touch"):
    """A function cloudpickle must pickle by value (its module is not importable)."""
    namespace: dict[str, Any] = {"__name__": "kinetic_test_dynamic"}
    exec(MARKER_FUNCS, namespace)  # noqa: S102 - test-only code
    return namespace[name]


class Evil:
    """Unpickling this writes the marker: what a tampered pickle would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "unpickled!"))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(Evil(marker))


class Task:
    """Files for one pod run under ``root``: payload, spec, result."""

    def __init__(self, root: Path, marker: Path, extra_inputs: dict[str, Any] | None = None,
                 allow: tuple[str, ...] = (), func: str = "touch"):
        self.root = root
        self.marker = marker
        extra_inputs = extra_inputs or {}
        node = kedro_node(marker_function(func), ["params:marker", *extra_inputs], "out",
                          name="touch_node")
        blob = payload.dump(node, allow)
        self.payload_uri = (root / "payload.pkl").as_uri()
        store.write_bytes(self.payload_uri, blob)
        self.payload_sha = sha256_hex(blob)
        self.payload_bytes = len(blob)
        self.spec = {
            "format": SPEC_FORMAT, "run_id": "test-run", "node": "touch_node",
            "inputs": {"params:marker": {"kind": "param", "value": str(marker)},
                       **extra_inputs},
            "outputs": {"out": {"kind": "pickle", "uri": (root / "out.pkl").as_uri()}},
            "credentials": [],
        }
        self.result_uri = (root / "result.json").as_uri()
        self.key = seal.new_key()  # the run's key, as a pod's Secret gives it
        self.attempt = seal.new_attempt()

    def write_spec(self, text: bytes | None = None) -> str:
        data = text if text is not None else json.dumps(self.spec).encode()
        uri = (self.root / "spec.json").as_uri()
        store.write_bytes(uri, data)
        self.spec_sha = sha256_hex(data)
        self.spec_bytes = len(data)
        return uri

    def args(self, **drop: bool) -> list[str]:
        spec_uri = self.write_spec() if not hasattr(self, "spec_sha") else \
            (self.root / "spec.json").as_uri()
        args = {"--spec": spec_uri, "--spec-sha256": self.spec_sha,
                "--spec-bytes": str(self.spec_bytes),
                "--payload": self.payload_uri, "--payload-sha256": self.payload_sha,
                "--payload-bytes": str(self.payload_bytes),
                "--result": self.result_uri, "--attempt": self.attempt}
        out = []
        for flag, value in args.items():
            if not drop.get(flag.strip("-").replace("-", "_")):
                out += [flag, value]
        return out

    def popen(self, args: list[str], env: dict[str, str] | None = None,
              with_key: bool = True) -> subprocess.Popen:
        """Start the entrypoint as a pod would, with the run key in its environment."""
        import os

        env = dict(os.environ if env is None else env)
        for name in seal.KEY_ENVS:
            env.pop(name, None)
        if with_key:
            env[seal.KEY_ENV] = self.key.hex()
        return subprocess.Popen(
            [sys.executable, "-m", "kedro_kinetic.entrypoint", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.root, env=env)

    def run(self, args: list[str], env: dict[str, str] | None = None,
            with_key: bool = True) -> subprocess.CompletedProcess:
        """Run the entrypoint as a pod would, with the run key in its environment."""
        with self.popen(args, env, with_key) as proc:
            out, err = proc.communicate(timeout=600)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    @property
    def attempt_key(self) -> bytes:
        """The key this attempt's results are sealed with."""
        return seal.attempt_key(self.key, self.attempt)

    def result(self) -> dict[str, Any]:
        """The pod's result, authenticated with the attempt's key (raises if it is not)."""
        data = (self.root / "result.json").read_bytes()
        return json.loads(seal.unseal(self.attempt_key, self.result_uri, data, "result"))
