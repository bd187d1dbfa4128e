#!/usr/bin/env bash
# Builds kube-apiserver, kubectl, etcd and Knative's ApiServerSource receive
# adapter from their Go modules (no containers, no prebuilt downloads), once per
# version, into ~/.cache/qiskit-operator/bin/<name>-<version>. Prints the bin dir.
# `node` builds what a real node adds (kubelet, kube-proxy, kube-scheduler, CoreDNS
# and the pause program), in parallel; the node tier (qiskit_operator/local/node/)
# calls it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

log() { echo "controlplane: $*" >&2; }

# A module that requires k8s.io/kubernetes, whose staging modules it requires at
# v0.0.0: point each at the release. Run inside an empty directory.
kubernetes_module() {
  local staging="v0${KUBERNETES_VERSION#v1}"   # v1.34.4 -> v0.34.4
  go mod init qop.local/kubernetes >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@$KUBERNETES_VERSION"
  for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go \
      cloud-provider cluster-bootstrap code-generator component-base component-helpers \
      controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation \
      endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy \
      kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission \
      sample-apiserver sample-cli-plugin sample-controller; do
    go mod edit -replace="k8s.io/$m=k8s.io/$m@$staging"
  done
}

build_kubernetes() {
  local out="$bin/kubernetes-$KUBERNETES_VERSION"
  [[ -x "$out/kube-apiserver" && -x "$out/kubectl" && -x "$out/kube-controller-manager" ]] && return
  local work; work="$(mktemp -d)"
  log "building kube-apiserver, kube-controller-manager and kubectl $KUBERNETES_VERSION (first time only)"
  (
    cd "$work"
    kubernetes_module
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

# What a node adds to the control plane: the kubelet that runs pods, kube-proxy for
# Services and the scheduler that binds pods to the node. Static, like the rest.
build_kubernetes_node() {
  local out="$bin/kubernetes-node-$KUBERNETES_VERSION"
  [[ -x "$out/kubelet" && -x "$out/kube-proxy" && -x "$out/kube-scheduler" ]] && return
  local work; work="$(mktemp -d)"
  log "building kubelet, kube-proxy and kube-scheduler $KUBERNETES_VERSION (first time only)"
  (
    cd "$work"
    kubernetes_module
    local flags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
    mkdir -p "$out.partial"
    for cmd in kubelet kube-proxy kube-scheduler; do
      go build -trimpath -ldflags "$flags" -o "$out.partial/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
  rm -rf "$out"; mv "$out.partial" "$out"; rm -rf "$work"
}

# CoreDNS with only the plugins the node's Corefile names: the full set pulls in
# every cloud provider's SDK. The plugin order comes from CoreDNS's own directive
# list, whatever the imports, so a subset keeps the usual chain.
build_coredns() {
  local out="$bin/coredns-$COREDNS_VERSION"
  [[ -x "$out/coredns" ]] && return
  local work; work="$(mktemp -d)"
  log "building CoreDNS $COREDNS_VERSION (first time only)"
  (
    cd "$work"
    go mod init qop.local/coredns >/dev/null 2>&1
    go mod edit -require="github.com/coredns/coredns@$COREDNS_VERSION"
    # The module's own go.sum pins every dependency it was released with.
    local dir; dir="$(go mod download -json "github.com/coredns/coredns@$COREDNS_VERSION" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    cp "$dir/go.sum" go.sum; chmod u+w go.sum
    cat > main.go <<'GO'
// CoreDNS's own main with the plugins a one-node cluster needs.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
GO
    mkdir -p "$out.partial"
    go build -trimpath -ldflags "-s -w" -o "$out.partial/coredns" .
  )
  rm -rf "$out"; mv "$out.partial" "$out"; rm -rf "$work"
}

# The pod sandbox's pause program, ours, so no image is ever pulled: it waits for a
# signal to stop and reaps the zombies of the pod's shared PID namespace.
build_pause() {
  local out="$bin/pause-$PAUSE_VERSION"
  [[ -x "$out/pause" ]] && return
  local work; work="$(mktemp -d)"
  log "building the pause program $PAUSE_VERSION (first time only)"
  (
    cd "$work"
    go mod init qop.local/pause >/dev/null 2>&1
    cp "$here/pause.go" main.go
    mkdir -p "$out.partial"
    go build -trimpath -ldflags "-s -w" -o "$out.partial/pause" .
  )
  rm -rf "$out"; mv "$out.partial" "$out"; rm -rf "$work"
}

# Independent builds side by side; the first failure fails the whole.
in_parallel() {
  local pids=() rc=0
  for step in "$@"; do "$step" & pids+=("$!"); done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  return "$rc"
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

# The directory of a module in the module cache, downloading it first.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# Builds commands of one Knative module inside a wrapper module whose go.sum is
# the module's own: without it, verification asks the checksum database for
# knative.dev's pseudo-versions and fails (404).
build_knative_module() {
  local module="$1" version="$2" out="$3"; shift 3
  local work; work="$(mktemp -d)"
  (
    cd "$work"
    go mod init qop.local/knative >/dev/null 2>&1
    go mod edit -require="$module@$version"
    cp "$(module_dir "$module@$version")/go.sum" go.sum; chmod u+w go.sum
    mkdir -p "$out.partial"
    for cmd in "$@"; do
      go build -trimpath -ldflags "-s -w" -o "$out.partial/$(basename "$cmd")" "$module/cmd/$cmd"
    done
  )
  local rc=$?
  rm -rf "$work"
  return "$rc"
}

# Knative Serving's five deployments' programs (the HPA autoscaler is left out:
# the KPA is what knative/services.yaml uses).
build_knative_serving() {
  local out="$bin/knative-serving-$KNATIVE_SERVING_VERSION"
  [[ -x "$out/queue" ]] && return
  log "building Knative Serving $KNATIVE_SERVING_VERSION (first time only)"
  build_knative_module knative.dev/serving "$KNATIVE_SERVING_VERSION" "$out" \
    controller webhook autoscaler activator queue
  rm -rf "$out"; mv "$out.partial" "$out"
}

# Knative Eventing's core, the in-memory channel, the channel-based Broker and
# the PingSource; the ApiServerSource adapter is build_adapter's.
build_knative_eventing() {
  local out="$bin/knative-eventing-core-$KNATIVE_EVENTING_VERSION"
  [[ -x "$out/mtping" ]] && return
  log "building Knative Eventing $KNATIVE_EVENTING_VERSION (first time only)"
  build_knative_module knative.dev/eventing "$KNATIVE_EVENTING_VERSION" "$out" \
    controller webhook mtchannel_broker broker/ingress broker/filter \
    in_memory/channel_controller in_memory/channel_dispatcher mtping
  rm -rf "$out"; mv "$out.partial" "$out"
}

# Traefik, the Knative ingress here: pure Go, unlike every Envoy-based one. Its
# go.mod has replace lines, so `go install` refuses it; build inside a copy.
build_traefik() {
  local out="$bin/traefik-$TRAEFIK_VERSION"
  [[ -x "$out/traefik" ]] && return
  log "building Traefik $TRAEFIK_VERSION (first time only)"
  local work; work="$(mktemp -d)"
  (
    cp -r "$(module_dir "github.com/traefik/traefik/v3@$TRAEFIK_VERSION")/." "$work/src"
    chmod -R u+w "$work/src"
    cd "$work/src"
    mkdir -p "$out.partial"
    go build -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION" \
      -o "$out.partial/traefik" ./cmd/traefik
  )
  local rc=$?
  rm -rf "$work"
  [[ $rc == 0 ]] || return "$rc"
  rm -rf "$out"; mv "$out.partial" "$out"
}

case "${1:-all}" in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  adapter) build_adapter ;;
  node) in_parallel build_kubernetes_node build_coredns build_pause ;;
  knative) in_parallel build_knative_serving build_knative_eventing build_traefik ;;
  all) build_etcd; build_kubernetes; build_adapter ;;
  *) echo "usage: $0 [all|kubernetes|etcd|adapter|node|knative]" >&2; exit 2 ;;
esac
echo "$bin"
