from __future__ import annotations

from decimal import Decimal

import pytest

from kedro_kinetic.config import quantities


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("2", 2), ("512Mi", 512 * 2**20), ("1.5Gi", Decimal("1.5") * 2**30),
     ("1e3", 1000), ("100k", 100_000)],
)
def test_parse(text, value):
    assert quantities.parse(text) == value


@pytest.mark.parametrize("text", ["12Gb", "", "1.2.3", "-1", "Mi", "1 Gi"])
def test_bad_quantities_are_refused(text):
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantities.parse(text)
