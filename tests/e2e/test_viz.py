"""kedro-viz shows GKERunner runs: the real ``kedro viz run``, its API and its Workflow page.

Two copies of demo_project, each served by its own ``kedro viz run``:

* ``kinetic``: opted in to :func:`kedro_kinetic.plugin.viz.with_kinetic_preview`, with a
  switch that makes ``preprocess_stores_node`` raise (``--params reference_year=-1``).
  It is run by GKERunner: a full run, then partial runs, then a failing run.
* ``plain``: untouched, run by SequentialRunner, to show that projects that do not
  use the runner still load in kedro-viz with the plugin installed, and as the
  reference for how kedro-viz treats partial runs.

The tests of this module run in file order: later runs replace what the Workflow
view shows. The contract tests at the top need no server; they fail loudly when
kedro-viz changes what :mod:`kedro_kinetic.plugin.viz` relies on.
"""

from __future__ import annotations

import hashlib
import html
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from kedro_kinetic.plugin import viz
from kedro_kinetic.wire.result import NodeResult
from tests.e2e.viz_support import (
    FORCED_ERROR,
    HTML_PROBE,
    Browser,
    VizServer,
    events_of,
    kedro,
    latest_results,
    make_project,
    require_browser,
)

pytestmark = [pytest.mark.e2e,
              pytest.mark.filterwarnings("ignore:ORJSONResponse is deprecated")]

GKE = "--runner=kedro_kinetic.GKERunner"
TASKS = 13  # nodes of demo_project's __default__ pipeline


# -- the kedro-viz contract (no server) -------------------------------------------------

def _node(name: str = "n", func=None):
    from kedro.pipeline import node

    def identity(x):
        return x

    return node(func or identity, inputs="a", outputs="b", name=name)


def test_contract_supported_kedro_viz_is_installed():
    from importlib.metadata import version

    installed = version("kedro-viz")
    assert viz.is_supported(installed), (
        f"kedro-viz {installed} is outside {viz.SUPPORTED_KEDRO_VIZ}: re-check the contract"
    )
    assert viz.load_contract() is not None
    assert not viz.is_supported("13.0.0") and not viz.is_supported("12.4.9")


def test_contract_events_file_is_where_run_status_reads_it(tmp_path):
    from kedro_viz import constants

    contract = viz.load_contract()
    assert contract.events_path(tmp_path) == tmp_path / ".viz" / "kedro_pipeline_events.json"
    assert contract.events_path(tmp_path) == tmp_path / constants.PIPELINE_EVENT_FULL_PATH
    assert contract.record_path(tmp_path).parent == contract.events_path(tmp_path).parent


def test_contract_node_and_dataset_ids(tmp_path):
    from kedro_viz.data_access.repositories import ModularPipelinesRepository

    contract = viz.load_contract()
    node = _node("train_model_node")
    expected = hashlib.sha1(str(node).encode()).hexdigest()[:8]
    assert contract.hash_node(node) == expected
    flowchart_id, _ = ModularPipelinesRepository().get_node_and_modular_pipeline_mapping(node)
    assert flowchart_id == expected
    assert contract.hash_dataset("X_train") == hashlib.sha1(b"X_train").hexdigest()[:8]


def test_contract_event_schema_and_run_status_shape():
    """Our events, read by kedro-viz's own /api/run-status code, give what we claim."""
    from kedro_viz.api.rest.responses.run_events import (
        RunStatusAPIResponse,
        transform_events_to_structured_format,
    )

    contract = viz.load_contract()
    ok, bad = _node("ok_node"), _node("bad_node", func=lambda x: x)
    bad = bad._copy(inputs="b", outputs="c")
    results = {
        "ok_node": NodeResult(node="ok_node", status="succeeded", phase="done", exit_code=0,
                              started_at=100.0, finished_at=102.5,
                              outputs={"b": {"bytes": 1234, "sha256": "0" * 64}}),
        "bad_node": NodeResult(node="bad_node", status="failed", phase="run", exit_code=12,
                               started_at=103.0, finished_at=103.75, error_type="KeyError",
                               error_message="'price'", traceback="Traceback ...\nKeyError"),
    }
    runs = [viz.RecordedNode(ok, None, results["ok_node"]),
            viz.RecordedNode(bad, None, results["bad_node"])]
    events = viz.build_events(runs, [ok, bad], contract, catalog=None,
                              error=RuntimeError("node 'bad_node' failed remotely"))
    response = transform_events_to_structured_format(events)
    assert isinstance(response, RunStatusAPIResponse)
    shape = json.loads(response.model_dump_json())
    assert set(shape) == {"nodes", "datasets", "pipeline"}
    nodes = shape["nodes"]
    assert nodes[contract.hash_node(ok)] == {"duration": 2.5, "status": "success", "error": None}
    failed = nodes[contract.hash_node(bad)]
    assert failed["status"] == "failed" and failed["duration"] == 0.75
    assert failed["error"] == {"message": "KeyError: 'price'",
                               "traceback": "Traceback ...\nKeyError"}
    assert shape["datasets"][contract.hash_dataset("b")]["size"] == 1234
    assert shape["pipeline"]["status"] == "failed"
    assert "bad_node" in shape["pipeline"]["error"]["message"]


