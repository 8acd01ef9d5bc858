"""The node code the cache key sees: line numbers left out, everything else kept."""

from __future__ import annotations

import importlib
import sys
import textwrap

from kedro.pipeline import node

from kedro_kinetic.wire import payload

BODY = """
def helper(x):
    return [i * 2 for i in range(x)]

def func(x):
    return helper(x)
"""


def identity(tmp_path, source: str) -> tuple[str, bytes]:
    """The identity and payload of ``func`` in module ``proj_code`` (always the same file,
    as a project's module is), pickled by value as the project's package is."""
    (tmp_path / "proj_code.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    sys.modules.pop("proj_code", None)
    try:
        module = importlib.import_module("proj_code")
        n = node(module.func, "x", "y", name="n")
        return (payload.code_identity(n, (), by_value=["proj_code"]),
                payload.dump(n, (), by_value=["proj_code"]))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("proj_code", None)


def test_a_function_moved_by_lines_above_keeps_its_identity_but_not_its_payload(tmp_path):
    first, first_blob = identity(tmp_path, BODY)
    moved, moved_blob = identity(tmp_path, "\n\n\n# a comment\n" + BODY)
    assert first == moved
    assert first_blob != moved_blob  # the payload keeps line numbers (remote tracebacks)


def test_a_changed_body_or_helper_changes_its_identity(tmp_path):
    first, _ = identity(tmp_path, BODY)
    body, _ = identity(tmp_path, BODY.replace("return helper(x)", "return helper(x)[1:]"))
    helper, _ = identity(tmp_path, BODY.replace("i * 2", "i * 3"))
    assert len({first, body, helper}) == 3
