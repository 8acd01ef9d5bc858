#!/usr/bin/env bash
# Run demo_project with GKERunner on the local backend (every node in its own process).
# Extra arguments go to `kedro run`, e.g. scripts/demo.sh --pipeline data_science
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KINETIC_EXTRAS=demo bash "$repo_root/scripts/setup-python.sh"
cd "$repo_root/demo_project"
export KEDRO_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
exec ../.venv/bin/kedro run --runner=kedro_kinetic.GKERunner "$@"
