#!/usr/bin/env bash
# Builds the image toolchain from its Go modules (no prebuilt downloads, no registry
# images), once per version, into ~/.cache/qiskit-operator/bin/<name>-<version>:
# docker buildx and docker compose (CLI plugins), buildkitd (buildx's remote builder),
# the distribution registry and syft (SBOMs). Each is built inside a copy of its own
# module, so its own go.mod, replace directives and go.sum pin every dependency.
# The builds run in parallel, niced. Called by images/daemons.sh and `make images`;
# prints the DOCKER_CONFIG directory whose cli-plugins/ holds buildx and compose.
#   images/toolchain.sh [all|buildx|buildkit|registry|compose|syft]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0

log() { echo "images: $*" >&2; }

# build NAME MODULE VERSION PACKAGE BINARY [LDFLAGS]: one binary from a module's copy.
build() {
  local name=$1 module=$2 version=$3 package=$4 binary=$5 ldflags="-s -w ${6:-}"
  local out="$bin/$name-$version"
  [[ -x "$out/$binary" ]] && return
  log "building $name $version (first time only)"
  local src work
  src="$(go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  work="$(mktemp -d)"
  cp -r "$src/." "$work" && chmod -R u+w "$work"
  mkdir -p "$out.partial"
  (cd "$work" && nice go build -trimpath -ldflags "$ldflags" -o "$out.partial/$binary" "$package")
  rm -rf "$out"; mv "$out.partial" "$out"; rm -rf "$work"
}

buildx() {
  build buildx github.com/docker/buildx "$BUILDX_VERSION" ./cmd/buildx docker-buildx \
    "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION"
}
buildkit() {
  build buildkit github.com/moby/buildkit "$BUILDKIT_VERSION" ./cmd/buildkitd buildkitd \
    "-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION"
}
registry() {
  build distribution github.com/distribution/distribution/v3 "$DISTRIBUTION_VERSION" \
    ./cmd/registry registry
}
compose() {
  build compose github.com/docker/compose/v2 "$COMPOSE_VERSION" ./cmd docker-compose \
    "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"
}
syft() {
  build syft github.com/anchore/syft "$SYFT_VERSION" ./cmd/syft syft \
    "-X main.version=$SYFT_VERSION"
}

# The CLI plugins where Debian's docker (and a DOCKER_CONFIG of ours) finds them,
# never in the system's plugin directories.
plugins() {
  local config="$cache/docker-config"
  mkdir -p "$config/cli-plugins"
  ln -sfn "$bin/buildx-$BUILDX_VERSION/docker-buildx" "$config/cli-plugins/docker-buildx"
  ln -sfn "$bin/compose-$COMPOSE_VERSION/docker-compose" "$config/cli-plugins/docker-compose"
  echo "$config"
}

all() {
  local pids=() failed=0
  for step in buildx buildkit registry compose syft; do
    "$step" & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [[ $failed == 0 ]] || { log "a toolchain build failed"; exit 1; }
  plugins
}

# One build at a time: a second caller waits for the first, then finds its binaries.
exec 9>"$bin/.toolchain.lock"
flock 9

case "${1:-all}" in
  all) all ;;
  buildx|buildkit|registry|compose|syft) "$1"; plugins ;;
  *) echo "usage: $0 [all|buildx|buildkit|registry|compose|syft]" >&2; exit 2 ;;
esac
