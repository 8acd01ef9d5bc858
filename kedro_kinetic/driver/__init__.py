"""The driver: what runs in ``kedro run`` once the project is loaded.

``runner`` (``GKERunner``) opens the run and hands the planned nodes to
``scheduler``; ``node_task`` and ``completion`` are one node's journey through
the driver (hooks, pinning, submission, settling), ``outcome`` reads and
explains its result, ``result_watch`` settles nodes from their results first,
``resume`` picks up an earlier run, ``driver_io`` moves the driver's own data;
``progress``, ``live_view``, ``hints`` and ``user_errors`` are what the user sees.
``activation`` is the one hand-off between the plugin's hooks and the runner;
``hookspecs`` specifies the ``kinetic_job_manifest`` hook projects may implement.
"""
