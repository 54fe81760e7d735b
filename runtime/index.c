/* The index store (runtime/index.h): per-row columns that either borrow the
 * mapped file or own memory, an id → row map built on first need, and
 * conversion to and from formats/index_file.h. */
#include "runtime/index.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "formats/errmsg.h"
#include "formats/index_file.h"

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

typedef unsigned long long ull;

/* ------------------------------------------------------------- columns */
/* A growable byte array, 64-byte aligned. cap == 0: p borrows the mapped
 * file (or is NULL) and must be copied before it is written. Bytes in
 * [len, cap) are always zero. Large columns live in anonymous mappings so
 * that growing them remaps pages instead of copying them. */
typedef struct col {
    uint8_t *p;
    size_t len, cap;
    int anon; /* p is an anonymous mapping of cap bytes */
} col;

#define COL_ANON_MIN ((size_t)1 << 20)

static void col_free(col *c)
{
    if (c->cap)
        c->anon ? (void)munmap(c->p, c->cap) : free(c->p);
    *c = (col){0};
}

static int col_reserve(col *c, size_t need)
{
    if (c->cap && need <= c->cap)
        return 0;
    size_t nc = c->cap + c->cap / 2;
    if (nc < need)
        nc = need;
    if (c->cap == 0 && c->len) /* first copy of a mapped column: room to append */
        nc = need + need / 8;
    if (nc < 64)
        nc = 64;
    if (nc > SIZE_MAX - 4096)
        return -1;
    if (nc >= COL_ANON_MIN) {
        nc = (nc + 4095) & ~(size_t)4095;
        void *q;
        if (c->cap && c->anon) {
            q = mremap(c->p, c->cap, nc, MREMAP_MAYMOVE);
        } else {
            q = mmap(NULL, nc, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (q != MAP_FAILED && c->len)
                memcpy(q, c->p, c->len);
            if (q != MAP_FAILED && c->cap)
                free(c->p);
        }
        if (q == MAP_FAILED)
            return -1;
        c->p = q;
        c->cap = nc;
        c->anon = 1;
        return 0;
    }
    nc = (nc + 63) & ~(size_t)63;
    uint8_t *q = aligned_alloc(64, nc);
    if (!q)
        return -1;
    if (c->len)
        memcpy(q, c->p, c->len);
    memset(q + c->len, 0, nc - c->len);
    if (c->cap)
        free(c->p);
    c->p = q;
    c->cap = nc;
    c->anon = 0;
    return 0;
}

/* ------------------------------------------------------------- the index */
struct vr_index {
    vk_code_kind kind;
    size_t dim, dim_in, row_bytes, f16_bytes;
    int rescore, fitted, modified;
    float *a, *b, *unit_a, *unit_b; /* unit_*: a = 1, b = 0 for the F16 copy */
    vf_index_kv *kv;
    size_t nkv;
    vr_index_tensor *tensors; /* names and data owned */
    size_t ntensors;
    size_t n, ndead;
    col codes, f16, ids, dead, str_off, heap;
    uint64_t generation;
    /* The file it was opened from. */
    void *map;
    size_t map_len;
    vf_index file;
    /* id → row of live rows: open addressing, linear probing, UINT32_MAX
     * empty. Built on first need, under lock (readers may race to it). */
    pthread_mutex_t lock;
    atomic_int idmap_ready;
    uint32_t *slots;
    size_t nslots; /* power of two, or 0 */
};

static const uint64_t *ids_of(const vr_index *ix) { return (const uint64_t *)ix->ids.p; }
static const uint64_t *offs_of(const vr_index *ix) { return (const uint64_t *)ix->str_off.p; }

static int is_dead(const vr_index *ix, size_t row)
{
    return ix->ndead && (ix->dead.p[row / 8] >> (row % 8) & 1);
}

static size_t hash_slot(uint64_t id, size_t nslots)
{
    id ^= id >> 30;
    id *= 0xbf58476d1ce4e5b9ull;
    id ^= id >> 27;
    id *= 0x94d049bb133111ebull;
    id ^= id >> 31;
    return (size_t)id & (nslots - 1);
}

static size_t idmap_probe(const vr_index *ix, uint64_t id)
{
    const uint64_t *ids = ids_of(ix);
    size_t s = hash_slot(id, ix->nslots);
    while (ix->slots[s] != UINT32_MAX && ids[ix->slots[s]] != id)
        s = (s + 1) & (ix->nslots - 1);
    return s;
}

/* (Re)builds the map for the live rows with room for `extra` more. */
static int idmap_build(vr_index *ix, size_t extra, char *err, size_t errlen)
{
    size_t want = 2 * (ix->n - ix->ndead + extra), ns = 16;
    while (ns < want)
        ns *= 2;
    uint32_t *slots = malloc(ns * sizeof *slots);
    if (!slots)
        FAIL("out of memory building the id map (%zu slots)", ns);
    memset(slots, 0xff, ns * sizeof *slots);
    uint32_t *old = ix->slots;
    size_t old_ns = ix->nslots;
    ix->slots = slots;
    ix->nslots = ns;
    const uint64_t *ids = ids_of(ix);
    for (size_t r = 0; r < ix->n; r++) {
        if (is_dead(ix, r))
            continue;
        size_t s = idmap_probe(ix, ids[r]);
        if (slots[s] != UINT32_MAX) {
            uint32_t first = slots[s];
            ix->slots = old;
            ix->nslots = old_ns;
            free(slots);
            FAIL("id %llu is live in rows %u and %zu: the index is corrupt", (ull)ids[r], first,
                 r);
        }
        slots[s] = (uint32_t)r;
    }
    free(old);
    atomic_store(&ix->idmap_ready, 1);
    return 0;
}

static int idmap_ensure(const vr_index *cix, char *err, size_t errlen)
{
    vr_index *ix = (vr_index *)cix; /* the map is a cache: building it is not a change */
    if (atomic_load(&ix->idmap_ready))
        return 0;
    pthread_mutex_lock(&ix->lock);
    int rc = atomic_load(&ix->idmap_ready) ? 0 : idmap_build(ix, 0, err, errlen);
    pthread_mutex_unlock(&ix->lock);
    return rc;
}

/* Removes the entry in slot s, shifting later entries of its probe run back
 * (no tombstones, so lookups stay short after many deletes). */
static void idmap_remove_slot(vr_index *ix, size_t s)
{
    const uint64_t *ids = ids_of(ix);
    size_t mask = ix->nslots - 1, hole = s;
    for (size_t j = (s + 1) & mask; ix->slots[j] != UINT32_MAX; j = (j + 1) & mask) {
        size_t home = hash_slot(ids[ix->slots[j]], ix->nslots);
        /* j's entry may move to the hole if its home is not in (hole, j]. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            ix->slots[hole] = ix->slots[j];
            hole = j;
        }
    }
    ix->slots[hole] = UINT32_MAX;
}

static void idmap_drop(vr_index *ix)
{
    free(ix->slots);
    ix->slots = NULL;
    ix->nslots = 0;
    atomic_store(&ix->idmap_ready, 0);
}

/* ------------------------------------------------------------- helpers */
static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= VF_INDEX_MAX_NAME;
}

static int all_finite(const float *x, size_t n, size_t *bad)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            *bad = i;
            return 0;
        }
    return 1;
}

