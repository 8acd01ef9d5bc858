#!/usr/bin/env bash
# Build the binaries of the kedro-kinetic test bench from Go modules and cache them by version.
#
#   scripts/build-bench-binaries.sh                # build whatever is missing (no-op on a warm cache)
#   scripts/build-bench-binaries.sh --check        # exit 0 if every binary is cached, 1 otherwise
#   scripts/build-bench-binaries.sh --print-paths  # print NAME=PATH for every binary (builds nothing)
#   scripts/build-bench-binaries.sh --regenerate   # rewrite bench/kubernetes and bench/etcd go.mod/go.sum
#                                                  # from bench/versions.env (maintainers; commit the result)
#
# Binaries (versions in bench/versions.env):
#   kube-apiserver, kube-controller-manager  k8s.io/kubernetes via the wrapper module bench/kubernetes
#   kubelet, kube-scheduler                  the same module and version (the "real" bench, issue 14)
#   etcd                                     go.etcd.io/etcd/server/v3 via the wrapper module bench/etcd
#   fake-gcs-server                          go install github.com/fsouza/fake-gcs-server@VERSION
#   registry                                 go install github.com/distribution/distribution/v3/cmd/registry@VERSION
#                                            (the real bench's image registry, issue 27)
#
# Cache: ${KINETIC_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kedro-kinetic/bin}/<name>-<version>/
# A directory is only moved into place once complete, so an interrupted build is redone next time.
# Needs only Go (>= 1.24) and the Go module proxy; no cgo, no Docker.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bench_dir="$repo_root/bench"
# shellcheck source=../bench/versions.env
source "$bench_dir/versions.env"

cache_root="${KINETIC_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kedro-kinetic/bin}"
kube_dir="$cache_root/kubernetes-$KUBERNETES_VERSION"
# Own folder, so a cache built before the real bench existed stays complete.
kubelet_dir="$cache_root/kubelet-$KUBERNETES_VERSION"
etcd_dir="$cache_root/etcd-$ETCD_VERSION"
gcs_dir="$cache_root/fake-gcs-server-$FAKE_GCS_SERVER_VERSION"
registry_dir="$cache_root/registry-$DISTRIBUTION_VERSION"

log() { printf '[build-bench-binaries] %s\n' "$*" >&2; }

print_paths() {
  echo "kube-apiserver=$kube_dir/kube-apiserver"
  echo "kube-controller-manager=$kube_dir/kube-controller-manager"
  echo "kubelet=$kubelet_dir/kubelet"
  echo "kube-scheduler=$kubelet_dir/kube-scheduler"
  echo "etcd=$etcd_dir/etcd"
  echo "fake-gcs-server=$gcs_dir/fake-gcs-server"
  echo "registry=$registry_dir/registry"
}

# complete DIR BIN... : the cache directory holds a finished build of every BIN.
complete() {
  local dir="$1"; shift
  [[ -f "$dir/.complete" ]] || return 1
  local bin
  for bin in "$@"; do [[ -x "$dir/$bin" ]] || return 1; done
}

all_complete() {
  complete "$kube_dir" kube-apiserver kube-controller-manager &&
    complete "$kubelet_dir" kubelet kube-scheduler &&
    complete "$etcd_dir" etcd &&
    complete "$gcs_dir" fake-gcs-server &&
    complete "$registry_dir" registry
}

require_go() {
  if ! command -v go >/dev/null 2>&1; then
    log "ERROR: 'go' is not on PATH; install Go >= 1.24 (https://go.dev/dl/) and retry."
    exit 2
  fi
  log "using $(go version) (GOPROXY=$(go env GOPROXY))"
}

# timed LABEL CMD... : run CMD, report how long it took.
timed() {
  local label="$1"; shift
  local start=$SECONDS
  log "$label ..."
  "$@"
  log "$label: done in $((SECONDS - start))s"
}

