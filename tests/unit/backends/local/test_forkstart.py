"""The fork server started while Kedro loads the project: when, with what, and who uses it.

The server class is a unit seam here (a recorder); the real server started early is what
every local end-to-end run goes through (``tests/e2e/test_forkserver_local.py``).
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from kedro_kinetic.backends.local import forkclient, forkpool
from kedro_kinetic.backends.local.forkpool import ForkServers
from kedro_kinetic.backends.local.forkstart import EarlyServer, pipeline_packages, start_early
from kedro_kinetic.config import DEFAULT_COMMAND
from kedro_kinetic.driver import activation
from kedro_kinetic.driver.activation import RunState
from kedro_kinetic.wire.seal import KEY_ENV

if TYPE_CHECKING:
    from pathlib import Path


class Recorder:
    """Stands in for a fork server process: records how it was started and closed."""

    started: list[Recorder] = []

    def __init__(self, env, cwd, log, warm, early=False):
        self.env, self.cwd, self.log, self.warm, self.early = env, cwd, log, warm, early
        self.closed = False
        Recorder.started.append(self)

    def close(self):
        self.closed = True


@pytest.fixture
def recorder(monkeypatch):
    Recorder.started = []
    monkeypatch.setattr(forkclient, "ServerHandle", Recorder)
    monkeypatch.setattr(forkpool, "ServerHandle", Recorder)
    return Recorder


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project package with two pipeline packages, a folder that is not one, a bad name."""
    pkg = tmp_path / "src" / "early_pkg"
    for sub in ("pipelines/alpha", "pipelines/beta", "pipelines/no_init", "pipelines/bad-name"):
        (pkg / sub).mkdir(parents=True)
    for init in ("", "pipelines", "pipelines/alpha", "pipelines/beta", "pipelines/bad-name"):
        (pkg / init / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    __import__("early_pkg")
    yield tmp_path
    sys.modules.pop("early_pkg", None)


def state(project: Path, **changes) -> RunState:
    run = RunState(active=True, project_path=project, package_name="early_pkg",
                   raw_catalog={"sales": {"type": "pandas.CSVDataset", "filepath": "x.csv"},
                                "model": {"type": "my_pkg.EvilDataset"},
                                "nested": {"type": "kedro_datasets.partitions.PartitionedDataset",
                                           "dataset": "pandas.ParquetDataset"}})
    for name, value in changes.items():
        setattr(run, name, value)
    return run


def context(params: dict) -> SimpleNamespace:
    """Kedro's context as the hook gets it: the parameters through its config loader."""
    return SimpleNamespace(config_loader={"parameters": params})


def test_pipeline_packages_are_the_project_pipeline_folders_with_an_init(project):
    assert pipeline_packages("early_pkg") == ["early_pkg.pipelines.alpha",
                                              "early_pkg.pipelines.beta"]
    assert pipeline_packages("not_imported_pkg") == []


def test_a_local_run_starts_one_server_with_its_node_env_and_checked_classes(
        project, recorder, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "ab" * 32)  # never in the server's environment
    run = state(project, conf_source=str(project / "conf"), env="staging")
    start_early(run, context({"kinetic": {"backend": "local"}}))
    [server] = recorder.started
    assert run.early_server.server is server
    assert KEY_ENV not in server.env
    assert server.env["KINETIC_CONF_SOURCE"] == str(project / "conf")
    assert server.env["KINETIC_CONF_ENV"] == "staging"
    assert server.cwd == str(project) and server.log is None and server.early
    assert server.warm.modules == ["early_pkg.pipelines.alpha", "early_pkg.pipelines.beta"]
    assert "my_pkg.EvilDataset" not in server.warm.classes  # not on the allowlist
    assert server.warm.classes == ["kedro_datasets.pandas.CSVDataset",  # as Kedro resolves
                                   "kedro_datasets.partitions.PartitionedDataset",
                                   "kedro_datasets.pandas.ParquetDataset"]
    start_early(run, context({}))  # once per runner
    assert len(recorder.started) == 1


@pytest.mark.parametrize(("params", "changes"), [
    ({"kinetic": {"backend": "kubernetes", "image": "gcr.io/p/i@sha256:" + "a" * 64}}, {}),
    ({"kinetic": {"backend": "no-such-backend"}}, {}),  # the runner reports it, not the hook
    ({}, {"runner_command": ("python", "-m", "my_entrypoint")}),  # exec'd: nothing to fork
    ({}, {"runner_overrides": {"backend": "kubernetes"}}),
    ({}, {"fork_early": False}),  # kedro kinetic render
])
def test_no_server_when_the_run_will_not_fork_its_nodes(project, recorder, params, changes):
    run = state(project, **changes)
    start_early(run, context(params))
    assert recorder.started == [] and run.early_server is None


def test_a_job_env_fits_only_with_variables_the_drivers_imports_added_since(monkeypatch):
    monkeypatch.delenv("KINETIC_TEST_ADDED", raising=False)
    env = {"PATH": "/bin", "KINETIC_CONF_SOURCE": "/p/conf"}
    early = EarlyServer(server=None, env=env, names_then=frozenset(os.environ))
    assert early.fits({**env, KEY_ENV: "ab" * 32})
    assert not early.fits({**env, "KINETIC_TEST_ADDED": "1"})  # a Job's own env entry
    monkeypatch.setenv("KINETIC_TEST_ADDED", "1")  # set by an import in the driver
    assert early.fits({**env, "KINETIC_TEST_ADDED": "1"})
    assert not early.fits({**env, "KINETIC_TEST_ADDED": "2"})
    assert not early.fits({**env, "PATH": "/usr/bin"})
    assert not early.fits({"PATH": "/bin"})


def test_the_first_fitting_jobs_use_the_early_server_and_an_unused_one_is_closed(recorder):
    env = {"PATH": "/bin"}
    early = EarlyServer(Recorder(env, "/p", None, None), env, frozenset(os.environ))
    servers = ForkServers(DEFAULT_COMMAND, "/p", early=early)
    assert servers._server({**env, KEY_ENV: "k"}) is early.server
    assert servers._server({**env, KEY_ENV: "k"}) is early.server
    other = servers._server({**env, "OWN_ENTRY": "1"})  # a Job with env entries of its own
    assert other is not early.server and other in recorder.started
    servers.close()
    assert early.server.closed and other.closed

    unused = EarlyServer(Recorder(env, "/p", None, None), env, frozenset(os.environ))
    servers = ForkServers(DEFAULT_COMMAND, "/p", early=unused)
    servers._server({"PATH": "/usr/bin"})
    servers.close()
    assert unused.server.closed


def test_a_new_runner_or_the_end_of_a_run_closes_an_early_server_no_backend_took():
    env = {"PATH": "/bin"}
    left = EarlyServer(Recorder(env, "/p", None, None), env, frozenset())
    activation.STATE.early_server = left
    activation.activate()
    assert left.server.closed and activation.STATE.early_server is None
    assert activation.STATE.fork_early
