"""The plugin's hooks inside Kedro and kedro-viz.

``hooks`` (the ``kedro.hooks`` entry point: cheap to import, acts only for
GKERunner runs), ``viz`` and ``viz_events`` (remote runs in kedro-viz's Workflow
view). The ``kinetic_job_manifest`` hook that projects may implement is specified
where the driver calls it (:mod:`kedro_kinetic.driver.hookspecs`).
"""