def test_contract_kedro_viz_still_skips_custom_runners():
    """If kedro-viz starts recording custom runners itself, both would write the file."""
    from kedro_viz.integrations.kedro.hooks_utils import (
        is_default_run,
        is_sequential_runner,
    )

    assert not is_sequential_runner({"runner": "GKERunner(overrides={})"})
    assert is_sequential_runner(
        {"runner": "<kedro.runner.sequential_runner.SequentialRunner object at 0x1>"})
    assert not is_default_run({"from_nodes": ["x"]})
    assert is_default_run({"pipeline_names": None, "from_nodes": [], "tags": []})


def test_contract_task_preview_reaches_the_node_panel(tmp_path, monkeypatch):
    from kedro_viz.models.flowchart.node_metadata import TaskNodeMetadata
    from kedro_viz.models.flowchart.nodes import GraphNode

    (tmp_path / "pyproject.toml").write_text("[tool.kedro]\npackage_name = 'x'\n")
    monkeypatch.chdir(tmp_path)
    plain = _node("train_model_node")
    with_preview = viz.with_kinetic_preview({"__default__": _pipeline(plain)})
    node = with_preview["__default__"].nodes[0]
    assert str(node) == str(plain) and node == plain
    assert isinstance(node._preview_fn, viz.KineticPreview)
    task = GraphNode.create_task_node(node, viz.load_contract().hash_node(node), None)
    preview = TaskNodeMetadata(task_node=task).preview
    assert preview["kind"] == "text" and preview["meta"] == {"language": "yaml"}
    assert "no GKERunner run of this node is recorded yet" in preview["content"]


def _pipeline(*nodes):
    from kedro.pipeline import Pipeline

    return Pipeline(list(nodes))


