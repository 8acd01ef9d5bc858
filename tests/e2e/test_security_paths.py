"""Catalog paths stay inside the data roots, and no dataset follows a link (local backend).

Two attackers, neither able to change the project's code:

* a **configuration author** points catalog entries at an earlier run's key in the private
  state folder, at ``~``, at ``/proc/self/environ`` and (with ``overwrite: true``) at a
  folder outside the project: the run, ``kedro kinetic render`` and a resume all refuse
  before anything is submitted, one message per dataset;
* a **dataset-content author** (who can write ``data/``) links an input file to an earlier
  run's key, and an output file to the project's source code: the input is refused, the
  output link is replaced by the file the node writes, and the source stays as it was.

Each test proves the planted entry or link was really there (and would have worked with a
plain open), then that the key never appears in any output and nothing outside was touched.
"""

from __future__ import annotations

import hashlib
import os
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import local_run_folder
from tests.kedro_run import flat, kedro

if TYPE_CHECKING:
    import subprocess

pytestmark = pytest.mark.e2e
SOURCE = "src/demo_project/pipelines/data_processing/nodes.py"


def kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return kedro(project, "run", "--runner=kedro_kinetic.GKERunner", *args,
                 env={"COLUMNS": "2000"})


def first_run_key(project: Path) -> tuple[str, Path]:
    """Run the demo once; return its run id and the path of its key (private state folder)."""
    proc = kedro_run(project)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    run_id = re.search(r"kedro-kinetic run (\S+): \d+ nodes", text).group(1)
    key = local_run_folder(project, run_id) / "key"
    assert len(key.read_text().strip()) == 64  # the key of a real run, hex
    return run_id, key


def files_holding(root: Path, secret: str) -> list[Path]:
    """Regular files under ``root`` whose bytes hold ``secret`` (links are not followed)."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path) and secret.encode() in Path(path).read_bytes():
                found.append(path)
    return found


def add_catalog(project: Path, text: str) -> None:
    """Entries in the ``local`` environment, which overrides ``base``."""
    with (project / "conf" / "local" / "catalog.yml").open("a") as handle:
        handle.write("\n" + textwrap.dedent(text))


def test_a_config_author_cannot_name_paths_outside_the_data_roots(demo, tmp_path):
    run_id, key = first_run_key(demo)
    secret = key.read_text().strip()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep me")
    add_catalog(demo, f"""
        sales:
          type: text.TextDataset
          filepath: {key}
        stores:
          type: partitions.IncrementalDataset
          path: "~"
          dataset: text.TextDataset
        calendar_features:
          type: text.TextDataset
          filepath: /proc/self/environ
        cleaning_report:
          type: partitions.PartitionedDataset
          path: {outside}
          overwrite: true
          dataset: json.JSONDataset
    """)
    runs = demo / "data" / "kinetic" / "runs"
    before = sorted(p.name for p in runs.iterdir())
    expected = {"sales": f"key 'filepath': '{key}' is outside the data roots",
                "stores": "key 'path': '~' starts with '~'",
                "calendar_features": "key 'filepath': '/proc/self/environ' is in /proc",
                "cleaning_report": f"key 'path': '{outside}' is outside the data roots"}
    attempts = {"run": kedro_run(demo),
                "render": kedro(demo, "kinetic", "render", env={"COLUMNS": "2000"}),
                "resume": kedro_run(demo, "--runner-params", f"resume={run_id}")}
    for how, proc in attempts.items():
        text = flat(proc)
        assert proc.returncode != 0, f"{how}: {text[-3000:]}"
        assert "4 catalog entries name refused local paths" in text, f"{how}: {text[-3000:]}"
        for name, why in expected.items():  # delivered: each entry reached the check
            assert text.count(f"catalog entry '{name}'") == 1, f"{how}: {text[-3000:]}"
            assert f"catalog entry '{name}', {why}" in text, f"{how}: {text[-3000:]}"
        assert "allow more folders in settings.py KINETIC_DATA_ROOTS" in text
        assert "submitted" not in text and "Completed node" not in text  # nothing ran
        assert secret not in text
    assert sorted(p.name for p in runs.iterdir()) == before  # nothing stored for a new run
    assert (outside / "keep.txt").read_text() == "keep me"  # the folder was not deleted
    assert files_holding(demo, secret) == []


def test_a_data_author_link_to_an_earlier_run_key_is_not_followed(demo):
    _run_id, key = first_run_key(demo)
    secret = key.read_text().strip()
    sales = demo / "data" / "01_raw" / "sales.csv"
    sales.unlink()
    sales.symlink_to(key)
    assert sales.read_text().strip() == secret  # delivered: a plain open reads the key

    proc = kedro_run(demo)
    text = flat(proc)
    assert proc.returncode != 0
    assert "node 'clean_sales_node' failed" in text, text[-4000:]
    assert "dataset 'sales': refusing" in text and "symbolic link" in text, text[-4000:]
    assert sales.is_symlink()  # still planted: it was refused, not removed
    assert secret not in text
    assert files_holding(demo, secret) == []


def test_a_data_author_link_from_an_output_to_source_code_is_replaced(demo):
    source = demo / SOURCE
    code = source.read_bytes()
    output = demo / "data" / "02_intermediate" / "preprocessed_stores.csv"
    output.symlink_to(source)
    assert output.read_bytes() == code  # delivered: a plain open writes the source

    proc = kedro_run(demo)
    assert proc.returncode == 0, flat(proc)[-4000:]
    assert hashlib.sha256(source.read_bytes()).digest() == hashlib.sha256(code).digest()
    assert not output.is_symlink()  # the link was replaced by the node's file
    written = output.read_text()
    assert written.startswith("store_id") and written not in source.read_text()
