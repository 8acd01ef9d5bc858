"""The import contracts catch a planted forbidden import: a pod module importing the driver.

``lint-imports`` runs on a copy of the package in which ``pod/node_call.py`` imports the
runner; the contracts of ``pyproject.toml`` must fail, naming the layers and the pod rule.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
         "from importlinter.cli import lint_imports_command; lint_imports_command()",
         str(root), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, capture_output=True, text=True, timeout=600, check=False)


def test_a_planted_pod_to_driver_import_fails_the_contracts(tmp_path):
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(REPO / "kedro_kinetic", copy / "kedro_kinetic",
                    ignore=shutil.ignore_patterns("__pycache__"))
    clean = lint(copy)
    assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr[-3000:]
    target = copy / "kedro_kinetic" / "pod" / "node_call.py"
    target.write_text(target.read_text() + "\nfrom kedro_kinetic.driver import runner  # planted\n")
    planted = lint(copy)
    assert planted.returncode != 0
    assert "kedro_kinetic.pod.node_call -> kedro_kinetic.driver.runner" in planted.stdout
    assert "Layers:" in planted.stdout and "BROKEN" in planted.stdout
