"""Kedro hooks of kedro-kinetic (registered via the ``kedro.hooks`` entry point).

Kedro (and kedro-viz) import every plugin's hooks whenever a project loads,
so this module imports only Kedro's hook marker and our import-free state.
For runs that do not use ``GKERunner`` every hook returns at once, so other
runners behave exactly as without the plugin.

For ``GKERunner`` runs, ``after_context_created`` reads the catalog
configuration as plain data (entries, factory patterns, nested ``dataset:``,
``validator:``, values that came from runtime params) and checks every class
and callable it names against the allowlist **before Kedro builds the
catalog**, so a disallowed module is never imported, not even in the driver.
Then, for a run that will fork its nodes locally, it starts the fork server
(:mod:`kedro_kinetic.backends.local.forkstart`), whose imports overlap Kedro's own
loading of the pipelines.
"""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl

from kedro_kinetic.driver.activation import STATE


class KineticHooks:
    """Checks catalog config as data and hands run facts to ``GKERunner``."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        if not STATE.active:
            return
        from kedro.config import MissingConfigException
        from kedro.framework.project import PACKAGE_NAME

        from kedro_kinetic.config import project_settings
        from kedro_kinetic.wire.allowlist import build_allowlist, check_catalog

        STATE.project_path = context.project_path
        STATE.env = context.env
        STATE.conf_source = str(getattr(context.config_loader, "conf_source", "") or "") or None
        STATE.package_name = PACKAGE_NAME
        STATE.settings = project_settings.load(PACKAGE_NAME)
        try:
            raw = dict(context.config_loader["catalog"])
        except MissingConfigException:
            raw = {}
        check_catalog(raw, build_allowlist(STATE.settings.dataset_allowlist + STATE.runner_allow))
        STATE.raw_catalog = raw
        from kedro_kinetic.backends.local.forkstart import start_early

        start_early(STATE, context)  # its imports overlap Kedro's pipeline loading
        from kedro_kinetic.plugin import viz

        viz.quiet_sequential_only_notice()  # we record the run for kedro-viz ourselves

    @hook_impl
    def after_catalog_created(self, save_version: str | None,
                              load_versions: dict[str, Any] | None) -> None:
        if not STATE.active:
            return
        STATE.save_version = save_version
        STATE.load_versions = dict(load_versions or {})

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        if not STATE.active:
            return
        STATE.run_params = dict(run_params)

    # -- kedro-viz (see kedro_kinetic.plugin.viz); kedro-viz itself is imported lazily --
    @hook_impl
    def before_node_run(self) -> None:
        if not STATE.active:
            return
        from kedro_kinetic.plugin import viz

        viz.note_node_submitted()

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                           catalog: Any) -> None:
        if not STATE.active:
            return
        from kedro_kinetic.plugin import viz

        viz.record_run(STATE, run_params, pipeline, catalog)

    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any],
                          pipeline: Any, catalog: Any) -> None:
        if not STATE.active:
            return
        from kedro_kinetic.plugin import viz

        viz.record_run(STATE, run_params, pipeline, catalog, error)


hooks = KineticHooks()
