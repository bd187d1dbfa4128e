#!/usr/bin/env bash
# Builds the two-platform Python bases of the function images from Debian packages
# (mmdebstrap; registry images cannot be pulled here) and pushes them to the local
# registry: REGISTRY/qiskit-operator/python:SUITE for the build stage (pip, venv) and
# REGISTRY/qiskit-operator/python:SUITE-runtime for the final one, the same tree less
# pip, setuptools and apt (slim_rootfs.py). The root filesystems are cached under
# ~/.cache/qiskit-operator/base/<suite>-<week>/, one per platform, bootstrapped in
# parallel (arm64's package scripts run under qemu-user-static).
# The base trusts this machine's CA bundle too, so pip inside a build reaches the
# package index the way the host does: the host's bundle is copied in (it is the same
# text on every architecture), since rebuilding it under emulation took minutes. Called by images/build.sh; prints the image.
#   images/base.sh REGISTRY   (HOST:PORT of a running registry; buildx set up)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
registry="${1:?usage: $0 REGISTRY}"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
image="$registry/qiskit-operator/python:$DEBIAN_SUITE"
runtime="$image-runtime"

log() { echo "images: $*" >&2; }

rootfs() {
  local arch=$1 out="$dir/rootfs-$1.tar" partial="$dir/partial-$1.tar"
  local slim="$dir/runtime-$slimmer-$1.tar"
  if [[ ! -s "$out" ]]; then
    bootstrap "$arch" "$partial"
    mv "$partial" "$out"
  fi
  if [[ ! -s "$slim" ]]; then
    python3 "$here/slim_rootfs.py" "$out" "$slim.partial"
    mv "$slim.partial" "$slim"
  fi
}

bootstrap() {
  local arch=$1 partial=$2
  log "bootstrapping the $DEBIAN_SUITE Python base for $arch (first time this week)"
  # python-is-python3: the Dockerfiles run `python`. No documentation, manuals or
  # translations: nothing in an image reads them (copyright files stay). The merged-usr
  # hook makes /bin and /lib links itself, where the usrmerge package would bring Perl
  # (48 MB) and convert the tree with it, for minutes under emulation.
  nice mmdebstrap --quiet --variant=apt --architectures="$arch" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates,passwd \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"' \
    --customize-hook='copy-in /usr/local/share/ca-certificates/. /usr/local/share/ca-certificates' \
    --customize-hook='copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$DEBIAN_SUITE" "$partial"  # the .tar suffix chooses the format
}

# A new base once a week, so Debian's security updates reach it, or when the
# bootstrap's recipe (the function above) changes; the runtime tree is remade when
# slim_rootfs.py changes. Older ones are deleted.
recipe="$(declare -f bootstrap | sha256sum | cut -c1-8)"
slimmer="$(sha256sum < "$here/slim_rootfs.py" | cut -c1-8)"
stamp="$DEBIAN_SUITE-$(date -u +%G-w%V)-$recipe"
dir="$cache/base/$stamp"
mkdir -p "$dir"
find "$cache/base" -mindepth 1 -maxdepth 1 ! -name "$stamp" -exec rm -rf {} +
find "$dir" -name 'runtime-*.tar' ! -name "runtime-$slimmer-*" -delete

pids=()
for arch in amd64 arm64; do rootfs "$arch" & pids+=($!); done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[[ $failed == 0 ]] || { log "bootstrapping the base failed"; exit 1; }

# ADD unpacks each platform's tar: no RUN, so nothing is emulated here.
cat > "$dir/Dockerfile" <<'DOCKERFILE'
FROM scratch
ARG TARGETARCH
ARG TREE=rootfs-
ADD ${TREE}${TARGETARCH}.tar /
ENV LANG=C.UTF-8
CMD ["python3"]
DOCKERFILE
push() {
  local tree=$1 tag=$2 description=$3
  docker buildx build --quiet --platform linux/amd64,linux/arm64 --build-arg "TREE=$tree" \
    --label "org.opencontainers.image.description=Debian $DEBIAN_SUITE with $description" \
    --tag "$tag" --push "$dir" >/dev/null
}
push rootfs- "$image" "python3, venv and pip"
push "runtime-$slimmer-" "$runtime" "python3 (no pip, setuptools or apt)"
echo "$image $runtime"
