"""HostGuard's bookkeeping (fast: temporary files stand in for the system's paths and sysctls).

Cgroups and iptables readers are replaced too, so this test never writes a real sysctl or
removes a real cgroup, whatever else runs on the machine.
"""

from __future__ import annotations

import json

import pytest

from tests.bench.real import host
from tests.bench.real.host import HostGuard


@pytest.fixture
def sysctl(tmp_path, monkeypatch):
    """One fake sysctl, ``vm.overcommit_memory``, as a file under tmp_path; returns it."""
    monkeypatch.setattr(host, "_sysctl_path", lambda name: tmp_path / "proc" / name)
    monkeypatch.setattr(host, "cgroup_dirs", set)
    monkeypatch.setattr(host, "firewall_rules", list)
    path = tmp_path / "proc" / "vm.overcommit_memory"
    path.parent.mkdir()
    path.write_text("0\n")
    return path


def guard(tmp_path, *paths):
    return HostGuard(tmp_path / "work", paths=[str(p) for p in paths],
                     lock_path=tmp_path / "lock", state_path=tmp_path / "state.json")


def test_restore_removes_only_missing_paths_and_resets_sysctls(tmp_path, sysctl):
    found, created = tmp_path / "found", tmp_path / "created"
    found.mkdir()
    session = guard(tmp_path, found, created)
    session.lock()
    session.record()
    (created / "sub").mkdir(parents=True)  # what the bench makes
    (found / "kept").write_text("someone else's")
    sysctl.write_text("1\n")  # what the kubelet sets
    assert session.restore() == []
    assert not created.exists() and (found / "kept").exists()
    assert sysctl.read_text().strip() == "0"
    assert not (tmp_path / "state.json").exists()  # restored: nothing to catch up on


def test_a_session_that_died_before_restoring_is_caught_up_by_the_next(tmp_path, sysctl):
    created = tmp_path / "created"
    crashed = guard(tmp_path, created)
    crashed.lock()
    crashed.record()
    created.mkdir()
    sysctl.write_text("1\n")
    crashed._lock_handle.close()  # killed: no restore, its lock dies with it
    assert json.loads((tmp_path / "state.json").read_text()) == {
        "absent": [str(created)], "sysctls": {"vm.overcommit_memory": "0"}}

    following = guard(tmp_path, created)
    following.lock()
    following.record()  # the crashed session's baseline, not what it left, is the host's own
    assert following.absent == [str(created)]
    assert following.sysctls == {"vm.overcommit_memory": "0"}
    assert following.restore() == []
    assert not created.exists() and sysctl.read_text().strip() == "0"
