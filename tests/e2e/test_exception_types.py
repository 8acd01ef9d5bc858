"""A node's exception keeps its type through ``session.run``, as with SequentialRunner.

One Python process (a subprocess of the test) runs the failing node once per kind of
exception, in a new session each time, and reports what ``session.run`` raised.
Types are taken only from modules the driver has already imported: a module that
only the pod imported stays unimported in the driver.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import subprocess_env
from tests.e2e.bench_kit import patch_node

pytestmark = pytest.mark.e2e

ERRORS = '''
class ProjectError(Exception):
    """A project's own exception class, imported by the driver with the nodes."""


class Registering(Exception):
    def __init_subclass__(cls, **kwargs):  # runs code when subclassed: never subclassed
        raise AssertionError("subclassed")
'''
POD_ONLY = "class PodOnlyError(Exception):\n    pass\n"
RAISE = '''
import os
kind = os.environ.get("KIND")
if kind == "value":
    raise ValueError("bad value")
if kind == "key":
    raise KeyError("missing key")
if kind == "dataset":
    from kedro.io import DatasetError
    raise DatasetError("dataset broke")
if kind == "project":
    from demo_project.errors import ProjectError
    raise ProjectError("project broke")
if kind == "registering":
    from demo_project.errors import Registering
    raise Registering("registering broke")
if kind == "pod_only":
    from demo_project.pod_only import PodOnlyError
    raise PodOnlyError("pod only")
'''
SCRIPT = '''
import json, os, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_kinetic import GKERunner
from kedro_kinetic.driver.outcome import RemoteNodeError

project = Path.cwd()
bootstrap_project(project)
import demo_project.errors as errors
from kedro.io import DatasetError
seen = {}
for kind in sys.argv[1:]:
    os.environ["KIND"] = kind
    with KedroSession.create(project_path=project) as session:
        try:
            session.run(pipeline_names=["data_processing"], node_names=["clean_sales_node"],
                        runner=GKERunner())
        except Exception as exc:
            seen[kind] = {
                "remote": isinstance(exc, RemoteNodeError),
                "ValueError": isinstance(exc, ValueError),
                "KeyError": isinstance(exc, KeyError),
                "DatasetError": isinstance(exc, DatasetError),
                "ProjectError": isinstance(exc, errors.ProjectError),
                "Registering": isinstance(exc, errors.Registering),
                "traceback": getattr(exc, "remote_traceback", None) or "",
                "str": str(exc),
            }
seen["pod_only_imported"] = "demo_project.pod_only" in sys.modules
print("RESULT " + json.dumps(seen))
'''
KINDS = ("value", "key", "dataset", "project", "registering", "pod_only")


def test_node_exceptions_keep_their_type(demo):
    package = demo / "src" / "demo_project"
    (package / "errors.py").write_text(ERRORS)
    (package / "pod_only.py").write_text(POD_ONLY)
    patch_node(demo, "def clean_sales(", RAISE)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), *KINDS], cwd=demo,
                          capture_output=True, text=True, env=subprocess_env(), timeout=900)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, (proc.stdout + proc.stderr)[-5000:]
    seen = json.loads(line.removeprefix("RESULT "))
    assert set(seen) == {*KINDS, "pod_only_imported"}
    assert all(seen[kind]["remote"] for kind in KINDS)
    expected = {"value": "ValueError", "key": "KeyError", "dataset": "DatasetError",
                "project": "ProjectError"}
    for kind, name in expected.items():
        assert seen[kind][name], (kind, seen[kind])
        others = {"ValueError", "KeyError", "DatasetError", "ProjectError"} - {name}
        assert not any(seen[kind][other] for other in others), (kind, seen[kind])
        assert "Traceback (most recent call last)" in seen[kind]["traceback"]
        assert "clean_sales" in seen[kind]["traceback"]
    # KeyError's own __str__ would quote (and escape) the whole message
    assert seen["key"]["str"].startswith("node 'clean_sales_node' failed remotely")
    # a class that runs code when subclassed, and one the driver never imported
    assert not seen["registering"]["Registering"]
    assert "registering broke" in seen["registering"]["str"]
    assert "pod only" in seen["pod_only"]["str"]
    assert seen["pod_only_imported"] is False
