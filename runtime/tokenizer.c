/* CLIP's BPE tokenizer: loading the merges file and encoding text
 * (runtime/tokenizer.h). Text clean-up and pre-tokenisation are in
 * tokenizer_text.c.
 *
 * Symbols are what CLIP's are: strings of bytes_to_unicode characters, "</w>"
 * appended at a word's end. Each is represented by its vocabulary id, which is
 * a function of the string (CLIP's encoder dict keeps the last index of a
 * string that occurs twice; so does this one), so merge ranks, keyed in CLIP
 * by pairs of strings, are keyed here by pairs of ids. */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/errmsg.h"
#include "tokenizer_internal.h"

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

#define N_MERGES (49152 - 256 - 2) /* CLIP: merges = lines[1 : 49152 - 256 - 2 + 1] */
#define VOCAB (512 + N_MERGES + 2)
#define MAX_SYMBOL 1024 /* bytes of one merge part: CLIP's longest is 65 */
#define VHASH (1u << 17) /* power of two, > 2 × VOCAB */
#define PHASH (1u << 17) /* power of two, > 2 × N_MERGES */

typedef struct {
    uint64_t key; /* left id << 32 | right id; UINT64_MAX empty */
    int32_t rank, merged;
} pair_slot;

struct vr_tokenizer {
    char *pool; /* the vocabulary's strings, back to back */
    uint32_t off[VOCAB], len[VOCAB];
    int32_t vhash[VHASH]; /* string → id, -1 empty */
    pair_slot phash[PHASH];
    int32_t byte_id[256], byte_end_id[256]; /* bytes_to_unicode(b), and with "</w>" */
    int32_t sot, eot;
};

/* ------------------------------------------------------------ hashing ---- */
static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int32_t vocab_find(const vr_tokenizer *t, const char *s, size_t n)
{
    for (uint32_t h = fnv1a(s, n) & (VHASH - 1);; h = (h + 1) & (VHASH - 1)) {
        int32_t id = t->vhash[h];
        if (id < 0)
            return -1;
        if (t->len[id] == n && !memcmp(t->pool + t->off[id], s, n))
            return id;
    }
}

/* id's string is already in the pool; a later id replaces an earlier one
 * with the same string (CLIP's dict(zip(vocab, range(len(vocab))))). */
static void vocab_insert(vr_tokenizer *t, int32_t id)
{
    const char *s = t->pool + t->off[id];
    size_t n = t->len[id];
    for (uint32_t h = fnv1a(s, n) & (VHASH - 1);; h = (h + 1) & (VHASH - 1)) {
        int32_t o = t->vhash[h];
        if (o < 0 || (t->len[o] == n && !memcmp(t->pool + t->off[o], s, n))) {
            t->vhash[h] = id;
            return;
        }
    }
}

static uint32_t pair_hash(uint64_t key)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 47) & (PHASH - 1);
}

static const pair_slot *pair_find(const vr_tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint32_t h = pair_hash(key);; h = (h + 1) & (PHASH - 1)) {
        const pair_slot *s = &t->phash[h];
        if (s->key == key)
            return s;
        if (s->key == UINT64_MAX)
            return NULL;
    }
}

/* A later rank replaces an earlier one for the same pair (CLIP's bpe_ranks). */
static void pair_insert(vr_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t merged)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint32_t h = pair_hash(key);; h = (h + 1) & (PHASH - 1)) {
        pair_slot *s = &t->phash[h];
        if (s->key == key || s->key == UINT64_MAX) {
            *s = (pair_slot){key, rank, merged};
            return;
        }
    }
}