static int add_kv(vr_index *ix, const char *k, const char *v)
{
    char *kc = strdup(k), *vc = strdup(v);
    vf_index_kv *kv = realloc(ix->kv, (ix->nkv + 1) * sizeof *kv);
    if (!kc || !vc || !kv) {
        free(kc);
        free(vc);
        if (kv)
            ix->kv = kv;
        return -1;
    }
    ix->kv = kv;
    kv[ix->nkv++] = (vf_index_kv){kc, vc};
    return 0;
}

static int add_tensor(vr_index *ix, const char *name, size_t rows, size_t cols, const float *d)
{
    vr_index_tensor *t = realloc(ix->tensors, (ix->ntensors + 1) * sizeof *t);
    if (!t)
        return -1;
    ix->tensors = t;
    char *nc = strdup(name);
    float *dc = malloc(rows * cols * sizeof *dc);
    if (!nc || !dc) {
        free(nc);
        free(dc);
        return -1;
    }
    memcpy(dc, d, rows * cols * sizeof *dc);
    t[ix->ntensors++] = (vr_index_tensor){nc, rows, cols, dc};
    return 0;
}

/* Everything that does not depend on where the index came from. */
static vr_index *index_alloc(vk_code_kind kind, size_t dim, size_t dim_in, int rescore)
{
    vr_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    pthread_mutex_init(&ix->lock, NULL);
    ix->kind = kind;
    ix->dim = dim;
    ix->dim_in = dim_in;
    ix->rescore = rescore;
    ix->row_bytes = vk_code_row_bytes(kind, dim);
    ix->f16_bytes = vk_code_row_bytes(VK_CODE_F16, dim);
    ix->a = malloc(dim * sizeof(float));
    ix->b = malloc(dim * sizeof(float));
    ix->unit_a = malloc(dim * sizeof(float));
    ix->unit_b = calloc(dim, sizeof(float));
    if (!ix->a || !ix->b || !ix->unit_a || !ix->unit_b) {
        vr_index_close(ix);
        return NULL;
    }
    for (size_t d = 0; d < dim; d++)
        ix->a[d] = ix->unit_a[d] = 1, ix->b[d] = 0;
    return ix;
}

