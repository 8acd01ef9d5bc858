"""`kedro kinetic render|doctor` on the demo, in-process: misspelt names and a kubernetes
environment whose catalog still points at data/ are reported before anything runs; the
demo's own gke environment stays valid."""

from __future__ import annotations

import pytest
import yaml

from kedro_kinetic.cli.doctor_checks import FAIL, Check
from kedro_kinetic.errors import CatalogSpecError, ConfigError
from tests.unit.cli.test_session_inprocess import demo, kinetic  # noqa: F401 - the fixture

pytestmark = pytest.mark.filterwarnings("ignore")

IMAGE = "europe-docker.pkg.dev/kinetic-demo/kedro/demo-project@sha256:" + "a" * 64


@pytest.fixture(scope="module")
def k8s_env(demo):  # noqa: F811 - the imported fixture
    """A kubernetes environment that overrides the kinetic block but not the catalog."""
    folder = demo / "conf" / "k8s"
    folder.mkdir(exist_ok=True)
    (folder / "parameters.yml").write_text(yaml.safe_dump({"kinetic": {
        "backend": "kubernetes", "image": IMAGE, "store": "gs://bucket/kinetic"}}))
    return "k8s"


def test_render_refuses_misspelt_node_and_tag_names(demo):  # noqa: F811
    with pytest.raises(ConfigError) as info:
        kinetic("render", "--runner-params", "nodes.train_modle_node.memory=4Gi,"
                "tags.haevy.cpu=2")
    text = str(info.value)
    assert ("--runner-params.nodes.train_modle_node: no node named 'train_modle_node' in the "
            "project's pipelines; did you mean 'train_model_node'?") in text
    assert "--runner-params.tags.haevy: no node of the project's pipelines is tagged " \
           "'haevy'; did you mean 'heavy'?" in text


def test_a_node_of_another_pipeline_is_a_known_name(demo):  # noqa: F811
    result = kinetic("render", "--pipeline", "data_processing", "--runner-params",
                     "nodes.train_model_node.memory=4Gi")
    assert result.exit_code == 0, result.output
    assert "train_model_node" not in result.output  # not in this pipeline's Jobs


def test_render_of_a_kubernetes_env_names_every_local_dataset(demo, k8s_env):  # noqa: F811
    with pytest.raises(CatalogSpecError) as info:
        kinetic("render", "--env", k8s_env, "--pipeline", "data_processing")
    text = str(info.value)
    assert "backend 'kubernetes'" in text
    assert "  - 'sales' (filepath 'data/01_raw/sales.csv', read by clean_sales_node)" in text
    assert "conf/k8s/catalog.yml with a gs:// path" in text
    assert "regressor" not in text  # data_science's dataset: not in this run


def test_the_demos_gke_env_renders(demo):  # noqa: F811
    result = kinetic("render", "--env", "gke")
    assert result.exit_code == 0, result.output
    assert result.output.count("kind: Job") == 13


def test_doctor_names_local_datasets_and_misspelt_names(demo, k8s_env,  # noqa: F811
                                                        monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setattr("kedro_kinetic.cli.doctor.check_store",
                        lambda *a: Check("store", "ok", "not probed in this test"))
    result = kinetic("doctor", "--env", k8s_env, "--runner-params",
                     "tags.heavvy.gpu.type=nvidia-l4")
    assert result.exit_code == 1
    lines = {line.split(":", 1)[0]: line for line in result.output.splitlines()}
    assert lines[f"{FAIL} names"].endswith(
        "did you mean 'heavy'? -- fix: correct the names above in conf/<env>/parameters*.yml "
        "or --runner-params (a misspelt name applies to no node)")
    sales = lines[f"{FAIL} dataset sales"]
    assert "filepath 'data/01_raw/sales.csv' (read by clean_sales_node) is on this machine's " \
           "disk" in sales
    assert "override its filepath in conf/k8s/catalog.yml with a gs:// path" in sales
    assert "KINETIC_SHARED_PATHS" in sales
    kubeconfig = next(line for line in result.output.splitlines()
                      if line.startswith(f"{FAIL} kubeconfig"))
    assert "$KUBECONFIG" in kubeconfig and "settings.py KINETIC_KUBECONFIG" in kubeconfig
    assert "kinetic.kubeconfig" not in kubeconfig  # configuration may not choose it


def test_doctor_of_the_demos_gke_env_finds_its_data_on_shared_storage(demo,  # noqa: F811
                                                                       monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setattr("kedro_kinetic.cli.doctor.check_store",
                        lambda *a: Check("store", "ok", "not probed in this test"))
    result = kinetic("doctor", "--env", "gke")
    assert "ok   names:" in result.output, result.output
    assert "ok   datasets: every persisted dataset of pipeline(s) __default__ is on storage " \
           "the pods share" in result.output
    assert "FAIL dataset" not in result.output