/* --------------------------------------------------------------- gzip ---- */
static int gunzip(const uint8_t *gz, size_t len, uint8_t **outp, size_t *outlen, char *err,
                  size_t errlen)
{
    if (len > VR_TOKENIZER_MAX_FILE)
        FAIL("compressed file of %zu bytes is over the limit of %zu", len, VR_TOKENIZER_MAX_FILE);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) /* 16: gzip wrapper, CRC and length checked */
        FAIL("zlib: inflateInit2 failed");
    size_t cap = (size_t)1 << 22;
    uint8_t *out = malloc(cap);
    if (!out) {
        inflateEnd(&s);
        FAIL("out of memory");
    }
    s.next_in = (Bytef *)(uintptr_t)gz;
    s.avail_in = (uInt)len;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    for (;;) {
        if (s.avail_out == 0) {
            size_t used = cap;
            if (cap >= VR_TOKENIZER_MAX_FILE) {
                free(out);
                inflateEnd(&s);
                FAIL("inflates to more than %zu bytes", VR_TOKENIZER_MAX_FILE);
            }
            cap *= 2;
            uint8_t *q = realloc(out, cap);
            if (!q) {
                free(out);
                inflateEnd(&s);
                FAIL("out of memory");
            }
            out = q;
            s.next_out = out + used;
            s.avail_out = (uInt)(cap - used);
        }
        int rc = inflate(&s, Z_NO_FLUSH);
        if (rc == Z_OK || (rc == Z_BUF_ERROR && s.avail_out == 0))
            continue;
        if (rc == Z_STREAM_END) {
            if (s.avail_in == 0)
                break;
            /* Another gzip member follows (gzip.open reads them all); anything
             * else after a member is refused. */
            if (s.avail_in < 2 || s.next_in[0] != 0x1f || s.next_in[1] != 0x8b) {
                free(out);
                inflateEnd(&s);
                FAIL("%u bytes after the gzip stream are not a gzip member", s.avail_in);
            }
            inflateReset(&s);
            continue;
        }
        const char *why = rc == Z_BUF_ERROR ? "truncated gzip stream" : s.msg ? s.msg : "error";
        size_t at = len - s.avail_in;
        free(out);
        inflateEnd(&s);
        FAIL("gzip: %s (at compressed byte %zu)", why, at);
    }
    *outlen = cap - s.avail_out;
    inflateEnd(&s);
    *outp = out;
    return 0;
}

/* Offset of the first byte that is not part of well-formed UTF-8, or len. */
static size_t utf8_valid_prefix(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int ok;
        size_t k = vr_tok_utf8_one(s + i, len - i, &cp, &ok);
        if (!ok)
            return i;
        i += k;
    }
    return len;
}

/* ------------------------------------------------------------ loading ---- */
static int add_string(vr_tokenizer *t, size_t *used, size_t cap, int32_t id, const char *a,
                      size_t na, const char *b, size_t nb)
{
    if (*used + na + nb > cap)
        return -1;
    memcpy(t->pool + *used, a, na);
    memcpy(t->pool + *used + na, b, nb);
    t->off[id] = (uint32_t)*used;
    t->len[id] = (uint32_t)(na + nb);
    *used += na + nb;
    return 0;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * other 68 to U+0100 onwards in byte order; the vocabulary lists them in the
 * dict's order (the printable ones first). */
static int byte_order(uint32_t order_cp[256], uint8_t order_byte[256])
{
    int k = 0, extra = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            order_byte[k] = (uint8_t)b;
            order_cp[k++] = (uint32_t)b;
        }
    for (int b = 0; b < 256; b++)
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
            order_byte[k] = (uint8_t)b;
            order_cp[k++] = 256 + (uint32_t)extra++;
        }
    return k;
}

typedef struct {
    const char *a, *b;
    size_t na, nb;
} merge_line;

/* Line `lineno` (1-based): exactly two non-empty symbols, one ASCII space
 * between them, no other whitespace (Python's str.split() would split there,
 * so refusing keeps both readings equal). */
static int parse_merge(const char *s, size_t n, int lineno, merge_line *m, char *err, size_t errlen)
{
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp == s + n - 1)
        FAIL("merges line %d: expected two symbols separated by one space", lineno);
    m->a = s;
    m->na = (size_t)(sp - s);
    m->b = sp + 1;
    m->nb = n - m->na - 1;
    if (m->na > MAX_SYMBOL || m->nb > MAX_SYMBOL)
        FAIL("merges line %d: symbol longer than %d bytes", lineno, MAX_SYMBOL);
    uint32_t cps[2 * MAX_SYMBOL + 1];
    size_t nc = vr_tok_utf8_decode((const uint8_t *)s, n, cps), spaces = 0;
    for (size_t i = 0; i < nc; i++)
        if (vr_uc_is_space(cps[i]) || cps[i] < 0x20 || cps[i] == 0x7F)
            spaces += cps[i] == ' ' ? 1 : 2;
    if (spaces != 1)
        FAIL("merges line %d: expected two symbols separated by one space (found other "
             "whitespace or control characters)", lineno);
    return 0;
}

