"""Landlock confinement of local node processes: the kernel half and the driver's lists.

The kernel tests run a child Python process that confines itself (a process cannot
be unconfined again, so never the test process); they are skipped where the kernel
has no Landlock. The syscalls are a unit seam for the "no Landlock" cases.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.backends.local import confine as local_confine
from kedro_kinetic.backends.local.forkstart import EarlyServer
from kedro_kinetic.confine import landlock
from kedro_kinetic.errors import BackendError

if TYPE_CHECKING:
    from pathlib import Path

@pytest.fixture(autouse=True)
def _no_extra_folders(monkeypatch):
    """Not the tests' own extra folders (tests/conftest.py): only what each test gives."""
    monkeypatch.delenv(local_confine.READABLE_ENV, raising=False)
    monkeypatch.delenv(local_confine.WRITABLE_ENV, raising=False)


needs_landlock = pytest.mark.skipif(landlock.abi_version() < 1,
                                    reason="this kernel has no Landlock")

_CHILD = textwrap.dedent("""
    import json, os, sys, threading
    from kedro_kinetic.confine import landlock

    spec = json.loads(sys.argv[1])
    if spec.get("thread"):
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    parent = os.getppid()
    out = {"note": landlock.confine([*landlock.SYSTEM_READ, *landlock.interpreter_paths(),
                                     *spec["ro"]], [*landlock.SYSTEM_WRITE, *spec["rw"]])}

    def attempt(name, action):
        try:
            action()
            out[name] = "ok"
        except PermissionError as exc:
            out[name] = f"denied: {exc}"

    attempt("read_allowed", lambda: open(spec["readable"]).read())
    attempt("read_key", lambda: open(spec["key"]).read())
    attempt("list_secret", lambda: os.listdir(os.path.dirname(spec["key"])))
    attempt("write_read_only", lambda: open(spec["readable"], "a").write("x"))
    attempt("create_read_only", lambda: open(spec["readable"] + ".new", "w").close())
    attempt("write_allowed", lambda: open(spec["writable"], "w").write("x"))
    attempt("devnull", lambda: open(os.devnull, "w").write("x"))
    attempt("parent_mem", lambda: os.close(os.open(f"/proc/{parent}/mem", os.O_RDONLY)))
    attempt("shell_reads_key", lambda: (_ for _ in ()).throw(PermissionError(
        "cat failed")) if __import__("subprocess").run(
            ["cat", spec["key"]], capture_output=True).returncode else None)
    print(json.dumps(out))
""")


