#!/usr/bin/env bash
# `make images`: the three function images for linux/amd64 and linux/arm64, built by
# `docker buildx bake` on a Python base made from Debian packages, pushed to the local
# registry as REGISTRY/qiskit-operator/NAME:dev (a manifest list per image), pulled
# back for this machine's platform and tagged qiskit-operator/NAME:dev in the local
# engine, with an SPDX SBOM per image and platform under build/sbom/. Starts the
# daemons it needs (images/daemons.sh) and leaves them running; its last line is
# `registry: HOST:PORT`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
images=(validate execute reconcile)

log() { echo "images: $*" >&2; }

set -a
# shellcheck disable=SC1090
source <(bash "$here/daemons.sh" start)
set +a
[[ -n "${QOP_REGISTRY:-}" ]] || { log "the daemons did not start (images/daemons.sh start)"; exit 1; }
read -r base runtime <<<"$(bash "$here/base.sh" "$QOP_REGISTRY")"
log "bake: ${images[*]} for linux/amd64 and linux/arm64 on $base and $runtime"
cd "$root"
REGISTRY="$QOP_REGISTRY/qiskit-operator" VERSION=dev PYTHON_IMAGE="$base" RUNTIME_IMAGE="$runtime" \
  docker buildx bake -f docker-bake.hcl --push --progress "${QOP_PROGRESS:-plain}" "${images[@]}" >&2

sbom="$root/build/sbom"
mkdir -p "$sbom"
host_arch="$(dpkg --print-architecture)"
for name in "${images[@]}"; do
  ref="$QOP_REGISTRY/qiskit-operator/$name:dev"
  docker pull --quiet "$ref" >/dev/null
  docker tag "$ref" "qiskit-operator/$name:dev"
  # An SBOM describes one image: it is made once per manifest list and kept by its digest.
  digest="$(docker buildx imagetools inspect --format '{{.Manifest.Digest}}' "$ref")"
  for arch in amd64 arm64; do
    made="$cache/sbom/syft-$SYFT_VERSION-${digest#sha256:}-$arch.spdx.json"
    if [[ ! -s "$made" ]]; then
      mkdir -p "$cache/sbom"
      # Straight from the registry (plain HTTP on loopback), each platform's own layers.
      SYFT_REGISTRY_INSECURE_USE_HTTP=true SYFT_CHECK_FOR_APP_UPDATE=false \
        "$cache/bin/syft-$SYFT_VERSION/syft" scan --quiet --platform "linux/$arch" \
        --output "spdx-json=$made.partial" "registry:$ref"
      mv "$made.partial" "$made"
    fi
    cp "$made" "$sbom/$name-$arch.spdx.json"
  done
done
# The images the tags above replaced: each rebuild would leave 1 GB behind otherwise.
docker image prune --force >/dev/null
log "loaded qiskit-operator/{validate,execute,reconcile}:dev ($host_arch); SBOMs in build/sbom/"
echo "registry: $QOP_REGISTRY"
