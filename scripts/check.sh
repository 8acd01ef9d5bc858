#!/usr/bin/env bash
# The fast tier, without the bench: lint, types, import contracts, unit tests and the
# in-process driver tier, with statement coverage printed (at least 75%).
#   scripts/check.sh            # what .ci/run does first, before the slow tiers
# Expects .venv (scripts/setup-python.sh creates it; scripts/test.sh calls both).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
py=.venv/bin/python
start=$SECONDS
echo "[check] ruff" >&2
$py -m ruff check kedro_kinetic tests benchmarks
echo "[check] mypy kedro_kinetic" >&2
$py -m mypy
echo "[check] import contracts" >&2
.venv/bin/lint-imports --no-cache
echo "[check] unit tests, the in-process driver tier and coverage" >&2
KEDRO_DISABLE_TELEMETRY=true DO_NOT_TRACK=1 $py -m pytest tests/unit -q -p no:cacheprovider \
  --cov=kedro_kinetic --cov-report=term:skip-covered --cov-fail-under=75
echo "[check] fast tier passed in $((SECONDS - start)) s" >&2
