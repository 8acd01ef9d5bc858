"""`kedro kinetic render` prints what a run would submit, for the local and GKE envs."""

from __future__ import annotations

import pytest
import yaml

from tests.kedro_run import kedro

pytestmark = pytest.mark.e2e


def render(project, *args):
    out = project / "jobs.yaml"
    proc = kedro(project, "kinetic", "render", "-o", str(out), *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {j["metadata"]["annotations"]["kedro-kinetic.io/node-name"]: j
            for j in yaml.safe_load_all(out.read_text())}


def test_render_gke_environment(demo):
    jobs = render(demo, "--env", "gke")
    assert len(jobs) == 13
    train = jobs["train_model_node"]["spec"]["template"]["spec"]
    assert train["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    container = train["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"] == {"cpu": "4", "memory": "16Gi",
                                                  "ephemeral-storage": "2Gi"}
    assert container["workingDir"] == "/home/kedro/project"
    assert jobs["train_model_node"]["spec"]["activeDeadlineSeconds"] == 3600
    clean = jobs["clean_sales_node"]["spec"]["template"]["spec"]
    assert clean["nodeSelector"] == {"cloud.google.com/gke-spot": "true"}
    for job in jobs.values():
        pod = job["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "kedro-runner"
        assert "@sha256:" in pod["containers"][0]["image"]
        assert pod["volumes"][0]["secret"]["secretName"] == "kedro-credentials"
        args = pod["containers"][0]["args"]
        assert args[args.index("--payload") + 1].startswith("gs://my-project-kedro-demo/kinetic/")
    # nothing was written anywhere by rendering
    assert not (demo / "data" / "kinetic").exists()


def test_render_filters_nodes_and_applies_runner_params(demo):
    jobs = render(demo, "--node", "split_data_node", "--runner-params", "defaults.retries=2")
    assert list(jobs) == ["split_data_node"]
    assert jobs["split_data_node"]["spec"]["backoffLimit"] == 2
    # the demo's data_science pipeline section applies only to that pipeline
    assert jobs["split_data_node"]["spec"]["template"]["spec"]["containers"][0][
        "resources"]["requests"]["memory"] == "512Mi"
    jobs = render(demo, "--pipeline", "data_science", "--node", "split_data_node")
    assert jobs["split_data_node"]["spec"]["template"]["spec"]["containers"][0][
        "resources"]["requests"]["memory"] == "1Gi"