void vr_index_close(vr_index *ix)
{
    if (!ix)
        return;
    col *cols[] = {&ix->codes, &ix->f16, &ix->ids, &ix->dead, &ix->str_off, &ix->heap};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
        col_free(cols[i]);
    for (size_t i = 0; i < ix->nkv; i++) {
        free((char *)ix->kv[i].key);
        free((char *)ix->kv[i].value);
    }
    for (size_t i = 0; i < ix->ntensors; i++) {
        free((char *)ix->tensors[i].name);
        free((float *)ix->tensors[i].data);
    }
    free(ix->kv);
    free(ix->tensors);
    free(ix->a);
    free(ix->b);
    free(ix->unit_a);
    free(ix->unit_b);
    free(ix->slots);
    vf_index_release(&ix->file);
    if (ix->map)
        munmap(ix->map, ix->map_len);
    pthread_mutex_destroy(&ix->lock);
    free(ix);
}

/* ------------------------------------------------------------- create */
static int check_params(const vr_index_params *p, char *err, size_t errlen)
{
    if (!vk_code_name(p->kind) || !vk_code_row_bytes(p->kind, 1))
        FAIL("unknown code kind %d", (int)p->kind);
    if (p->dim < 1 || p->dim > VF_INDEX_MAX_DIM || p->dim_in < 1 || p->dim_in > VF_INDEX_MAX_DIM)
        FAIL("dim %zu / dim_in %zu out of range 1..%d", p->dim, p->dim_in, VF_INDEX_MAX_DIM);
    if (!p->model || !*p->model)
        FAIL("the embedding model's identity is required");
    if (p->rescore && !vk_code_is_quantized(p->kind))
        FAIL("an F16 re-scoring copy only makes sense for quantized codes, not %s",
             vk_code_name(p->kind));
    if (!p->a != !p->b)
        FAIL("give both code parameter arrays a and b, or neither");
    size_t bad;
    if (p->a && (!all_finite(p->a, p->dim, &bad) || !all_finite(p->b, p->dim, &bad)))
        FAIL("code parameters: dimension %zu is not finite", bad);
    for (size_t d = 0; p->a && d < p->dim; d++)
        if (!(p->a[d] > 0))
            FAIL("code parameters: a[%zu] = %g, must be > 0", d, p->a[d]);
    if (p->ntensors > VF_INDEX_MAX_TENSORS)
        FAIL("%zu transform tensors, at most %d", p->ntensors, VF_INDEX_MAX_TENSORS);
    uint64_t total = 0;
    for (size_t i = 0; i < p->ntensors; i++) {
        const vr_index_tensor *t = &p->tensors[i];
        if (!name_ok(t->name))
            FAIL("transform tensor %zu: name must be 1..%d bytes", i, VF_INDEX_MAX_NAME);
        if (t->rows < 1 || t->cols < 1 || t->rows > UINT32_MAX || t->cols > UINT32_MAX || !t->data)
            FAIL("transform tensor '%s': shape %zu x %zu or data missing", t->name, t->rows,
                 t->cols);
        total += 4ull * t->rows * t->cols;
        if (total > (1ull << 31))
            FAIL("transform tensors over 2 GiB: not a transform");
        if (!all_finite(t->data, t->rows * t->cols, &bad))
            FAIL("transform tensor '%s': value %zu is not finite", t->name, bad);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(t->name, p->tensors[j].name))
                FAIL("duplicate transform tensor '%s'", t->name);
    }
    for (size_t i = 0; i < p->nkv; i++) {
        if (!name_ok(p->kv[i].key) || !p->kv[i].value)
            FAIL("metadata %zu: key must be 1..%d bytes and have a value", i, VF_INDEX_MAX_NAME);
        if (!strcmp(p->kv[i].key, "model"))
            FAIL("metadata: give the model's identity as vr_index_params.model");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->kv[i].key, p->kv[j].key))
                FAIL("metadata: duplicate key '%s'", p->kv[i].key);
    }
    return 0;
}

