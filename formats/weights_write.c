/* Weight file writer: collects tensors and metadata in memory, then lays the
 * file out (docs/WEIGHT_FORMAT.md) and writes it crash-safely. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "le.h"
#include "weights.h"
#include "weights_internal.h"

typedef struct {
    char *name;
    vw_dtype dtype;
    vw_layout layout;
    int ndim;
    int64_t dims[VW_MAX_DIMS];
    void *data;
    size_t size;
    vw_quant q;
} wtensor;

typedef struct {
    char *key;
    vw_kv_type type;
    uint64_t bits; /* scalars */
    char *str;
    void *arr;
    uint32_t n;
} wkv;

struct vw_writer {
    wtensor *t;
    size_t nt, capt;
    wkv *kv;
    size_t nkv, capkv;
    void *graph;
    size_t graph_size;
    char err[256];
};

static int werr(vw_writer *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    return -1;
}

const char *vw_writer_error(const vw_writer *w) { return w->err; }

vw_writer *vw_writer_new(void) { return calloc(1, sizeof(vw_writer)); }

void vw_writer_free(vw_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nt; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    for (size_t i = 0; i < w->nkv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].str);
        free(w->kv[i].arr);
    }
    free(w->t);
    free(w->kv);
    free(w->graph);
    free(w);
}

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static int name_ok(vw_writer *w, const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > VW_MAX_NAME)
        return werr(w, "name '%s' must be 1..%d bytes", name ? name : "", VW_MAX_NAME);
    return 0;
}

int vw_writer_add_tensor(vw_writer *w, const char *name, vw_dtype t, vw_layout l, int ndim,
                         const int64_t *dims, const void *data, size_t size, const vw_quant *q)
{
    if (name_ok(w, name))
        return -1;
    for (size_t i = 0; i < w->nt; i++)
        if (!strcmp(w->t[i].name, name))
            return werr(w, "duplicate tensor name '%s'", name);
    if (ndim < 0 || ndim > VW_MAX_DIMS)
        return werr(w, "tensor '%s': ndim %d", name, ndim);
    size_t want = vw_expected_size(t, l, ndim, dims);
    if (!want || want != size)
        return werr(w, "tensor '%s': %zu bytes given, layout %s of %s needs %zu", name, size,
                    vw_layout_name(l), vw_dtype_name(t), want);
    vw_quant qq = q ? *q : (vw_quant){.scheme = VW_Q_NONE};
    if (qq.scheme == VW_Q_CHANNEL) {
        if (qq.axis < 0 || qq.axis >= ndim || qq.scales_tensor < 0 ||
            (size_t)qq.scales_tensor >= w->nt ||
            (qq.zeros_tensor >= 0 && (size_t)qq.zeros_tensor >= w->nt))
            return werr(w, "tensor '%s': bad per-channel quantization references", name);
    }
    if (grow((void **)&w->t, &w->capt, w->nt, sizeof *w->t))
        return werr(w, "out of memory");
    wtensor *e = &w->t[w->nt];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->data = malloc(size ? size : 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return werr(w, "out of memory");
    }
    memcpy(e->data, data, size);
    e->dtype = t;
    e->layout = l;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        e->dims[i] = dims[i];
    e->size = size;
    e->q = qq;
    return (int)w->nt++;
}

static wkv *add_kv(vw_writer *w, const char *key, vw_kv_type type)
{
    if (name_ok(w, key))
        return NULL;
    for (size_t i = 0; i < w->nkv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            werr(w, "duplicate key '%s'", key);
            return NULL;
        }
    if (grow((void **)&w->kv, &w->capkv, w->nkv, sizeof *w->kv)) {
        werr(w, "out of memory");
        return NULL;
    }
    wkv *e = &w->kv[w->nkv];
    memset(e, 0, sizeof *e);
    e->key = strdup(key);
    if (!e->key) {
        werr(w, "out of memory");
        return NULL;
    }
    e->type = type;
    e->n = 1;
    w->nkv++;
    return e;
}

int vw_writer_kv_u64(vw_writer *w, const char *key, uint64_t v)
{
    wkv *e = add_kv(w, key, VW_KV_U64);
    return e ? (e->bits = v, 0) : -1;
}

int vw_writer_kv_i64(vw_writer *w, const char *key, int64_t v)
{
    wkv *e = add_kv(w, key, VW_KV_I64);
    return e ? (memcpy(&e->bits, &v, 8), 0) : -1;
}

