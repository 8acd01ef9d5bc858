"""Output samples in the docs, checked against real runs so that they cannot drift.

A sample is a ``text`` block right after ``<!-- sample: NAME -->`` in a page of ``docs/``.
Every line of it, except ``...`` (lines left out), must be a line of the real output
``NAME`` names (see tests/e2e/test_docs_samples.py), once both are normalised: times, run
ids and labels, Job suffixes, durations and paths stand for any value, Rich's columns
(time, file:line) and runs of spaces are dropped. A sample may be trimmed, never invented.

``python -m tests.docs_samples OUTPUT_FILE`` prints a captured output normalised, to pick
lines from when writing a sample.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"<!-- sample: (?P<name>[\w-]+) -->\n```text\n(?P<body>.*?)```", re.S)
_RULES = (
    (re.compile(r"^\[\d\d/\d\d/\d\d \d\d:\d\d:\d\d\]\s*"), ""),  # Rich's time column
    (re.compile(r"\s+[\w.]+\.py:\d+\s*$"), ""),  # Rich's file:line column
    (re.compile(r"\d{4}-\d\d-\d\dt\d\d-\d\d-\d\d-\d{3}z-[0-9a-f]{8}"), "<label>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d\.\d{3}Z"), "<run>"),
    (re.compile(r"\[kinetic \d\d:\d\d:\d\d\]"), "[kinetic <time>]"),
    (re.compile(r"-[0-9a-f]{8}-[0-9a-f]{6}\b"), "-<job>"),
    (re.compile(r"\b\d+(\.\d+)?( ?s| sec)\b"), "<n>s"),
    (re.compile(r"file:///\S*"), "file:///<path>"),
    (re.compile(r"line \d+"), "line <n>"),
    (re.compile(r"\s+"), " "),
)


def normalise(line: str) -> str:
    """``line`` with its volatile parts replaced (see the module's docstring)."""
    for pattern, replacement in _RULES:
        line = pattern.sub(replacement, line)
    return line.strip()


def samples(docs: Path = DOCS) -> list[tuple[str, str, list[str]]]:
    """``(page, sample name, lines)`` for every sample in the docs."""
    found = []
    for page in sorted(docs.glob("*.md")):
        for match in _BLOCK.finditer(page.read_text()):
            lines = [ln for ln in match["body"].splitlines() if ln.strip() not in ("", "...")]
            found.append((page.name, match["name"], lines))
    return found


def missing(sample: list[str], output: str) -> list[str]:
    """The sample's lines that the real output does not have (normalised)."""
    real = {normalise(line) for line in output.splitlines()}
    return [line for line in sample if normalise(line) not in real]


if __name__ == "__main__":
    for text_line in Path(sys.argv[1]).read_text().splitlines():
        print(normalise(text_line))
