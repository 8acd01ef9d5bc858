"""The fork server's protocol, with the real server module and the driver's client.

Most tests run the server through ``fork_stub.py``: the same module and loop, no
imports to warm, and children that report what they got. One test runs the real
server and entrypoint. Every wait is on an event or a file, with generous ceilings.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from kedro_kinetic.backends.local import forkclient, forkpool, forkserver
from kedro_kinetic.backends.local.forkclient import ServerHandle
from kedro_kinetic.backends.local.forkpool import ForkServers, warm_imports
from kedro_kinetic.backends.local.run_folder import LocalRunFolder, argv_digest, process_start_time
from kedro_kinetic.backends.local.warm import Warm
from kedro_kinetic.config import DEFAULT_COMMAND
from kedro_kinetic.wire.seal import KEY_ENV

STUB = (sys.executable, str(Path(__file__).with_name("fork_stub.py")))
KEY = "ab" * 32
CEILING = 120.0  # seconds: a loaded 2-core machine


def wait_for(predicate, what: str, ceiling: float = CEILING):
    deadline = time.monotonic() + ceiling
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    return process_start_time(pid) is not None


def job_env(**extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", "JOB_ONLY": "x",
           KEY_ENV: KEY}
    env.update(extra)
    return env


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setattr(ServerHandle, "command", STUB)
    servers: list[ServerHandle] = []

    def start(env: dict[str, str] | None = None, log: Path | None = None) -> ServerHandle:
        server = ServerHandle(env or job_env(), os.getcwd(), log, Warm())
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def report(path: Path) -> dict:
    return json.loads(wait_for(lambda: path.exists() and path.read_text(), f"{path}"))


def test_child_gets_exactly_the_jobs_env_args_cwd_and_its_own_session(stub, tmp_path):
    server = stub()
    out = tmp_path / "child.json"
    log = tmp_path / "job.log"
    env = job_env()
    with log.open("ab") as handle:
        proc = server.fork([str(out), "exit", "0"], env, str(tmp_path), handle.fileno())
    assert proc is not None
    assert proc.wait(CEILING) == 0
    info = report(out)
    assert info["env"] == env  # exactly, the run key included
    assert info["argv"][1:] == [str(out), "exit", "0"]
    assert info["cwd"] == str(tmp_path)
    assert info["pid"] == proc.pid and info["ppid"] == server.proc.pid
    assert info["sid"] == proc.pid and info["pgid"] == proc.pid  # its own session
    assert info["stdin"] == os.devnull
    assert log.read_text() == "hello from exit\n"
    # the key was given in memory: not in the process's initial environment block
    assert KEY not in info["initial_environ"]


def test_exit_codes_come_back_from_waitpid(stub, tmp_path):
    server = stub()
    for code in (0, 3, 12):
        proc = server.fork([str(tmp_path / f"{code}.json"), "exit", str(code)], job_env(),
                           str(tmp_path), sys.stderr.fileno())
        assert proc is not None and proc.wait(CEILING) == code


def test_kill_group_kills_the_child_and_its_process_group(stub, tmp_path):
    server = stub()
    out = tmp_path / "child.json"
    proc = server.fork([str(out), "group"], job_env(), str(tmp_path), sys.stderr.fileno())
    assert proc is not None and proc.poll() is None
    grandchild = report(out)["grandchild"]
    assert alive(grandchild)
    proc.kill_group(signal.SIGKILL)
    assert proc.wait(CEILING) == -signal.SIGKILL
    wait_for(lambda: not alive(grandchild), "the grandchild to be killed with its group")


def test_the_run_key_is_never_in_the_servers_environment(stub, tmp_path):
    server = stub(job_env())
    environ = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
    assert not any(item.startswith(KEY_ENV.encode()) for item in environ)
    assert b"JOB_ONLY=x" in environ  # the rest of the Job's environment is the server's


def test_a_server_with_threads_refuses_to_fork(stub, tmp_path):
    server = stub(job_env(STUB_THREAD="1"))
    assert server.fork([str(tmp_path / "x.json"), "exit", "0"], job_env(STUB_THREAD="1"),
                       str(tmp_path), sys.stderr.fileno()) is None
    assert "threads" in server.why
    assert not (tmp_path / "x.json").exists()


def test_children_outlive_a_closed_server_and_its_driver_channel(stub, tmp_path):
    server = stub()
    out = tmp_path / "child.json"
    proc = server.fork([str(out), "sleep", "300"], job_env(), str(tmp_path),
                       sys.stderr.fileno())
    assert proc is not None
    report(out)
    server.close()  # like a driver going away: EOF on the channel, the server exits
    assert server.proc.returncode == 0
    try:
        assert alive(proc.pid), "a child must outlive its server (a resumed run adopts it)"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
    wait_for(lambda: proc.poll() is not None, "the orphan to be noticed as ended")
    assert proc.lost and proc.returncode == forkclient.EXIT_LOST  # its code went with it


def test_only_the_default_command_is_forked(tmp_path, caplog):
    servers = ForkServers(DEFAULT_COMMAND, str(tmp_path))
    caplog.set_level("INFO", logger=forkpool.__name__)
    for _ in range(2):
        assert servers.start(["python", "-X", "dev", "-m", "kedro_kinetic.entrypoint"], [],
                             job_env(), None) is None
    servers.close()
    lines = [r.message for r in caplog.records if "by exec" in r.message]
    assert len(lines) == 1 and "not the default" in lines[0]  # said once


def test_pool_forks_with_output_in_a_pipe_and_one_server_per_env(monkeypatch, tmp_path):
    monkeypatch.setattr(ServerHandle, "command", STUB)
    servers = ForkServers(DEFAULT_COMMAND, str(tmp_path))
    try:
        first = servers.start(list(DEFAULT_COMMAND), [str(tmp_path / "a.json"), "exit", "0"],
                              job_env(), None)
        again = servers.start(list(DEFAULT_COMMAND), [str(tmp_path / "b.json"), "exit", "0"],
                              job_env(**{KEY_ENV: "cd" * 32}), None)
        other = servers.start(list(DEFAULT_COMMAND), [str(tmp_path / "c.json"), "exit", "0"],
                              job_env(JOB_ONLY="y"), None)
        assert first and again and other
        assert first.stdout is not None and first.stdout.read() == b"hello from exit\n"
        parents = {report(tmp_path / f"{n}.json")["ppid"] for n in "abc"}
        assert len(parents) == 2  # the key does not choose a server; the rest of the env does
    finally:
        servers.close()


def test_the_real_server_runs_the_pod_entrypoint(tmp_path):
    """No stub: the entrypoint itself refuses a Job without pins (exit 10, before any read):
    here without its attempt, which a run key needs to derive the attempt's key."""
    log = tmp_path / "job.log"
    server = ServerHandle(job_env(), str(tmp_path), tmp_path / "server.log", Warm())
    try:
        with log.open("ab") as handle:
            proc = server.fork(["--result", (tmp_path / "r.json").as_uri()], job_env(),
                               str(tmp_path), handle.fileno())
        assert proc is not None
        assert proc.wait(CEILING) == 10
        assert "the Job pins no attempt (--attempt)" in (tmp_path / "r.json").read_text()
    finally:
        server.close()