int vr_index_create(const vr_index_params *p, vr_index **out, char *err, size_t errlen)
{
    *out = NULL;
    if (check_params(p, err, errlen))
        return -1;
    vr_index *ix = index_alloc(p->kind, p->dim, p->dim_in, p->rescore);
    if (!ix)
        FAIL("out of memory");
    int rc = add_kv(ix, "model", p->model);
    int have_created = 0;
    for (size_t i = 0; i < p->nkv && !rc; i++) {
        rc = add_kv(ix, p->kv[i].key, p->kv[i].value);
        have_created |= !strcmp(p->kv[i].key, "created");
    }
    if (!rc && !have_created) {
        char when[32];
        time_t now = time(NULL);
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        rc = add_kv(ix, "created", when);
    }
    for (size_t i = 0; i < p->ntensors && !rc; i++)
        rc = add_tensor(ix, p->tensors[i].name, p->tensors[i].rows, p->tensors[i].cols,
                        p->tensors[i].data);
    /* An empty index still has the one string offset (0). */
    if (!rc)
        rc = col_reserve(&ix->str_off, 8);
    if (rc) {
        vr_index_close(ix);
        FAIL("out of memory");
    }
    ix->str_off.len = 8;
    if (p->a) {
        memcpy(ix->a, p->a, p->dim * sizeof(float));
        memcpy(ix->b, p->b, p->dim * sizeof(float));
    }
    ix->fitted = p->a || p->kind == VK_CODE_F32 || p->kind == VK_CODE_F16;
    ix->modified = 1;
    *out = ix;
    return 0;
}

