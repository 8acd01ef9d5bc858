"""Folders nested thousands deep, as a store writer can plant them, and their removal.

Both go through folder descriptors one level at a time, so no path grows past the system's
limit, and neither recurses (``shutil.rmtree`` and pytest's clean-up of old temporary folders
would raise ``RecursionError`` on such a tree).
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def nest(folder: Path, depth: int, name: str = "d") -> None:
    """``depth`` folders called ``name``, each inside the last, with ``x.json`` at the bottom."""
    fd = os.open(folder, _DIR)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(os.open("x.json", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    finally:
        os.close(fd)


def unnest(folder: Path, name: str = "d") -> None:
    """Remove what :func:`nest` made in ``folder``, one level at a time (move the level
    below up beside the top one, remove the top one, give the moved one its name)."""
    fd = os.open(folder, _DIR)
    spare = f".{name}.unnest"
    try:
        while True:
            top = os.open(name, _DIR, dir_fd=fd)
            try:
                inner = os.listdir(top)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink("x.json", dir_fd=top)
                if name in inner:
                    os.rename(name, spare, src_dir_fd=top, dst_dir_fd=fd)
            finally:
                os.close(top)
            os.rmdir(name, dir_fd=fd)
            if name not in inner:
                return
            os.rename(spare, name, src_dir_fd=fd, dst_dir_fd=fd)
    except FileNotFoundError:
        return
    finally:
        os.close(fd)
