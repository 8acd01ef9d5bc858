"""kedro-kinetic's own extension point, called through Kedro's hook manager.

A project patches a node's Job manifest before it is submitted (add a volume,
a sidecar, a label) by implementing ``kinetic_job_manifest`` in a class listed
in ``settings.HOOKS``::

    from kedro.framework.hooks import hook_impl

    class JobTweaks:
        @hook_impl
        def kinetic_job_manifest(self, manifest, node, settings, run_id):
            manifest["spec"]["template"]["metadata"]["labels"]["team"] = "ml"

An implementation may change ``manifest`` in place or return a new dict. The
result is validated again: the Job's name, namespace, run label, container
command and pinned args must stay as rendered.
"""

from __future__ import annotations

from typing import Any

import pluggy

hook_spec = pluggy.HookspecMarker("kedro")


class ManifestSpecs:
    """Hook specifications added to Kedro's hook manager by ``GKERunner``."""

    @hook_spec
    def kinetic_job_manifest(
        self, manifest: dict[str, Any], node: Any, settings: Any, run_id: str
    ) -> dict[str, Any] | None:
        """Patch the Job manifest of ``node`` before submission.

        Args:
            manifest: The rendered ``batch/v1`` Job (a copy; mutate it or return a new one).
            node: The Kedro ``Node``.
            settings: The node's merged ``NodeSettings``.
            run_id: The Kedro session id of the run.
        """