static int build(vr_tokenizer *t, const char *txt, size_t len, char *err, size_t errlen)
{
    size_t bad = utf8_valid_prefix((const uint8_t *)txt, len);
    if (bad < len) {
        int line = 1;
        for (size_t i = 0; i < bad; i++)
            line += txt[i] == '\n';
        FAIL("merges file: invalid UTF-8 at byte %zu (line %d)", bad, line);
    }
    merge_line *m = malloc(N_MERGES * sizeof *m);
    if (!m)
        FAIL("out of memory");
    const char *p = memchr(txt, '\n', len); /* line 1 is a version header CLIP skips */
    size_t pool_cap = 512 * 6 + 32, count = 0;
    while (count < N_MERGES && p) {
        const char *s = p + 1, *e = memchr(s, '\n', (size_t)(txt + len - s));
        size_t n = e ? (size_t)(e - s) : (size_t)(txt + len - s);
        if (parse_merge(s, n, (int)count + 2, &m[count], err, errlen)) {
            free(m);
            return -1;
        }
        pool_cap += n - 1;
        count++;
        p = e;
    }
    if (count < N_MERGES) {
        free(m);
        FAIL("merges file has %zu merges; CLIP's vocabulary needs %d", count, N_MERGES);
    }
    t->pool = malloc(pool_cap);
    if (!t->pool) {
        free(m);
        FAIL("out of memory");
    }
    uint32_t order_cp[256];
    uint8_t order_byte[256];
    byte_order(order_cp, order_byte);
    size_t used = 0;
    int rc = 0;
    for (int k = 0; k < 256; k++) {
        uint8_t u[4];
        int nu = vr_tok_utf8_put(order_cp[k], u);
        rc |= add_string(t, &used, pool_cap, k, (const char *)u, (size_t)nu, "", 0);
        rc |= add_string(t, &used, pool_cap, 256 + k, (const char *)u, (size_t)nu, "</w>", 4);
    }
    for (int r = 0; r < N_MERGES; r++)
        rc |= add_string(t, &used, pool_cap, 512 + r, m[r].a, m[r].na, m[r].b, m[r].nb);
    rc |= add_string(t, &used, pool_cap, VOCAB - 2, "<|startoftext|>", 15, "", 0);
    rc |= add_string(t, &used, pool_cap, VOCAB - 1, "<|endoftext|>", 13, "", 0);
    if (rc) { /* cannot happen: pool_cap counts every string */
        free(m);
        FAIL("internal error: vocabulary pool too small");
    }
    memset(t->vhash, 0xff, sizeof t->vhash);
    for (int32_t id = 0; id < VOCAB; id++)
        vocab_insert(t, id);
    for (int k = 0; k < 256; k++) {
        const uint8_t b = order_byte[k];
        t->byte_id[b] = vocab_find(t, t->pool + t->off[k], t->len[k]);
        t->byte_end_id[b] = vocab_find(t, t->pool + t->off[256 + k], t->len[256 + k]);
    }
    t->sot = vocab_find(t, "<|startoftext|>", 15);
    t->eot = vocab_find(t, "<|endoftext|>", 13);
    memset(t->phash, 0xff, sizeof t->phash);
    /* A merge whose parts are not vocabulary strings can never apply: every
     * symbol of a word is a byte symbol or a merge's result. */
    for (int r = 0; r < N_MERGES; r++) {
        int32_t a = vocab_find(t, m[r].a, m[r].na), b = vocab_find(t, m[r].b, m[r].nb);
        const char *joined = t->pool + t->off[512 + r];
        if (a >= 0 && b >= 0)
            pair_insert(t, a, b, r, vocab_find(t, joined, t->len[512 + r]));
    }
    free(m);
    return 0;
}

