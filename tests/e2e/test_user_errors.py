"""A user error ends `kedro run` / `kedro kinetic ...` with its message, not a traceback.

The README promises one message: the culprit and the fix, and for a node that
raised, the node's own remote traceback; never the driver's frames (Kedro, click,
kedro-kinetic's runner). Missing kubeconfig or Google credentials point to
`kedro kinetic doctor`.
"""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING

import pytest

from benchmarks.projects import add_code_settings
from tests.conftest import kedro_cmd, subprocess_env
from tests.e2e.bench_kit import IMAGE, SALES_SIG, patch_node

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

#: A rich traceback (Kedro installs rich's excepthook) and its frame marker.
RICH_FRAMES = ("Traceback (most recent call last) ─", "│ ❱")
#: The only frames a user error may show: the node's own code, by its source path.
FRAME = re.compile(r'File "([^"]+)", line \d+')
MAX_ERROR_LINES = 25


def kedro(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*kedro_cmd(), *args], cwd=project, capture_output=True, text=True,
                          env=subprocess_env(**env), timeout=600)


def gke_run(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return kedro(project, "run", "--runner=kedro_kinetic.GKERunner",
                 "--pipelines=data_processing", *args, **env)


def assert_one_message(proc: subprocess.CompletedProcess, *expected: str) -> str:
    """The command failed with ``Error: ...`` naming ``expected``, and no driver frame."""
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert proc.stderr.startswith("Error: "), proc.stderr[-3000:]
    assert len(proc.stderr.splitlines()) <= MAX_ERROR_LINES, proc.stderr
    for marker in RICH_FRAMES:
        assert marker not in output, f"{marker!r} in:\n{output[-4000:]}"
    frames = FRAME.findall(output)
    assert all(path.startswith("src/demo_project/") for path in frames), frames
    for text in expected:
        assert text in proc.stderr, proc.stderr
    return proc.stderr


def local_params(project: Path, text: str) -> None:
    (project / "conf" / "local" / "parameters.yml").write_text(text)


def test_config_typo(demo):
    local_params(demo, "kinetic:\n  max_paralel: 2\n")
    assert_one_message(gke_run(demo), "kinetic.max_paralel: unknown key")


def test_bad_quantity(demo):
    local_params(demo, "kinetic:\n  defaults:\n    memory: 2GB\n")
    assert_one_message(gke_run(demo), "kinetic.defaults.memory: '2GB' is not a Kubernetes "
                                      "quantity")


def test_custom_dataset_not_allowed(demo):
    (demo / "src" / "demo_project" / "custom.py").write_text(
        "from kedro.io import MemoryDataset\n\nclass MyDataset(MemoryDataset):\n    pass\n")
    (demo / "conf" / "local" / "catalog.yml").write_text(
        "cleaning_report:\n  type: demo_project.custom.MyDataset\n")
    assert_one_message(gke_run(demo), "'demo_project.custom.MyDataset' is not on the "
                                      "kedro-kinetic allowlist", "KINETIC_DATASET_ALLOWLIST")


def test_node_raised_shows_the_nodes_own_traceback_then_logs_of_a_bad_node(demo):
    patch_node(demo, SALES_SIG, 'raise ValueError("product features exploded")')
    stderr = assert_one_message(
        gke_run(demo), "node 'product_features_node' failed remotely",
        "ValueError: product features exploded", "--- remote traceback ---",
        'File "src/demo_project/pipelines/data_processing/nodes.py"',
        'raise ValueError("product features exploded")',  # the source line is shown
        "--runner-params resume=")
    run_id = stderr.split("kedro kinetic logs ", 1)[1].split()[0]
    logs = kedro(demo, "kinetic", "logs", run_id, "product_featurs_node")
    assert_one_message(logs, f"run '{run_id}' has no node 'product_featurs_node'",
                       "did you mean product_features_node")


def test_unpicklable_output_names_the_dataset(demo):
    patch_node(demo, SALES_SIG, "import threading; return threading.Lock()")
    stderr = assert_one_message(
        gke_run(demo), "DatasetError: Failed while saving data to dataset 'product_features'",
        "cannot pickle")
    remote = stderr.split("--- remote traceback ---", 1)[1]
    assert len(remote.splitlines()) <= 12, remote  # no pickling internals


def test_no_kubeconfig_points_to_doctor(demo):
    local_params(demo, f"kinetic:\n  backend: kubernetes\n  store: gs://bucket/prefix\n"
                       f"  image: {IMAGE}\n")
    add_code_settings(demo, shared_paths=["data"])  # past the check of local catalog paths
    assert_one_message(gke_run(demo, KUBECONFIG=str(demo / "no-such-kubeconfig")),
                       "no usable kubeconfig", "kedro kinetic doctor")


def test_no_google_credentials_point_to_doctor(demo, tmp_path):
    local_params(demo, "kinetic:\n  store: gs://bucket/prefix\n")
    env = {"HOME": str(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": "",
           "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"), "GCE_METADATA_HOST": "127.0.0.1:9",
           "GCE_METADATA_IP": "127.0.0.1:9", "NO_GCE_CHECK": "True", "STORAGE_EMULATOR_HOST": ""}
    assert_one_message(gke_run(demo, **env), "no Google credentials", "kedro kinetic doctor")


CODE_ONLY_HOOK = '''
from kedro.framework.hooks import hook_impl


class AddDataset:
    @hook_impl
    def after_catalog_created(self, catalog):
        from kedro_datasets.json import JSONDataset

        catalog["cleaning_report"] = JSONDataset(
            filepath="data/08_reporting/cleaning_report.json", save_args={"default": str})
'''


def test_dataset_built_in_code_is_named_with_the_fix(demo):
    package = demo / "src" / "demo_project"
    (package / "code_hooks.py").write_text(CODE_ONLY_HOOK)
    settings = package / "settings.py"
    settings.write_text(settings.read_text() + "\nfrom demo_project.code_hooks import AddDataset\n"
                        "HOOKS = (AddDataset(),)\n")
    assert_one_message(gke_run(demo), "catalog entry 'cleaning_report' "
                       "(kedro_datasets.json.json_dataset.JSONDataset) exists only as a Python "
                       "object", "declare it in conf/<env>/catalog.yml")
    assert not (demo / "data" / "kinetic").exists()  # refused before anything was stored
