"""Helpers for the kedro-viz end-to-end tests: project copies, a real server, a browser."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import REPO, copy_demo, read_result
from tests.kedro_run import RUN_CEILING, START_CEILING, STOP_CEILING, kedro_popen, wait_until
from tests.kedro_run import kedro as run_kedro

if TYPE_CHECKING:
    from kedro_kinetic.wire.result import NodeResult

ARTIFACTS = REPO / "test-artifacts" / "viz"
DOCS_SCREENSHOT = REPO / "docs" / "img" / "workflow.png"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
)
#: The message a patched demo node raises when ``reference_year`` is negative.
FORCED_ERROR = "kinetic viz test: reference_year must not be negative"
#: What the message goes on to quote, as error messages quote data (a bad cell): HTML that
#: would run in the kedro-viz page if its error panel received it unescaped.
HTML_PROBE = "<img src=x onerror=\"document.body.dataset.pwned='yes'\">"


# -- projects ----------------------------------------------------------------------

def make_project(parent: Path, *, previews: bool, failure_switch: bool,
                 cache: bool = False) -> Path:
    """A copy of demo_project, optionally opted in to previews and with a failure switch.

    The node cache is off unless asked for: these runs are compared with SequentialRunner's,
    which runs every node each time (the cache's own view is tested apart).
    """
    project = copy_demo(parent)
    if not cache:
        params = project / "conf" / "base" / "parameters.yml"
        head = "kinetic:\n"
        assert head in params.read_text(), "demo_project changed: update make_project"
        params.write_text(params.read_text().replace(head, head + "  cache: \"off\"\n", 1))
    if previews:
        registry = project / "src" / "demo_project" / "pipeline_registry.py"
        registry.write_text(registry.read_text() + (
            "\n\n_register_without_previews = register_pipelines\n\n\n"
            "def register_pipelines() -> dict[str, Pipeline]:  # noqa: F811\n"
            "    from kedro_kinetic.plugin.viz import with_kinetic_preview\n\n"
            "    return with_kinetic_preview(_register_without_previews())\n"
        ))
    if failure_switch:
        nodes = project / "src" / "demo_project" / "pipelines" / "data_processing" / "nodes.py"
        text = nodes.read_text()
        head = "def preprocess_stores(stores: pd.DataFrame, reference_year: int) -> pd.DataFrame:\n"
        assert head in text, "demo_project changed: update the failure switch of the viz tests"
        start = text.index(head) + len(head)
        if text[start:].lstrip().startswith('"""'):  # keep the docstring first
            doc_end = text.index('"""', text.index('"""', start) + 3) + 3
            start = text.index("\n", doc_end) + 1
        switch = (f"    if reference_year < 0:\n"
                  f"        raise ValueError({FORCED_ERROR + ' ' + HTML_PROBE!r})\n")
        nodes.write_text(text[:start] + switch + text[start:])
    return project


def kedro(project: Path, *args: str, check: bool = True,
          timeout: float = RUN_CEILING) -> subprocess.CompletedProcess[str]:
    """Run ``kedro <args>`` in ``project``; the full output lands in the artifacts folder."""
    proc = run_kedro(project, *args, timeout=timeout)
    output = proc.stdout + proc.stderr
    log = ARTIFACTS / "logs" / f"{project.parent.name}-{int(time.time() * 1000)}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ kedro {' '.join(args)}\n{output}")
    if check:
        assert proc.returncode == 0, f"kedro {' '.join(args)} failed:\n{output[-6000:]}"
    return proc


def latest_results(project: Path) -> dict[str, NodeResult]:
    """The pod results of the project's newest GKERunner run, by node name."""
    runs = [d for d in (project / "data" / "kinetic" / "runs").iterdir()
            if (d / "results").is_dir()]
    newest = max(runs, key=lambda d: d.stat().st_mtime)
    results = [read_result(p) for p in (newest / "results").glob("*.json")]
    return {r.node: r for r in results}


def events_of(project: Path) -> list[dict[str, Any]]:
    """The events kedro-viz reads for ``project``."""
    return json.loads((project / ".viz" / "kedro_pipeline_events.json").read_text())


# -- the kedro-viz server -------------------------------------------------------------

