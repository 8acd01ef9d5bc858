"""A node stopped by `kedro kinetic cancel` ends as a cancel in the driver's message, never
as an evicted or lost pod; a kill the driver cannot explain still says what it may be."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kedro_kinetic.backends.base import CANCELLED_BY_CLI, EventKind, JobEvent
from kedro_kinetic.driver.outcome import KILLED, RemoteNodeError, _missing
from kedro_kinetic.store import ObjectNotFound

PLAN = SimpleNamespace(node=SimpleNamespace(name="slow_node"))


def message(event: JobEvent) -> str:
    result = _missing(PLAN, event, ObjectNotFound("no result"))
    return str(RemoteNodeError("slow_node", result, event.reason))


@pytest.mark.parametrize(("code", "how"), [
    (143, "(SIGTERM, exit code 143) before it wrote a result"),
    (-9, "(SIGKILL, exit code -9) before it wrote a result"),
    (None, "before it wrote a result"),  # its Job was deleted before its exit was seen
])
def test_a_cancel_by_the_cli_is_named_as_such(code, how):
    said = message(JobEvent("job", EventKind.FINISHED, exit_code=code, reason="Cancelled",
                            message=CANCELLED_BY_CLI))
    assert said == f"node 'slow_node' was {CANCELLED_BY_CLI} {how}"
    assert "evicted" not in said and "failed remotely" not in said


def test_an_unexplained_kill_is_still_a_possible_eviction():
    said = message(JobEvent("job", EventKind.FINISHED, exit_code=-9, reason="Error"))
    assert said.startswith("node 'slow_node' failed remotely") and KILLED in said
