#!/usr/bin/env bash
# Starts and stops what the images are built, pushed and run with, each by its PID and
# each on loopback or a unix socket of ours only: dockerd (Debian's docker.io, its own
# data root, exec root and socket, no iptables, no bridge), buildkitd (buildx's remote
# builder, Debian's runc, QEMU for arm64) and a distribution registry on 127.0.0.1.
# Called by `make images`, `make test` and benchmarks/images.py.
#   images/daemons.sh start [NAME...]  start what is not running (all three, after building
#                                      the toolchain); prints the environment
#   images/daemons.sh env     KEY=VALUE lines: DOCKER_HOST, DOCKER_CONFIG, BUILDX_BUILDER, QOP_REGISTRY
#   images/daemons.sh stop    stop what start started
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
run="$cache/run"
bin="$cache/bin"
builder=qiskit-operator
mkdir -p "$run"

log() { echo "images: $*" >&2; }

alive() { [[ -s "$run/$1.pid" ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

# wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds, or fail saying what.
wait_for() {
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then log "$what did not come up; see $run/$what.log"; exit 1; fi
    sleep 0.2
  done
}

registry_addr() {
  if [[ ! -s "$run/registry.addr" ]]; then
    # A fixed port keeps image names (and so build caches) stable; another if it is taken.
    python3 - > "$run/registry.addr" <<'PY'
import socket
for port in (5055, 0):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(f"127.0.0.1:{s.getsockname()[1]}")
        break
PY
  fi
  cat "$run/registry.addr"
}

environment() {
  echo "DOCKER_HOST=unix://$run/docker.sock"
  echo "DOCKER_CONFIG=$cache/docker-config"
  echo "BUILDX_BUILDER=$builder"
  echo "QOP_REGISTRY=$(registry_addr)"
}

binfmt() {
  # arm64 images run under Debian's qemu-user-static, registered with the F flag so
  # that the interpreter works inside containers' mount namespaces too.
  command -v qemu-aarch64-static >/dev/null || {
    log "installing qemu-user-static (arm64 emulation)"
    apt-get update -qq && apt-get install -y -qq qemu-user-static binfmt-support >/dev/null
  }
  [[ -e /proc/sys/fs/binfmt_misc/register ]] \
    || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64
}

start_registry() {
  alive registry && return
  local addr; addr="$(registry_addr)"
  cat > "$run/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $cache/registry}
  delete: {enabled: true}
http:
  addr: $addr
YAML
  "$bin/distribution-$DISTRIBUTION_VERSION/registry" serve "$run/registry.yml" \
    > "$run/registry.log" 2>&1 &
  echo $! > "$run/registry.pid"
  wait_for registry 60 python3 -c "import urllib.request as u; u.urlopen('http://$addr/v2/', timeout=2)"
}

start_dockerd() {
  alive dockerd && return
  echo '{}' > "$run/daemon.json"
  # --bridge=none and --iptables=false: containers get --network host or none, and
  # nothing of ours touches the machine's firewall or routes.
  dockerd --config-file "$run/daemon.json" --data-root "$cache/docker" \
    --exec-root "$run/docker-exec" --pidfile "$run/dockerd.pid.own" \
    --host "unix://$run/docker.sock" --storage-driver overlay2 \
    --iptables=false --ip-forward=false --ip-masq=false --bridge=none --userland-proxy=false \
    > "$run/dockerd.log" 2>&1 &
  echo $! > "$run/dockerd.pid"
  wait_for dockerd 120 docker --host "unix://$run/docker.sock" version
}

start_buildkitd() {
  alive buildkitd && return
  local addr; addr="$(registry_addr)"
  cat > "$run/buildkitd.toml" <<TOML
[worker.oci]
  enabled = true
  binary = "/usr/sbin/runc"
  # RUN steps share the host's network: pip reaches the package index as the host does.
  networkMode = "host"
  # The build cache is collected past 6 GB: every rebuild of six images adds layers,
  # and without a bound it filled this machine's disk (24 GB in a day of builds).
  gc = true
  gckeepstorage = 6000
[worker.containerd]
  enabled = false
[registry."$addr"]
  http = true
  insecure = true
TOML
  "$bin/buildkit-$BUILDKIT_VERSION/buildkitd" --config "$run/buildkitd.toml" \
    --root "$cache/buildkit" --addr "unix://$run/buildkitd.sock" \
    > "$run/buildkitd.log" 2>&1 &
  echo $! > "$run/buildkitd.pid"
  wait_for buildkitd 60 test -S "$run/buildkitd.sock"
  # buildx's remote driver: bake talks to this buildkitd, which builds both platforms.
  env $(environment) docker buildx inspect "$builder" >/dev/null 2>&1 \
    || env $(environment) docker buildx create --name "$builder" --driver remote \
      "unix://$run/buildkitd.sock" >/dev/null
  wait_for buildkitd 60 env $(environment) docker buildx inspect --bootstrap "$builder"
}

stop_one() {
  local name=$1
  alive "$name" || { rm -f "$run/$name.pid"; return; }
  local pid deadline=$((SECONDS + 60)); pid="$(cat "$run/$name.pid")"
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS > deadline)); then kill -KILL "$pid"; fi
    sleep 0.2
  done
  rm -f "$run/$name.pid"
}

case "${1:-}" in
  start)
    shift
    if (($# == 0)); then
      bash "$here/toolchain.sh" >/dev/null
      set -- registry dockerd buildkitd
    fi
    for daemon in "$@"; do
      case "$daemon" in
        registry) start_registry ;;
        dockerd) start_dockerd ;;
        buildkitd) binfmt; start_buildkitd ;;
        *) echo "usage: $0 start [registry|dockerd|buildkitd]..." >&2; exit 2 ;;
      esac
    done
    environment ;;
  env) environment ;;
  stop)
    stop_one buildkitd; stop_one dockerd; stop_one registry
    # dockerd leaves its host network namespace bound here after it exits.
    if mountpoint -q "$run/docker-exec/netns/default" 2>/dev/null; then
      umount "$run/docker-exec/netns/default"
    fi ;;
  *) echo "usage: $0 start|env|stop" >&2; exit 2 ;;
esac
