"""``kinetic-render``: ``kedro kinetic render`` whose stdout is only the YAML, for pipes.

Kedro configures logging, and logs ``Using '...' as logging configuration`` to
stdout, when ``kedro.framework.project`` is imported: before any plugin
command runs, so ``kedro kinetic render | ...`` always carries that line.
This entry point chooses Kedro's logging configuration first (every line on
stderr, unless ``KEDRO_LOGGING_CONFIG`` already names one), then runs the same
command::

    kinetic-render --env gke | kubectl apply --dry-run=server -f -
"""

from __future__ import annotations

import os
from importlib import resources

STDERR_LOGGING = "logging_stderr.yml"


def main(argv: list[str] | None = None) -> None:
    """Run ``kedro kinetic render`` with Kedro's log lines on stderr."""
    config = resources.files("kedro_kinetic") / "templates" / STDERR_LOGGING
    os.environ.setdefault("KEDRO_LOGGING_CONFIG", str(config))
    from kedro_kinetic.cli.commands import render
    from kedro_kinetic.driver import user_errors

    user_errors.install()
    render.main(args=argv, prog_name="kinetic-render")


if __name__ == "__main__":
    main()