int vr_tokenizer_from_gzip(const void *gz, size_t len, vr_tokenizer **out, char *err,
                           size_t errlen)
{
    *out = NULL;
    uint8_t *txt = NULL;
    size_t n = 0;
    if (gunzip(gz, len, &txt, &n, err, errlen))
        return -1;
    vr_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        free(txt);
        FAIL("out of memory");
    }
    int rc = build(t, (const char *)txt, n, err, errlen);
    free(txt);
    if (rc) {
        vr_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int vr_tokenizer_open(const char *path, vr_tokenizer **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        FAIL("%s: cannot open", path);
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got = 1; buf && got;) {
        if (n == cap) {
            uint8_t *q = cap < VR_TOKENIZER_MAX_FILE + 1 ? realloc(buf, cap * 2) : NULL;
            if (!q) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = q;
            cap *= 2;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        FAIL("%s: read error, out of memory or over %zu bytes", path, VR_TOKENIZER_MAX_FILE);
    }
    char sub[256];
    int rc = vr_tokenizer_from_gzip(buf, n, out, sub, sizeof sub);
    free(buf);
    if (rc)
        FAIL("%s: %s", path, sub);
    return 0;
}

void vr_tokenizer_free(vr_tokenizer *t)
{
    if (!t)
        return;
    free(t->pool);
    free(t);
}

int vr_tokenizer_vocab_size(const vr_tokenizer *t) { return t ? VOCAB : 0; }
int32_t vr_tokenizer_sot(const vr_tokenizer *t) { return t->sot; }
int32_t vr_tokenizer_eot(const vr_tokenizer *t) { return t->eot; }

/* ---------------------------------------------------------------- BPE ---- */
typedef struct {
    int32_t *ids; /* output */
    size_t n, cap;
    uint8_t *bytes; /* one piece as UTF-8 */
    size_t bytes_cap;
    int32_t *sym, *next, *prev; /* per byte of the piece */
    uint64_t *heap;             /* rank << 32 | position */
    size_t heap_n, work_cap;
    int32_t *pending;
    size_t pending_n;
} enc;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Work arrays for a piece of n bytes: symbols, links, and the heap and
 * pending lists (n − 1 initial pairs plus at most two per merge: < 3n). */
static int enc_reserve(enc *e, size_t n)
{
    if (n <= e->work_cap)
        return 0;
    size_t c = e->work_cap ? e->work_cap : 64;
    while (c < n)
        c *= 2;
    int32_t **arr[3] = {&e->sym, &e->next, &e->prev};
    for (int k = 0; k < 3; k++) {
        void *q = realloc(*arr[k], c * sizeof(int32_t));
        if (!q)
            return -1;
        *arr[k] = q;
    }
    void *q = realloc(e->pending, 2 * c * sizeof *e->pending);
    if (!q)
        return -1;
    e->pending = q;
    q = realloc(e->heap, 3 * c * sizeof *e->heap);
    if (!q)
        return -1;
    e->heap = q;
    e->work_cap = c;
    return 0;
}

static int emit(enc *e, int32_t id)
{
    if (grow((void **)&e->ids, &e->cap, e->n + 1, sizeof *e->ids))
        return -1;
    e->ids[e->n++] = id;
    return 0;
}

static void heap_push(enc *e, uint64_t v)
{
    size_t i = e->heap_n++;
    while (i > 0 && e->heap[(i - 1) / 2] > v) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = v;
}

static uint64_t heap_pop(enc *e)
{
    uint64_t top = e->heap[0], v = e->heap[--e->heap_n];
    size_t i = 0, n = e->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && e->heap[c + 1] < e->heap[c])
            c++;
        if (e->heap[c] >= v)
            break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n)
        e->heap[i] = v;
    return top;
}

static void push_pair(const vr_tokenizer *t, enc *e, int32_t pos)
{
    if (pos < 0 || e->next[pos] < 0)
        return;
    const pair_slot *s = pair_find(t, e->sym[pos], e->sym[e->next[pos]]);
    if (s)
        heap_push(e, (uint64_t)(uint32_t)s->rank << 32 | (uint32_t)pos);
}

/* CLIP's bpe(): repeatedly take the lowest-ranked adjacent pair and merge
 * every occurrence of it, left to right, not overlapping. Here: a heap of
 * (rank, position), one rank's occurrences taken together in position order,
 * the pairs their merges create pushed only after (a lower-ranked new pair
 * must wait for the current rank's remaining occurrences, as in CLIP's loop).
 * Entries made stale by earlier merges are skipped when popped. */