int vw_writer_kv_f64(vw_writer *w, const char *key, double v)
{
    wkv *e = add_kv(w, key, VW_KV_F64);
    return e ? (memcpy(&e->bits, &v, 8), 0) : -1;
}

int vw_writer_kv_str(vw_writer *w, const char *key, const char *v)
{
    wkv *e = add_kv(w, key, VW_KV_STR);
    if (!e)
        return -1;
    e->str = strdup(v);
    return e->str ? 0 : werr(w, "out of memory");
}

static int kv_arr(vw_writer *w, const char *key, vw_kv_type type, const void *v, uint32_t n,
                  size_t es)
{
    wkv *e = add_kv(w, key, type);
    if (!e)
        return -1;
    e->n = n;
    e->arr = malloc(n ? n * es : 1);
    if (!e->arr)
        return werr(w, "out of memory");
    if (n)
        memcpy(e->arr, v, n * es);
    return 0;
}

int vw_writer_kv_f32s(vw_writer *w, const char *key, const float *v, uint32_t n)
{
    return kv_arr(w, key, VW_KV_F32S, v, n, 4);
}

int vw_writer_kv_i64s(vw_writer *w, const char *key, const int64_t *v, uint32_t n)
{
    return kv_arr(w, key, VW_KV_I64S, v, n, 8);
}

int vw_writer_set_graph(vw_writer *w, const void *graph, size_t size)
{
    void *g = malloc(size ? size : 1);
    if (!g)
        return werr(w, "out of memory");
    memcpy(g, graph, size);
    free(w->graph);
    w->graph = g;
    w->graph_size = size;
    return 0;
}

static size_t up(size_t x, size_t a) { return (x + a - 1) / a * a; }

