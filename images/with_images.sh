#!/usr/bin/env bash
# `make test`: runs COMMAND with the images built, pushed and loaded (images/build.sh),
# then stops the daemons it started; daemons already running before (a developer's
# `make images`) are left running. The exit status is COMMAND's, or the build's.
#   images/with_images.sh COMMAND...
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="${QOP_CACHE:-$HOME/.cache/qiskit-operator}/run"

running_before=()
for daemon in registry dockerd buildkitd; do
  [[ -s "$run/$daemon.pid" ]] && kill -0 "$(cat "$run/$daemon.pid")" 2>/dev/null \
    && running_before+=("$daemon")
done
cleanup() { [[ ${#running_before[@]} -eq 0 ]] && bash "$here/daemons.sh" stop; }
trap cleanup EXIT

start=$SECONDS
bash "$here/build.sh" >&2 || { echo "images: the build failed" >&2; exit 1; }
echo "images: built, pushed and loaded in $((SECONDS - start)) s" >&2
# The image tests fail, rather than skip, when an image is missing.
QOP_REQUIRE_IMAGES=true "$@"