static int bpe_piece(const vr_tokenizer *t, enc *e, const uint8_t *b, size_t n)
{
    if (n == 15 && !memcmp(b, "<|startoftext|>", 15))
        return emit(e, vocab_find(t, "<|startoftext|>", 15)); /* CLIP's bpe cache */
    if (n == 13 && !memcmp(b, "<|endoftext|>", 13))
        return emit(e, vocab_find(t, "<|endoftext|>", 13));
    if (enc_reserve(e, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        e->sym[i] = i + 1 < n ? t->byte_id[b[i]] : t->byte_end_id[b[i]];
        e->next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        e->prev[i] = (int32_t)i - 1;
    }
    e->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(t, e, (int32_t)i);
    while (e->heap_n) {
        uint32_t rank = (uint32_t)(e->heap[0] >> 32);
        e->pending_n = 0;
        while (e->heap_n && (uint32_t)(e->heap[0] >> 32) == rank) {
            int32_t pos = (int32_t)(uint32_t)heap_pop(e);
            int32_t q = e->next[pos];
            if (e->sym[pos] < 0 || q < 0)
                continue; /* consumed by an earlier merge, or now the last symbol */
            const pair_slot *s = pair_find(t, e->sym[pos], e->sym[q]);
            if (!s || (uint32_t)s->rank != rank)
                continue; /* the pair here changed since it was pushed */
            e->sym[pos] = s->merged;
            e->sym[q] = -1;
            e->next[pos] = e->next[q];
            if (e->next[q] >= 0)
                e->prev[e->next[q]] = pos;
            e->pending[e->pending_n++] = e->prev[pos];
            e->pending[e->pending_n++] = pos;
        }
        for (size_t i = 0; i < e->pending_n; i++)
            if (e->pending[i] < 0 || e->sym[e->pending[i]] >= 0)
                push_pair(t, e, e->pending[i]);
    }
    for (int32_t i = 0; i >= 0; i = e->next[i])
        if (emit(e, e->sym[i]))
            return -1;
    return 0;
}

/* Encodes until `limit` ids (sot included) exist, or the text ends.
 * *more: pieces were left unencoded. */
static int encode(const vr_tokenizer *t, const char *text, size_t len, size_t limit, enc *e,
                  int *more, char *err, size_t errlen)
{
    *more = 0;
    if (len > VR_TOKENIZER_MAX_TEXT)
        FAIL("text of %zu bytes is over the limit of %zu", len, VR_TOKENIZER_MAX_TEXT);
    uint32_t *x = malloc((2 * len + 1) * sizeof *x), *tmp = malloc((2 * len + 1) * sizeof *tmp);
    if (!x || !tmp || emit(e, t->sot)) {
        free(x), free(tmp);
        FAIL("out of memory");
    }
    size_t n = vr_tok_utf8_decode((const uint8_t *)text, len, x);
    n = vr_tok_clean(x, n, tmp);
    size_t pos = 0, a, b;
    int rc = 0;
    while (vr_tok_next_piece(x, n, &pos, &a, &b)) {
        if (e->n >= limit) {
            *more = 1;
            break;
        }
        if (grow((void **)&e->bytes, &e->bytes_cap, 4 * (b - a), 1)) {
            rc = -1;
            break;
        }
        size_t nb = 0;
        for (size_t i = a; i < b; i++)
            nb += (size_t)vr_tok_utf8_put(x[i], e->bytes + nb);
        if ((rc = bpe_piece(t, e, e->bytes, nb)))
            break;
    }
    free(x), free(tmp);
    if (rc)
        FAIL("out of memory");
    return 0;
}

static void enc_free(enc *e)
{
    free(e->bytes), free(e->sym), free(e->next), free(e->prev), free(e->heap), free(e->pending);
}

int vr_tokenizer_encode(const vr_tokenizer *t, const char *text, size_t len, int32_t **ids,
                        size_t *n, char *err, size_t errlen)
{
    enc e = {0};
    int more;
    *ids = NULL;
    *n = 0;
    int rc = encode(t, text, len, SIZE_MAX, &e, &more, err, errlen);
    if (!rc && emit(&e, t->eot))
        rc = vf_fail(err, errlen, "out of memory");
    if (rc) {
        enc_free(&e);
        free(e.ids);
        return -1;
    }
    enc_free(&e);
    *ids = e.ids;
    *n = e.n;
    return 0;
}

int vr_tokenizer_encode_context(const vr_tokenizer *t, const char *text, size_t len, int context,
                                int32_t *out, char *err, size_t errlen)
{
    if (context < 2)
        FAIL("context %d: needs room for start and end of text", context);
    enc e = {0};
    int more;
    if (encode(t, text, len, (size_t)context, &e, &more, err, errlen)) {
        enc_free(&e);
        free(e.ids);
        return -1;
    }
    enc_free(&e);
    /* CLIP: tokens = [sot] + encode(text) + [eot]; if longer than the context,
     * tokens[:context] with the last replaced by eot. */
    size_t n = e.n + 1;
    if (n > (size_t)context || more)
        n = (size_t)context;
    memcpy(out, e.ids, (n - 1) * sizeof *out);
    out[n - 1] = t->eot;
    for (size_t i = n; i < (size_t)context; i++)
        out[i] = 0;
    free(e.ids);
    return (int)n;
}
