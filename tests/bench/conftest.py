"""Makes the bench fixtures available to ``pytest tests/bench`` on its own.

The project's ``tests/conftest.py`` may import them too; they are shared, not started twice.
"""

from __future__ import annotations

import pytest

from tests.bench.fixtures import *  # noqa: F403


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bench: needs the test bench (real control plane, fake GCS)")
