#!/bin/sh
# ctest bench.models_smoke: the transformer rows of `vireo-bench models` on toy models.
#
#   bench/models_smoke.sh VIREO VIREO_BENCH
#
# Exports vit_tiny and clip_text_tiny (bench/prepare_models.py; Debian's python3-torch),
# converts them (f32; int8 too, or the reason vireo refuses, as prepare_models.sh does),
# rewrites the ONNX files into ORT's dynamic-int8 form when python3-onnx is there, and runs
#   vireo-bench models --filter tiny --batch 1,2 --threads 1 --runs 1 --json
# Checks: every (model, dtype, batch) has its row, each either timed or carrying "error";
# the attention_share rows are there for both f32 models; no output mismatch against ONNX
# Runtime (when onnxruntime-node is in $VIREO_BENCH_MODELS or /tmp/vireo-bench-models,
# which bench/prepare_models.sh installs; without it the rows have "baseline":null); then
# vit_tiny with --rounds 3 (paired ratios from one ORT server process).
# Speed is never asserted. Exit 77 (skip) without torch.
set -u
vireo=$1
bench=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
if ! "$py" -c "import torch, torchvision" 2>/dev/null; then
    echo "models_smoke: no python3-torch / torchvision (tools/setup.sh --tests): skipped"
    exit 77
fi
dir=$(mktemp -d /tmp/vireo-models-smoke.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
fail() { echo "models_smoke: FAIL: $*"; exit 1; }

"$py" "$here/prepare_models.py" "$dir" vit_tiny clip_text_tiny > "$dir/export.log" 2>&1 ||
    { cat "$dir/export.log"; fail "export"; }
for m in vit_tiny clip_text_tiny; do
    "$vireo" convert "$dir/$m.safetensors" "$dir/$m.vwt" || fail "vireo convert $m"
    if ! "$vireo" convert "$dir/$m.safetensors" "$dir/$m-int8.vwt" --dtype int8 \
            --calib-n 4 2> "$dir/$m-int8.log"; then
        tail -n 3 "$dir/$m-int8.log" > "$dir/$m-int8.vwt.error"
        echo "models_smoke: $m int8 refused: $(cat "$dir/$m-int8.vwt.error")"
    fi
    if "$py" -c "import onnx" 2>/dev/null; then
        "$py" "$here/onnx_dynamic_int8.py" "$dir/$m.onnx" "$dir/$m-dqmm.onnx" ||
            fail "onnx_dynamic_int8.py $m"
    fi
done
ort=${VIREO_BENCH_MODELS:-/tmp/vireo-bench-models}/node_modules
have_ort=0
if [ -f "$ort/onnxruntime-node/package.json" ] && command -v node > /dev/null 2>&1; then
    ln -s "$ort" "$dir/node_modules" && have_ort=1
fi

"$bench" models --dir "$dir" --filter tiny --batch 1,2 --threads 1 --runs 1 --warmup 0 \
    --json > "$dir/rows.jsonl" 2> "$dir/bench.log"
rc=$?
cat "$dir/rows.jsonl"
[ "$rc" = 0 ] || { cat "$dir/bench.log"; fail "vireo-bench models exit $rc"; }
if grep -q 'AddressSanitizer\|runtime error' "$dir/bench.log"; then
    cat "$dir/bench.log"
    fail "sanitizer report"
fi
grep -q '"check":"mismatch"' "$dir/rows.jsonl" && fail "output differs from ONNX Runtime's"
for m in vit_tiny clip_text_tiny; do
    for dt in f32 int8; do
        for b in 1 2; do
            line=$(grep "\"model\":\"$m\",\"dtype\":\"$dt\",\"batch\":$b,\"threads\":1,\"isa\"" \
                "$dir/rows.jsonl") || fail "no row for $m $dt batch $b"
            case $line in
                *'"ms_per_image":null'*) echo "$line" | grep -q '"error":"' ||
                    fail "$m $dt batch $b: neither a time nor an error" ;;
            esac
            if [ "$dt" = f32 ] && [ "$have_ort" = 1 ]; then
                echo "$line" | grep -q '"check":"ok"' || fail "$m f32 batch $b: not checked ok"
            fi
        done
    done
    grep -q "\"model\":\"$m\",\"dtype\":\"f32\",\"batch\":1,\"threads\":1,\"metric\":\"attention_share\"" \
        "$dir/rows.jsonl" || fail "no attention_share row for $m"
done
# --rounds: one long-lived ORT peer per row (ort_bench.mjs --serve), rounds paired
"$bench" models --dir "$dir" --filter vit_tiny --batch 1 --threads 1 --runs 1 --warmup 0 \
    --rounds 3 --json > "$dir/rounds.jsonl" 2> "$dir/rounds.log" ||
    { cat "$dir/rounds.log"; fail "vireo-bench models --rounds exit"; }
cat "$dir/rounds.jsonl"
if [ "$have_ort" = 1 ]; then
    line=$(grep '"model":"vit_tiny","dtype":"f32","batch":1' "$dir/rounds.jsonl") ||
        fail "--rounds: no vit_tiny f32 row"
    echo "$line" | grep -q '"rounds":3,"ratio_min":' || fail "--rounds: no paired ratios"
    echo "$line" | grep -q '"check":"ok"' || fail "--rounds: output not checked ok"
    grep -q 'no ORT server' "$dir/rounds.log" && { cat "$dir/rounds.log"; fail "--rounds: no server"; }
fi
echo "models_smoke: ok (ONNX Runtime: $([ "$have_ort" = 1 ] && echo yes || echo no))"
