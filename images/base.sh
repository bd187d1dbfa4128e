#!/usr/bin/env bash
# Builds the two-platform Python base of the function images from Debian packages
# (mmdebstrap; registry images cannot be pulled here) and pushes it to the local
# registry as REGISTRY/qiskit-operator/python:SUITE. The root filesystems are cached
# under ~/.cache/qiskit-operator/base/<suite>-<date>-<arch>.tar, one per platform,
# bootstrapped in parallel (arm64's package scripts run under qemu-user-static).
# The base trusts this machine's CA bundle too, so pip inside a build reaches the
# package index the way the host does. Called by images/build.sh; prints the image.
#   images/base.sh REGISTRY   (HOST:PORT of a running registry; buildx set up)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
registry="${1:?usage: $0 REGISTRY}"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
# A new base once a week: Debian's security updates reach it, yet rebuilds are cached.
stamp="$DEBIAN_SUITE-$(date -u +%G-w%V)"
dir="$cache/base/$stamp"
image="$registry/qiskit-operator/python:$DEBIAN_SUITE"
mkdir -p "$dir"

log() { echo "images: $*" >&2; }

rootfs() {
  local arch=$1 out="$dir/rootfs-$1.tar" partial="$dir/partial-$1.tar"
  [[ -s "$out" ]] && return
  log "bootstrapping the $DEBIAN_SUITE Python base for $arch (first time this week)"
  # python-is-python3: the Dockerfiles run `python`. No documentation, manuals or
  # translations: nothing in an image reads them (copyright files stay).
  nice mmdebstrap --quiet --variant=apt --architectures="$arch" \
    --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates,passwd \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"' \
    --customize-hook='copy-in /usr/local/share/ca-certificates/. /usr/local/share/ca-certificates' \
    --customize-hook='chroot "$1" update-ca-certificates --fresh >/dev/null' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$DEBIAN_SUITE" "$partial"  # the .tar suffix chooses the format
  mv "$partial" "$out"
}

pids=()
for arch in amd64 arm64; do rootfs "$arch" & pids+=($!); done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[[ $failed == 0 ]] || { log "bootstrapping the base failed"; exit 1; }

# ADD unpacks each platform's tar: no RUN, so nothing is emulated here.
cat > "$dir/Dockerfile" <<'DOCKERFILE'
FROM scratch
ARG TARGETARCH
ADD rootfs-${TARGETARCH}.tar /
ENV LANG=C.UTF-8
CMD ["python3"]
DOCKERFILE
docker buildx build --quiet --platform linux/amd64,linux/arm64 \
  --label "org.opencontainers.image.description=Debian $DEBIAN_SUITE with python3, venv and pip" \
  --tag "$image" --push "$dir" >/dev/null
echo "$image"
