"""A node's log records on the wire: encoded in the pod, checked field by field in the driver."""

from __future__ import annotations

import json
import logging

import pytest

from kedro_kinetic.wire import log_record


def record(msg: str = "min amount %s", args: tuple = (10,), level: int = logging.INFO,
           name: str = "demo_project.nodes") -> logging.LogRecord:
    return logging.LogRecord(name, level, "/src/demo_project/nodes.py", 11, msg, args, None,
                             func="clean_orders")


def test_a_record_round_trips_with_its_logger_level_and_source():
    line = log_record.encode(record(), "clean_node")
    doc = json.loads(line)
    assert doc["severity"] == "INFO" and doc["logging.googleapis.com/sourceLocation"]["line"] == 11
    parsed = log_record.parse(line, "clean_node")
    assert parsed is not None
    assert (parsed.name, parsed.levelno, parsed.filename, parsed.lineno) == (
        "demo_project.nodes", logging.INFO, "nodes.py", 11)
    assert parsed.getMessage() == "[clean_node] min amount 10"
    assert parsed.markup is False
    assert log_record.as_text(line, "clean_node") == (
        "INFO     demo_project.nodes: min amount 10 (nodes.py:11)")


@pytest.mark.parametrize("line", [
    "plain output", "{not json", '{"kinetic": "log@0", "message": "x"}', "[1, 2]",
    '{"message": "log@1 but no marker key"}', "{" + '"a":' * 10_000 + "1" + "}" * 10_000,
])
def test_other_lines_are_not_records(line):
    assert log_record.parse(line, "n") is None


def test_a_hostile_record_is_shown_as_escaped_text_never_evaluated():
    hostile = json.dumps({
        "kinetic": "log@1", "severity": "EMERGENCY", "logger": "os.system('x'); import",
        "message": "\x1b]0;pwned\x07[link=file:///etc/passwd]click[/link] %(levelname)s %s",
        "node": "someone_else", "exception": "x" * 40_000,
        "logging.googleapis.com/sourceLocation": {"file": "\x1b[2J/x.py", "line": "12",
                                                  "function": ["f"]},
        "markup": True, "extra": {"rich_format": ["red"]}})
    parsed = log_record.parse(hostile, "my_node")
    assert parsed is not None
    assert parsed.name == "kedro_kinetic.node"  # not a logger name: never used as one
    assert parsed.levelno == logging.INFO  # unknown severity
    message = parsed.getMessage()
    assert message.startswith("[my_node] ")  # the node the driver knows, not the claim
    assert "\x1b" not in message and "\\x1b" in message
    assert "%(levelname)s %s" in message  # the text is the message, not a format
    assert parsed.markup is False and not hasattr(parsed, "rich_format")
    assert parsed.lineno == 0 and "\x1b" not in parsed.pathname
    assert len(parsed.exc_text) < 17_000 and "characters cut" in parsed.exc_text


def test_a_record_is_shown_only_when_the_drivers_configuration_shows_its_logger(caplog):
    caplog.set_level(logging.WARNING, logger="demo_project")
    logging.getLogger("demo_project").setLevel(logging.WARNING)
    try:
        log_record.emit(log_record.parse(log_record.encode(record(), "n"), "n"))
        log_record.emit(log_record.parse(log_record.encode(
            record("careful", (), logging.WARNING), "n"), "n"))
    finally:
        logging.getLogger("demo_project").setLevel(logging.NOTSET)
    messages = [r.getMessage() for r in caplog.records if r.name == "demo_project.nodes"]
    assert messages == ["[n] careful"]


def test_a_huge_line_is_never_parsed_as_a_record():
    huge = json.dumps({"kinetic": "log@1", "message": "x" * 70_000})
    assert log_record.parse(huge, "n") is None  # shown as a plain, escaped line instead


@pytest.mark.parametrize("when", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 400, "-5",
                                  "1e12", "true", '"2026-12-07"'])
def test_a_record_time_no_handler_can_format_is_replaced_by_the_drivers(when, caplog):
    line = log_record.encode(record(), "n").replace('"time": ', f'"time": {when}, "t0": ', 1)
    parsed = log_record.parse(line, "n")
    assert parsed is not None and 0 < parsed.created <= log_record.MAX_TIME
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    assert handler.format(parsed).endswith("[n] min amount 10")  # formats without an error


def test_a_plausible_record_time_is_kept():
    line = log_record.encode(record(), "n")
    sent = json.loads(line)["time"]
    assert log_record.parse(line, "n").created == sent
