"""A fork server whose children report what they got instead of running the entrypoint.

Run as the server command in ``tests/unit/backends/local/test_forkserver.py``: the real server
module and protocol, with no imports to warm and a child body that writes its
argv, environment, ids and working directory to the file named by its first
argument, then acts on the second (``exit N``, ``sleep S``, ``group``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from kedro_kinetic.backends.local import forkserver


def child(args: list[str]) -> int:
    out, mode, value = args[0], args[1], args[2] if len(args) > 2 else ""
    info = {"argv": sys.argv, "env": dict(os.environ), "pid": os.getpid(),
            "ppid": os.getppid(), "pgid": os.getpgid(0), "sid": os.getsid(0),
            "cwd": os.getcwd(), "stdin": os.readlink("/proc/self/fd/0"),
            "initial_environ": Path("/proc/self/environ").read_bytes().decode(errors="replace"),
            "warmed": "slow_warm" in sys.modules}
    if mode == "group":  # a grandchild in the same process group
        info["grandchild"] = subprocess.Popen(["sleep", "300"]).pid
    Path(out + ".tmp").write_text(json.dumps(info))
    os.replace(out + ".tmp", out)
    print(f"hello from {mode}", flush=True)
    if mode == "exit":
        return int(value)
    time.sleep(float(value or 300))
    return 0


if __name__ == "__main__":
    forkserver.BASE_IMPORTS = ()
    forkserver.run_entrypoint = child
    if os.environ.get("STUB_THREAD"):  # a server that is not single-threaded
        threading.Thread(target=time.sleep, args=(300,), daemon=True).start()
    sys.exit(forkserver.main(sys.argv[1:]))