# The wrapper module must require exactly the version named in versions.env.
check_wrapper() {
  local mod_dir="$1" module="$2" version="$3"
  if ! grep -qE "^[[:space:]]*(require[[:space:]]+)?${module//./\\.} ${version//./\\.}( |$)" "$mod_dir/go.mod"; then
    log "ERROR: $mod_dir/go.mod does not require $module $version (bench/versions.env changed?)."
    log "       Run: scripts/build-bench-binaries.sh --regenerate"
    exit 2
  fi
}

# go_build MODDIR PKG OUT [LDFLAGS...]: static, stripped, path-independent build of one tool package.
go_build() {
  local mod_dir="$1" pkg="$2" out="$3"; shift 3
  (cd "$mod_dir" && CGO_ENABLED=0 go build -mod=readonly -trimpath \
    -ldflags "-s -w $*" -o "$out" "$pkg")
}

kube_ldflags() {
  local v="${KUBERNETES_VERSION#v}"
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%.*}"
  local pkg=k8s.io/component-base/version
  echo "-X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor" \
    "-X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
}

build_kubernetes() {
  check_wrapper "$bench_dir/kubernetes" k8s.io/kubernetes "$KUBERNETES_VERSION"
  local tmp="$cache_root/.tmp-kubernetes-$KUBERNETES_VERSION-$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  timed "download modules for k8s.io/kubernetes $KUBERNETES_VERSION" \
    bash -c "cd '$bench_dir/kubernetes' && go mod download"
  # shellcheck disable=SC2046
  timed "build kube-apiserver $KUBERNETES_VERSION" \
    go_build "$bench_dir/kubernetes" k8s.io/kubernetes/cmd/kube-apiserver "$tmp/kube-apiserver" $(kube_ldflags)
  # shellcheck disable=SC2046
  timed "build kube-controller-manager $KUBERNETES_VERSION" \
    go_build "$bench_dir/kubernetes" k8s.io/kubernetes/cmd/kube-controller-manager \
    "$tmp/kube-controller-manager" $(kube_ldflags)
  finish "$tmp" "$kube_dir"
}

build_kubelet() {
  check_wrapper "$bench_dir/kubernetes" k8s.io/kubernetes "$KUBERNETES_VERSION"
  local tmp="$cache_root/.tmp-kubelet-$KUBERNETES_VERSION-$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  timed "download modules for k8s.io/kubernetes $KUBERNETES_VERSION" \
    bash -c "cd '$bench_dir/kubernetes' && go mod download"
  # shellcheck disable=SC2046
  timed "build kubelet $KUBERNETES_VERSION" \
    go_build "$bench_dir/kubernetes" k8s.io/kubernetes/cmd/kubelet "$tmp/kubelet" $(kube_ldflags)
  # shellcheck disable=SC2046
  timed "build kube-scheduler $KUBERNETES_VERSION" \
    go_build "$bench_dir/kubernetes" k8s.io/kubernetes/cmd/kube-scheduler "$tmp/kube-scheduler" \
    $(kube_ldflags)
  finish "$tmp" "$kubelet_dir"
}

build_etcd() {
  check_wrapper "$bench_dir/etcd" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  local tmp="$cache_root/.tmp-etcd-$ETCD_VERSION-$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  timed "build etcd $ETCD_VERSION" go_build "$bench_dir/etcd" go.etcd.io/etcd/server/v3 "$tmp/etcd"
  finish "$tmp" "$etcd_dir"
}

# go_install NAME LABEL VERSION DEST PACKAGE: `go install PACKAGE@VERSION` (a module's own
# go.mod, no wrapper module) into DEST.
go_install() {
  local name="$1" label="$2" version="$3" dest="$4" package="$5"
  local tmp="$cache_root/.tmp-$name-$version-$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  timed "build $label $version" \
    env GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags "-s -w" \
    "$package@$version"
  finish "$tmp" "$dest"
}

