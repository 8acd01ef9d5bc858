"""Fake builder programs for the unit tests of ``kedro kinetic build``.

Each fake (``docker``, ``podman``, ``buildah``, ``skopeo``, ``gcloud``) is a small Python script
put first on ``PATH``. It appends its argv to a JSON-lines log, prints what the real program
would print for the digest the registry serves (``FAKE_DIGEST``) and labels (``FAKE_LABELS``), and
the digest a push reports (``FAKE_PUSHED``, else ``FAKE_DIGEST``), and fails a step when
``FAKE_FAIL_<PROGRAM>`` is ``<verb>:<message>``. A build records which bundled wheels its
context held while it ran.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

PROGRAMS = ("docker", "podman", "buildah", "skopeo", "gcloud")
DIGEST = "sha256:" + "d" * 64

SCRIPT = r'''#!{python}
import json, os, pathlib, sys
name = pathlib.Path(sys.argv[0]).name
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([name, *args]) + "\n")
verb = next((a for a in args if not a.startswith("-") and a not in ("linux", "amd64")), "")
fail = os.environ.get("FAKE_FAIL_" + name.upper(), "")
if fail and fail.split(":", 1)[0] == verb:
    print(fail.split(":", 1)[1])
    sys.exit(1)
digest = os.environ.get("FAKE_DIGEST", "")
if verb in ("build", "bud") or (name == "gcloud" and verb == "builds"):
    context = pathlib.Path(args[-1])
    wheels = sorted(p.name for p in (context / ".kinetic-build").glob("*.whl"))
    print("STEP 1/1: FROM scratch")
    print("context wheels: " + json.dumps(wheels))
    if name == "gcloud":
        config = args[args.index("--config") + 1]
        ignore = args[args.index("--ignore-file") + 1]
        print("config: " + json.dumps(json.load(open(config))))
        print("ignore: " + json.dumps(open(ignore).read().splitlines()))
elif name == "skopeo" and verb == "inspect":
    labels = json.loads(os.environ.get("FAKE_LABELS", "{{}}"))
    print(json.dumps({{"Digest": digest, "Labels": labels}}))
elif name == "docker" and verb == "buildx":
    print(json.dumps({{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest,
                      "size": 1}}))
elif name == "gcloud" and verb == "artifacts":
    print(digest)
elif verb == "push":  # what the push itself reports: FAKE_PUSHED, else the served digest
    pushed = os.environ.get("FAKE_PUSHED", digest)
    if "--digestfile" in args:
        pathlib.Path(args[args.index("--digestfile") + 1]).write_text(pushed + "\n")
    elif name == "docker":
        print(f"ctx: digest: {{pushed}} size: 528")
'''


def install(bin_dir: Path, programs: tuple[str, ...] = PROGRAMS) -> None:
    """Write the fakes of ``programs`` into ``bin_dir``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in programs:
        path = bin_dir / name
        path.write_text(SCRIPT.format(python=sys.executable))
        path.chmod(0o755)


def calls(log: Path) -> list[list[str]]:
    """Every recorded call, as ``[program, *args]``."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]
