"""The run's table: pipeline order, each node's own time, 'not run', a failure's first line."""

from __future__ import annotations

import io

from kedro_kinetic.driver.progress import NodeState, Progress
from kedro_kinetic.driver.scheduler import failure_detail
from kedro_kinetic.wire.result import NodeResult


def test_rows_follow_pipeline_order_and_unstarted_nodes_end_as_not_run():
    out = io.StringIO()
    progress = Progress("r1", ["zeta_node", "alpha_node", "mid_node"], stream=out, live=False)
    with progress:
        progress.update("zeta_node", NodeState.RUNNING)
        progress.update("zeta_node", NodeState.FAILED, "ValueError: bad")
    assert list(progress._rows) == ["zeta_node", "alpha_node", "mid_node"]
    assert progress.counts()["not run"] == 2
    assert out.getvalue().splitlines()[-1].endswith("0/3 succeeded, 1 failed, 2 not run")


def test_a_nodes_own_time_replaces_its_jobs():
    progress = Progress("r1", ["a"], stream=io.StringIO(), live=False)
    progress.update("a", NodeState.RUNNING)
    progress.took("a", 1.25)
    progress.update("a", NodeState.SUCCEEDED)
    table = progress._table()
    assert "1.2s" in str(table.columns[2]._cells)


def test_a_failure_shows_its_errors_type_and_first_line():
    class Remote(Exception):
        def __init__(self) -> None:
            super().__init__("node 'n' failed remotely (node raised): ...long...")
            self.result = NodeResult(node="n", error_type="builtins.ValueError",
                                     error_message="planned failure\nsecond line")

    assert failure_detail(Remote(), "Error") == "ValueError: planned failure"
    assert failure_detail(RuntimeError("boom\nmore"), None) == "RuntimeError: boom"
    assert failure_detail("not an error", "OOMKilled") == "OOMKilled"