build_fake_gcs_server() {
  go_install fake-gcs-server fake-gcs-server "$FAKE_GCS_SERVER_VERSION" "$gcs_dir" \
    github.com/fsouza/fake-gcs-server
}

build_registry() {
  go_install registry "registry (distribution)" "$DISTRIBUTION_VERSION" "$registry_dir" \
    github.com/distribution/distribution/v3/cmd/registry
}

# finish TMP DEST: stamp the build and move it into place atomically.
finish() {
  local tmp="$1" dest="$2"
  { echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "go=$(go env GOVERSION)"; } >"$tmp/.complete"
  rm -rf "$dest"
  mv "$tmp" "$dest"
}

build_missing() {
  local start=$SECONDS
  mkdir -p "$cache_root"
  if all_complete; then
    log "all binaries cached under $cache_root (checked in $((SECONDS - start))s)"
    print_paths
    return 0
  fi
  require_go
  # Serialise concurrent builders (e.g. several pytest processes) on one lock file.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache_root/.lock"
    log "waiting for the cache lock ..."
    flock 9
    rm -rf "$cache_root"/.tmp-*  # leftovers of interrupted builds (nobody else builds now)
  fi
  complete "$kube_dir" kube-apiserver kube-controller-manager && log "cached: $kube_dir" || build_kubernetes
  complete "$kubelet_dir" kubelet kube-scheduler && log "cached: $kubelet_dir" || build_kubelet
  complete "$etcd_dir" etcd && log "cached: $etcd_dir" || build_etcd
  complete "$gcs_dir" fake-gcs-server && log "cached: $gcs_dir" || build_fake_gcs_server
  complete "$registry_dir" registry && log "cached: $registry_dir" || build_registry
  log "all binaries ready in $((SECONDS - start))s; cache size: $(du -sh "$cache_root" | cut -f1)"
  print_paths
}

# --- regeneration of the wrapper modules (maintainers only) -------------------------------------

regen_kubernetes() {
  local dir="$bench_dir/kubernetes" upstream staging m
  mkdir -p "$dir" && rm -f "$dir/go.mod" "$dir/go.sum"
  (
    cd "$dir"
    go mod init kedro-kinetic.local/bench/kubernetes
    # Lowest go directive possible; `go get` raises it to what the dependencies need.
    go mod edit -go=1.24.0
    # The release's own go.mod replaces every staging module with ./staging/src/k8s.io/<m>;
    # replace each with its published twin v0.<minor>.<patch> instead.
    upstream="$(GOFLAGS=-mod=mod go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$KUBERNETES_VERSION")"
    staging="$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$upstream")"
    [[ -n "$staging" ]] || { log "ERROR: no staging replaces found in $upstream"; exit 2; }
    for m in $staging; do
      go mod edit -replace "$m=$m@v0.${KUBERNETES_VERSION#v1.}"
    done
    # Keep the upstream main module's GODEBUG defaults.
    go mod edit -godebug "$(awk '$1 == "godebug" {print $2; exit}' "$upstream")"
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION" \
      "k8s.io/kubernetes/cmd/kubelet@$KUBERNETES_VERSION" \
      "k8s.io/kubernetes/cmd/kube-scheduler@$KUBERNETES_VERSION"
    go mod tidy
  )
}

regen_etcd() {
  local dir="$bench_dir/etcd"
  mkdir -p "$dir" && rm -f "$dir/go.mod" "$dir/go.sum"
  (
    cd "$dir"
    go mod init kedro-kinetic.local/bench/etcd
    go mod edit -go=1.24.0
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go mod tidy
  )
}

case "${1:-}" in
  "") build_missing ;;
  --check) all_complete ;;
  --print-paths) print_paths ;;
  --regenerate)
    require_go
    timed "regenerate bench/kubernetes for $KUBERNETES_VERSION" regen_kubernetes
    timed "regenerate bench/etcd for $ETCD_VERSION" regen_etcd
    ;;
  -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *) log "unknown argument: $1 (try --help)"; exit 2 ;;
esac
