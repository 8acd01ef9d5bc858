"""`kedro kinetic status|logs|render` tell a run as it was, in-process (the demo through
Kedro's session, the CLI through click): every node of the run's pipeline in its order, a
group by its nodes, a reason's first line, a grouped node's log found in its group's."""

from __future__ import annotations

import pytest

from tests.unit.cli.test_session_inprocess import kinetic, run_session

pytestmark = pytest.mark.filterwarnings("ignore")

GROUP = "group:chain-create_model_input_table_node"  # grouping=chains on the demo


def run_id_of(backend) -> str:
    return backend.submitted[0]["metadata"]["annotations"]["kedro-kinetic.io/run-id"]


def table(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.splitlines() if "\t" in line]


def pipeline_order() -> list[str]:
    from kedro.framework.project import pipelines

    return [node.name for node in pipelines["__default__"].nodes]


def test_a_successful_grouped_run_is_succeeded_with_every_node_in_order(demo, backends):
    from kedro.framework.session import KedroSession

    from kedro_kinetic import GKERunner
    from tests.driver_kit import pristine_fsspec

    with pristine_fsspec(), KedroSession.create(project_path=demo) as session:
        session.run(runner=GKERunner(grouping="chains"))
    run_id = run_id_of(backends[-1])
    [listed] = [row for row in table(kinetic("status").stdout) if row[0] == run_id]
    assert listed[2:4] == ["succeeded", "13/0/13"]
    rows = table(kinetic("status", run_id).stdout)
    assert [r[0] for r in rows if r[0] != GROUP] == pipeline_order()
    states = {r[0]: r[1] for r in rows}
    assert states[GROUP] == "succeeded" and set(states.values()) == {"succeeded"}
    group_job = next(r[3] for r in rows if r[0] == GROUP)
    assert next(r[3] for r in rows if r[0] == "split_data_node") == group_job

    # the group's Job log holds its nodes' output (written by the local backend's process)
    backends[-1]._folder.log_path(group_job).write_text(
        "[kinetic-pod] running node split_data_node\n")
    logs = kinetic("logs", run_id, "split_data_node")
    assert logs.exit_code == 0, logs.output
    assert f"[{GROUP}] [kinetic-pod] running node split_data_node" in logs.stdout
    assert f"split_data_node runs in {GROUP}" in logs.stderr


def failing_twice(*args, **kwargs):
    raise RuntimeError("first line of the reason\nsecond line")


def test_a_failed_run_lists_the_nodes_it_never_started_and_one_line_of_reason(
        demo, backends, monkeypatch):
    from kedro.framework.project import pipelines

    [target] = [n for n in pipelines["__default__"].nodes if n.name == "split_data_node"]
    monkeypatch.setattr(target, "_func", failing_twice)
    with pytest.raises(RuntimeError, match="first line of the reason"):
        run_session(demo)
    run_id = run_id_of(backends[-1])
    [listed] = [row for row in table(kinetic("status").stdout) if row[0] == run_id]
    assert listed[2] == "failed" and listed[3].endswith("/1/13")
    rows = table(kinetic("status", run_id).stdout)
    assert [r[0] for r in rows] == pipeline_order()
    states = {r[0]: r[1] for r in rows}
    assert states["split_data_node"] == "failed"
    assert {states[n] for n in ("train_model_node", "predict_node")} == {"not run"}
    [failed] = [r for r in rows if r[0] == "split_data_node"]
    assert failed[4] == "RuntimeError: first line of the reason"  # no \x0a, no second line
    assert kinetic("logs", run_id, "predict_node").exit_code == 0  # not run: no log, no error


def test_render_dry_run_server_needs_the_kubernetes_backend(demo):
    result = kinetic("render", "--dry-run-server")
    assert result.exit_code != 0
    assert "backend: kubernetes" in result.output and "kubeconfig" not in result.output
