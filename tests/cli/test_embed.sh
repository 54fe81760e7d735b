#!/bin/sh
# vireo embed through the pipeline: --images DIR, --images @LIST (relative
# paths resolved against the list's directory) and IMAGE arguments give the
# same rows; thread and batch settings do not change a byte; OUT.paths names
# each row; broken images are reported and skipped; nothing usable = exit 1
# and no output file; an OUT that is not a regular file is refused.
# usage: test_embed.sh VIREO SOURCE_DIR
set -eu
vireo=$1
src=$2
shared=${VIREO_SHARED_DIR:-$src/../shared}
g=$shared/data/grocery
tflite=$shared/models/coral/mobilenet_v1_0.25_128_quant.tflite
[ -f "$tflite" ] && [ -d "$g/test" ] || { echo "no ../shared: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$vireo" convert "$tflite" "$tmp/m.vwt" >/dev/null 2>&1
D=1001

# 12 photos in a tree (copies: the walk is checked, not the shared layout),
# plus a broken JPEG, a non-image file and a hidden file.
mkdir -p "$tmp/img/a" "$tmp/img/b"
i=0
for f in $(sed -n 's/,.*//p' "$g/test.txt" | awk 'NR % 200 == 1' | head -12); do
    i=$((i + 1))
    case $((i % 3)) in 0) d=a ;; 1) d=b ;; *) d= ;; esac
    cp "$g/$f" "$tmp/img/$d/p$(printf %02d $i).JPG"
done
printf 'not a jpeg' > "$tmp/img/a/broken.jpg"
printf 'notes' > "$tmp/img/readme.txt"
cp "$tmp/img/p02.JPG" "$tmp/img/.hidden.jpg"

"$vireo" embed -q -m "$tmp/m.vwt" -o "$tmp/dir.f32" --images "$tmp/img" 2>"$tmp/dir.err" \
    || { cat "$tmp/dir.err"; fail "embed --images DIR"; }
grep -q "skipped $tmp/img/a/broken.jpg: " "$tmp/dir.err" || { cat "$tmp/dir.err"; fail "broken image not reported"; }
grep -q "N=12 D=$D (12 of 13 images, 1 skipped)" "$tmp/dir.err" || { cat "$tmp/dir.err"; fail "summary"; }
[ "$(wc -c < "$tmp/dir.f32")" -eq $((12 * D * 4)) ] || fail "size of OUT"
[ "$(wc -l < "$tmp/dir.f32.paths")" -eq 12 ] || fail "lines of OUT.paths"
grep -q hidden "$tmp/dir.f32.paths" && fail "hidden file listed"
# the walk is sorted byte-wise: a/..., b/..., then the top-level files
LC_ALL=C sort -c "$tmp/dir.f32.paths" || fail "OUT.paths not sorted"
[ ! -e "$tmp/dir.f32.part" ] || fail "a .part file was left behind"

# the same rows from a list with relative paths (the list's directory is the base)
sed "s|^$tmp/img/||" "$tmp/dir.f32.paths" > "$tmp/img/list.txt"
printf '# a comment\n\n' >> "$tmp/img/list.txt"
"$vireo" embed -q -m "$tmp/m.vwt" -o "$tmp/list.f32" --images "@$tmp/img/list.txt" 2>"$tmp/list.err" \
    || { cat "$tmp/list.err"; fail "embed --images @LIST"; }
cmp "$tmp/dir.f32" "$tmp/list.f32" || fail "list rows differ from the directory's"
cmp "$tmp/dir.f32.paths" "$tmp/list.f32.paths" || fail "list paths differ"

# and from arguments, with other thread / batch / lane settings and the pread loader
for opts in "-t 1 -b 1" "-t 2 -b 3" "-t 2 -b 8 --lanes 1" "-t 2 -b 2 --pread --memory 1"; do
    # shellcheck disable=SC2086
    "$vireo" embed -q $opts -m "$tmp/m.vwt" -o "$tmp/args.f32" $(cat "$tmp/dir.f32.paths") \
        2>"$tmp/args.err" || { cat "$tmp/args.err"; fail "embed $opts"; }
    cmp "$tmp/dir.f32" "$tmp/args.f32" || fail "rows differ with $opts"
done

# a row is the model's output for that image alone
"$vireo" embed -q -m "$tmp/m.vwt" -o "$tmp/one.f32" "$(sed -n 5p "$tmp/dir.f32.paths")" 2>/dev/null
dd if="$tmp/dir.f32" bs=$((D * 4)) skip=4 count=1 2>/dev/null | cmp - "$tmp/one.f32" || fail "row 5"

# nothing usable: exit 1, no output left
if "$vireo" embed -q -m "$tmp/m.vwt" -o "$tmp/none.f32" "$tmp/img/a/broken.jpg" "$tmp/missing.jpg" \
    2>"$tmp/none.err"; then fail "exit 0 without any image"; fi
grep -q "skipped $tmp/missing.jpg: open" "$tmp/none.err" || { cat "$tmp/none.err"; fail "missing file message"; }
[ ! -e "$tmp/none.f32" ] && [ ! -e "$tmp/none.f32.part" ] && [ ! -e "$tmp/none.f32.paths" ] \
    || fail "output written without any image"

# an OUT that is not a regular file is refused, not replaced by a rename
mkfifo "$tmp/fifo"
if "$vireo" embed -q -m "$tmp/m.vwt" -o "$tmp/fifo" "$tmp/img/p01.JPG" 2>"$tmp/fifo.err"; then
    fail "embed onto a FIFO"
fi
[ -p "$tmp/fifo" ] || fail "the FIFO was replaced"
grep -q "not a regular file" "$tmp/fifo.err" || { cat "$tmp/fifo.err"; fail "FIFO message"; }

# bad arguments
if "$vireo" embed -m "$tmp/m.vwt" -o "$tmp/x.f32" --images "$tmp/nodir" 2>"$tmp/bad.err"; then fail "missing dir"; fi
grep -q "nodir" "$tmp/bad.err" || fail "missing dir message"
if "$vireo" embed -m "$tmp/m.vwt" -o "$tmp/x.f32" -b 0 "$tmp/img/p01.JPG" 2>/dev/null; then fail "-b 0"; fi
echo "ok"
