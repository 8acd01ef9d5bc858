"""Pin the demo image's packages to the versions of the environment that runs ``kedro run``.

The generated Dockerfile says it: payloads are pickled with the driver's package versions, so
keep them the same in the image. On the bench this is also what makes the pods' outputs
byte-identical to SequentialRunner's (scikit-learn writes its version into a pickled model).
So the image is built from a ``requirements.txt`` that lists the project's requirements and
everything they pull in, each pinned ``==`` to the version installed here.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _requirements_of(dist: metadata.Distribution, extras: set[str]) -> list[Requirement]:
    wanted = []
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": extra})
                                     for extra in extras | {""}):
            wanted.append(req)
    return wanted


def closure(roots: list[Requirement]) -> dict[str, str]:
    """Installed ``{name: version}`` of ``roots`` and of everything they require (with extras).

    Raises:
        metadata.PackageNotFoundError: A root is not installed here.
    """
    versions: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(req, True) for req in roots]
    while todo:
        req, is_root = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            if is_root:
                raise
            continue  # an optional dependency this environment does not have
        versions[name] = dist.version
        todo.extend((dep, False) for dep in _requirements_of(dist, set(req.extras)))
    return versions


def pinned_requirements(project_requirements: Path, also: list[str]) -> str:
    """``requirements.txt`` text: the project's requirements (extras kept) plus their closure
    and that of ``also`` (kedro-kinetic's own dependencies), each pinned to this environment.
    """
    roots = [Requirement(line.split("#", 1)[0].strip())
             for line in project_requirements.read_text().splitlines()
             if line.split("#", 1)[0].strip()]
    extra_roots = []
    for name in also:
        dist = metadata.distribution(name)
        extra_roots += [r for r in _requirements_of(dist, set()) if r.marker is None]
    versions = closure(roots + extra_roots)
    lines = ["# pinned by tests/bench/real/pins.py to the environment that runs `kedro run`"]
    for req in roots:  # keep the extras the project asks for
        name = canonicalize_name(req.name)
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        lines.append(f"{name}{extras}=={versions[name]}")
    rooted = {canonicalize_name(r.name) for r in roots}
    lines += [f"{name}=={version}" for name, version in sorted(versions.items())
              if name not in rooted]
    return "\n".join(lines) + "\n"
