"""The build context of ``kedro kinetic build``: what goes into the image, and its content tag.

The context is the project folder filtered by its ``.dockerignore``, read here with the rules
Docker applies (``moby/patternmatcher``): a pattern excludes a path when it matches the path or
one of its parent folders, ``*`` and ``?`` stay within one path component, ``**`` spans any
number of them, ``!`` re-includes, and the last matching pattern wins. The image's tag is a hash
of that content (paths, executable bits, bytes, link targets) and of everything else that shapes
the image (the Dockerfile, build arguments, labels, platform), so a tag names one content. One
thing is left out: image references pinned by digest in parameters files (``image:
REPO@sha256:...``), which ``kedro kinetic build --write`` records; else each build would change
the next one's tag.

Before anything is built, the context is checked for secrets: a credentials file or anything
under ``conf/local`` that ``.dockerignore`` would let into the image stops the build.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedro_kinetic.errors import BuildError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

TAG_PREFIX = "ctx-"
_PINNED_IMAGE = re.compile(rb"(\bimage:[ \t]*)[^\s#]+@sha256:[0-9a-f]{64}")
_SECRET = re.compile(r"(^|/)conf/local/|(^|/)credentials[^/]*\.ya?ml$")


@dataclass(frozen=True)
class Rule:
    """One ``.dockerignore`` line: its pattern as a regular expression, and whether it is a
    ``!`` exception."""

    pattern: re.Pattern[str]
    exception: bool
    text: str


def _translate(pattern: str) -> str:
    """A ``.dockerignore`` pattern as a regular expression (moby/patternmatcher's rules)."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                if pattern[i + 1:i + 2] == "/":
                    i += 1
                out += ".*" if i + 1 >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out += re.escape(ch)
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                i = end
        else:
            out += re.escape(ch)
        i += 1
    return out + "$"


def _clean(pattern: str) -> str:
    parts: list[str] = []
    for part in pattern.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts:
            parts.pop()
        elif part != "..":
            parts.append(part)
    return "/".join(parts)


def parse_dockerignore(text: str) -> list[Rule]:
    """The rules of a ``.dockerignore`` file (comments and blank lines dropped)."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = _clean(line[1:].strip() if exception else line)
        if pattern:
            rules.append(Rule(re.compile(_translate(pattern)), exception, line))
    return rules


def ignored(path: str, rules: Iterable[Rule]) -> bool:
    """Whether ``.dockerignore`` keeps ``path`` (relative, ``/``-separated) out of the context."""
    parents = [path]
    parts = path.split("/")
    parents += ["/".join(parts[:n]) for n in range(1, len(parts))]
    verdict = False
    for rule in rules:
        if any(rule.pattern.match(p) for p in parents):
            verdict = not rule.exception
    return verdict


def context_files(root: Path, rules: list[Rule]) -> Iterator[str]:
    """Relative paths of every file and link the context holds, sorted, links not followed.

    A folder that is ignored is not walked unless an exception (``!``) could bring back
    something below it.
    """
    prune = not any(rule.exception for rule in rules)
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(folder, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        if prune:
            dirs[:] = [d for d in dirs if not ignored(rel_dir + d, rules)]
        found += [rel_dir + name for name in files if not ignored(rel_dir + name, rules)]
        found += [rel_dir + d for d in dirs if os.path.islink(os.path.join(folder, d))
                  and not ignored(rel_dir + d, rules)]
    return iter(sorted(found))


def content_tag(root: Path, rules: list[Rule], extra: Iterable[str | bytes]) -> str:
    """``ctx-<16 hex>``: a hash of the context's files and of ``extra`` (Dockerfile, args)."""
    digest = hashlib.sha256()

    def feed(part: str | bytes) -> None:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)

    for part in extra:
        feed(part)
    for rel in context_files(root, rules):
        path = root / rel
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            feed(f"link {rel}")
            feed(os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            feed(f"file {rel} {'x' if info.st_mode & 0o111 else '-'}")
            data = path.read_bytes()
            if path.name.startswith("parameters") and path.suffix in (".yml", ".yaml"):
                data = _PINNED_IMAGE.sub(rb"\1<pinned>", data)
            feed(data)
    return TAG_PREFIX + digest.hexdigest()[:16]


def check_secrets(root: Path, rules: list[Rule]) -> None:
    """Refuse a context that would put a credentials file or ``conf/local`` into the image.

    Raises:
        BuildError: Naming the first such file and the fix.
    """
    leaks = [rel for rel in context_files(root, rules) if _SECRET.search(rel)]
    if leaks:
        shown = ", ".join(leaks[:3]) + (f" and {len(leaks) - 3} more" if len(leaks) > 3 else "")
        raise BuildError(
            f"step 'context': .dockerignore lets {shown} into the image; credentials never go "
            "into an image (pods get them from a Kubernetes Secret or Workload Identity). Add "
            "`conf/local/` and `**/credentials*.yml` to .dockerignore (`kedro kinetic init "
            "--no-params --force` rewrites it with those rules)")
