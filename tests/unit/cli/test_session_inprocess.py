"""The demo project through Kedro's own session and CLI, in-process: ``kedro run`` with
GKERunner (nodes run on threads by the in-process backend, which keeps the run's private
folder as the local backend does), then ``kedro kinetic status|logs|render|doctor|clean``
through the plugin's click commands. Seconds, no processes; the slow tiers run the same
commands as processes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from benchmarks.projects import copy_demo
from tests.driver_kit import pristine_fsspec, session_backend

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo copy per module, bootstrapped in this process; everything restored after."""
    import os
    import sys as system

    import fsspec  # noqa: F401 - loads fsspec.registry
    from kedro.framework.startup import bootstrap_project

    registry_module = system.modules["fsspec.registry"]
    registry = dict(registry_module._registry)
    project = copy_demo(tmp_path_factory.mktemp("session"))
    state = tmp_path_factory.mktemp("state")
    previous = (os.getcwd(), os.environ.get("KINETIC_STATE_DIR"), list(system.path))
    os.chdir(project)
    os.environ["KINETIC_STATE_DIR"] = str(state)
    bootstrap_project(project)
    yield project
    os.chdir(previous[0])
    if previous[1] is None:
        os.environ.pop("KINETIC_STATE_DIR", None)
    else:
        os.environ["KINETIC_STATE_DIR"] = previous[1]
    system.path[:] = previous[2]
    registry_module._registry.clear()
    registry_module._registry.update(registry)
    from kedro_kinetic.driver.activation import STATE

    STATE.active = False


@pytest.fixture
def backends(monkeypatch):
    return session_backend(monkeypatch)


def kinetic(*args: str):
    from kedro_kinetic.cli.commands import commands

    result = CliRunner().invoke(commands, ["kinetic", *args], catch_exceptions=False)
    return result


def run_session(project, **run_args):
    from kedro.framework.session import KedroSession

    from kedro_kinetic import GKERunner

    with pristine_fsspec(), KedroSession.create(project_path=project) as session:
        return session.run(runner=GKERunner(), **run_args)


def test_kedro_run_then_status_logs_and_clean(demo, backends):
    outputs = run_session(demo)
    assert set(outputs) >= {"cleaning_report", "feature_importance"}
    assert outputs["feature_importance"].load()  # verified against its producer's digest
    assert (demo / "data" / "08_reporting" / "model_metrics.json").exists()
    assert len(backends) == 1 and len(backends[0].submitted) == 13

    status = kinetic("status")
    assert status.exit_code == 0, status.output
    assert "succeeded" in status.output and "13" in status.output
    run_id = backends[0].submitted[0]["metadata"]["annotations"]["kedro-kinetic.io/run-id"]
    detail = kinetic("status", run_id)
    assert detail.exit_code == 0, detail.output
    assert "train_model_node" in detail.output
    logs = kinetic("logs", run_id, "train_model_node")
    assert logs.exit_code == 0, logs.output
    cleaned = kinetic("clean", run_id, "--yes")
    assert cleaned.exit_code == 0, cleaned.output
    assert not (demo / "data" / "kinetic" / "runs").exists() or not any(
        (demo / "data" / "kinetic" / "runs").iterdir())


def test_render_prints_every_job_and_doctor_checks_the_machine(demo):
    rendered = kinetic("render")
    assert rendered.exit_code == 0, rendered.output
    assert rendered.output.count("kind: Job") == 13
    assert "--attempt" in rendered.output
    doctor = kinetic("doctor")
    assert "store" in doctor.output.lower(), doctor.output


def test_init_writes_the_dockerfile_and_the_kinetic_block(demo):
    refused = kinetic("init")  # the demo's parameters.yml already has a kinetic block
    assert refused.exit_code != 0 and "--no-params" in refused.output
    result = kinetic("init", "--no-params")
    assert result.exit_code == 0, result.output
    assert (demo / "Dockerfile").exists() and (demo / ".dockerignore").exists()
    assert "conf/local" in (demo / ".dockerignore").read_text()


def planned_failure(*args, **kwargs):
    raise RuntimeError("planned failure in feature_importance")


def test_a_failed_node_shows_in_status_with_its_error(demo, backends, monkeypatch):
    from kedro.framework.project import pipelines

    from kedro_kinetic.driver.outcome import RemoteNodeError

    [target] = [n for n in pipelines["__default__"].nodes
                if n.name == "feature_importance_node"]
    monkeypatch.setattr(target, "_func", planned_failure)
    with pytest.raises(RemoteNodeError, match="planned failure in feature_importance"):
        run_session(demo)
    status = kinetic("status")
    assert status.exit_code == 0, status.output
    assert "failed" in status.output
    run_id = backends[-1].submitted[0]["metadata"]["annotations"]["kedro-kinetic.io/run-id"]
    detail = kinetic("status", run_id)
    assert "planned failure in feature_importance" in detail.output, detail.output
