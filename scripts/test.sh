#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it:
#   Python packages into .venv, Debian's chromium + chromium-driver (kedro-viz browser test),
#   the bench binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, etcd,
#   fake-gcs-server) built from Go modules into a cache keyed by version, and for the real bench
#   Debian's containerd, runc, CNI plugins, mmdebstrap, buildah, skopeo plus its images (cached
#   by input hash). The fast tier (no bench, no whole-project runs) runs first, right after the
#   Python install, so a broken unit fails in seconds; then everything else, in two
#   pytest-xdist workers that each take whole files (each worker starts its own test bench; the
#   real bench's file stays in one worker). Extra arguments go to that second pytest run.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
start=$SECONDS
KINETIC_EXTRAS=test,viz,docs bash scripts/setup-python.sh
bash scripts/check.sh  # the fast tier first: lint, types, import contracts, unit tests
# The bench binaries build (Go: CPU) while the Debian packages below download and install
# (network, disk): on a cold machine the two overlap; on a warm one both are no-ops. Its
# progress lines are printed as they come.
bash scripts/build-bench-binaries.sh &
bins_pid=$!
trap 'kill "$bins_pid" 2>/dev/null || true' EXIT
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "[test] installing chromium and chromium-driver (Debian packages)" >&2
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
fi
missing=()  # Debian packages: terminal tests (tmux), real bench (the rest)
for pkg in tmux containerd runc containernetworking-plugins mmdebstrap buildah skopeo; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "[test] installing ${missing[*]} (Debian packages)" >&2
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
if ! wait "$bins_pid"; then
  echo "[test] building the bench binaries failed (its output above)" >&2
  exit 1
fi
trap - EXIT
.venv/bin/python -m tests.bench.real.images  # real bench images; a no-op when cached
echo "[test] set-up took $((SECONDS - start)) s" >&2
export KEDRO_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
unset KINETIC_BENCH_SKIP KINETIC_SKIP_BROWSER
exec .venv/bin/python -m pytest tests --ignore=tests/unit -n 2 --dist loadfile "$@"
