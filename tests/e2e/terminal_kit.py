"""A real terminal for tests: tmux runs a command in a pane; the test reads back the
screen *and its scrollback*, exactly what a user would scroll through.

Each :class:`Terminal` has its own tmux server (its own socket), so tests never touch
a user's tmux. The test waits on events only: ``tmux wait-for`` returns when the
command has ended (tmux remembers a signal sent before anyone waits).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

#: What the terminal itself decides (the pane's size and type), never inherited.
TERMINAL_OWN = {"COLUMNS", "LINES", "TERM", "TMUX", "TMUX_PANE"}
#: Ceiling for a whole kedro run on a loaded 2-core machine.
RUN_CEILING = 900


def need_tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/test.sh installs it)")


class Terminal:
    """One tmux pane of ``width`` x ``height`` running one command."""

    def __init__(self, folder: Path, width: int = 100, height: int = 30) -> None:
        need_tmux()
        self.socket = folder / "tmux.sock"
        self.config = folder / "tmux.conf"
        self.config.write_text("set -g history-limit 100000\nset -g remain-on-exit on\n")
        self.script = folder / "command.sh"
        self.width, self.height = width, height

    def _tmux(self, *args: str, timeout: float = 60) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), "-f", str(self.config), *args],
                              capture_output=True, text=True, check=True,
                              timeout=timeout).stdout

    def start(self, cwd: Path, argv: list[str], env: dict[str, str]) -> None:
        """Run ``argv`` in ``cwd`` with ``env`` in a new pane; signal ``done`` at its end."""
        env = {k: v for k, v in env.items() if k.isidentifier() and k not in TERMINAL_OWN}
        # the pane's size, also where a program reads it from the environment (tmux
        # started without a terminal may leave COLUMNS=80 behind)
        env.update(COLUMNS=str(self.width), LINES=str(self.height))
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
        done = f"tmux -S {shlex.quote(str(self.socket))} wait-for -S done"
        self.script.write_text(f"{exports}cd {shlex.quote(str(cwd))}\n"
                               f"{shlex.join(argv)}\necho \"EXIT=$?\"\n{done}\n")
        self._tmux("new-session", "-d", "-s", "t", "-x", str(self.width), "-y",
                   str(self.height), f"bash {shlex.quote(str(self.script))}")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def wait(self, timeout: float = RUN_CEILING) -> None:
        """Return once the command has ended."""
        self._tmux("wait-for", "done", timeout=timeout)

    def scrollback(self) -> str:
        """Everything the pane shows and has scrolled away, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "t")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True,
                       timeout=60)
