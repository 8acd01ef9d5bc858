"""Make text from the store or a pod safe to print on a terminal.

Results, node output and error messages can carry bytes chosen by whoever
wrote the data: raw escape sequences would move the cursor, rewrite earlier
lines, set the window title or hide text. :func:`printable` shows every
control character as a visible escape instead (newlines and tabs survive where
allowed). Standard library only: the pod prints with it too (Rich's markup is escaped
where text meets a Rich renderable, :func:`kedro_kinetic.driver.progress.markup_safe`).
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_NO_NEWLINE = re.compile(
    r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, newlines: bool = True) -> str:
    """``text`` with control characters (and bidi overrides) shown as escapes.

    Args:
        text: Anything; non-strings are converted with ``str``.
        newlines: Keep ``\\n`` and ``\\t`` as they are (multi-line messages,
            tracebacks); otherwise they are escaped too (one-line fields).
    """
    pattern = _CONTROL if newlines else _CONTROL_NO_NEWLINE
    return pattern.sub(_escape, str(text))
