"""A pod whose kedro-kinetic reads another spec format refuses the spec naming both
kedro-kinetic versions: the driver's (carried in the spec) and its own."""

from __future__ import annotations

import json

from kedro_kinetic import __version__
from kedro_kinetic.wire import result as results
from kedro_kinetic.wire.digest import sha256_hex
from tests.pod_kit import Task

FUTURE = {"format": "kedro-kinetic/task@9", "kinetic_version": "9.0.0"}


def test_a_spec_of_another_format_names_both_versions_and_never_runs(tmp_path):
    marker = tmp_path / "MARKER"
    task = Task(tmp_path, marker)
    task.spec.update(FUTURE)
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_BAD_SPEC
    expected = ("task spec format 'kedro-kinetic/task@9', written by the driver's kedro-kinetic "
                "9.0.0, is not a kedro-kinetic/task@1 document, the format this image's "
                f"kedro-kinetic {__version__} reads")
    assert expected in proc.stderr
    assert expected in task.result()["error_message"]  # what the driver reports
    assert not marker.exists()


def test_a_spec_of_an_older_driver_says_it_names_no_version(tmp_path):
    task = Task(tmp_path, tmp_path / "MARKER")
    task.spec["format"] = "kedro-kinetic/task@0"
    proc = task.run(task.args())
    assert proc.returncode == results.EXIT_BAD_SPEC
    assert "written by a driver whose kedro-kinetic names no version" in proc.stderr


def test_a_group_spec_of_another_format_names_both_versions(tmp_path):
    marker = tmp_path / "MARKER"
    task = Task(tmp_path, marker)
    spec_uri = task.write_spec()
    group = {"format": "kedro-kinetic/group@9", "kinetic_version": "9.0.0", "nodes": [{
        "node": "touch_node", "spec_uri": spec_uri, "spec_sha256": task.spec_sha,
        "spec_bytes": task.spec_bytes, "payload_uri": task.payload_uri,
        "payload_sha256": task.payload_sha, "payload_bytes": task.payload_bytes,
        "result_uri": task.result_uri}]}
    data = json.dumps(group).encode()
    (tmp_path / "group.json").write_bytes(data)
    proc = task.run(["--group", (tmp_path / "group.json").as_uri(), "--group-sha256",
                     sha256_hex(data), "--group-bytes", str(len(data)), "--result",
                     task.result_uri, "--attempt", task.attempt])
    assert proc.returncode != 0
    assert ("group spec format 'kedro-kinetic/group@9', written by the driver's kedro-kinetic "
            "9.0.0, is not a kedro-kinetic/group@1 document, the format this image's "
            f"kedro-kinetic {__version__} reads") in proc.stderr
    assert not marker.exists()
