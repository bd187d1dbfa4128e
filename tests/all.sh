#!/usr/bin/env bash
# `make test` after lint: every tier of the suite, in one run.
#   tests/all.sh PYTEST
#
# 1. The image, node and Knative tiers' builds start at once, in the background and
#    niced: images/build.sh (the toolchain from its Go modules, the Debian bases, bake
#    for amd64 and arm64, push, load), controlplane/build.sh node (kubelet, kube-proxy,
#    kube-scheduler, CoreDNS, pause) and controlplane/build.sh knative (Knative Serving,
#    Eventing and Traefik). Cached by version, they take seconds when warm; cold, they
#    use what the tests below leave idle.
# 2. The main suite (unit, integration, e2e on a real kube-apiserver) runs meanwhile.
# 3. Once the builds are done: tests/images and tests/node, the node's pods running
#    the images just built (QOP_NODE_IMAGES=engine); then tests/knative, a node of its
#    own with real Knative and knative/ applied (one node at a time: kubelet owns
#    paths outside its state).
#
# The image, node and Knative tiers need root, Go and Debian's packages (installed here when
# missing). Without them they are left out with a line saying so; under CI=true that is
# a failure. The exit status fails if any part failed; the daemons the image build
# started are stopped at the end (those running before are left running).
set -uo pipefail
pytest=${1:?usage: tests/all.sh PYTEST}
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
logs="$cache/run/tiers"
mkdir -p "$logs"
packages=(docker.io qemu-user-static binfmt-support mmdebstrap containerd runc
  containernetworking-plugins iptables curl)

log() { echo "tests: $*" >&2; }

tiers=yes
if [[ $(id -u) != 0 ]] || ! command -v go >/dev/null; then
  if [[ "${CI:-}" == true ]]; then
    log "the image, node and Knative tiers need root and Go, and CI runs them"
    exit 1
  fi
  log "leaving out the image, node and Knative tiers: they need root and Go (see README, Tests)"
  tiers=no
fi

declare -A builds=()
running_before=()
# The S3 tests' object server (versitygw) builds beside the suite too; the first test
# that needs it waits for this build (controlplane/objectstore.sh holds a lock).
if command -v go >/dev/null; then
  setsid nice -n 10 bash controlplane/objectstore.sh >"$logs/objectstore.log" 2>&1 &
  objectstore=$!
fi
if [[ $tiers == yes ]]; then
  if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    log "installing Debian's ${packages[*]}"
    { apt-get update -qq && apt-get install -y -qq "${packages[@]}"; } >"$logs/apt.log" 2>&1 \
      || { log "installing the tiers' packages failed: $logs/apt.log"; exit 1; }
  fi
  for daemon in registry dockerd buildkitd; do
    [[ -s "$cache/run/$daemon.pid" ]] && kill -0 "$(cat "$cache/run/$daemon.pid")" 2>/dev/null \
      && running_before+=("$daemon")
  done
  # Each in a process group of its own, so that stopping it stops its children too.
  setsid nice -n 10 bash images/build.sh >"$logs/images.log" 2>&1 &
  builds[images]=$!
  setsid nice -n 10 bash controlplane/build.sh node >"$logs/node.log" 2>&1 &
  builds[node]=$!
  setsid nice -n 10 bash controlplane/build.sh knative >"$logs/knative.log" 2>&1 &
  builds[knative]=$!
fi

finish() {
  for name in "${!builds[@]}"; do kill -- "-${builds[$name]}" 2>/dev/null; done
  [[ -n "${objectstore:-}" ]] && kill -- "-$objectstore" 2>/dev/null
  if [[ $tiers == yes && ${#running_before[@]} -eq 0 ]]; then
    bash images/daemons.sh stop >/dev/null 2>&1
  fi
}
trap finish EXIT

status=0
"$pytest" --ignore=tests/node --ignore=tests/images --ignore=tests/knative || status=1
[[ $tiers == yes ]] || exit $status

start=$SECONDS
for name in images node knative; do
  if ! wait "${builds[$name]}"; then
    log "the $name build failed; its log, $logs/$name.log, ends:"
    tail -n 30 "$logs/$name.log" >&2
    status=1
  fi
  unset "builds[$name]"
done
log "the tiers' builds finished $((SECONDS - start)) s after the main suite"
[[ $status == 0 ]] || exit $status

QOP_REQUIRE_IMAGES=true QOP_NODE_TESTS=1 QOP_NODE_IMAGES=engine \
  "$pytest" tests/images tests/node -p no:cacheprovider --timeout 1800 || status=1
QOP_KNATIVE_TESTS=1 QOP_NODE_IMAGES=engine \
  "$pytest" tests/knative -p no:cacheprovider --timeout 1800 || status=1
exit $status
