#!/bin/sh
# Text search and unified image + title embeddings, end to end (issue 6, "Search"): a seeded random
# CLIP pair (tests/cli/make_clip_pair.py: a ViT image tower and a CLIP text tower, both 32-d) and
# the Coral MobileNetV1 with that text tower; indexes with and without titles (sum and concat
# fusion), `vireo search` by text, by image and by both, checked against PyTorch + numpy
# (tests/cli/text_check.py: same rankings, scores within 1e-4); `vireo eval grocery`'s text
# protocols recomputed in numpy; and the refusals (no text model, spaces that differ, a model that
# is not a text tower). Random weights: the numbers are near chance and mean nothing; the plumbing
# is what is checked.
# usage: test_text.sh VIREO SOURCE_DIR
set -eu
vireo=$1
src=$2
shared=${VIREO_SHARED_DIR:-$src/../shared}
g=$shared/data/grocery
vocab=$shared/models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz
[ -f "$g/classes.csv" ] && [ -f "$vocab" ] || { echo "no ../shared: skipped"; exit 77; }
/usr/bin/python3 -c "import torch, numpy, regex" 2>/dev/null || {
    echo "no torch / numpy / regex for /usr/bin/python3: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export VIREO_CACHE_DIR="$tmp/cache" VIREO_SHARED_DIR="$shared"
fail() { echo "FAIL: $*"; exit 1; }
check() { /usr/bin/python3 "$src/tests/cli/text_check.py" "$@"; }

/usr/bin/python3 "$src/tests/cli/make_clip_pair.py" "$tmp"
"$vireo" convert "$tmp/vit.safetensors" "$tmp/vit.vwt" > /dev/null
"$vireo" convert "$tmp/text.safetensors" "$tmp/text.vwt" > /dev/null
"$vireo" convert "$shared/models/coral/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite" \
    "$tmp/cnn.vwt" > /dev/null

# 12 iconic images titled with their product names, ids 100..111; two test photos as queries
awk -F, -v d="$g" 'NR > 1 && NR <= 13 { print d $5 "\t" $1 "\t" (98 + NR) }' "$g/classes.csv" > "$tmp/cat.tsv"
q1=$g/$(sed -n 1p "$g/test.txt" | cut -d, -f1)
q2=$g/$(sed -n 400p "$g/test.txt" | cut -d, -f1)
{ cut -f1 "$tmp/cat.tsv"; echo "$q1"; echo "$q2"; } > "$tmp/imgs"
"$vireo" embed -q -m "$tmp/vit.vwt" -o "$tmp/vit.f32" --images "@$tmp/imgs"
"$vireo" embed -q -m "$tmp/cnn.vwt" -o "$tmp/cnn.f32" --images "@$tmp/imgs"

queries() { # INDEX OUT: by text (two phrases), by image, by image + text (given weight)
    "$vireo" search -q -i "$1" -k 12 --json --text "Granny-Smith" --text "a ripe red apple" > "$2"
    "$vireo" search -q -i "$1" -k 12 --json "$q1" "$q2" >> "$2"
    "$vireo" search -q -i "$1" -k 12 --json --text "Pink-Lady" --text-weight 0.3 "$q1" >> "$2"
}

# A: the CLIP pair, image rows only (text -> image search in the shared space)
"$vireo" index build -q -o "$tmp/a.vix" -m "$tmp/vit.vwt" --text-model "$tmp/text.vwt" \
    --catalog "$tmp/cat.tsv" --codes f32
"$vireo" index info "$tmp/a.vix" > "$tmp/a.info"
grep -q "text.fusion = sum" "$tmp/a.info" && grep -q "text.titles = 0$" "$tmp/a.info" \
    && grep -q "text.dim = 32" "$tmp/a.info" || { cat "$tmp/a.info"; fail "text records"; }
queries "$tmp/a.vix" "$tmp/a.jsonl"
echo "index a (CLIP pair, no titles):"
check search "$vocab" "$tmp/text.safetensors" "$tmp/vit.f32" "$tmp/vit.f32.paths" "$tmp/cat.tsv" sum 0 "$tmp/a.jsonl"

# B: the CLIP pair, items = normalise(0.6 image + 0.4 title)
"$vireo" index build -q -o "$tmp/b.vix" -m "$tmp/vit.vwt" --text-model "$tmp/text.vwt" --titles 0.4 \
    --catalog "$tmp/cat.tsv" --codes f32
queries "$tmp/b.vix" "$tmp/b.jsonl"
echo "index b (CLIP pair, titles 0.4, sum):"
check search "$vocab" "$tmp/text.safetensors" "$tmp/vit.f32" "$tmp/vit.f32.paths" "$tmp/cat.tsv" sum 0.4 "$tmp/b.jsonl"

# C: MobileNetV1 (1024-d) + the text tower (32-d): concatenation
"$vireo" index build -q -o "$tmp/c.vix" -m "$tmp/cnn.vwt" --text-model "$tmp/text.vwt" --titles 0.3 \
    --catalog "$tmp/cat.tsv" --codes f32
"$vireo" index info "$tmp/c.vix" | grep -q "text.fusion = concat" || fail "concat by default"
"$vireo" index info "$tmp/c.vix" | grep -q "f32, 1056-d" || fail "concat dimension"
queries "$tmp/c.vix" "$tmp/c.jsonl"
echo "index c (MobileNetV1 + text tower, titles 0.3, concat):"
check search "$vocab" "$tmp/text.safetensors" "$tmp/cnn.f32" "$tmp/cnn.f32.paths" "$tmp/cat.tsv" concat 0.3 "$tmp/c.jsonl"

# an exact title finds its item first in a titled index (identical strings, identical embeddings)
t7=$(sed -n 7p "$tmp/cat.tsv" | cut -f2)
"$vireo" search -q -i "$tmp/c.vix" -k 1 --json --text "$t7" | grep -q '"rank":1,"id":106,' \
    || fail "title query did not find its item"
# int8 + whitening on fused rows, and add: the new item's title finds it
"$vireo" index build -q -o "$tmp/d.vix" -m "$tmp/cnn.vwt" --text-model "$tmp/text.vwt" --titles 0.5 \
    --catalog "$tmp/cat.tsv" --codes int8 --whiten=0 --whiten-dim 8
printf '%s\t%s\n' "$q2" "zebra striped oat milk" > "$tmp/add.tsv"
"$vireo" index add -q -i "$tmp/d.vix" --catalog "$tmp/add.tsv"
"$vireo" search -q -i "$tmp/d.vix" -k 1 --json --text "zebra striped oat milk" "$q2" | grep -q '"id":112,' \
    || fail "added item not found by its image + title"
"$vireo" search -q -i "$tmp/d.vix" -k 3 --json --text "zebra striped oat milk" | grep -q '"rank":3' \
    || fail "text query on a whitened concat index"

# refusals, each with a clear message
"$vireo" index build -q -o "$tmp/e.vix" -m "$tmp/cnn.vwt" --catalog "$tmp/cat.tsv"
if "$vireo" search -q -i "$tmp/e.vix" --text "apple" 2> "$tmp/err"; then fail "text query without a text model"; fi
grep -q "without a text model" "$tmp/err" || { cat "$tmp/err"; fail "message: no text model"; }
if "$vireo" index build -q -o "$tmp/f.vix" -m "$tmp/cnn.vwt" --text-model "$tmp/text.vwt" \
    --catalog "$tmp/cat.tsv" 2> "$tmp/err"; then fail "different spaces without titles accepted"; fi
grep -q "not in the image side's space" "$tmp/err" || { cat "$tmp/err"; fail "message: spaces"; }
if "$vireo" index build -q -o "$tmp/f.vix" -m "$tmp/cnn.vwt" --text-model "$tmp/text.vwt" --titles 0.5 \
    --fusion sum --catalog "$tmp/cat.tsv" 2> "$tmp/err"; then fail "sum of different spaces accepted"; fi
grep -q "in one space" "$tmp/err" || { cat "$tmp/err"; fail "message: sum"; }
if "$vireo" index build -q -o "$tmp/f.vix" -m "$tmp/cnn.vwt" --text-model "$tmp/vit.vwt" --titles 0.5 \
    --catalog "$tmp/cat.tsv" 2> "$tmp/err"; then fail "an image model as the text tower"; fi
grep -q "not a text tower" "$tmp/err" || { cat "$tmp/err"; fail "message: not a text tower"; }
[ ! -e "$tmp/f.vix" ] || fail "a refused build left a file"

# vireo eval grocery on a small GroceryStore (12 classes, 3 test and 3 train photos each): the
# text protocols, recomputed in numpy from vireo embed + torch; sum, then concat of the same pair
mkdir "$tmp/mini"
check mini "$g" "$tmp/mini" 12 3
check list "$tmp/mini" 0 > "$tmp/glist"
"$vireo" embed -q -m "$tmp/vit.vwt" -o "$tmp/gv.f32" --images "@$tmp/glist"
"$vireo" eval grocery -q --data "$tmp/mini" -m "$tmp/vit.vwt" --text-model "$tmp/text.vwt" \
    --titles 0.5 --codes f32 --json > "$tmp/ev1.jsonl"
for p in text-\>catalogue text-\>photo photo-\>unified text-\>unified photo+name-\>unified; do
    grep -q "\"protocol\":\"$p\"" "$tmp/ev1.jsonl" || { cat "$tmp/ev1.jsonl"; fail "no $p row"; }
done
echo "eval (CLIP pair, sum, titles 0.5):"
check eval "$vocab" "$tmp/text.safetensors" "$tmp/gv.f32" "$tmp/gv.f32.paths" "$tmp/mini" 0 "$tmp/ev1.jsonl"
"$vireo" eval grocery -q --data "$tmp/mini" -m "$tmp/vit.vwt" --text-model "$tmp/text.vwt" \
    --fusion concat --titles 0.3 --text-weight 0.6 --codes f32 --json > "$tmp/ev2.jsonl"
grep -q "text->catalogue" "$tmp/ev2.jsonl" && fail "text->catalogue row with concat fusion"
echo "eval (CLIP pair, concat, titles 0.3, text weight 0.6):"
check eval "$vocab" "$tmp/text.safetensors" "$tmp/gv.f32" "$tmp/gv.f32.paths" "$tmp/mini" 0 "$tmp/ev2.jsonl"
# whitened configurations run on fused rows (the fill of a missing block is not recomputed here)
"$vireo" eval grocery -q --data "$tmp/mini" -m "$tmp/vit.vwt" --text-model "$tmp/text.vwt" \
    --fusion concat --titles 0.3 --codes int8 --whiten --whiten-dim 16 --json > "$tmp/ev3.jsonl"
[ "$(grep -c '"fusion":"concat"' "$tmp/ev3.jsonl")" -eq 3 ] || { cat "$tmp/ev3.jsonl"; fail "whitened rows"; }

# one file holding both CLIP towers: -m takes its image tower, --text-model its text tower, each
# converted and cached on its own; the results equal those of the towers converted by hand
"$vireo" convert --tower image "$tmp/clip.safetensors" "$tmp/clip_img.vwt" > /dev/null
"$vireo" convert --tower text "$tmp/clip.safetensors" "$tmp/clip_txt.vwt" > /dev/null
VIREO_CACHE_DIR="$tmp/cache2" "$vireo" index build -q -o "$tmp/g.vix" -m "$tmp/clip.safetensors" \
    --text-model "$tmp/clip.safetensors" --titles 0.4 --catalog "$tmp/cat.tsv" --codes f32
"$vireo" index build -q -o "$tmp/h.vix" -m "$tmp/clip_img.vwt" --text-model "$tmp/clip_txt.vwt" \
    --titles 0.4 --catalog "$tmp/cat.tsv" --codes f32
[ "$(ls "$tmp/cache2" | grep -c '\.vwt$')" -eq 2 ] || { ls "$tmp/cache2"; fail "two cached towers"; }
VIREO_CACHE_DIR="$tmp/cache2" queries "$tmp/g.vix" "$tmp/g.jsonl"
queries "$tmp/h.vix" "$tmp/h.jsonl"
[ -s "$tmp/g.jsonl" ] && cmp -s "$tmp/g.jsonl" "$tmp/h.jsonl" \
    || { diff "$tmp/g.jsonl" "$tmp/h.jsonl" | head; fail "two-tower file vs its towers"; }
if "$vireo" index build -q -o "$tmp/f.vix" -m "$tmp/text.safetensors" --catalog "$tmp/cat.tsv" \
    2> "$tmp/err"; then fail "a text-only file as the image model"; fi
grep -q "no image tower" "$tmp/err" || { cat "$tmp/err"; fail "message: no image tower"; }
echo "text: ok"
