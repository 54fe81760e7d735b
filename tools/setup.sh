#!/bin/sh
# Installs every Debian package vireo needs. Idempotent: installs only what is
# missing, so a second run does nothing. Runs as root (CI, containers) or
# through sudo when there is one.
#   tools/setup.sh          build, run, kernel benchmarks
#   tools/setup.sh --tests  also the independent references the tests compare
#                           against (Debian's PyTorch/torchvision; bench/prepare_models.sh too,
#                           with python3-onnx for the dynamic-int8 ONNX models)
#   tools/setup.sh --cross  also the aarch64 cross toolchain, qemu and arm64 libraries
set -eu

PKGS="gcc g++ make cmake pkg-config libdnnl-dev libfaiss-dev libopenblas0-pthread liburing-dev libturbojpeg0-dev libspng-dev libcmocka-dev zlib1g-dev"
TEST_PKGS="python3-torch python3-torchvision python3-numpy python3-pil python3-regex python3-onnx"
CROSS_PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libc6:arm64 libcmocka-dev:arm64 libturbojpeg0-dev:arm64 liburing-dev:arm64 libspng-dev:arm64 zlib1g-dev:arm64"

want="$PKGS"
cross=0
for arg in "$@"; do
    case "$arg" in
    --cross) cross=1; want="$want $CROSS_PKGS" ;;
    --tests) want="$want $TEST_PKGS" ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -eq 0 ]; then
    SUDO=
elif command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
else
    echo "setup.sh: needs root (or sudo) to install packages" >&2
    exit 1
fi

if [ "$cross" -eq 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
fi

missing=
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "setup.sh: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
echo "setup.sh: all packages present" >&2
