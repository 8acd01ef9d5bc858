"""The Kubernetes backend: one Job per node (or group), one watch per run.

``backend`` creates, adopts, cancels and watches Jobs; ``events`` translates Job
and Pod objects into typed events (pure), ``watch`` is the run's watch, ``logs``
streams pod logs, ``client`` builds the API client, ``attempts`` reads which
attempt counts from the API, ``runs`` inspects runs for the CLI.
"""