def _child(tmp_path: Path, **extra: object) -> dict[str, str]:
    (tmp_path / "ro").mkdir()
    (tmp_path / "rw").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "ro" / "data.txt").write_text("visible")
    (tmp_path / "secret" / "key").write_text("KEY-CANARY")
    (tmp_path / "bin").mkdir()  # sys.path[0]: readable, so not the folder of the key
    script = tmp_path / "bin" / "child.py"
    script.write_text(_CHILD)
    spec = {"ro": [str(tmp_path / "ro"), str(tmp_path / "no-such-folder")],
            "rw": [str(tmp_path / "rw")], "readable": str(tmp_path / "ro" / "data.txt"),
            "key": str(tmp_path / "secret" / "key"), "writable": str(tmp_path / "rw" / "out"),
            **extra}
    done = subprocess.run([sys.executable, str(script), json.dumps(spec)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_landlock
def test_a_confined_process_reads_and_writes_only_what_its_lists_allow(tmp_path):
    out = _child(tmp_path)
    assert out["note"] is None
    assert out["read_allowed"] == out["write_allowed"] == out["devnull"] == "ok"
    for denied in ("read_key", "list_secret", "write_read_only", "create_read_only",
                   "shell_reads_key"):
        assert out[denied].startswith("denied"), (denied, out[denied])
    assert "key" in out["read_key"]  # the PermissionError names the path
    assert (tmp_path / "ro" / "data.txt").read_text() == "visible"
    assert not (tmp_path / "ro" / "data.txt.new").exists()
    assert (tmp_path / "rw" / "out").read_text() == "x"


@needs_landlock
def test_a_confined_process_cannot_trace_its_unconfined_parent(tmp_path):
    # /proc/<pid>/mem needs ptrace access: open before confinement, refused after.
    os.close(os.open(f"/proc/{os.getpid()}/mem", os.O_RDONLY))  # allowed unconfined
    assert _child(tmp_path)["parent_mem"].startswith("denied")


@needs_landlock
def test_threads_started_before_confinement_are_named_in_the_note(tmp_path):
    note = _child(tmp_path, thread=True)["note"]
    assert "1 thread(s) started before confinement are not" in note


@needs_landlock
def test_confine_from_env_adds_the_interpreter_and_uses_the_run_temporary_folder(tmp_path):
    tmp = tmp_path / "run-tmp"
    tmp.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key").write_text("KEY-CANARY")
    code = textwrap.dedent("""
        import os, tempfile
        tempfile.gettempdir()  # cached before: the fork server may have done so
        from kedro_kinetic.confine.landlock import CONFINE_ENV, confine_from_env
        print(repr(confine_from_env()), CONFINE_ENV in os.environ)
        print(tempfile.mkstemp()[1])
        try:
            open(os.environ["SECRET"]).read()
        except PermissionError:
            print("key refused")
        """)
    request = {"read_only": [], "read_write": [str(tmp)], "list_only": ["/"],
               "private": str(tmp_path / "secret")}
    env = {**os.environ, landlock.CONFINE_ENV: json.dumps(request), "TMPDIR": str(tmp),
           "SECRET": str(tmp_path / "secret" / "key")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "None False"
    assert lines[1].startswith(str(tmp))
    assert lines[2] == "key refused"


def test_no_landlock_in_the_kernel_gives_a_note_and_restricts_nothing(monkeypatch):
    calls = []

    def syscall(number, *args):
        calls.append(number)
        return -errno.ENOSYS

    monkeypatch.setattr(landlock, "_syscall", syscall)
    monkeypatch.setattr(landlock.sys, "platform", "linux")
    note = landlock.confine(["/usr"], ["/tmp"])
    assert note is not None and "this kernel has no Landlock" in note
    assert calls == [444]  # only the version query: no ruleset, no restriction


def test_landlock_disabled_at_boot_gives_the_note(monkeypatch):
    answers = iter([3, -errno.EOPNOTSUPP])  # a version, then the ruleset is refused
    monkeypatch.setattr(landlock, "_syscall", lambda number, *args: next(answers))
    monkeypatch.setattr(landlock.sys, "platform", "linux")
    assert "no Landlock" in str(landlock.confine([], []))


def test_not_linux_gives_the_note(monkeypatch):
    monkeypatch.setattr(landlock.sys, "platform", "darwin")
    assert landlock.abi_version() == 0
    assert "Linux-only" in str(landlock.confine([], []))


def test_a_refused_restriction_raises_instead_of_running_half_confined(monkeypatch):
    answers = {444: [5, 99], 446: [-errno.EPERM]}
    monkeypatch.setattr(landlock, "_syscall", lambda number, *args: answers[number].pop(0))
    monkeypatch.setattr(landlock.os, "close", lambda fd: None)
    monkeypatch.setattr(landlock, "_libc", lambda: SimpleNamespace(prctl=lambda *a: 0))
    monkeypatch.setattr(landlock.sys, "platform", "linux")
    with pytest.raises(BackendError, match="could not restrict"):
        landlock.confine([], [])


def test_every_right_of_each_abi_is_handled():
    assert landlock.handled_rights(0) == 0
    assert landlock.handled_rights(1) == (1 << 13) - 1
    assert landlock.handled_rights(2) & landlock.REFER
    assert not landlock.handled_rights(2) & landlock.TRUNCATE
    assert landlock.handled_rights(3) & landlock.TRUNCATE
    assert not landlock.handled_rights(4) & landlock.IOCTL_DEV
    assert landlock.handled_rights(5) == landlock.handled_rights(7) == (1 << 16) - 1
    assert not landlock.READ_WRITE & landlock.EXECUTE


def test_a_malformed_request_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv(landlock.CONFINE_ENV, "{not json")
    with pytest.raises(BackendError, match=landlock.CONFINE_ENV):
        landlock.confine_from_env()
    assert landlock.CONFINE_ENV not in os.environ  # taken, whatever it held
    assert landlock.confine_from_env() is None  # not asked: nothing happens


def test_the_overlap_warning_names_the_folder_that_holds_the_state_folder(tmp_path):
    project = tmp_path / "project"
    (project / ".state").mkdir(parents=True)
    assert landlock.covering([str(tmp_path / "other"), str(project)],
                             str(project / ".state")) == [str(project)]
    warning = landlock.overlap_warning([str(project)], str(project / ".state"))
    assert warning is not None and "KINETIC_STATE_DIR" in warning and str(project) in warning
    assert landlock.overlap_warning([str(project)], str(tmp_path / "state")) is None


def test_the_editable_install_of_kedro_kinetic_is_readable():
    package = os.path.dirname(landlock.__file__)
    assert any(package == p or package.startswith(p + os.sep)
               for p in landlock.interpreter_paths())


def test_the_driver_lists_project_data_store_and_a_private_temporary_folder(tmp_path):
    project, state = tmp_path / "project", tmp_path / "state"
    (project / "conf").mkdir(parents=True)
    plan = local_confine.plan(project, project / "data" / "kinetic", ("data", "/abs-root"),
                              None, state)
    try:
        env = plan.env()
        request = json.loads(env[landlock.CONFINE_ENV])
        assert request["read_only"][:2] == [str(project.resolve()),
                                            str((project / "conf").resolve())]
        assert str((project / "data").resolve()) in request["read_write"]
        assert str((project / "data" / "kinetic").resolve()) in request["read_write"]
        assert not (project / "data" / "kinetic").exists()  # planning creates it
        assert request["private"] == str(state)
        assert env["TMPDIR"] == env["TEMP"] == env["TMP"] == plan.tmp
        assert plan.tmp in request["read_write"]
        assert oct(os.stat(plan.tmp).st_mode & 0o777) == "0o700"
    finally:
        plan.close()
    assert not os.path.exists(plan.tmp)


def test_a_state_folder_inside_the_project_is_warned_about_once(tmp_path, caplog):
    project = tmp_path / "project"
    project.mkdir()
    with caplog.at_level(logging.WARNING, logger=local_confine.__name__):
        plan = local_confine.plan(project, project / "data" / "kinetic", ("data",), None,
                                  project / ".kinetic-state")
    plan.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Node processes may reach the private state folder" in warnings[0]
    assert "$KINETIC_STATE_DIR" in warnings[0]


def test_a_gcs_store_lets_nodes_read_the_application_default_credentials(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa.json"))
    plan = local_confine.plan(tmp_path, None, (), None, tmp_path / "state")
    plan.close()
    assert str(tmp_path / "gcloud" / "application_default_credentials.json") in plan.read_only
    assert str(tmp_path / "sa.json") in plan.read_only


def test_extra_folders_come_from_the_drivers_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(local_confine.READABLE_ENV, f"/r1{os.pathsep}/r2")
    monkeypatch.setenv(local_confine.WRITABLE_ENV, "/w1")
    plan = local_confine.plan(tmp_path, None, (), None, tmp_path / "state")
    plan.close()
    assert {"/r1", "/r2"} <= set(plan.read_only)
    assert "/w1" in plan.read_write


def test_without_landlock_the_driver_says_once_what_still_holds(tmp_path, monkeypatch,
                                                                 caplog):
    monkeypatch.setattr(landlock, "abi_version", lambda: 0)
    (tmp_path / "project").mkdir()
    with caplog.at_level(logging.INFO, logger=local_confine.__name__):
        plan = local_confine.plan(tmp_path / "project", None, (), None, tmp_path / "state")
    plan.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "not confined" in lines[0] and "per-attempt result key still hold" in lines[0]


def test_an_early_fork_server_serves_jobs_whose_confinement_and_tmp_differ():
    server_env = {"A": "1", "TMPDIR": "/tmp"}
    early = EarlyServer(server=None, env=server_env,  # type: ignore[arg-type]
                        names_then=frozenset(os.environ))
    job_env = {"A": "1", "TMPDIR": "/tmp/kinetic-node-tmp-x", "TEMP": "/tmp/k", "TMP": "/t",
               landlock.CONFINE_ENV: "{}"}
    assert early.fits(job_env)
    assert not early.fits({**job_env, "A": "2"})


def test_the_runs_temporary_folder_is_named_after_the_run_so_a_resume_removes_it(tmp_path,
                                                                                  monkeypatch):
    monkeypatch.setattr(local_confine.tempfile, "tempdir", str(tmp_path))
    first = local_confine.run_temporary_folder("file:///p/data/kinetic/runs/r1")
    assert first == local_confine.run_temporary_folder("file:///p/data/kinetic/runs/r1")
    assert first != local_confine.run_temporary_folder("file:///p/data/kinetic/runs/r2")
    assert oct(os.stat(first).st_mode & 0o777) == "0o700"


def test_a_temporary_folder_name_taken_by_a_link_or_a_shared_folder_is_not_used(tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setattr(local_confine.tempfile, "tempdir", str(tmp_path))
    for run, plant in (("r1", "link"), ("r2", "shared")):
        planted = local_confine.run_temporary_folder(run)
        os.rmdir(planted)
        if plant == "link":
            os.symlink(tmp_path, planted)
        else:
            os.mkdir(planted, 0o777)
            os.chmod(planted, 0o777)  # noqa: S103 - what another user could leave there
        chosen = local_confine.run_temporary_folder(run)
        assert chosen != planted and os.path.dirname(chosen) == str(tmp_path)
        assert oct(os.stat(chosen).st_mode & 0o777) == "0o700"
