"""A node's ``logging`` records on the wire: one JSON object per line of the pod's output.

In the pod every record a node (or Kedro, or a library) logs becomes one line of
JSON in Cloud Logging's structured format (``severity``, ``message``,
``logging.googleapis.com/sourceLocation``), plus ``logger``, ``node`` and
``kinetic: "log@1"``; ``print()`` output stays as it is. The driver turns such a line
back into a :class:`logging.LogRecord` under the original logger's name, so the
project's own logging configuration (levels, handlers, formatting) shows it as it
shows a ``SequentialRunner`` run's records; ``kedro kinetic logs`` prints it as text.

Everything in such a line comes from the pod, i.e. from node code and the data it
read: a line is only ever *data*. :func:`parse` keeps the fields it knows, each
checked: a logger name of plain identifiers, a level from a fixed list, text with
control characters shown as escapes (:func:`kedro_kinetic.wire.text.printable`) and
cut to a bound; the record it builds is marked ``markup = False`` (Kedro's Rich handler
would otherwise read ``[...]`` as markup). Nothing in a line chooses a handler, a
formatter, a class or an argument: the project's logging configuration is never read
in a pod (it is data too, and ``dictConfig`` turns strings into objects).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from kedro_kinetic.wire.text import printable

FORMAT = "log@1"
SOURCE = "logging.googleapis.com/sourceLocation"
#: Cloud Logging severities, by Python level (and back).
SEVERITY = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARNING",
            logging.ERROR: "ERROR", logging.CRITICAL: "CRITICAL"}
LEVELS = {name: level for level, name in SEVERITY.items()}
#: The longest message (and exception text) a line may carry; longer is cut, marked.
MAX_TEXT = 16_000
#: The longest line the driver parses as a record at all.
MAX_LINE = 64_000
#: The latest time a record may carry (the year 2286); later, or not a number: the driver's.
MAX_TIME = 1e10
_LOGGER_NAME = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_FALLBACK_LOGGER = "kedro_kinetic.node"


def severity(level: int) -> str:
    """Cloud Logging's severity for a Python level (rounded down to a known one)."""
    known = [lvl for lvl in sorted(SEVERITY) if lvl <= level]
    return SEVERITY[known[-1]] if known else "DEFAULT"


def encode(record: logging.LogRecord, node: str | None, exception: str | None = None) -> str:
    """One line of JSON for ``record`` (what the pod writes)."""
    doc: dict[str, Any] = {
        "severity": severity(record.levelno),
        "message": record.getMessage(),
        "logger": record.name,
        "node": node,
        "time": record.created,
        SOURCE: {"file": record.pathname, "line": record.lineno,
                 "function": record.funcName},
        "kinetic": FORMAT,
    }
    if exception:
        doc["exception"] = exception
    return json.dumps(doc, default=str)


def _text(value: Any, newlines: bool) -> str:
    text = value if isinstance(value, str) else ""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"... [{len(text) - MAX_TEXT} characters cut]"
    return printable(text, newlines)


def _timestamp(value: Any) -> float | None:
    """A record's time when it is a plausible Unix time (handlers format it: NaN, infinity or
    a number no float holds would make every handler print a logging error instead)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        when = float(value)
    except OverflowError:
        return None
    return when if 0.0 <= when <= MAX_TIME else None


def parse(line: str, node: str) -> logging.LogRecord | None:
    """The record a line of a pod's output carries, checked field by field; ``None`` when
    the line is not a record (ordinary output: shown as it is).

    Args:
        line: One line of the pod's output (untrusted).
        node: The node whose output it is, as the driver knows it (what the line claims
            is ignored).
    """
    if not line.startswith("{") or len(line) > MAX_LINE or FORMAT not in line:
        return None
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("kinetic") != FORMAT:
        return None
    name = doc.get("logger")
    if not isinstance(name, str) or len(name) > 200 or not _LOGGER_NAME.match(name):
        name = _FALLBACK_LOGGER
    level = LEVELS.get(str(doc.get("severity")), logging.INFO)
    found = doc.get(SOURCE)
    source: dict[str, Any] = found if isinstance(found, dict) else {}
    path = _text(source.get("file"), False)[-300:]
    line_no = source.get("line")
    record = logging.LogRecord(
        name=name, level=level, pathname=path,
        lineno=line_no if isinstance(line_no, int) and not isinstance(line_no, bool) else 0,
        msg="[%s] %s", args=(printable(node, False), _text(doc.get("message"), True)),
        exc_info=None, func=_text(source.get("function"), False)[:200] or None)
    when = _timestamp(doc.get("time"))
    if when is not None:
        record.created = when
    if doc.get("exception"):
        record.exc_text = _text(doc.get("exception"), True)
    record.markup = False  # Kedro's Rich handler: the text is never read as markup
    record.kinetic_node = node
    return record


def as_text(line: str, node: str) -> str | None:
    """A record line as one plain line of text (``kedro kinetic logs``), or ``None``."""
    record = parse(line, node)
    if record is None:
        return None
    where = f" ({record.filename}:{record.lineno})" if record.pathname else ""
    args = record.args if isinstance(record.args, tuple) else ()
    text = f"{record.levelname:<8} {record.name}: {args[1] if len(args) > 1 else ''}"
    if record.exc_text:
        text += "\n" + record.exc_text
    return text + where


def emit(record: logging.LogRecord) -> None:
    """Hand a parsed record to its logger as if it were logged here: the driver's logging
    configuration decides (levels of the logger and its handlers) what is shown, and how."""
    target = logging.getLogger(record.name)
    if target.isEnabledFor(record.levelno):
        target.handle(record)