/* ------------------------------------------------------------- open */
int vr_index_open(const char *path, unsigned flags, vr_index **out, char *err, size_t errlen)
{
    *out = NULL;
    if (flags & ~VR_INDEX_OPEN_SKIP_BULK_CRC)
        FAIL("%s: unknown open flags 0x%x", path, flags);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        FAIL("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        FAIL("%s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    if (len == 0) {
        close(fd);
        FAIL("%s: empty file: not a vireo index", path);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        FAIL("%s: mmap: %s", path, strerror(errno));
    vf_index f;
    char why[400];
    unsigned pf = flags & VR_INDEX_OPEN_SKIP_BULK_CRC ? VF_INDEX_SKIP_BULK_CRC : 0;
    if (vf_index_parse(map, len, pf, &f, why, sizeof why)) {
        munmap(map, len);
        FAIL("%s: %s", path, why);
    }
    vr_index *ix = index_alloc(f.kind, f.dim, f.dim_in, f.rescore != NULL);
    int rc = ix ? 0 : -1;
    for (size_t i = 0; i < f.nkv && !rc; i++)
        rc = add_kv(ix, f.kv[i].key, f.kv[i].value);
    for (size_t i = 0; i < f.ntensors && !rc; i++)
        rc = add_tensor(ix, f.tensors[i].name, f.tensors[i].rows, f.tensors[i].cols,
                        f.tensors[i].data);
    if (rc) {
        vr_index_close(ix);
        vf_index_release(&f);
        munmap(map, len);
        FAIL("%s: out of memory", path);
    }
    ix->map = map;
    ix->map_len = len;
    memcpy(ix->a, f.a, f.dim * sizeof(float));
    memcpy(ix->b, f.b, f.dim * sizeof(float));
    ix->fitted = !f.unfitted;
    ix->n = f.n;
    ix->ndead = f.ndead;
    ix->generation = f.generation;
    /* Borrow the columns; f's pointers are into the map. */
    ix->codes = (col){(uint8_t *)f.codes, f.n * ix->row_bytes, 0, 0};
    if (f.rescore)
        ix->f16 = (col){(uint8_t *)f.rescore, f.n * ix->f16_bytes, 0, 0};
    ix->ids = (col){(uint8_t *)f.ids, f.n * 8, 0, 0};
    ix->dead = (col){(uint8_t *)f.dead, (f.n + 7) / 8, 0, 0};
    ix->str_off = (col){(uint8_t *)f.str_off, (f.n + 1) * 8, 0, 0};
    ix->heap = (col){(uint8_t *)f.heap, f.heap_size, 0, 0};
    vf_index_release(&f); /* the kv / tensor arrays: copied above */
    ix->file = f;
    *out = ix;
    return 0;
}

/* ------------------------------------------------------------- fit, add */
int vr_index_fit(vr_index *ix, const float *x, size_t n, char *err, size_t errlen)
{
    if (ix->n)
        FAIL("the code parameters can only be fitted while the index is empty (it has %zu rows)",
             ix->n);
    if (n < 1 || !x)
        FAIL("fitting needs at least one training row");
    size_t bad;
    if (!all_finite(x, n * ix->dim, &bad))
        FAIL("training row %zu, dimension %zu: not finite", bad / ix->dim, bad % ix->dim);
    vk_code_fit(ix->kind, x, n, ix->dim, ix->a, ix->b);
    ix->fitted = 1;
    ix->modified = 1;
    return 0;
}

static int cmp_u64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return (a > b) - (a < b);
}

/* The batch's ids must be new and distinct. */
static int check_new_ids(vr_index *ix, const uint64_t *ids, size_t n, char *err, size_t errlen)
{
    if (idmap_ensure(ix, err, errlen))
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t s = idmap_probe(ix, ids[i]);
        if (ix->slots[s] != UINT32_MAX)
            FAIL("id %llu (batch item %zu) is already in the index (row %u)", (ull)ids[i], i,
                 ix->slots[s]);
    }
    uint64_t *sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        FAIL("out of memory");
    memcpy(sorted, ids, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (sorted[i] == sorted[i - 1]) {
            uint64_t dup = sorted[i];
            free(sorted);
            FAIL("id %llu appears twice in the batch", (ull)dup);
        }
    free(sorted);
    return 0;
}

static const char *or_empty(const char *const *v, size_t i)
{
    return v && v[i] ? v[i] : "";
}

int vr_index_add(vr_index *ix, size_t n, const float *x, const uint64_t *ids,
                 const char *const *paths, const char *const *titles, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    if (!x || !ids)
        FAIL("add: rows and ids are required");
    if (n > VF_INDEX_MAX_ROWS - ix->n)
        FAIL("add: %zu + %zu rows exceed the limit of %llu", ix->n, n, (ull)VF_INDEX_MAX_ROWS);
    size_t bad;
    if (!all_finite(x, n * ix->dim, &bad))
        FAIL("add: row %zu (id %llu), dimension %zu is not finite", bad / ix->dim,
             (ull)ids[bad / ix->dim], bad % ix->dim);
    if (check_new_ids(ix, ids, n, err, errlen))
        return -1;
    size_t heap_add = 0;
    for (size_t i = 0; i < n; i++)
        heap_add += strlen(or_empty(paths, i)) + strlen(or_empty(titles, i)) + 2;
    size_t total = ix->n + n;
    /* Make room everywhere first: a failure leaves the contents unchanged. */
    if (col_reserve(&ix->codes, total * ix->row_bytes) ||
        (ix->rescore && col_reserve(&ix->f16, total * ix->f16_bytes)) ||
        col_reserve(&ix->ids, total * 8) || col_reserve(&ix->dead, (total + 7) / 8) ||
        col_reserve(&ix->str_off, (total + 1) * 8) ||
        col_reserve(&ix->heap, ix->heap.len + heap_add))
        FAIL("add: out of memory for %zu rows", total);
    if (2 * (total - ix->ndead) > ix->nslots && idmap_build(ix, n, err, errlen))
        return -1;
    if (!ix->fitted) {
        vk_code_fit(ix->kind, x, n, ix->dim, ix->a, ix->b);
        ix->fitted = 1;
    }
    uint64_t *idcol = (uint64_t *)ix->ids.p, *offs = (uint64_t *)ix->str_off.p;
    for (size_t i = 0; i < n; i++) {
        size_t r = ix->n + i;
        const float *row = x + i * ix->dim;
        vk_code_encode(ix->kind, row, ix->dim, ix->a, ix->b, ix->codes.p + r * ix->row_bytes);
        if (ix->rescore)
            vk_code_encode(VK_CODE_F16, row, ix->dim, ix->unit_a, ix->unit_b,
                           ix->f16.p + r * ix->f16_bytes);
        idcol[r] = ids[i];
        const char *s[2] = {or_empty(paths, i), or_empty(titles, i)};
        for (int k = 0; k < 2; k++) {
            size_t l = strlen(s[k]) + 1;
            memcpy(ix->heap.p + ix->heap.len, s[k], l);
            ix->heap.len += l;
        }
        offs[r + 1] = ix->heap.len;
        ix->slots[idmap_probe(ix, ids[i])] = (uint32_t)r;
    }
    ix->n = total;
    ix->codes.len = total * ix->row_bytes;
    if (ix->rescore)
        ix->f16.len = total * ix->f16_bytes;
    ix->ids.len = total * 8;
    ix->dead.len = (total + 7) / 8; /* new bits: zero (bytes past len always are) */
    ix->str_off.len = (total + 1) * 8;
    ix->modified = 1;
    return 0;
}

/* ------------------------------------------------------------- delete */
int vr_index_delete(vr_index *ix, const uint64_t *ids, size_t n, size_t *deleted, uint8_t *found,
                    char *err, size_t errlen)
{
    if (deleted)
        *deleted = 0;
    if (n == 0)
        return 0;
    if (!ids)
        FAIL("delete: ids are required");
    if (idmap_ensure(ix, err, errlen))
        return -1;
    if (ix->n && col_reserve(&ix->dead, ix->dead.len)) /* own the bitmap before touching it */
        FAIL("delete: out of memory");
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s = ix->n ? idmap_probe(ix, ids[i]) : 0;
        int hit = ix->n && ix->slots[s] != UINT32_MAX;
        if (hit) {
            uint32_t r = ix->slots[s];
            ix->dead.p[r / 8] |= (uint8_t)(1u << (r % 8));
            ix->ndead++;
            idmap_remove_slot(ix, s);
            count++;
        }
        if (found)
            found[i] = (uint8_t)hit;
    }
    if (count)
        ix->modified = 1;
    if (deleted)
        *deleted = count;
    return 0;
}

