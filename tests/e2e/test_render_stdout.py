"""`kinetic-render` prints only YAML on stdout (for pipes); `kedro kinetic render` says it
is a preview, in its help, in its output and on every Job."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.conftest import kedro_cmd, subprocess_env

pytestmark = pytest.mark.e2e

HEADER = "# kedro-kinetic render: a PREVIEW"


def check_jobs(text: str, count: int) -> None:
    jobs = list(yaml.safe_load_all(text))
    assert len(jobs) == count
    for job in jobs:
        assert job["kind"] == "Job"
        assert "kedro run" in job["metadata"]["annotations"]["kedro-kinetic.io/preview"]


def test_kinetic_render_stdout_is_exactly_yaml(demo):
    proc = subprocess.run([sys.executable, "-m", "kedro_kinetic.cli.render_cli", "--env", "gke"],
                          cwd=demo, capture_output=True, text=True, env=subprocess_env(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith(HEADER), proc.stdout[:500]
    check_jobs(proc.stdout, 13)
    assert "logging configuration" in proc.stderr  # Kedro's line went to stderr


def test_kedro_kinetic_render_says_it_is_a_preview(demo):
    help_text = subprocess.run([*kedro_cmd(), "kinetic", "render", "--help"], cwd=demo,
                               capture_output=True, text=True, env=subprocess_env(),
                               timeout=300).stdout
    assert "PREVIEW" in help_text and "kinetic-render" in help_text
    proc = subprocess.run([*kedro_cmd(), "kinetic", "render", "--pipeline", "data_science"],
                          cwd=demo, capture_output=True, text=True, env=subprocess_env(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # everything this command prints on stdout is YAML; only Kedro's startup line,
    # logged before any command runs, precedes it, and stderr says how to avoid it
    check_jobs(proc.stdout[proc.stdout.index(HEADER):], 5)
    assert "kinetic-render" in proc.stderr
