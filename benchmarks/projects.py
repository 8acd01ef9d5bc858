"""Throwaway Kedro projects with N trivial nodes, and copies of demo_project.

Shapes (node names sort in DAG order within a chain):

* ``chains(width, length)``: ``width`` independent chains of ``length`` nodes,
  ``c000_n000 -> c000_n001 -> ...``; the first node of a chain has no inputs.
* ``fan(width)``: ``source -> w000..w{width-1} -> sink`` (``width + 2`` nodes).

Every node is trivial (adds 1 to a small int); intermediates are free
datasets, so they travel through the run's store as pinned pickles.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import yaml

from benchmarks.machine import REPO

PACKAGE = "kinetic_bench"
DEMO = REPO / "demo_project"

_NODES = '''
"""Trivial nodes for kedro-kinetic benchmarks."""


def start():
    return 1


def step(x):
    return x + 1


def gather(*xs):
    return sum(xs)
'''

_REGISTRY = '''
"""Pipelines generated for kedro-kinetic benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

from kedro.pipeline import Pipeline, node

from {package}.nodes import gather, start, step

SHAPE = json.loads(Path(__file__).with_name("shape.json").read_text())


def _chains(width: int, length: int) -> Pipeline:
    nodes = []
    for c in range(width):
        for j in range(length):
            name = f"c{{c:03d}}_n{{j:03d}}"
            out = f"d_c{{c:03d}}_{{j:03d}}"
            if j == 0:
                nodes.append(node(start, None, out, name=name))
            else:
                nodes.append(node(step, f"d_c{{c:03d}}_{{j - 1:03d}}", out, name=name))
    return Pipeline(nodes)


def _fan(width: int) -> Pipeline:
    mids = [f"y{{k:03d}}" for k in range(width)]
    nodes = [node(start, None, "x", name="source")]
    nodes += [node(step, "x", m, name=f"w{{k:03d}}") for k, m in enumerate(mids)]
    nodes.append(node(gather, mids, "z", name="sink"))
    return Pipeline(nodes)


def register_pipelines() -> dict[str, Pipeline]:
    if SHAPE["kind"] == "chains":
        pipe = _chains(SHAPE["width"], SHAPE["length"])
    else:
        pipe = _fan(SHAPE["width"])
    return {{"__default__": pipe}}
'''


def node_count(shape: dict[str, Any]) -> int:
    """How many nodes a shape has."""
    if shape["kind"] == "chains":
        return shape["width"] * shape["length"]
    return shape["width"] + 2


def chains_for(n: int, max_width: int = 10) -> dict[str, Any]:
    """A chains shape with exactly ``n`` nodes (width ``<= max_width``)."""
    width = max(w for w in range(1, max_width + 1) if n % w == 0)
    return {"kind": "chains", "width": width, "length": n // width}


#: Image repositories the generated projects declare in code (settings.py): the bench's.
BENCH_REPOSITORIES = ["europe-docker.pkg.dev/kinetic-bench/kedro/",
                      "europe-docker.pkg.dev/kinetic-demo/kedro/"]


def settings_file(project: Path) -> Path:
    """The project's ``settings.py`` (found through ``[tool.kedro] package_name``)."""
    text = (project / "pyproject.toml").read_text()
    package = re.search(r'package_name\s*=\s*"([^"]+)"', text).group(1)  # type: ignore[union-attr]
    return project / "src" / package / "settings.py"


def add_code_settings(project: Path, **settings: Any) -> None:
    """Append ``KINETIC_<NAME> = value`` lines to the project's settings.py.

    What chooses code (image repositories, the kubeconfig, the command) is
    settable only in code, so the bench's projects say it there.
    """
    lines = "".join(f"KINETIC_{name.upper()} = {value!r}\n" for name, value in settings.items())
    with settings_file(project).open("a") as handle:
        handle.write("\n# kedro-kinetic settings for the bench (code, not configuration)\n"
                     + lines)


def kinetic_block(**settings: Any) -> str:
    """``parameters.yml`` text with a ``kinetic:`` block."""
    return yaml.safe_dump({"kinetic": settings}, sort_keys=False)


def trivial_project(root: Path, shape: dict[str, Any], kinetic: dict[str, Any],
                    envs: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write a Kedro 1.7 project with a generated pipeline; return its path.

    Args:
        root: Folder to create the project in (``root/<name>``).
        shape: ``{"kind": "chains", "width": W, "length": L}`` or
            ``{"kind": "fan", "width": W}``.
        kinetic: The base ``kinetic:`` block.
        envs: Extra conf environments, each a ``kinetic:`` block (e.g. ``bench``).
    """
    name = f"p_{shape['kind']}_{node_count(shape)}"
    project = root / name
    if project.exists():
        shutil.rmtree(project)
    src = project / "src" / PACKAGE
    src.mkdir(parents=True)
    (project / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "{PACKAGE}"
        version = "0.1"

        [tool.kedro]
        package_name = "{PACKAGE}"
        project_name = "kinetic bench"
        kedro_init_version = "1.7.0"
        source_dir = "src"
        """))
    (src / "__init__.py").write_text('__version__ = "0.1"\n')
    (src / "settings.py").write_text(
        f"KINETIC_IMAGE_REPOSITORIES = {BENCH_REPOSITORIES!r}\n")
    (src / "nodes.py").write_text(_NODES)
    (src / "pipeline_registry.py").write_text(_REGISTRY.format(package=PACKAGE))
    (src / "shape.json").write_text(json.dumps(shape))
    base = project / "conf" / "base"
    base.mkdir(parents=True)
    (project / "conf" / "local").mkdir()
    (base / "catalog.yml").write_text("{}\n")
    (base / "parameters.yml").write_text(kinetic_block(**kinetic))
    for env, block in (envs or {}).items():
        (project / "conf" / env).mkdir()
        (project / "conf" / env / "parameters.yml").write_text(kinetic_block(**block))
    return project


def copy_demo(dest: Path) -> Path:
    """Copy demo_project without generated outputs (tests use it too)."""
    def ignore(directory: str, names: list[str]) -> list[str]:
        rel = Path(directory).relative_to(DEMO).as_posix()
        skipped = {"kinetic", ".viz", "logs", "__pycache__"}
        out = [n for n in names if n in skipped]
        if rel.startswith("data/0") and not rel.startswith("data/01_raw"):
            out += [n for n in names if n != ".gitkeep"]
        return out

    target = dest / "demo_project"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(DEMO, target, ignore=ignore)
    return target