/* ------------------------------------------------------------- compact */
/* Where compaction writes a column: over itself when the index owns it (no
 * new memory, nothing to fault in), else a new buffer of `bytes`. */
static int compact_target(col *c, col *fresh, size_t bytes)
{
    *fresh = (col){0};
    return c->cap ? 0 : col_reserve(fresh, bytes);
}

/* Keeps the live rows (unit bytes each) of src, in order, in dst (which may
 * be src); the tail it vacates is zeroed (the column invariant). */
static void keep_live_rows(const vr_index *ix, col *src, col *dst, size_t unit)
{
    size_t w = 0;
    for (size_t r = 0; r < ix->n; r++) {
        if (is_dead(ix, r))
            continue;
        if (dst != src || w != r)
            memmove(dst->p + w * unit, src->p + r * unit, unit);
        w++;
    }
    if (dst == src)
        memset(dst->p + w * unit, 0, src->len - w * unit);
    dst->len = w * unit;
}

int vr_index_compact(vr_index *ix, char *err, size_t errlen)
{
    if (ix->ndead == 0)
        return 0;
    size_t live = ix->n - ix->ndead, heap = 0;
    const uint64_t *offs = offs_of(ix);
    for (size_t r = 0; r < ix->n; r++)
        if (!is_dead(ix, r))
            heap += (size_t)(offs[r + 1] - offs[r]);
    /* Allocate everything first: a failure leaves the index as it was. */
    col *cols[6] = {&ix->codes, &ix->f16, &ix->ids, &ix->str_off, &ix->heap, &ix->dead};
    size_t bytes[6] = {live * ix->row_bytes, live * ix->f16_bytes, live * 8, (live + 1) * 8,
                       heap, (live + 7) / 8};
    col fresh[6];
    int fail = 0;
    for (int i = 0; i < 6; i++)
        fail |= (i != 1 || ix->rescore) ? compact_target(cols[i], &fresh[i], bytes[i])
                                        : (fresh[i] = (col){0}, 0);
    if (fail) {
        for (int i = 0; i < 6; i++)
            col_free(&fresh[i]);
        FAIL("compact: out of memory for %zu rows", live);
    }
    col *dst[6];
    for (int i = 0; i < 6; i++)
        dst[i] = cols[i]->cap ? cols[i] : &fresh[i];
    keep_live_rows(ix, &ix->codes, dst[0], ix->row_bytes);
    if (ix->rescore)
        keep_live_rows(ix, &ix->f16, dst[1], ix->f16_bytes);
    keep_live_rows(ix, &ix->ids, dst[2], 8);
    /* Strings: a record moves down to where the kept ones end; offsets are
     * rewritten behind the reads (w ≤ r), so in place is safe. */
    uint64_t *noff = (uint64_t *)dst[3]->p;
    size_t w = 0, hp = 0;
    for (size_t r = 0; r < ix->n; r++) {
        uint64_t o = offs[r], e = offs[r + 1];
        if (is_dead(ix, r))
            continue;
        if (dst[4] != &ix->heap || hp != o)
            memmove(dst[4]->p + hp, ix->heap.p + o, (size_t)(e - o));
        hp += (size_t)(e - o);
        noff[++w] = hp;
    }
    noff[0] = 0;
    if (dst[3] == &ix->str_off)
        memset(ix->str_off.p + (live + 1) * 8, 0, ix->str_off.len - (live + 1) * 8);
    if (dst[4] == &ix->heap)
        memset(ix->heap.p + hp, 0, ix->heap.len - hp);
    dst[3]->len = (live + 1) * 8;
    dst[4]->len = hp;
    memset(dst[5]->p, 0, dst[5] == &ix->dead ? ix->dead.len : 0);
    dst[5]->len = (live + 7) / 8;
    for (int i = 0; i < 6; i++)
        if (dst[i] == &fresh[i]) {
            col_free(cols[i]); /* borrowed: only forgets the pointer */
            *cols[i] = fresh[i];
        }
    ix->n = live;
    ix->ndead = 0;
    ix->modified = 1;
    idmap_drop(ix); /* rows were renumbered */
    return 0;
}