def test_hook_module_stays_cheap_to_import():
    code = ("import sys, kedro_kinetic.plugin.hooks, kedro_kinetic.plugin.viz; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'kedro_viz', 'kubernetes', 'google', 'fastapi', 'uvicorn', 'cloudpickle'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_without_kedro_viz_nothing_is_written(tmp_path):
    """kedro-viz unimportable: the hooks write nothing and the run's outcome stands."""
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "kedro_viz" or name.startswith("kedro_viz."):
            raise ImportError("kedro-viz is blocked in this test")
sys.meta_path.insert(0, Block())
from pathlib import Path
from kedro_kinetic.plugin import viz
from kedro_kinetic.driver.activation import RunState
state = RunState(active=True, project_path=Path({str(tmp_path)!r}))
assert viz.load_contract() is None
assert viz.record_run(state, {{"run_id": "r"}}, None, None) is None
assert not (Path({str(tmp_path)!r}) / ".viz").exists()
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.stdout.strip() == "ok", proc.stderr


def _plan(node, run_id: str):
    from kedro_kinetic.config import GPU, NodeSettings
    from kedro_kinetic.planning.manifest import JobIdentity
    from kedro_kinetic.planning.node_plan import NodePlan

    ident = JobIdentity(job_name=f"{node.name}-job", node_name=node.name, node_key=node.name,
                        run_id=run_id, run_label=run_id.lower(), pipeline="__default__")
    settings = NodeSettings(image="img@sha256:" + "a" * 64, gpu=GPU(type="nvidia-l4"),
                            spot=True, retries=2, deadline_seconds=900)
    return NodePlan(node=node, ident=ident, settings=settings, payload_uri="", payload_sha256="",
                    payload_bytes=0, inputs={}, outputs={}, credentials=[], result_uri="")


def test_record_run_in_process_and_no_stale_plans(tmp_path):
    """Two runs in one process: the second fails before planning and reuses nothing."""
    from kedro_kinetic.driver.activation import RunState

    node = _node("train_model_node")
    result = NodeResult(node=node.name, status="succeeded", phase="done", exit_code=0,
                        started_at=10.0, finished_at=14.0)
    state = RunState(active=True, project_path=tmp_path, plans={node: _plan(node, "run-1")},
                     results={node.name: result})
    path = viz.record_run(state, {"run_id": "session-1"}, _pipeline(node), None)
    events = json.loads(path.read_text())
    assert [e["duration"] for e in events if e["event"] == "after_node_run"] == [4.0]
    record = json.loads((tmp_path / ".viz" / viz.RECORD_FILE).read_text())
    assert record["run_id"] == "run-1"
    entry = record["nodes"][node.name]
    assert entry["kubernetes"]["gpu"] == {"type": "nvidia-l4", "count": 1}
    assert entry["kubernetes"]["spot"] is True and entry["kubernetes"]["retries"] == 2
    text = viz.preview_text(node.name, record)
    assert "deadline_seconds: 900" in text and "type: nvidia-l4" in text

    viz.record_run(state, {"run_id": "session-2"}, _pipeline(node), None,
                   ValueError("invalid kinetic configuration"))
    events = json.loads(path.read_text())
    assert [e["event"] for e in events] == ["before_pipeline_run", "on_pipeline_error"]
    assert events[-1]["status"] == "not_started" and events[-1]["node"] == node.name


def test_a_cached_node_is_recorded_as_cached_not_as_run(tmp_path):
    """A node reused from the cache has no node event (kedro-viz shows it as skipped: it did
    not run), its outputs are available, and its panel says which run it came from."""
    from kedro.pipeline import node

    from kedro_kinetic.driver.activation import RunState

    ran = node(lambda a: a, inputs="a", outputs="b", name="train_model_node")
    reused = node(lambda b: b, inputs="b", outputs="c", name="evaluate_model_node")
    results = {n.name: NodeResult(node=n.name, status="succeeded", phase=phase, exit_code=0,
                                  started_at=start, finished_at=end)
               for n, phase, start, end in ((ran, "done", 10.0, 14.0),
                                            (reused, "cached", None, None))}
    state = RunState(active=True, project_path=tmp_path,
                     plans={n: _plan(n, "run-2") for n in (ran, reused)}, results=results,
                     cached={reused.name: "run-1"})
    path = viz.record_run(state, {"run_id": "s"}, _pipeline(ran, reused), None)
    events = json.loads(path.read_text())
    assert [e["node"] for e in events if e["event"] == "after_node_run"] == [ran.name]
    saved = {e["dataset"] for e in events if e["event"] == "after_dataset_saved"}
    assert set(reused.outputs) <= saved
    record = json.loads((tmp_path / ".viz" / viz.RECORD_FILE).read_text())
    assert record["nodes"][reused.name]["last_run"] == {"status": "cached",
                                                       "cached_from": "run-1"}
    assert "cached_from: run-1" in viz.preview_text(reused.name, record)


# -- real runs, real servers -----------------------------------------------------------------

@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """Both project copies, each with its ``kedro viz run``; the first runs done.

    The servers start while the first runs go, to keep the module quick.
    """
    kinetic = make_project(tmp_path_factory.mktemp("kinetic"), previews=True,
                           failure_switch=True)
    plain = make_project(tmp_path_factory.mktemp("plain"), previews=False,
                         failure_switch=False)
    servers = {"kinetic": VizServer(kinetic), "plain": VizServer(plain)}
    try:
        with ThreadPoolExecutor(1) as pool:
            seq = pool.submit(kedro, plain, "run")
            kedro(kinetic, "run", GKE)
            seq.result()
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def kinetic(projects) -> VizServer:
    return projects["kinetic"]


@pytest.fixture(scope="module")
def plain(projects) -> VizServer:
    return projects["plain"]


@pytest.fixture(scope="module")
def success(kinetic):
    """What the full GKERunner run left: its pod results and kedro-viz's view of it."""
    return {"results": latest_results(kinetic.project),
            "status": kinetic.get("/api/run-status"),
            "ids": kinetic.task_ids()}


def test_every_remote_node_has_its_status_and_pod_duration(success):
    status, ids, results = success["status"], success["ids"], success["results"]
    assert len(ids) == TASKS
    assert set(status["nodes"]) == set(ids.values())
    for name, node_id in ids.items():
        info = status["nodes"][node_id]
        assert info["status"] == "success", (name, info)
        assert info["duration"] > 0, (name, info)
        assert info["duration"] == pytest.approx(results[name].duration, abs=1e-9), name
    assert status["pipeline"]["status"] == "success"
    assert status["pipeline"]["duration"] > 0


def test_dataset_sizes_come_from_files_and_from_the_pods(success, kinetic):
    datasets = {d["name"]: d for d in success["status"]["datasets"].values()}
    on_disk = kinetic.project / "data" / "03_primary" / "sales_primary.parquet"
    assert datasets["sales_primary"]["size"] == on_disk.stat().st_size
    reported = success["results"]["clean_sales_node"].outputs["cleaned_sales"]["bytes"]
    assert reported > 0 and datasets["cleaned_sales"]["size"] == reported


def test_node_panel_shows_the_kubernetes_settings(success, kinetic):
    heavy = kinetic.get(f"/api/nodes/{success['ids']['train_model_node']}")["preview"]
    assert heavy["kind"] == "text"
    for line in ("image: python:3.11-slim", "cpu: '1'", "memory: 2Gi", "deadline_seconds: 300",
                 "retries: 0", "spot: false", "gpu: null", "status: success"):
        assert line in heavy["content"], (line, heavy["content"])
    default = kinetic.get(f"/api/nodes/{success['ids']['clean_sales_node']}")["preview"]
    assert "memory: 512Mi" in default["content"] and "deadline_seconds: 600" in default["content"]


def test_workflow_page_shows_every_node_status(success, kinetic):
    require_browser()
    browser = Browser()
    try:
        browser.driver.get(kinetic.url + "/workflow")
        tasks = browser.wait(lambda d: _task_nodes(browser, TASKS))
        for element in tasks:
            classes = element.get_attribute("class")
            assert "pipeline-node--status-success" in classes, classes
            assert "Duration:" in _svg_text(element)
        browser.tidy_workflow()
        train = browser.css('g.pipeline-node--task[data-node-fullname="train_model_node"]')[0]
        browser.click(train)
        browser.wait(lambda d: "deadline_seconds" in d.page_source)
        browser.screenshot("workflow.png", docs=True)
    finally:
        browser.close()


def test_plain_project_loads_and_shows_its_sequential_run(plain):
    ids = plain.task_ids()
    assert len(ids) == TASKS
    status = plain.get("/api/run-status")
    assert {i["status"] for i in status["nodes"].values()} == {"success"}
    assert set(status["nodes"]) == set(ids.values())
    panel = plain.get(f"/api/nodes/{ids['train_model_node']}")
    assert panel.get("preview") is None and "train_model" in panel["code"]
    assert not (plain.project / ".viz" / viz.RECORD_FILE).exists()


@pytest.mark.parametrize("partial", [["--from-nodes", "sales_summary_node"],
                                     ["--pipeline", "data_science"]],
                         ids=["from-nodes", "pipeline"])
def test_partial_runs_are_treated_as_kedro_viz_treats_sequential_ones(
        partial, kinetic, plain, success):
    before = {s: events_of(s.project) for s in (kinetic, plain)}
    with ThreadPoolExecutor(1) as pool:
        seq = pool.submit(kedro, plain.project, "run", *partial)
        kedro(kinetic.project, "run", GKE, *partial)
        seq.result()
    plain_status, kinetic_status = plain.get("/api/run-status"), kinetic.get("/api/run-status")
    recorded = {s: events_of(s.project) != before[s] for s in (kinetic, plain)}
    assert recorded[kinetic] == recorded[plain], recorded
    if recorded[plain]:
        assert set(kinetic_status["nodes"]) == set(plain_status["nodes"])
        assert {i["status"] for i in kinetic_status["nodes"].values()} == {"success"}
    else:
        assert set(kinetic_status["nodes"]) == set(success["ids"].values())


@pytest.fixture(scope="module")
def failed(kinetic):
    """A GKERunner run in which ``preprocess_stores_node`` raises in its pod."""
    proc = kedro(kinetic.project, "run", GKE, "--params", "reference_year=-1",
                 "--runner-params", "max_parallel=1", check=False)
    assert proc.returncode != 0
    assert FORCED_ERROR in proc.stdout + proc.stderr
    return {"status": kinetic.get("/api/run-status"), "ids": kinetic.task_ids(),
            "results": latest_results(kinetic.project)}


def test_failed_node_shows_the_remote_error_and_traceback(failed):
    ids, nodes = failed["ids"], failed["status"]["nodes"]
    assert set(nodes) == {ids["clean_sales_node"], ids["preprocess_stores_node"]}
    assert nodes[ids["clean_sales_node"]]["status"] == "success"
    bad = nodes[ids["preprocess_stores_node"]]
    assert bad["status"] == "failed"
    assert bad["duration"] == pytest.approx(
        failed["results"]["preprocess_stores_node"].duration, abs=1e-9)
    assert bad["duration"] > 0
    # kedro-viz inserts the message as HTML: escaped, the data it quotes stays text
    assert bad["error"]["message"] == (f"ValueError: {FORCED_ERROR} "
                                       f"{html.escape(HTML_PROBE, quote=False)}")
    assert "in preprocess_stores" in bad["error"]["traceback"]
    assert f"ValueError: {FORCED_ERROR}" in bad["error"]["traceback"]
    pipeline = failed["status"]["pipeline"]
    assert pipeline["status"] == "failed"
    assert "preprocess_stores_node" in pipeline["error"]["message"]


def test_workflow_page_shows_the_failure(failed, kinetic):
    require_browser()
    browser = Browser()
    try:
        browser.driver.get(kinetic.url + "/workflow")
        browser.wait(lambda d: browser.css(".pipeline-node--status-failed"))
        failed_ids = {e.get_attribute("data-id")
                      for e in browser.css("g.pipeline-node--task.pipeline-node--status-failed")}
        assert failed_ids == {failed["ids"]["preprocess_stores_node"]}
        browser.tidy_workflow()
        node = browser.css('g.pipeline-node--task[data-node-fullname="preprocess_stores_node"]')
        browser.click(node[0])
        browser.wait(lambda d: FORCED_ERROR in d.page_source)
        # the probe the error quotes is shown as text (delivered), never run as HTML
        browser.wait(lambda d: HTML_PROBE in d.find_element("tag name", "body").text)
        assert browser.driver.execute_script("return document.body.dataset.pwned || null") \
            is None
        assert not browser.css("img[onerror]")
        browser.screenshot("workflow-failed.png")
        browser.click(browser.css('label[for="pipeline-toggle-input-code"]')[0])
        traceback = browser.wait(lambda d: [  # .text: only what is rendered visibly
            e for e in browser.css(".pipeline-metadata-code--visible")
            if "in preprocess_stores" in e.text])
        assert f"ValueError: {FORCED_ERROR}" in traceback[0].text
        browser.screenshot("workflow-failed-traceback.png")
    finally:
        browser.close()


def _task_nodes(browser: Browser, count: int):
    """The task nodes of the Workflow graph once all of them carry a status."""
    nodes = browser.css("g.pipeline-node--task[data-id]")
    with_status = [n for n in nodes if "pipeline-node--status-" in n.get_attribute("class")]
    return with_status if len(with_status) == count else False


def _svg_text(element) -> str:
    return element.get_attribute("textContent") or ""


def _record_project(tmp_path):
    project = tmp_path / "p"
    (project / ".viz").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "p"\n'
                                            'project_name = "p"\nkedro_init_version = "1.0"\n')
    return project, project / ".viz" / viz.RECORD_FILE


def test_a_planted_record_never_hangs_or_breaks_the_node_panel(tmp_path):
    """kedro-viz asks for a preview on its event loop: a FIFO there froze the whole server, a
    link to /dev/zero grew without bound, and wrong shapes raised from preview_text."""
    import os

    project, record = _record_project(tmp_path)
    os.mkfifo(record)  # nobody ever writes to it: a blocking read would never return
    assert viz.read_record(project) is None
    record.unlink()
    record.symlink_to("/dev/zero")
    assert viz.read_record(project) is None
    record.unlink()
    record.write_text("[" * 100_000 + "]" * 100_000)  # RecursionError in json.loads
    assert viz.read_record(project) is None
    for nodes in ([1, 2], {"n": "text"}, {"n": {"kubernetes": [1], "last_run": "x"}}):
        document = {"format": viz.RECORD_FORMAT, "run_id": "r", "nodes": nodes}
        record.write_text(json.dumps(document))
        assert viz.read_record(project) == document
        text = viz.preview_text("n", document)
        assert text.startswith("# kedro-kinetic:")
    deep: dict = {}
    for _ in range(2000):
        deep = {"d": deep}
    text = viz.preview_text("n", {"nodes": {"n": {"kubernetes": deep}}})
    assert "is malformed" in text
