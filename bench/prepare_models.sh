#!/bin/sh
# Prepares the models `vireo-bench models` times (not timed itself).
#
#   bench/prepare_models.sh [--dir DIR] [--vireo PATH] [--no-ort] [--force]
#
# DIR (default $VIREO_BENCH_MODELS, else /tmp/vireo-bench-models) receives:
#   resnet50.{safetensors,onnx,vwt}, mobilenet_v2.{safetensors,onnx,vwt}
#       seeded torchvision models (seed 0, tools/export_safetensors.py random_model), exported
#       by bench/prepare_models.py with Debian's /usr/bin/python3 (python3-torch 1.13,
#       python3-torchvision); ONNX by torch.onnx.export (opset 13, dynamic batch), which in
#       torch 1.13 does not need the `onnx` Python package
#   vit_b_32, vit_b_16, clip_text .{safetensors,onnx,vwt}
#       seeded torchvision ViTs and the CLIP text tower (tools/clip_model.py), the same way
#       (opset 14); <m>-int8.vwt by `vireo convert --dtype int8` (when vireo refuses, its
#       message goes to <m>-int8.vwt.error and vireo-bench puts it in those rows' "error");
#       <m>-dqmm.onnx: ORT's dynamic-int8 form (bench/onnx_dynamic_int8.py, needs
#       python3-onnx: tools/setup.sh --tests), its outputs checked against the f32
#       export's through ORT (cosine per output row, printed)
#   coral-*.vwt       ../shared/models/coral/*.tflite converted (int8 / uint8)
#   nsfwjs-*.vwt      ../shared/models/nsfwjs/*/model.json converted (f32)
#   node_modules/onnxruntime-node   npm install with ONNXRUNTIME_NODE_INSTALL=skip: the package
#       ships its prebuilt linux-x64 binding (bin/napi-v*/linux/x64); checked to load
# --vireo: the vireo CLI used for `vireo convert` (default: build-bm/vireo, else build/vireo).
# --no-ort: skip the npm step. --force: redo files that already exist.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared="$root/../shared/models"
dir=${VIREO_BENCH_MODELS:-/tmp/vireo-bench-models}
vireo=""
ort=1
force=0
ort_version=${VIREO_ORT_VERSION:-1.30.0}
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir=$2; shift 2 ;;
        --vireo) vireo=$2; shift 2 ;;
        --no-ort) ort=0; shift ;;
        --force) force=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "prepare_models.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$vireo" ]; then
    for c in "$root/build-bm/vireo" "$root/build/vireo"; do
        if [ -x "$c" ]; then vireo=$c; break; fi
    done
fi
if [ -z "$vireo" ] || [ ! -x "$vireo" ]; then
    echo "prepare_models.sh: no vireo CLI (build it: cmake --build build --target vireo, or --vireo PATH)" >&2
    exit 1
fi
mkdir -p "$dir"
echo "prepare_models.sh: into $dir (vireo = $vireo)"

need() { [ "$force" = 1 ] || [ ! -s "$1" ]; }
transformers="vit_b_32 vit_b_16 clip_text"

# -- torchvision: safetensors + ONNX from one seeded model, then .vwt
todo=""
for m in resnet50 mobilenet_v2 $transformers; do
    if need "$dir/$m.safetensors" || need "$dir/$m.onnx"; then todo="$todo $m"; fi
done
if [ -n "$todo" ]; then
    # shellcheck disable=SC2086
    /usr/bin/python3 "$here/prepare_models.py" "$dir" $todo
fi
for m in resnet50 mobilenet_v2; do
    if need "$dir/$m.vwt" || [ "$dir/$m.safetensors" -nt "$dir/$m.vwt" ]; then
        "$vireo" convert "$dir/$m.safetensors" "$dir/$m.vwt"
    fi
    # int8 storage (calibrated on GroceryStore train photos, docs/QUANTIZATION.md)
    if need "$dir/$m-int8.vwt" || [ "$dir/$m.safetensors" -nt "$dir/$m-int8.vwt" ]; then
        "$vireo" convert "$dir/$m.safetensors" "$dir/$m-int8.vwt" --dtype int8
    fi
done

