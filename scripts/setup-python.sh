#!/usr/bin/env bash
# Create .venv (if needed) and install kedro-kinetic with the extras named in $KINETIC_EXTRAS.
# Re-installs only when pyproject.toml changed since the last install (a stamp file records it).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
extras="${KINETIC_EXTRAS:-test}"
python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  echo "[setup-python] creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi
stamp=".venv/.kinetic-install-$(sha256sum pyproject.toml | cut -c1-16)-${extras//,/_}"
if [[ ! -f "$stamp" ]]; then
  start=$SECONDS
  echo "[setup-python] installing kedro-kinetic[$extras] into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  rm -f .venv/.kinetic-install-*
  touch "$stamp"
  echo "[setup-python] done in $((SECONDS - start)) s" >&2
fi