/* ------------------------------------------------------------- save */
int vr_index_save(vr_index *ix, const char *path, char *err, size_t errlen)
{
    vf_index_tensor tens[VF_INDEX_MAX_TENSORS];
    for (size_t i = 0; i < ix->ntensors; i++)
        tens[i] = (vf_index_tensor){ix->tensors[i].name, (uint32_t)ix->tensors[i].rows,
                                    (uint32_t)ix->tensors[i].cols, ix->tensors[i].data};
    vf_index f = {
        .kind = ix->kind,
        .dim = (uint32_t)ix->dim,
        .dim_in = (uint32_t)ix->dim_in,
        .n = ix->n,
        .ndead = ix->ndead,
        .generation = ix->generation + 1,
        .unfitted = !ix->fitted,
        .kv = ix->kv,
        .nkv = ix->nkv,
        .tensors = tens,
        .ntensors = ix->ntensors,
        .a = ix->a,
        .b = ix->b,
        .codes = ix->codes.p,
        .rescore = ix->rescore ? ix->f16.p : NULL,
        .ids = ids_of(ix),
        .dead = ix->dead.p,
        .str_off = offs_of(ix),
        .heap = (const char *)ix->heap.p,
        .heap_size = ix->heap.len,
    };
    /* An empty index's column pointers may be NULL: the writer then needs none. */
    static const uint8_t none[64];
    if (!f.codes)
        f.codes = none;
    if (ix->rescore && !f.rescore)
        f.rescore = none;
    if (!f.ids)
        f.ids = (const uint64_t *)none;
    if (!f.heap)
        f.heap = (const char *)none;
    if (vf_index_save(&f, path, err, errlen))
        return -1;
    ix->generation++;
    ix->modified = 0;
    return 0;
}

int vr_index_verify(vr_index *ix, char *err, size_t errlen)
{
    if (ix->map) {
        if (vf_index_check_crcs(&ix->file, ix->map, err, errlen))
            return -1;
        ix->file.bulk_crc_checked = 1;
    }
    return idmap_ensure(ix, err, errlen);
}