# -- transformers: f32 .vwt, int8 .vwt (or the reason there is none), ORT's dynamic int8
for m in $transformers; do
    if need "$dir/$m.vwt" || [ "$dir/$m.safetensors" -nt "$dir/$m.vwt" ]; then
        "$vireo" convert "$dir/$m.safetensors" "$dir/$m.vwt"
    fi
    if need "$dir/$m-int8.vwt" || [ "$dir/$m.safetensors" -nt "$dir/$m-int8.vwt" ]; then
        if "$vireo" convert "$dir/$m.safetensors" "$dir/$m-int8.vwt" --dtype int8 \
                2> "$dir/$m-int8.vwt.log"; then
            rm -f "$dir/$m-int8.vwt.error"
        else
            grep -v '^vireo convert: wrote' "$dir/$m-int8.vwt.log" | tail -n 3 \
                > "$dir/$m-int8.vwt.error"
            echo "prepare_models.sh: no $m-int8.vwt: $(cat "$dir/$m-int8.vwt.error")" >&2
        fi
        rm -f "$dir/$m-int8.vwt.log"
    fi
    if need "$dir/$m-dqmm.onnx" || [ "$dir/$m.onnx" -nt "$dir/$m-dqmm.onnx" ]; then
        /usr/bin/python3 "$here/onnx_dynamic_int8.py" "$dir/$m.onnx" "$dir/$m-dqmm.onnx"
    fi
done

# -- Coral TFLite (int8 / uint8)
for f in "$shared"/coral/*.tflite; do
    [ -e "$f" ] || continue
    b=$(basename "$f" .tflite)
    if need "$dir/coral-$b.vwt"; then
        "$vireo" convert "$f" "$dir/coral-$b.vwt"
    fi
done

# -- nsfwjs TF.js (f32)
for d in "$shared"/nsfwjs/*/; do
    [ -e "$d/model.json" ] || continue
    b=$(basename "$d")
    if need "$dir/nsfwjs-$b.vwt"; then
        "$vireo" convert "$d/model.json" "$dir/nsfwjs-$b.vwt"
    fi
    if need "$dir/nsfwjs-$b-int8.vwt"; then
        "$vireo" convert "$d/model.json" "$dir/nsfwjs-$b-int8.vwt" --dtype int8
    fi
done

# -- onnxruntime-node
if [ "$ort" = 1 ]; then
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
        echo "prepare_models.sh: node/npm not found: the models bench will run without its ONNX Runtime peer" >&2
    else
        [ -f "$dir/package.json" ] || echo '{"name":"vireo-bench-models","private":true}' > "$dir/package.json"
        if [ "$force" = 1 ] || [ ! -f "$dir/node_modules/onnxruntime-node/package.json" ]; then
            (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund \
                "onnxruntime-node@$ort_version")
        fi
        # the binding must load (prebuilt linux-x64 .node + libonnxruntime.so)
        (cd "$dir" && node -e "const o=require('onnxruntime-node'); \
            console.log('prepare_models.sh: onnxruntime-node', o.env.versions.node, 'loads')")
        # ORT's dynamic-int8 form against its f32 form, same input: cosine per output row
        for m in $transformers; do
            [ -s "$dir/$m-dqmm.onnx" ] || continue
            case $m in clip_text) rows=3; feed="--batch 3 --ids 77" ;; *) rows=1; feed="--batch 1" ;; esac
            ok=1
            for f in "$m" "$m-dqmm"; do
                # shellcheck disable=SC2086
                node "$here/ort_bench.mjs" --model "$dir/$f.onnx" $feed --threads 1 --runs 1 \
                    --warmup 0 --ort "$dir/node_modules/onnxruntime-node" \
                    --dump "$dir/$f.out.f32" > "$dir/$f.out.json" || ok=0
            done
            if [ "$ok" = 1 ]; then
                /usr/bin/python3 "$here/onnx_dynamic_int8.py" --cosine "$dir/$m.out.f32" \
                    "$dir/$m-dqmm.out.f32" "$rows" "$m: ORT dynamic int8 vs f32"
            else
                echo "prepare_models.sh: $m: ORT could not run $m.onnx or $m-dqmm.onnx:" \
                    "$(cat "$dir/$m.out.json" "$dir/$m-dqmm.out.json")" >&2
            fi
            rm -f "$dir/$m.out.f32" "$dir/$m-dqmm.out.f32" "$dir/$m.out.json" "$dir/$m-dqmm.out.json"
        done
    fi
fi
echo "prepare_models.sh: done"
ls -l "$dir"/*.vwt "$dir"/*.onnx
