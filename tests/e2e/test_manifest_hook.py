"""Projects patch Job manifests through the plugin's hookspec; the result is re-validated."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.kedro_run import kedro

pytestmark = pytest.mark.e2e

HOOKS = '''
from kedro.framework.hooks import hook_impl


class JobTweaks:
    @hook_impl
    def kinetic_job_manifest(self, manifest, node, settings, run_id):
        pod = manifest["spec"]["template"]
        pod["metadata"]["labels"]["team"] = "forecasting"
        pod["spec"]["containers"][0]["env"].append({"name": "FROM_HOOK", "value": node.name})
        if "{mode}" == "unpin" and node.name == "clean_sales_node":
            pod["spec"]["containers"][0]["args"] = pod["spec"]["containers"][0]["args"][:4]
'''


def install_hook(project, mode: str) -> None:
    package = project / "src" / "demo_project"
    (package / "kinetic_hooks.py").write_text(HOOKS.replace("{mode}", mode))
    settings = package / "settings.py"
    settings.write_text(settings.read_text() + textwrap.dedent("""
        from demo_project.kinetic_hooks import JobTweaks
        HOOKS = (JobTweaks(),)
    """))


def run(project):
    return kedro(project, "run", "--runner=kedro_kinetic.GKERunner", "--pipeline=data_processing")


def test_hook_patches_every_submitted_manifest(demo):
    install_hook(demo, "label")
    proc = run(demo)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifests = list((demo / "data" / "kinetic").rglob("manifests/*.json"))
    assert len(manifests) == 8
    for path in manifests:
        job = json.loads(path.read_text())
        assert job["spec"]["template"]["metadata"]["labels"]["team"] == "forecasting"
        env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "FROM_HOOK", "value": job["metadata"]["annotations"][
            "kedro-kinetic.io/node-name"]} in env


def test_hook_that_drops_the_pins_stops_the_run(demo):
    install_hook(demo, "unpin")
    proc = run(demo)
    assert proc.returncode != 0
    assert "node 'clean_sales_node': the patched Job manifest changed the node container's args" \
        in proc.stdout + proc.stderr
    results = list((demo / "data" / "kinetic").rglob("results/*.json"))
    names = {json.loads(p.read_text())["node"] for p in results}
    assert "clean_sales_node" not in names


def test_render_shows_the_manifests_as_the_hook_patches_them(demo, tmp_path):
    import yaml

    install_hook(demo, "label")
    out = tmp_path / "jobs.yaml"
    proc = kedro(demo, "kinetic", "render", "--pipeline=data_processing", "-o", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = list(yaml.safe_load_all(out.read_text()))
    assert len(jobs) == 8
    for job in jobs:
        assert job["spec"]["template"]["metadata"]["labels"]["team"] == "forecasting"
        assert {"name": "FROM_HOOK", "value": job["metadata"]["annotations"][
            "kedro-kinetic.io/node-name"]} in (
        job["spec"]["template"]["spec"]["containers"][0]["env"])

    install_hook(demo, "unpin")  # a patch that breaks the pins fails render as it fails a run
    proc = kedro(demo, "kinetic", "render", "--pipeline=data_processing")
    assert proc.returncode != 0
    assert "the patched Job manifest changed the node container's args" in (
        proc.stdout + proc.stderr)