/* ------------------------------------------------------------- views */
void vr_index_get_view(const vr_index *ix, vr_index_view *v)
{
    *v = (vr_index_view){
        .n = ix->n,
        .dim = ix->dim,
        .kind = ix->kind,
        .row_bytes = ix->row_bytes,
        .codes = ix->codes.p,
        .a = ix->a,
        .b = ix->b,
        .rescore = ix->rescore ? ix->f16.p : NULL,
        .ids = ids_of(ix),
        .dead = ix->ndead ? ix->dead.p : NULL,
    };
}

size_t vr_index_rows(const vr_index *ix) { return ix->n; }
size_t vr_index_live(const vr_index *ix) { return ix->n - ix->ndead; }
size_t vr_index_dim(const vr_index *ix) { return ix->dim; }
size_t vr_index_dim_in(const vr_index *ix) { return ix->dim_in; }
vk_code_kind vr_index_kind(const vr_index *ix) { return ix->kind; }
const char *vr_index_model(const vr_index *ix) { return vr_index_meta(ix, "model"); }

uint64_t vr_index_id(const vr_index *ix, size_t row)
{
    return row < ix->n ? ids_of(ix)[row] : 0;
}

const char *vr_index_path(const vr_index *ix, size_t row)
{
    return row < ix->n ? (const char *)ix->heap.p + offs_of(ix)[row] : NULL;
}

const char *vr_index_title(const vr_index *ix, size_t row)
{
    const char *p = vr_index_path(ix, row);
    return p ? p + strlen(p) + 1 : NULL;
}

int vr_index_is_dead(const vr_index *ix, size_t row) { return row >= ix->n || is_dead(ix, row); }

int vr_index_find(const vr_index *ix, uint64_t id, size_t *row, char *err, size_t errlen)
{
    if (ix->n == 0)
        return 0;
    if (idmap_ensure(ix, err, errlen))
        return -1;
    uint32_t r = ix->slots[idmap_probe(ix, id)];
    if (r == UINT32_MAX)
        return 0;
    if (row)
        *row = r;
    return 1;
}

const char *vr_index_meta(const vr_index *ix, const char *key)
{
    for (size_t i = 0; i < ix->nkv; i++)
        if (!strcmp(ix->kv[i].key, key))
            return ix->kv[i].value;
    return NULL;
}

size_t vr_index_meta_count(const vr_index *ix) { return ix->nkv; }

vr_index_kv vr_index_meta_at(const vr_index *ix, size_t i)
{
    return i < ix->nkv ? (vr_index_kv){ix->kv[i].key, ix->kv[i].value} : (vr_index_kv){0};
}

size_t vr_index_tensor_count(const vr_index *ix) { return ix->ntensors; }

int vr_index_tensor_at(const vr_index *ix, size_t i, vr_index_tensor *t)
{
    if (i >= ix->ntensors)
        return 0;
    *t = ix->tensors[i];
    return 1;
}

int vr_index_tensor_find(const vr_index *ix, const char *name, vr_index_tensor *t)
{
    for (size_t i = 0; i < ix->ntensors; i++)
        if (!strcmp(ix->tensors[i].name, name))
            return vr_index_tensor_at(ix, i, t);
    return 0;
}

void vr_index_get_info(const vr_index *ix, vr_index_info *info)
{
    memset(info, 0, sizeof *info);
    info->kind = ix->kind;
    info->dim = ix->dim;
    info->dim_in = ix->dim_in;
    info->rows = ix->n;
    info->live = ix->n - ix->ndead;
    info->dead = ix->ndead;
    info->rescore = ix->rescore;
    info->fitted = ix->fitted;
    info->modified = ix->modified;
    info->model = vr_index_model(ix);
    info->generation = ix->generation;
    info->code_bytes = ix->codes.len;
    info->rescore_bytes = ix->f16.len;
    info->string_bytes = ix->heap.len;
    if (ix->map) {
        info->file_size = ix->file.file_size;
        info->version_major = ix->file.version_major;
        info->version_minor = ix->file.version_minor;
        info->bulk_crc_checked = ix->file.bulk_crc_checked;
        info->nsections = ix->file.nsections;
        for (int i = 0; i < ix->file.nsections && i < 16; i++)
            info->sections[i] = (vr_index_section_info){
                vf_index_section_name(ix->file.sections[i].type), ix->file.sections[i].offset,
                ix->file.sections[i].size, ix->file.sections[i].crc};
    }
}
