#!/bin/sh
# vireo eval ukbench on the 1,000 images vs an independent numpy
# computation over `vireo embed`'s raw embeddings (tests/cli/eval_check.py).
# usage: test_eval.sh VIREO SOURCE_DIR
set -eu
vireo=$1
src=$2
shared=${VIREO_SHARED_DIR:-$src/../shared}
[ -d "$shared/data/ukbench1000" ] || { echo "no ../shared: skipped"; exit 77; }
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "no numpy for /usr/bin/python3: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export VIREO_CACHE_DIR="$tmp/cache" VIREO_SHARED_DIR="$shared"
"$vireo" convert "$shared/models/coral/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite" "$tmp/m.vwt"
tail -n +2 "$shared/data/ukbench1000/gt.tsv" | cut -f1 | sed "s|^|$shared/data/ukbench1000/images/|" > "$tmp/list"
"$vireo" embed -q -m "$tmp/m.vwt" -o "$tmp/u.f32" --images "@$tmp/list"
"$vireo" eval ukbench -m "$tmp/m.vwt" --codes f32,int8,int4 --rescore 0,40 --json -q > "$tmp/eval.jsonl"
cat "$tmp/eval.jsonl"
n=$(grep -c "\"queries\":1000" "$tmp/eval.jsonl")
[ "$n" -eq 5 ] || { echo "expected 5 rows over 1000 queries (f32; int8, int4 with and without re-scoring), got $n"; exit 1; }
[ "$(grep -c '"rescore":40' "$tmp/eval.jsonl")" -eq 2 ] || { echo "expected 2 re-scored rows"; exit 1; }
/usr/bin/python3 "$src/tests/cli/eval_check.py" "$tmp/u.f32" "$tmp/u.f32.paths" \
    "$shared/data/ukbench1000/gt.tsv" "$tmp/eval.jsonl"
# the retrieval switches run and keep the output well-formed
"$vireo" eval ukbench -m "$tmp/m.vwt" --limit 40 --codes int8 --sweep --json -q > "$tmp/sweep.jsonl"
[ "$(grep -c '"ns_score"' "$tmp/sweep.jsonl")" -eq 5 ] || { cat "$tmp/sweep.jsonl"; exit 1; }
# a damaged embedding cache is ignored and rebuilt: same results
for f in "$tmp"/cache/emb-*.bin; do head -c 100 "$f" > "$f.cut" && mv "$f.cut" "$f"; done
"$vireo" eval ukbench -m "$tmp/m.vwt" --limit 40 --codes int8 --sweep --json -q > "$tmp/sweep2.jsonl"
sed 's/"embed_images_per_s":[0-9.]*,"search_queries_per_s":[0-9.]*//' "$tmp/sweep.jsonl" > "$tmp/a"
sed 's/"embed_images_per_s":[0-9.]*,"search_queries_per_s":[0-9.]*//' "$tmp/sweep2.jsonl" > "$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || { echo "results changed after the cache was damaged"; diff "$tmp/a" "$tmp/b"; exit 1; }
echo "eval: ok"
