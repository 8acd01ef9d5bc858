"""The docs' output samples against real runs of demo_project on the local backend (see
tests/docs_samples.py): a first run, an unchanged second run (every node cached) and a run
whose node raises. A sample line that the real output does not have fails, naming its page."""

from __future__ import annotations

import pytest

from tests.docs_samples import missing, samples
from tests.e2e.bench_kit import SALES_SIG, patch_node
from tests.kedro_run import kedro

pytestmark = pytest.mark.e2e


def output(project, *args) -> str:
    proc = kedro(project, "run", "--runner=kedro_kinetic.GKERunner", *args,
                 env={"COLUMNS": "250"})
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, str]:
    from benchmarks.projects import copy_demo

    project = copy_demo(tmp_path_factory.mktemp("docs"))
    found = {"demo-run": output(project), "demo-rerun": output(project)}
    patch_node(project, SALES_SIG, 'raise ValueError("product features exploded")')
    found["demo-failure"] = output(project)
    return found


def test_the_docs_have_the_samples_this_test_checks():
    assert {name for _, name, _ in samples()} >= {"demo-run", "demo-rerun", "demo-failure"}


@pytest.mark.parametrize(("page", "name", "lines"), samples(),
                         ids=[f"{p}:{n}" for p, n, _ in samples()])
def test_each_sample_is_what_a_real_run_prints(outputs, page, name, lines):
    assert name in outputs, f"{page}: unknown sample {name!r}"
    assert lines, f"{page}: sample {name!r} is empty"
    assert missing(lines, outputs[name]) == [], (
        f"{page}: these lines of sample {name!r} are not in the real output; "
        f"`python -m tests.docs_samples FILE` normalises a captured output to pick from")