def test_forked_processes_are_adopted_by_their_private_record(tmp_path):
    folder = LocalRunFolder("file:///store/runs/r1", base=tmp_path)
    folder.create("r1")
    argv = ["python", "-m", "kedro_kinetic.entrypoint", "--spec", "s"]
    me = os.getpid()  # a live process whose command line is not argv, like a forked child
    folder.record_process("job", me, start=process_start_time(me),
                          argv_sha256=argv_digest(argv), via="fork")
    assert folder.live_process_running("job", argv) == me
    assert folder.live_process_running("job", [*argv, "other"]) is None
    folder.record_process("job", me, argv_sha256=argv_digest(argv), via="exec")
    assert folder.live_process_running("job", argv) is None  # exec'd: its cmdline must match


def test_warm_imports_take_project_modules_and_allowlisted_classes_only():
    def plan(module: str, job: str, **types: str):
        func = SimpleNamespace(__module__=module)
        entries = {n: {"kind": "catalog", "config": {"type": t}} for n, t in types.items()}
        entries["p"] = {"kind": "pickle", "uri": "x"}
        return SimpleNamespace(node=SimpleNamespace(func=func), inputs=entries, outputs={},
                               ident=SimpleNamespace(job_name=job))

    plans = [plan("kedro_kinetic.wire.naming", "a",
                  x="kedro_datasets.pandas.CSVDataset", y="evil.Module"),
             plan("pandas.core.frame", "b", z="kedro_datasets.pandas.CSVDataset"),
             plan("kedro_kinetic.never_imported", "c")]
    warm = warm_imports(plans, "kedro_kinetic", ())
    assert warm.modules == ["kedro_kinetic.wire.naming"]
    assert warm.classes == ["kedro_datasets.pandas.CSVDataset"]


def test_server_accepts_dotted_names_only():
    assert forkserver.import_one("os; import evil", False) is not None
    assert forkserver.import_one("json", False) is None


def test_node_modules_are_imported_after_ready_and_children_inherit_them(monkeypatch,
                                                                          tmp_path):
    """The server is ready before a project module's (slow) import ends, then imports it
    while no request waits; children forked afterwards have it already."""
    monkeypatch.setattr(ServerHandle, "command", STUB)
    gate, done = tmp_path / "gate", tmp_path / "done"
    env = job_env(SLOW_WARM_GATE=str(gate), SLOW_WARM_DONE=str(done))
    server = ServerHandle(env, os.getcwd(), None, Warm(modules=["slow_warm"]))
    try:
        assert server.usable(), server.why  # ready, with the module's import still held
        assert not done.exists()
        gate.write_text("go")
        wait_for(done.exists, "the module imported after ready")
        out = tmp_path / "child.json"
        with open(os.devnull, "wb") as sink:
            proc = server.fork([str(out), "exit", "0"], env, str(tmp_path), sink.fileno())
        assert proc is not None and proc.wait(CEILING) == 0
        assert report(out)["warmed"] is True
    finally:
        server.close()
