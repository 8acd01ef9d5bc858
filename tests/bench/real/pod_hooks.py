"""Project hook that fits a node's Job to the real bench (copied into the bench project).

This file is project code, not test code: the bench copies it into the demo project's package
(``<package>/kinetic_real_bench.py``) and lists :class:`RealBenchPods` in ``settings.HOOKS``.
Settings that change what a pod's process loads (``STORAGE_EMULATOR_HOST``) or how it runs
(``hostNetwork``, volumes) belong in code, through kedro-kinetic's ``kinetic_job_manifest``
hook, never in parameters.yml. What it adds to each Job:

* ``hostNetwork: true``: the pod shares this machine's network namespace, so it reaches
  fake-gcs-server on 127.0.0.1 and nothing else is needed (no route, no NAT);
* ``STORAGE_EMULATOR_HOST``: the same emulator the driver uses (read from the driver's own
  environment), so the pod's store client talks to it anonymously;
* the project's ``data/`` folder mounted at the image's ``data/`` (a ``hostPath`` volume):
  catalog datasets are local files, and the pods read and write the same files a local run
  would, so outputs can be compared byte for byte with SequentialRunner's.
"""

from __future__ import annotations

import os
from pathlib import Path

from kedro.framework.hooks import hook_impl

#: The image's WORKDIR (kedro_kinetic.cli.scaffold.IMAGE_WORKDIR); relative catalog paths start there.
IMAGE_WORKDIR = "/home/kedro/project"
PROJECT = Path(__file__).resolve().parents[2]  # src/<package>/this_file.py -> project root


class RealBenchPods:
    """``kinetic_job_manifest`` implementation of the real bench."""

    @hook_impl
    def kinetic_job_manifest(self, manifest, node, settings, run_id):
        pod = manifest["spec"]["template"]["spec"]
        pod["hostNetwork"] = True
        container = next(c for c in pod["containers"] if c["name"] == "node")
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            container.setdefault("env", []).append(
                {"name": "STORAGE_EMULATOR_HOST", "value": emulator})
        pod.setdefault("volumes", []).append(
            {"name": "project-data",
             "hostPath": {"path": str(PROJECT / "data"), "type": "Directory"}})
        container.setdefault("volumeMounts", []).append(
            {"name": "project-data", "mountPath": f"{IMAGE_WORKDIR}/data"})
        return manifest
