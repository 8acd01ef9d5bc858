"""The in-process demo project and backends for every CLI test module (defined once, in
test_session_inprocess)."""

from __future__ import annotations

from tests.unit.cli.test_session_inprocess import backends, demo

__all__ = ["backends", "demo"]
