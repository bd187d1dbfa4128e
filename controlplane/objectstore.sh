#!/usr/bin/env bash
# Builds versitygw, an S3-compatible object server, from its Go module (no
# containers, no prebuilt downloads), once per version, into
# ~/.cache/qiskit-operator/bin/versitygw-<version>/versitygw. Prints that binary's path.
# The S3 output tests (tests/integration/test_s3_output.py, the e2e round trip)
# start it on 127.0.0.1 with its posix backend in a temporary directory.
# Kept apart from build.sh: only the object-storage tests need it.
set -euo pipefail
VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
cache="${QOP_CACHE:-$HOME/.cache/qiskit-operator}"
out="$cache/bin/versitygw-$VERSITYGW_VERSION"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

mkdir -p "$cache/bin"
# One build at a time: tests/all.sh starts it in the background while the suite
# runs, and a test that needs the server first waits here for that build.
exec 9>"$out.lock"
flock 9
if [[ ! -x "$out/versitygw" ]]; then
  echo "objectstore: building versitygw $VERSITYGW_VERSION (first time only)" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    go mod init qop.local/objectstore >/dev/null 2>&1
    go mod edit -require="github.com/versity/versitygw@$VERSITYGW_VERSION"
    mkdir -p "$out.partial"
    go build -trimpath -ldflags '-s -w' -o "$out.partial/versitygw" \
      github.com/versity/versitygw/cmd/versitygw
  )
  rm -rf "$out"; mv "$out.partial" "$out"
fi
echo "$out/versitygw"