int vw_writer_serialize(vw_writer *w, void **bufp, size_t *lenp)
{
    /* STRINGS: tensor names, keys, string values, each NUL-terminated. */
    size_t slen = 0;
    for (size_t i = 0; i < w->nt; i++)
        slen += strlen(w->t[i].name) + 1;
    for (size_t i = 0; i < w->nkv; i++)
        slen += strlen(w->kv[i].key) + 1 + (w->kv[i].str ? strlen(w->kv[i].str) + 1 : 0);
    if (slen > UINT32_MAX)
        return werr(w, "string table over 4 GiB");
    size_t kvlen = 8 + VW_KV_ENTRY * w->nkv;
    for (size_t i = 0; i < w->nkv; i++)
        if (w->kv[i].arr)
            kvlen = up(kvlen, 8) + (size_t)w->kv[i].n * (w->kv[i].type == VW_KV_F32S ? 4 : 8);
    size_t tlen = 8 + VW_TENSOR_ENTRY * w->nt;
    size_t dlen = 0;
    for (size_t i = 0; i < w->nt; i++)
        dlen = up(dlen, VW_ALIGN) + w->t[i].size;
    int nsec = w->graph ? 5 : 4;
    size_t off_s = up(VW_HEADER_SIZE + (size_t)nsec * VW_SECTION_ENTRY, 64);
    size_t off_kv = up(off_s + slen, 64);
    size_t off_t = up(off_kv + kvlen, 64);
    size_t off_g = up(off_t + tlen, 64);
    size_t off_d = up(off_g + (w->graph ? w->graph_size : 0), VW_ALIGN);
    size_t total = off_d + dlen;
    uint8_t *b = calloc(1, total);
    if (!b)
        return werr(w, "out of memory (%zu bytes)", total);

    uint8_t *S = b + off_s, *K = b + off_kv, *T = b + off_t, *D = b + off_d;
    size_t sp = 0;
#define ADD_STR(str, off_out, len_out)              \
    do {                                            \
        size_t l_ = strlen(str);                    \
        memcpy(S + sp, str, l_);                    \
        (off_out) = (uint32_t)sp;                   \
        (len_out) = (uint32_t)l_;                   \
        sp += l_ + 1;                               \
    } while (0)

    put32(T, (uint32_t)w->nt);
    size_t dp = 0;
    for (size_t i = 0; i < w->nt; i++) {
        wtensor *t = &w->t[i];
        uint8_t *e = T + 8 + i * VW_TENSOR_ENTRY;
        uint32_t no, nl;
        ADD_STR(t->name, no, nl);
        put32(e, no);
        put32(e + 4, nl);
        put32(e + 8, t->dtype);
        put32(e + 12, t->layout);
        put32(e + 16, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++)
            put64(e + 24 + 8 * d, (uint64_t)t->dims[d]);
        dp = up(dp, VW_ALIGN);
        memcpy(D + dp, t->data, t->size);
        put64(e + 72, dp);
        put64(e + 80, t->size);
        dp += t->size;
        put32(e + 88, t->q.scheme);
        if (t->q.scheme == VW_Q_TENSOR) {
            putf32(e + 96, t->q.scale);
            put32(e + 100, (uint32_t)t->q.zero);
        } else if (t->q.scheme == VW_Q_CHANNEL) {
            put32(e + 92, (uint32_t)t->q.axis);
            put32(e + 104, (uint32_t)t->q.scales_tensor + 1);
            put32(e + 108, t->q.zeros_tensor >= 0 ? (uint32_t)t->q.zeros_tensor + 1 : 0);
        }
    }
    put32(K, (uint32_t)w->nkv);
    size_t ap = 8 + VW_KV_ENTRY * w->nkv;
    for (size_t i = 0; i < w->nkv; i++) {
        wkv *kv = &w->kv[i];
        uint8_t *e = K + 8 + i * VW_KV_ENTRY;
        uint32_t ko, kl;
        ADD_STR(kv->key, ko, kl);
        put32(e, ko);
        put32(e + 4, kl);
        put32(e + 8, kv->type);
        put32(e + 12, kv->n);
        if (kv->str) {
            uint32_t so, sl;
            ADD_STR(kv->str, so, sl);
            put64(e + 16, (uint64_t)sl << 32 | so);
        } else if (kv->arr) {
            size_t es = kv->type == VW_KV_F32S ? 4 : 8;
            ap = up(ap, 8);
            memcpy(K + ap, kv->arr, kv->n * es);
            put64(e + 16, ap);
            ap += kv->n * es;
        } else {
            put64(e + 16, kv->bits);
        }
    }
#undef ADD_STR
    if (w->graph)
        memcpy(b + off_g, w->graph, w->graph_size);

    struct {
        uint32_t type;
        size_t off, len;
    } secs[5] = {{VW_SEC_STRINGS, off_s, slen},
                 {VW_SEC_KV, off_kv, kvlen},
                 {VW_SEC_TENSORS, off_t, tlen},
                 {VW_SEC_GRAPH, off_g, w->graph_size},
                 {VW_SEC_DATA, off_d, dlen}};
    int si = 0;
    for (int i = 0; i < 5; i++) {
        if (secs[i].type == VW_SEC_GRAPH && !w->graph)
            continue;
        uint8_t *e = b + VW_HEADER_SIZE + si++ * VW_SECTION_ENTRY;
        put32(e, secs[i].type);
        put64(e + 8, secs[i].off);
        put64(e + 16, secs[i].len);
        put32(e + 24, vf_crc32c(0, b + secs[i].off, secs[i].len));
    }
    memcpy(b, VW_MAGIC, 8);
    put16(b + 8, VW_VERSION_MAJOR);
    put16(b + 10, VW_VERSION_MINOR);
    put32(b + 12, VW_HEADER_SIZE);
    put64(b + 16, total);
    put32(b + 24, (uint32_t)nsec);
    put32(b + 28, VW_ALIGN);
    put64(b + 32, VW_HEADER_SIZE);
    put32(b + 60, vf_crc32c(0, b, 60));
    *bufp = b;
    *lenp = total;
    return 0;
}

int vw_writer_save(vw_writer *w, const char *path)
{
    void *buf;
    size_t len;
    if (vw_writer_serialize(w, &buf, &len))
        return -1;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16), *dircopy = strdup(path);
    if (!tmp || !dircopy) {
        free(tmp);
        free(dircopy);
        free(buf);
        return werr(w, "out of memory");
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int rc = -1, fd = mkstemp(tmp);
    if (fd < 0) {
        werr(w, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    const uint8_t *p = buf;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            werr(w, "%s: write: %s", tmp, n < 0 ? strerror(errno) : "no progress");
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (left == 0 && fsync(fd) != 0)
        werr(w, "%s: fsync: %s", tmp, strerror(errno));
    else if (left == 0 && fchmod(fd, 0644) == 0)
        rc = 0;
    if (close(fd) != 0 && rc == 0)
        rc = werr(w, "%s: close: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = werr(w, "rename %s -> %s: %s", tmp, path, strerror(errno));
    if (rc != 0) {
        unlink(tmp);
        goto out;
    }
    /* The rename is durable only once the directory entry is. */
    int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
out:
    free(tmp);
    free(dircopy);
    free(buf);
    return rc;
}
