"""``kedro kinetic build --write``: record the pinned image in the environment's kinetic block.

Kedro merges parameters by top-level key: an environment's ``kinetic:`` block replaces the base
environment's whole block. So the image goes where the environment's effective block is written:
the parameters file of ``conf/<env>`` that defines ``kinetic``, else the base environment's.
When neither defines one, ``conf/<env>/parameters_kinetic.yml`` is created with just the image.

The file is edited as text, so its comments and layout stay: the block's ``image:`` line is
replaced, or a commented ``# image:`` example of it (what ``kedro kinetic init`` writes) is
turned into the setting, or the line is added under ``kinetic:``. The result is parsed again
and written only when ``kinetic.image`` reads back as the new reference.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import TYPE_CHECKING, Any

from kedro_kinetic.errors import BuildError

if TYPE_CHECKING:
    from pathlib import Path

NEW_FILE = "parameters_kinetic.yml"
_TOP = re.compile(r"^kinetic:\s*(#.*)?$")


def _parameters_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and p.suffix in (".yml", ".yaml")
                  and any(part.startswith("parameters")
                          for part in p.relative_to(folder).parts))


def _defines_kinetic(path: Path) -> bool:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "kinetic" in data


def target_file(conf: Path, env: str, base_env: str) -> tuple[Path, bool]:
    """The file to record the image in, and whether it exists already.

    Raises:
        BuildError: Several files of one environment define ``kinetic`` (Kedro refuses that).
    """
    for folder in (conf / env, conf / base_env):
        found = [p for p in _parameters_files(folder) if _defines_kinetic(p)]
        if len(found) > 1:
            raise BuildError(f"--write: {', '.join(str(p) for p in found)} all define "
                             "`kinetic:`; keep one")
        if found:
            return found[0], True
    return conf / env / NEW_FILE, False


def _block_end(lines: list[str], start: int) -> int:
    for i in range(start + 1, len(lines)):
        text = lines[i]
        if text.strip() and not text[0].isspace() and not text.startswith("#"):
            return i
    return len(lines)


def _with_image(text: str, image: str, where: str) -> str:
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _TOP.match(line.rstrip("\n"))), None)
    if start is None:
        raise BuildError(f"--write: {where} defines `kinetic` in a form this command does not "
                         f"edit (e.g. a flow mapping); set `image: {image}` in it yourself")
    end = _block_end(lines, start)
    body = [i for i in range(start + 1, end)
            if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    indent = (len(lines[body[0]]) - len(lines[body[0]].lstrip(" "))) if body else 2
    pad = " " * indent
    new = f"{pad}image: {image}\n"
    setting = re.compile(rf"^{pad}image:[^#\n]*?(\s+#.*)?$")
    example = re.compile(rf"^{pad}#\s*image:(\s|$)")
    for i in range(start + 1, end):
        found = setting.match(lines[i].rstrip("\n"))
        if found:  # the setting: a trailing comment stays
            lines[i] = f"{pad}image: {image}{found.group(1) or ''}\n"
            return "".join(lines)
    for i in range(start + 1, end):
        if example.match(lines[i]):  # init's commented example becomes the setting
            lines[i] = new
            return "".join(lines)
    if not lines[start].endswith("\n"):
        lines[start] += "\n"
    lines.insert(start + 1, new)
    return "".join(lines)


def _reads_back(text: str) -> Any:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    block = data.get("kinetic") if isinstance(data, dict) else None
    return block.get("image") if isinstance(block, dict) else None


def record_image(conf: Path, env: str, base_env: str, image: str) -> Path:
    """Set ``kinetic.image`` to ``image`` in the environment's parameters; return the file.

    Raises:
        BuildError: The file cannot be edited safely, or read back differently.
    """
    path, exists = target_file(conf, env, base_env)
    if exists:
        text = _with_image(path.read_text(encoding="utf-8"), image, str(path))
    else:
        text = ("# Written by `kedro kinetic build --write`: the image the pods run, pinned "
                "by digest.\nkinetic:\n" f"  image: {image}\n")
    if _reads_back(text) != image:
        raise BuildError(f"--write: after the edit {path} would not read back kinetic.image as "
                         f"{image}; nothing was written. Set it yourself")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777 if exists else 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
