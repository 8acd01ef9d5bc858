"""Run a Kedro project programmatically and dump its free outputs as JSON.

Usage: python run_session.py PROJECT_PATH {sequential|gke} OUT_JSON [pipeline]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project


def main() -> None:
    project, which, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    pipelines = sys.argv[4:] or None
    bootstrap_project(project)
    if which == "gke":
        from kedro_kinetic import GKERunner

        runner = GKERunner()
    else:
        from kedro.runner import SequentialRunner

        runner = SequentialRunner()
    with KedroSession.create(project_path=project) as session:
        outputs = session.run(runner=runner, pipeline_names=pipelines)
    free = {}
    for name, dataset in sorted(outputs.items()):
        if type(dataset).__name__ in ("MemoryDataset", "PinnedPickleDataset"):
            free[name] = dataset.load()
    out.write_text(json.dumps(free, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
