#!/usr/bin/env bash
# Collects the CustomResourceDefinitions of Knative Serving and Eventing from
# their Go modules (versions in versions.env), so that a plain kube-apiserver
# can check knative/ against the schemas a real Knative install serves
# (tests/e2e/test_manifests.py). Writes one YAML file per CRD into
# ~/.cache/qiskit-operator/knative-crds-<versions>/ once, and prints that folder.
#
# Serving's config/core/300-resources/ holds its own CRDs; the networking ones it
# installs too (certificates, ingresses, serverlessservices, clusterdomainclaims)
# are symlinks into vendor/ in Serving's repository, which a Go module does not
# carry, so they come from knative.dev/networking's config/. Knative's
# images.caching.internal.knative.dev CRD is left out: knative.dev/caching is not
# on the Go checksum database, and nothing in knative/ uses it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
out="$cache/knative-crds-serving-$KNATIVE_SERVING_VERSION-eventing-$KNATIVE_EVENTING_VERSION-networking-$KNATIVE_NETWORKING_VERSION"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

log() { echo "knative-crds: $*" >&2; }

if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi

# The module's folder in the Go module cache, downloading it when missing.
module_dir() {
  local info dir
  # Outside any go.mod, so that no module of the working directory interferes.
  info="$(cd / && go mod download -json "$1")" || {
    log "go mod download $1 failed:"
    echo "$info" >&2
    return 1
  }
  dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$info")"
  if [[ -z "$dir" || ! -d "$dir" ]]; then
    log "go mod download $1 gave no module folder:"
    echo "$info" >&2
    return 1
  fi
  echo "$dir"
}

# Copies the files of folder $2 that define a CRD, named <prefix>-<file>.
copy_crds() {
  local prefix="$1" from="$2" file count=0
  for file in "$from"/*.yaml; do
    grep -q '^kind: CustomResourceDefinition' "$file" || continue
    cp "$file" "$out.partial/$prefix-$(basename "$file")"
    count=$((count + 1))
  done
  if ((count == 0)); then
    log "no CustomResourceDefinition in $from"
    return 1
  fi
}

log "collecting Knative CRDs (serving $KNATIVE_SERVING_VERSION, eventing $KNATIVE_EVENTING_VERSION; first time only)"
serving="$(module_dir "knative.dev/serving@$KNATIVE_SERVING_VERSION")"
eventing="$(module_dir "knative.dev/eventing@$KNATIVE_EVENTING_VERSION")"
networking="$(module_dir "knative.dev/networking@$KNATIVE_NETWORKING_VERSION")"
rm -rf "$out.partial"
mkdir -p "$out.partial"
copy_crds serving "$serving/config/core/300-resources"
copy_crds eventing "$eventing/config/core/resources"
copy_crds networking "$networking/config"
chmod -R u+w "$out.partial"  # the module cache is read-only; the copies need not be
touch "$out.partial/.complete"
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out"