def free_port() -> int:
    """A free local port below 49152 (kedro-viz refuses higher ones)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 45000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


class VizServer:
    """``kedro viz run`` in a project, on a free local port."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = ARTIFACTS / "logs" / f"{project.parent.name}-viz-{self.port}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = kedro_popen(project, "viz", "run", "--no-browser", "--host", "127.0.0.1",
                                   "--port", str(self.port), log=self.log, new_session=True)

    def answers(self) -> bool:
        """Whether the server answers ``/api/main`` now."""
        try:
            self.get("/api/main")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False
        return True

    def wait_ready(self, timeout: float = START_CEILING) -> VizServer:
        """Wait until the server answers ``/api/main``; fail with its log if it dies."""
        wait_until(self.answers, timeout, interval=0.5, process=self.process,
                   message=f"kedro viz run on port {self.port} never answered")
        return self

    def get(self, path: str) -> Any:
        """GET a JSON API path."""
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def task_ids(self) -> dict[str, str]:
        """Task node name -> kedro-viz node id, from ``/api/main``."""
        return {n["name"]: n["id"] for n in self.get("/api/main")["nodes"]
                if n["type"] == "task"}

    def stop(self) -> None:
        """Stop the server (its own process group only): SIGTERM, SIGKILL if it lingers."""
        self.process.signal(signal.SIGTERM, group=True)
        try:
            self.process.wait(STOP_CEILING)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- the browser ----------------------------------------------------------------------

def require_browser() -> None:
    """Skip only when asked to (``KINETIC_SKIP_BROWSER=1``); a missing Chromium fails."""
    if os.environ.get("KINETIC_SKIP_BROWSER") == "1":
        pytest.skip("KINETIC_SKIP_BROWSER=1")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"headless Chromium is required (apt-get install -y chromium "
                    f"chromium-driver); missing: {', '.join(missing)}")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is required for the browser tests (pip install selenium)")


class Browser:
    """A headless Chromium driven by Selenium, with a fresh profile."""

    def __init__(self, width: int = 1500, height: int = 1900) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self._profile = tempfile.mkdtemp(prefix="kinetic-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self._profile}")
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_window_size(width, height + 150)

    def wait(self, condition: Any, timeout: float = 180) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.25).until(condition)

    def css(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def click(self, element: Any) -> None:
        """A real pointer click (kedro-viz reacts to pointer events on SVG nodes)."""
        from selenium.webdriver import ActionChains

        ActionChains(self.driver).move_to_element(element).click().perform()
        # no hover or focus tooltip over the node: pointer to the toolbar logo, focus dropped
        for logo in self.css('[data-test="global-toolbar-kedro-icon"]')[:1]:
            ActionChains(self.driver).move_to_element(logo).perform()
        self.driver.execute_script("document.activeElement && document.activeElement.blur()")

    def click_js(self, selector: str) -> None:
        """Click a toolbar button by CSS selector, if present."""
        for element in self.css(selector)[:1]:
            self.driver.execute_script("arguments[0].click()", element)

    def tidy_workflow(self) -> None:
        """Hide the side menu, the minimap and the version banner; fit the graph."""
        from selenium.webdriver.common.by import By

        self.click_js('[aria-label="Hide menu"]')
        self.click_js('[aria-label="Turn minimap off"]')
        for button in self.driver.find_elements(By.XPATH, "//button[text()='Dismiss']"):
            self.driver.execute_script("arguments[0].click()", button)
        self.wait_still()  # the graph re-lays out after the side menu closes
        self.click_js('[aria-label="Reset zoom"]')
        self.wait_still()

    def wait_still(self, still_for: float = 1.0) -> None:
        """Wait until the graph's nodes have not moved for ``still_for`` seconds (a layout
        or zoom transition is over)."""
        where = ("return Array.from(document.querySelectorAll('g.pipeline-node--task'))"
                 ".map(e => {const r = e.getBoundingClientRect();"
                 " return [r.x, r.y, r.width, r.height].map(Math.round).join(',')}).join(';')")
        seen = {"layout": None, "since": time.monotonic()}

        def still(driver: Any) -> bool:
            layout = driver.execute_script(where)
            if layout != seen["layout"]:
                seen.update(layout=layout, since=time.monotonic())
            return bool(layout) and time.monotonic() - seen["since"] >= still_for

        self.wait(still)

    def screenshot(self, name: str, docs: bool = False) -> Path:
        """Save a PNG under test-artifacts/viz (and into docs/img when asked to)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        assert self.driver.save_screenshot(str(path)), f"could not save {path}"
        if docs and os.environ.get("KINETIC_UPDATE_DOCS_SCREENSHOT") == "1":
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOT)
        return path

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self._profile, ignore_errors=True)
