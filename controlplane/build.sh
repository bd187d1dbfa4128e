#!/usr/bin/env bash
# Builds kube-apiserver, kubectl, etcd and Knative's ApiServerSource receive
# adapter from their Go modules (no containers, no prebuilt downloads), once per
# version, into ~/.cache/qiskit-operator/bin/<name>-<version>. Prints the bin dir.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

log() { echo "controlplane: $*" >&2; }

build_kubernetes() {
  local out="$bin/kubernetes-$KUBERNETES_VERSION"
  [[ -x "$out/kube-apiserver" && -x "$out/kubectl" && -x "$out/kube-controller-manager" ]] && return
  local staging="v0${KUBERNETES_VERSION#v1}"   # v1.34.4 -> v0.34.4
  local work; work="$(mktemp -d)"
  log "building kube-apiserver, kube-controller-manager and kubectl $KUBERNETES_VERSION (first time only)"
  (
    cd "$work"
    go mod init qop.local/kubernetes >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@$KUBERNETES_VERSION"
    # k8s.io/kubernetes requires its staging modules at v0.0.0; point them at the release.
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go \
        cloud-provider cluster-bootstrap code-generator component-base component-helpers \
        controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation \
        endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy \
        kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission \
        sample-apiserver sample-cli-plugin sample-controller; do
      go mod edit -replace="k8s.io/$m=k8s.io/$m@$staging"
    done
    local flags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
    mkdir -p "$out.partial"
    go build -trimpath -ldflags "$flags" -o "$out.partial/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    go build -trimpath -ldflags "$flags" -o "$out.partial/kubectl" k8s.io/kubernetes/cmd/kubectl
    # The garbage collector (owned ConfigMaps go with their job) and token controllers.
    go build -trimpath -ldflags "$flags" -o "$out.partial/kube-controller-manager" \
      k8s.io/kubernetes/cmd/kube-controller-manager
  )
  rm -rf "$out"; mv "$out.partial" "$out"; rm -rf "$work"
}

build_etcd() {
  local out="$bin/etcd-$ETCD_VERSION"
  [[ -x "$out/etcd" ]] && return
  local work; work="$(mktemp -d)"
  log "building etcd $ETCD_VERSION (first time only)"
  (
    cd "$work"
    go mod init qop.local/etcd >/dev/null 2>&1
    cat > main.go <<'GO'
// A wrapper that runs etcd's own main, built from the Go module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
    mkdir -p "$out.partial"
    go build -trimpath -ldflags "-s -w" -o "$out.partial/etcd" .
  )
  rm -rf "$out"; mv "$out.partial" "$out"; rm -rf "$work"
}

build_adapter() {
  local out="$bin/knative-eventing-$KNATIVE_EVENTING_VERSION"
  [[ -x "$out/apiserver_receive_adapter" ]] && return
  local work; work="$(mktemp -d)"
  log "building Knative's apiserver_receive_adapter $KNATIVE_EVENTING_VERSION (first time only)"
  (
    cd "$work"
    go mod init qop.local/knative >/dev/null 2>&1
    go mod edit -require="knative.dev/eventing@$KNATIVE_EVENTING_VERSION"
    mkdir -p "$out.partial"
    go build -trimpath -ldflags "-s -w" -o "$out.partial/apiserver_receive_adapter" \
      knative.dev/eventing/cmd/apiserver_receive_adapter
  )
  rm -rf "$out"; mv "$out.partial" "$out"; rm -rf "$work"
}

case "${1:-all}" in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  adapter) build_adapter ;;
  all) build_etcd; build_kubernetes; build_adapter ;;
  *) echo "usage: $0 [all|kubernetes|etcd|adapter]" >&2; exit 2 ;;
esac
echo "$bin"
