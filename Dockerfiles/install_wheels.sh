#!/bin/sh
# Installs a function's pinned wheels into the venv at /opt/venv for the image's
# platform, run by the build machine's own Python:
#   TARGETARCH=arm64 sh install_wheels.sh REQUIREMENTS
#
# The build stage runs on the build platform (FROM --platform=$BUILDPLATFORM): a
# wheel is unpacked, never built, and its bytecode is the same on every
# architecture, so an arm64 image needs no emulated pip. Emulated, the three
# images' arm64 installs took over ten minutes here; native, seconds. pip takes
# the target's platform tags (manylinux, glibc up to Debian bookworm's 2.36),
# CPython 3.11's ABI, and the list as the whole set (--no-deps: it is pinned and
# complete, and markers would be judged by the build machine). The venv itself is
# the build machine's: its interpreter path, /usr/bin/python3 or
# /usr/local/bin/python3, is the same in the final image of either platform.
set -eu
requirements=${1:?usage: install_wheels.sh REQUIREMENTS}
# BuildKit sets TARGETARCH; a builder that does not builds for its own machine.
case "${TARGETARCH:-$(uname -m)}" in
  amd64 | x86_64) arch=x86_64 ;;
  arm64 | aarch64) arch=aarch64 ;;
  *) echo "install_wheels.sh: no wheels for '${TARGETARCH:-$(uname -m)}' (amd64 or arm64)" >&2; exit 2 ;;
esac
set -- --platform "manylinux2014_$arch"
for glibc in 17 24 26 27 28 31 34 35 36; do
  set -- "$@" --platform "manylinux_2_${glibc}_$arch"
done
site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
pip --python /opt/venv/bin/python install --quiet --no-deps --only-binary=:all: --implementation cp --python-version 3.11 \
  --abi cp311 "$@" --target "$site" --requirement "$requirements"
# --target puts the packages' console scripts here; the functions run none of them.
rm -rf "$site/bin"
