#!/bin/sh
# The main job: index the GroceryStore catalogue from ../shared and answer its
# test photos.
#   1. build a catalogue list: the 81 products' iconic images and the 2,640
#      train photos, each titled with its product name
#   2. vireo index build: embed them (Coral MobileNetV1 embedding extractor,
#      converted from ../shared on first use) into an int8 index with an f16
#      re-scoring copy, with a progress line
#   3. vireo search: a few test photos, top 5 each
#   4. vireo eval grocery: every test photo against the catalogue (photo ->
#      iconic image) and against the train photos, Recall@1/5/10, MAR@10, mAP,
#      with f32, int8 and int4 codes, each also with the f16 shortlist re-scored
#      as vireo search does (40 = 4·k at k = 10), and the throughput
# Usage: tools/demo.sh [BUILD_DIR]   (default: build). VIREO_SHARED_DIR
# overrides ../shared; outputs go to BUILD_DIR/demo.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
shared=$(cd "${VIREO_SHARED_DIR:-$here/../shared}" 2>/dev/null && pwd) || {
    echo "demo.sh: no ../shared beside the repository (set VIREO_SHARED_DIR)" >&2; exit 1; }
data=$shared/data/grocery
out=$build/demo
vireo=$build/vireo
[ -x "$vireo" ] || { echo "demo.sh: $vireo not built" >&2; exit 1; }
[ -f "$data/classes.csv" ] || { echo "demo.sh: no GroceryStore data at $data (set VIREO_SHARED_DIR)" >&2; exit 1; }
mkdir -p "$out"
export VIREO_SHARED_DIR="$shared"

# 1. catalogue: path<TAB>title, products first
awk -F, -v d="$data" 'NR > 1 { print d $5 "\t" $1 }' "$data/classes.csv" > "$out/catalogue.tsv"
awk -F, -v d="$data" 'NR == FNR { if (FNR > 1) name[$2 + 0] = $1; next }
    { gsub(/ /, "", $2); print d "/" $1 "\t" name[$2 + 0] }' \
    "$data/classes.csv" "$data/train.txt" >> "$out/catalogue.tsv"
echo "== catalogue: $(wc -l < "$out/catalogue.tsv") images ($out/catalogue.tsv)"

# 2. index
echo "== vireo index build"
"$vireo" index build -o "$out/grocery.vix" --catalog "$out/catalogue.tsv" --codes int8
"$vireo" index info "$out/grocery.vix" | head -4

# 3. a few queries
echo "== vireo search (3 test photos, top 5)"
"$vireo" search -i "$out/grocery.vix" -k 5 \
    "$data/test/Fruit/Banana/Banana_001.jpg" \
    "$data/test/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_001.jpg" \
    "$data/test/Vegetables/Tomato/Regular-Tomato/Regular-Tomato_001.jpg"

# 4. the metrics
echo "== vireo eval grocery (all 2,485 test photos)"
"$vireo" eval grocery --codes f32,int8,int4 --rescore 0,40
