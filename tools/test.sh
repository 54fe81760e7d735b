#!/bin/sh
# Builds and runs the whole test suite, as CI does (.ci/run calls this):
#  1. x86-64 (or the host): ASan + UBSan build; ctest runs every kernel test once
#     per ISA level (VIREO_ISA=ref, avx512, amx; levels the CPU lacks are skipped);
#  2. aarch64: cross-compiled, run under qemu-aarch64 (VIREO_TEST_CROSS=0 skips).
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cross=${VIREO_TEST_CROSS:-1}
[ "$(uname -m)" = x86_64 ] || cross=0

if [ "$cross" = 1 ]; then tools/setup.sh --tests --cross; else tools/setup.sh --tests; fi

echo "== host ($(uname -m)), sanitized =="
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIREO_SANITIZE=ON >/dev/null
cmake --build build-test -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-test -j"$jobs" --output-on-failure

if [ "$cross" = 1 ]; then
    echo "== aarch64 under qemu =="
    cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=tools/aarch64-linux-gnu.cmake \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIREO_BENCH=OFF >/dev/null
    cmake --build build-aarch64 -j"$jobs"
    # Under emulation the reference kernels are slow: model tests run their
    # small model only.
    VIREO_TEST_QUICK=1 ctest --test-dir build-aarch64 -j"$jobs" --output-on-failure
fi
