#!/bin/sh
# vireo index build / add / rm / info and vireo search, end to end on real
# GroceryStore images: an indexed image finds itself first, removed items stop
# being found, added ones start, the ids and titles survive every save, and a
# damaged index file is refused with a clear message while the good one stays.
# usage: test_index.sh VIREO
set -eu
vireo=$1
src=$2
shared=${VIREO_SHARED_DIR:-$src/../shared}
g=$shared/data/grocery
[ -f "$g/classes.csv" ] || { echo "no ../shared: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export VIREO_CACHE_DIR="$tmp/cache" VIREO_SHARED_DIR="$shared"
fail() { echo "FAIL: $*"; exit 1; }

# 12 iconic images with titles and explicit ids 100..111
awk -F, -v d="$g" 'NR > 1 && NR <= 13 { print d $5 "\t" $1 "\t" (98 + NR) }' "$g/classes.csv" > "$tmp/cat.tsv"
first=$(head -1 "$tmp/cat.tsv" | cut -f1)
title1=$(head -1 "$tmp/cat.tsv" | cut -f2)
"$vireo" index build -q -o "$tmp/a.vix" --catalog "$tmp/cat.tsv" --codes int8
"$vireo" index info "$tmp/a.vix" --verify > "$tmp/info"
grep -q "rows       12 (12 live" "$tmp/info" || { cat "$tmp/info"; fail "info rows"; }

# an indexed image finds itself first, with its id and title, score ~1
"$vireo" search -q -i "$tmp/a.vix" -k 3 --json "$first" > "$tmp/s1"
grep -q "\"rank\":1,\"id\":100,\"score\":0.99[0-9]*,\"title\":\"$title1\"" "$tmp/s1" \
    || grep -q "\"rank\":1,\"id\":100,\"score\":1.0[0-9]*,\"title\":\"$title1\"" "$tmp/s1" \
    || { cat "$tmp/s1"; fail "self match"; }

# rm: gone from results; unknown ids are reported
"$vireo" index rm -i "$tmp/a.vix" 100 2>"$tmp/rm.err" || fail "rm"
"$vireo" search -q -i "$tmp/a.vix" -k 11 --json "$first" > "$tmp/s2"
grep -q '"id":100,' "$tmp/s2" && fail "deleted id still found"
[ "$(grep -o '"rank"' "$tmp/s2" | wc -l)" -eq 11 ] || fail "expected the 11 live rows"
if "$vireo" index rm -i "$tmp/a.vix" 424242 2>"$tmp/rm2.err"; then fail "rm of unknown id succeeded"; fi
grep -q "424242 is not in the index" "$tmp/rm2.err" || fail "unknown id message"

# add it back (new id, counting up), then compact
printf '%s\t%s\n' "$first" "again" > "$tmp/add.tsv"
"$vireo" index add -q -i "$tmp/a.vix" --catalog "$tmp/add.tsv"
"$vireo" search -q -i "$tmp/a.vix" -k 1 --json "$first" > "$tmp/s3"
grep -q '"id":112,.*"title":"again"' "$tmp/s3" || { cat "$tmp/s3"; fail "added item"; }
"$vireo" index rm -q -i "$tmp/a.vix" --compact 2>/dev/null || true
"$vireo" index info "$tmp/a.vix" --verify | grep -q "rows       12 (12 live, 0 deleted)" || fail "compact"

# int4 and f32 indexes, whitening fitted on the catalogue itself
"$vireo" index build -q -o "$tmp/b.vix" --catalog "$tmp/cat.tsv" --codes int4 --whiten=0 --whiten-dim 8
"$vireo" index info "$tmp/b.vix" | grep -q "int4, 8-d" || fail "int4 + pca"
"$vireo" search -q -i "$tmp/b.vix" -k 1 --json "$first" | grep -q '"id":100,' || fail "int4 self match"

# a damaged file is refused clearly; the good one is untouched
cp "$tmp/a.vix" "$tmp/c.vix"
size=$(wc -c < "$tmp/c.vix")
head -c $((size / 2)) "$tmp/a.vix" > "$tmp/c.vix"
if "$vireo" search -q -i "$tmp/c.vix" "$first" 2>"$tmp/c.err"; then fail "truncated index accepted"; fi
grep -qi "truncated\|past the file\|too short" "$tmp/c.err" || { cat "$tmp/c.err"; fail "truncation message"; }
printf 'garbage' > "$tmp/d.vix"
if "$vireo" index info "$tmp/d.vix" 2>"$tmp/d.err"; then fail "garbage accepted"; fi
"$vireo" index info "$tmp/a.vix" --verify > /dev/null || fail "good index damaged"
echo "index: ok"
