"""The documentation site builds with `mkdocs build --strict` and agrees with the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kedro_kinetic.cli import scaffold
from kedro_kinetic.wire.result import EXIT_MEANINGS

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
BEGIN = re.compile(r"<!-- BEGIN kinetic keys[^>]*-->\n")
END = "<!-- END kinetic keys -->"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="needs mkdocs and mkdocs-material (docs extra)")
    pytest.importorskip("material", reason="needs mkdocs-material (docs extra)")
    out = tmp_path_factory.mktemp("site")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["NO_MKDOCS_2_WARNING"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(REPO / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_site_builds_strict_with_every_page(site: Path):
    for page in ("getting-started", "configuration", "security", "architecture",
                 "customising-jobs", "viz", "troubleshooting"):
        assert (site / page / "index.html").is_file(), page
    assert (site / "index.html").is_file()


def test_security_page_includes_security_md(site: Path):
    html = (site / "security" / "index.html").read_text()
    first = next(line for line in (REPO / "SECURITY.md").read_text().splitlines()
                 if line.startswith("**"))
    assert first.strip("*").split(";")[0] in html  # "Code is the project author's ..."
    assert "What stays the project author" in html


def test_configuration_tables_are_generated_from_the_schema():
    text = (DOCS / "configuration.md").read_text()
    start = BEGIN.search(text)
    assert start and END in text, "the generated block's markers are missing"
    block = text[start.end():text.index(END)].strip("\n")
    assert block == scaffold.reference_markdown().strip("\n"), (
        "docs/configuration.md is out of date: run "
        "`python -m kedro_kinetic.cli.scaffold docs/configuration.md`")


def test_troubleshooting_covers_every_exit_code_and_stuck_state():
    from kedro_kinetic.backends.kubernetes.backend import STUCK_WAITING

    text = (DOCS / "troubleshooting.md").read_text()
    for code, meaning in EXIT_MEANINGS.items():
        if code:
            assert f"### {code}: {meaning}\n" in text, code
    for reason in [*STUCK_WAITING, "Unschedulable", "OOMKilled", "DeadlineExceeded"]:
        if reason != "CreateContainerError":
            assert reason in text, reason


def test_a_docs_sample_line_must_be_in_the_real_output():
    from tests.docs_samples import missing

    real = ("[12/07/26 03:02:31] INFO     Pipeline execution completed successfully in 2.7 sec."
            "     runner.py:255\n"
            "[kinetic 03:02:30] clean_sales_node: submitted (clean-sales-node-65191dba-52a362)\n")
    same = ["INFO Pipeline execution completed successfully in 29.4 sec.",
            "[kinetic 11:00:00] clean_sales_node: submitted (clean-sales-node-00000000-000000)"]
    assert missing(same, real) == []
    invented = ["INFO  Submitted node: clean_sales_node (job clean-sales-node-2a0b6c1e-59f3fa)"]
    assert missing(invented, real) == invented
