#!/bin/sh
# How much faster could the fused attention be without its softmax exponentials
# and its K/V packing? An upper bound, measured: three copies of the whole-row
# kernel (kernels/avx512/attention_f32_full.c) in one process, alternating
# (bench/ceiling/attention_ceiling.c):
#   v0 the kernel itself (checked bit for bit against the library's dispatch),
#   v1 the exponentials replaced by one add,
#   v2 v1 with K/V packed for the first head only.
# v1 and v2 compute wrong results by design: they are bounds, not kernels.
# Then `vireo-bench kernels --filter attention` in the same run, and for each
# shape the ratio to oneDNN that v2's speed would give: ratio × v0/v2.
#
#   bench/ceiling/attention_ceiling.sh [BUILD_DIR] [ROUNDS]     (default build, 9)
# Needs an x86-64 CPU with AVX-512 and BUILD_DIR's libvireo_kernels.a and
# vireo-bench (cmake --build BUILD_DIR). Not part of the test suite.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
rounds=${2:-9}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src="$root/kernels/avx512/attention_f32_full.c"
# word-split on purpose: one flag per word
flags="-O3 -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni -mavx2 -mfma -mbmi2 -mf16c"

# variant NAME SED_SCRIPT: the kernel source with its entry renamed and SED applied
variant() {
    sed "s/vk_attention_f32_full_avx512/ceiling_$1/; $2" "$src" >"$tmp/$1.c"
    # shellcheck disable=SC2086
    gcc $flags -I"$root" -I"$root/include" -I"$root/kernels/avx512" -c "$tmp/$1.c" -o "$tmp/$1.o"
}
# the kernel moved on if these no longer hold: update this script
fail() {
    echo "attention_ceiling: $1 in $src; update this script" >&2
    exit 1
}
grep -q "exp2_nonpos(" "$src" || fail "no exp2_nonpos( call"
grep -q "if (ws.bh != bh) {" "$src" || fail "no per-head K/V packing test"
variant v0 ""
noexp='s/exp2_nonpos(/ceiling_exp(/g; s|^#include "attention_f32.h"|&\nstatic inline __m512 ceiling_exp(__m512 x) { return _mm512_add_ps(x, _mm512_set1_ps(300.0f)); }|'
variant v1 "$noexp"
variant v2 "$noexp; s/if (ws.bh != bh) {/if (ws.bh < 0) {/"
for v in v1 v2; do
    ! grep -q "exp2_nonpos" "$tmp/$v.c" || fail "exp2_nonpos still reachable from $v"
done
grep -q "if (ws.bh < 0) {" "$tmp/v2.c" || fail "K/V packing not removed from v2"
# shellcheck disable=SC2086
gcc $flags -I"$root" -I"$root/include" "$root/bench/ceiling/attention_ceiling.c" "$tmp/v0.o" "$tmp/v1.o" \
    "$tmp/v2.o" "$build/libvireo_kernels.a" -lm -o "$tmp/attention_ceiling"

for s in "197 64" "257 64" "197 80" "257 80"; do
    # shellcheck disable=SC2086
    "$tmp/attention_ceiling" $s "$rounds" | tee -a "$tmp/ceiling.txt"
done
"$build/vireo-bench" kernels --filter attention --threads 1 --runs 5 | tee "$tmp/bench.txt"
echo "ratio to oneDNN now, and at v2's speed (no exponentials, no K/V packing):"
awk 'FNR == NR { split($1, l, "L"); split($2, d, "D"); key = "L" l[2] " D" d[2]; up[key] = $NF; next }
     $1 == "attention" && $3 == "12h" { key = $4 " " $5; if (key in up)
         printf "  %s %s: %.2f -> %.2f\n", $4, $5, $(NF - 3), $(NF - 3) * up[key] }' \
    "$tmp/ceiling.txt" "$tmp/bench.txt"
