"""``python -m kedro_kinetic.entrypoint``: the pod's command, as every image built runs it.

The module path is the contract between the driver (which renders it into every Job) and
the images already built; the code lives in :mod:`kedro_kinetic.pod.entrypoint`.
"""

from __future__ import annotations

import sys

from kedro_kinetic.pod.entrypoint import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
