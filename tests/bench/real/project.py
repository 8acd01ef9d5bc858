"""Make a Kedro project run on the real bench: its pod hook and image allowlist, in code.

Used by the real-bench tests (tests/e2e/real_kit.py) and by the benchmarks on the real bench.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from tests.bench.real import pod_hooks
from tests.bench.real.images import REPOSITORY_PREFIX

HOOK_MODULE = "kinetic_real_bench"


def install_pod_hooks(project: Path, package: str,
                      hooks: Iterable[tuple[str, str, str]] = (),
                      repositories: Iterable[str] = (REPOSITORY_PREFIX,)) -> None:
    """Copy the real bench's pod hook into ``src/<package>`` and list it in ``settings.HOOKS``.

    Args:
        project: The Kedro project.
        package: Its package name.
        hooks: More hooks as ``(module name, module source, class name)``; listed after
            the bench's, so they see (and may change) its patched manifest.

    Also declares ``KINETIC_IMAGE_REPOSITORIES`` (the repositories a project allows its
    images from: ``repositories``, the running bench's
    :attr:`~tests.bench.real.cluster.RealCluster.repositories`), and creates a world-writable
    ``data/`` (the image's user writes there through the hostPath mount).
    """
    src = project / "src" / package
    shutil.copy(pod_hooks.__file__, src / f"{HOOK_MODULE}.py")
    lines = [
        "", "# real bench (tests/bench/real): image repositories and pod settings, in code",
        f"KINETIC_IMAGE_REPOSITORIES = {list(repositories)!r}",
        "KINETIC_SHARED_PATHS = ['data']  # the pod hook mounts data/ in every pod",
        f"from {package}.{HOOK_MODULE} import RealBenchPods",
    ]
    instances = ["RealBenchPods()"]
    for module, source, cls in hooks:
        (src / f"{module}.py").write_text(source)
        lines.append(f"from {package}.{module} import {cls}")
        instances.append(f"{cls}()")
    lines.append(f"HOOKS = ({', '.join(instances)},)")
    settings = src / "settings.py"
    settings.write_text(settings.read_text() + "\n".join(lines) + "\n")
    data = project / "data"
    data.mkdir(exist_ok=True)
    for path in [data, *data.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
