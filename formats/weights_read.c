/* Weight file reader: every count, offset and size is checked against the
 * file's length, with overflow-safe arithmetic, before anything it points at
 * is read (docs/WEIGHT_FORMAT.md, "Validation"). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "le.h"
#include "weights.h"
#include "weights_internal.h"
#include "errmsg.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensor data is used in place: a big-endian host would need a byte-swapping loader"
#endif

struct vw_file {
    const uint8_t *base;
    size_t len;
    void *map; /* non-NULL when we own an mmap */
    int major, minor;
    uint32_t alignment;
    int nsec;
    vw_section_info sec[VW_MAX_SECTIONS];
    const uint8_t *strings, *kvsec, *data, *graph;
    uint64_t strings_size, kv_size, data_size, graph_size;
    uint32_t data_crc;
    size_t ntensors, nkv;
    vw_tensor *tensors;
    const vw_tensor **by_name;
    vw_kv *kv;
};

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* A string reference (off, len) into STRINGS: inside it, NUL right after,
 * no NUL within. */
static const char *get_string(const vw_file *f, uint64_t off, uint64_t len)
{
    if (off > f->strings_size || len >= f->strings_size - off)
        return NULL;
    const char *s = (const char *)f->strings + off;
    if (s[len] != 0 || memchr(s, 0, len))
        return NULL;
    return s;
}

static int parse_header(vw_file *f, char *err, size_t errlen)
{
    const uint8_t *h = f->base;
    if (f->len < VW_HEADER_SIZE)
        FAIL("file too short for a header: %zu bytes, need %d", f->len, VW_HEADER_SIZE);
    if (memcmp(h, VW_MAGIC, 8) != 0)
        FAIL("bad magic: not a vireo weight file");
    f->major = le16(h + 8);
    f->minor = le16(h + 10);
    if (f->major != VW_VERSION_MAJOR)
        FAIL("unsupported version %d.%d (this reader knows %d.x)", f->major, f->minor,
             VW_VERSION_MAJOR);
    if (le32(h + 12) != VW_HEADER_SIZE)
        FAIL("header_size %u, expected %d", le32(h + 12), VW_HEADER_SIZE);
    if (le32(h + 60) != vf_crc32c(0, h, 60))
        FAIL("header checksum mismatch");
    if (!all_zero(h + 40, 20))
        FAIL("reserved header bytes are not zero");
    uint64_t fsize = le64(h + 16);
    if (fsize != f->len)
        FAIL("file_size field %llu but the file has %zu bytes (truncated or padded)",
             (unsigned long long)fsize, f->len);
    uint32_t nsec = le32(h + 24);
    if (nsec < 1 || nsec > VW_MAX_SECTIONS)
        FAIL("section_count %u out of range 1..%d", nsec, VW_MAX_SECTIONS);
    uint32_t al = le32(h + 28);
    if (al < 64 || al > 65536 || (al & (al - 1)))
        FAIL("alignment %u is not a power of two in 64..65536", al);
    f->alignment = al;
    if (le64(h + 32) != VW_HEADER_SIZE)
        FAIL("section_table_offset %llu, expected %d", (unsigned long long)le64(h + 32),
             VW_HEADER_SIZE);
    if ((uint64_t)VW_HEADER_SIZE + (uint64_t)nsec * VW_SECTION_ENTRY > f->len)
        FAIL("section table (%u entries) runs past the end of the file", nsec);
    f->nsec = (int)nsec;
    return 0;
}

static int parse_sections(vw_file *f, char *err, size_t errlen)
{
    uint64_t table_end = VW_HEADER_SIZE + (uint64_t)f->nsec * VW_SECTION_ENTRY;
    uint64_t prev_end = table_end;
    int seen[VW_SEC_COUNT] = {0};
    for (int i = 0; i < f->nsec; i++) {
        const uint8_t *e = f->base + VW_HEADER_SIZE + (size_t)i * VW_SECTION_ENTRY;
        vw_section_info s = {le32(e), le64(e + 8), le64(e + 16), le32(e + 24)};
        if (le32(e + 4) != 0 || le32(e + 28) != 0)
            FAIL("section %d: flags/reserved not zero", i);
        if (s.type == 0 || s.type >= VW_SEC_COUNT) {
            if (f->minor == 0)
                FAIL("section %d: unknown type %u", i, s.type);
        } else if (seen[s.type]++) {
            FAIL("section %d: a second section of type %u", i, s.type);
        }
        if (s.offset % 64)
            FAIL("section %d: offset %llu not a multiple of 64", i, (unsigned long long)s.offset);
        if (s.offset > f->len || s.size > f->len - s.offset)
            FAIL("section %d: [%llu, +%llu) lies outside the file (%zu bytes)", i,
                 (unsigned long long)s.offset, (unsigned long long)s.size, f->len);
        if (s.offset < prev_end)
            FAIL("section %d: offset %llu overlaps the previous section or the table (ends %llu)",
                 i, (unsigned long long)s.offset, (unsigned long long)prev_end);
        prev_end = s.offset + s.size;
        f->sec[i] = s;
        const uint8_t *p = f->base + s.offset;
        switch (s.type) {
        case VW_SEC_STRINGS: f->strings = p, f->strings_size = s.size; break;
        case VW_SEC_KV: f->kvsec = p, f->kv_size = s.size; break;
        case VW_SEC_DATA:
            if (s.offset % f->alignment)
                FAIL("DATA section offset %llu not aligned to %u", (unsigned long long)s.offset,
                     f->alignment);
            f->data = p, f->data_size = s.size, f->data_crc = s.crc;
            break;
        case VW_SEC_GRAPH: f->graph = p, f->graph_size = s.size; break;
        default: break;
        }
        if (s.type != VW_SEC_DATA && s.type < VW_SEC_COUNT && vf_crc32c(0, p, s.size) != s.crc)
            FAIL("section %d (type %u): checksum mismatch", i, s.type);
    }
    static const char *const req[] = {NULL, "STRINGS", "KV", "TENSORS", "DATA"};
    for (int t = VW_SEC_STRINGS; t <= VW_SEC_DATA; t++)
        if (!seen[t])
            FAIL("missing %s section", req[t]);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const vw_tensor *const *)a)->name, (*(const vw_tensor *const *)b)->name);
}

static int cmp_offset(const void *a, const void *b)
{
    uint64_t x = (*(const vw_tensor *const *)a)->offset, y = (*(const vw_tensor *const *)b)->offset;
    return x < y ? -1 : x > y;
}

static int parse_tensor(vw_file *f, size_t i, const uint8_t *e, vw_tensor *t, char *err,
                        size_t errlen)
{
    if (le32(e + 20) || !all_zero(e + 112, 16))
        FAIL("tensor %zu: reserved fields not zero", i);
    uint32_t nlen = le32(e + 4);
    t->name = get_string(f, le32(e), nlen);
    if (!t->name || nlen == 0 || nlen > VW_MAX_NAME)
        FAIL("tensor %zu: bad name reference (offset %u, length %u)", i, le32(e), nlen);
    uint32_t dt = le32(e + 8), lay = le32(e + 12), nd = le32(e + 16);
    if (!vw_dtype_size((vw_dtype)dt))
        FAIL("tensor '%s': unknown dtype %u", t->name, dt);
    if (lay >= VW_LAYOUT_COUNT)
        FAIL("tensor '%s': unknown layout %u", t->name, lay);
    if (nd > VW_MAX_DIMS)
        FAIL("tensor '%s': ndim %u > %d", t->name, nd, VW_MAX_DIMS);
    t->dtype = (vw_dtype)dt;
    t->layout = (vw_layout)lay;
    t->ndim = (int)nd;
    for (int d = 0; d < VW_MAX_DIMS; d++) {
        uint64_t v = le64(e + 24 + 8 * d);
        if (d < (int)nd ? (v < 1 || v > (uint64_t)INT64_MAX) : v != 0)
            FAIL("tensor '%s': dims[%d] = %llu invalid", t->name, d, (unsigned long long)v);
        t->dims[d] = (int64_t)v;
    }
    uint64_t off = le64(e + 72), size = le64(e + 80);
    size_t want = vw_expected_size(t->dtype, t->layout, t->ndim, t->dims);
    if (!want && t->layout == VW_CONV_WINO_F32 && t->ndim == 4 && (t->dims[1] != 3 || t->dims[2] != 3))
        FAIL("tensor '%s': layout %s does not fit a %lldx%lld kernel (3x3 only)", t->name,
             vw_layout_name(t->layout), (long long)t->dims[1], (long long)t->dims[2]);
    if (!want)
        FAIL("tensor '%s': layout %s does not fit dtype %s and its %d dims (or the size overflows)",
             t->name, vw_layout_name(t->layout), vw_dtype_name(t->dtype), t->ndim);
    if (size != want)
        FAIL("tensor '%s': data_size %llu but %s %s needs %zu", t->name, (unsigned long long)size,
             vw_layout_name(t->layout), vw_dtype_name(t->dtype), want);
    if (off % f->alignment)
        FAIL("tensor '%s': data_offset %llu not aligned to %u", t->name, (unsigned long long)off,
             f->alignment);
    if (off > f->data_size || size > f->data_size - off)
        FAIL("tensor '%s': data [%llu, +%llu) outside the DATA section (%llu bytes)", t->name,
             (unsigned long long)off, (unsigned long long)size,
             (unsigned long long)f->data_size);
    t->offset = off;
    t->size = (size_t)size;
    t->data = f->data + off;
    uint32_t qs = le32(e + 88);
    if (qs > VW_Q_CHANNEL)
        FAIL("tensor '%s': unknown quantization scheme %u", t->name, qs);
    t->qscheme = (vw_qscheme)qs;
    t->qaxis = (int)le32(e + 92);
    t->qscale = lef32(e + 96);
    t->qzero = (int32_t)le32(e + 100);
    if (qs == VW_Q_TENSOR && !(t->qscale > 0 && t->qscale < 3.4e38f))
        FAIL("tensor '%s': quantization scale %g must be finite and > 0", t->name, t->qscale);
    if (qs == VW_Q_CHANNEL && (t->qaxis < 0 || t->qaxis >= t->ndim))
        FAIL("tensor '%s': quantization axis %d outside its %d dims", t->name, t->qaxis, t->ndim);
    return 0;
}

/* Per-channel references point at other tensors: resolved once all exist. */
static int resolve_quant(vw_file *f, const uint8_t *tab, char *err, size_t errlen)
{
    for (size_t i = 0; i < f->ntensors; i++) {
        vw_tensor *t = &f->tensors[i];
        const uint8_t *e = tab + 8 + i * VW_TENSOR_ENTRY;
        uint32_t rs = le32(e + 104), rz = le32(e + 108);
        if (t->qscheme != VW_Q_CHANNEL) {
            if (rs || rz)
                FAIL("tensor '%s': per-channel references without per-channel scheme", t->name);
            continue;
        }
        uint64_t ch = (uint64_t)t->dims[t->qaxis];
        if (rs == 0 || rs > f->ntensors || rs - 1 == i)
            FAIL("tensor '%s': scales reference %u invalid", t->name, rs);
        const vw_tensor *s = &f->tensors[rs - 1];
        if (s->dtype != VW_F32 || s->layout != VW_PLAIN || s->size != ch * 4)
            FAIL("tensor '%s': scales tensor '%s' is not %llu plain f32", t->name, s->name,
                 (unsigned long long)ch);
        t->qscales = (const float *)s->data;
        if (rz) {
            if (rz > f->ntensors || rz - 1 == i)
                FAIL("tensor '%s': zero points reference %u invalid", t->name, rz);
            const vw_tensor *z = &f->tensors[rz - 1];
            if (z->dtype != VW_S32 || z->layout != VW_PLAIN || z->size != ch * 4)
                FAIL("tensor '%s': zero points tensor '%s' is not %llu plain s32", t->name,
                     z->name, (unsigned long long)ch);
            t->qzeros = (const int32_t *)z->data;
        }
    }
    return 0;
}

static int parse_tensors(vw_file *f, char *err, size_t errlen)
{
    const vw_section_info *s = NULL;
    for (int i = 0; i < f->nsec; i++)
        if (f->sec[i].type == VW_SEC_TENSORS)
            s = &f->sec[i];
    const uint8_t *tab = f->base + s->offset;
    if (s->size < 8)
        FAIL("TENSORS section too small (%llu bytes)", (unsigned long long)s->size);
    uint32_t count = le32(tab);
    if (le32(tab + 4))
        FAIL("TENSORS reserved field not zero");
    if ((uint64_t)count * VW_TENSOR_ENTRY + 8 != s->size)
        FAIL("TENSORS section: %u entries need %llu bytes, section has %llu", count,
             (unsigned long long)count * VW_TENSOR_ENTRY + 8, (unsigned long long)s->size);
    f->ntensors = count;
    f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
    f->by_name = calloc(count ? count : 1, sizeof *f->by_name);
    const vw_tensor **by_off = calloc(count ? count : 1, sizeof *by_off);
    if (!f->tensors || !f->by_name || !by_off) {
        free(by_off);
        FAIL("out of memory for %u tensors", count);
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        rc = parse_tensor(f, i, tab + 8 + i * VW_TENSOR_ENTRY, &f->tensors[i], err, errlen);
        f->by_name[i] = by_off[i] = &f->tensors[i];
    }
    if (rc == 0) {
        qsort(f->by_name, count, sizeof *f->by_name, cmp_name);
        for (size_t i = 1; i < count && rc == 0; i++)
            if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
                rc = vf_fail(err, errlen, "duplicate tensor name '%s'", f->by_name[i]->name);
    }
    if (rc == 0) {
        qsort(by_off, count, sizeof *by_off, cmp_offset);
        for (size_t i = 1; i < count && rc == 0; i++)
            if (by_off[i - 1]->offset + by_off[i - 1]->size > by_off[i]->offset)
                rc = vf_fail(err, errlen, "tensors '%s' and '%s' overlap in DATA", by_off[i - 1]->name,
                          by_off[i]->name);
    }
    free(by_off);
    if (rc == 0)
        rc = resolve_quant(f, tab, err, errlen);
    return rc;
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const vw_kv *)a)->key, ((const vw_kv *)b)->key);
}

static int parse_kv(vw_file *f, char *err, size_t errlen)
{
    const uint8_t *p = f->kvsec;
    if (f->kv_size < 8)
        FAIL("KV section too small (%llu bytes)", (unsigned long long)f->kv_size);
    uint32_t count = le32(p);
    if (le32(p + 4))
        FAIL("KV reserved field not zero");
    if ((uint64_t)count * VW_KV_ENTRY + 8 > f->kv_size)
        FAIL("KV section: %u entries need %llu bytes, section has %llu", count,
             (unsigned long long)count * VW_KV_ENTRY + 8, (unsigned long long)f->kv_size);
    f->nkv = count;
    f->kv = calloc(count ? count : 1, sizeof *f->kv);
    if (!f->kv)
        FAIL("out of memory for %u keys", count);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = p + 8 + i * VW_KV_ENTRY;
        vw_kv *kv = &f->kv[i];
        uint32_t klen = le32(e + 4);
        kv->key = get_string(f, le32(e), klen);
        if (!kv->key || klen == 0 || klen > VW_MAX_NAME)
            FAIL("key %zu: bad name reference", i);
        kv->type = (vw_kv_type)le32(e + 8);
        kv->n = le32(e + 12);
        uint64_t v = le64(e + 16);
        switch (kv->type) {
        case VW_KV_U64:
        case VW_KV_I64:
        case VW_KV_F64:
            if (kv->n != 1)
                FAIL("key '%s': scalar with n = %u", kv->key, kv->n);
            memcpy(&kv->v.u, &v, 8);
            break;
        case VW_KV_STR:
            if (kv->n != 1)
                FAIL("key '%s': string with n = %u", kv->key, kv->n);
            kv->v.s = get_string(f, v & 0xffffffffu, v >> 32);
            if (!kv->v.s)
                FAIL("key '%s': bad string reference", kv->key);
            kv->n = (uint32_t)(v >> 32);
            break;
        case VW_KV_F32S:
        case VW_KV_I64S: {
            uint64_t es = kv->type == VW_KV_F32S ? 4 : 8;
            if (v % 8 || v > f->kv_size || (uint64_t)kv->n * es > f->kv_size - v)
                FAIL("key '%s': array of %u at %llu misaligned or outside the KV section", kv->key, kv->n,
                     (unsigned long long)v);
            if (kv->type == VW_KV_F32S)
                kv->v.f32s = (const float *)(p + v);
            else
                kv->v.i64s = (const int64_t *)(p + v);
            break;
        }
        default: FAIL("key '%s': unknown type %u", kv->key, (unsigned)kv->type);
        }
    }
    qsort(f->kv, count, sizeof *f->kv, cmp_kv);
    for (size_t i = 1; i < count; i++)
        if (strcmp(f->kv[i - 1].key, f->kv[i].key) == 0)
            FAIL("duplicate key '%s'", f->kv[i].key);
    return 0;
}

int vw_open_mem(const void *buf, size_t len, vw_file **out, char *err, size_t errlen)
{
    *out = NULL;
    vw_file *f = calloc(1, sizeof *f);
    if (!f)
        FAIL("out of memory");
    f->base = buf;
    f->len = len;
    if (!buf || parse_header(f, err, errlen) || parse_sections(f, err, errlen) ||
        parse_tensors(f, err, errlen) || parse_kv(f, err, errlen)) {
        if (!buf)
            vf_fail(err, errlen, "no buffer");
        vw_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int vw_open(const char *path, vw_file **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        FAIL("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        FAIL("%s: not a regular file", path);
    }
    if (st.st_size < VW_HEADER_SIZE) {
        close(fd);
        FAIL("%s: file too short for a header: %lld bytes", path, (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        FAIL("%s: mmap: %s", path, strerror(errno));
    char sub[512];
    if (vw_open_mem(map, (size_t)st.st_size, out, sub, sizeof sub) != 0) {
        munmap(map, (size_t)st.st_size);
        FAIL("%s: %s", path, sub);
    }
    (*out)->map = map;
    return 0;
}

void vw_close(vw_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap(f->map, f->len);
    free(f->tensors);
    free(f->by_name);
    free(f->kv);
    free(f);
}

int vw_verify_data(const vw_file *f, int *recorded, char *err, size_t errlen)
{
    *recorded = f->data_crc != 0;
    if (*recorded && vf_crc32c(0, f->data, f->data_size) != f->data_crc)
        FAIL("DATA section checksum mismatch: the weights are corrupt");
    return 0;
}

size_t vw_tensor_count(const vw_file *f) { return f->ntensors; }
const vw_tensor *vw_tensor_at(const vw_file *f, size_t i)
{
    return i < f->ntensors ? &f->tensors[i] : NULL;
}

const vw_tensor *vw_find(const vw_file *f, const char *name)
{
    size_t lo = 0, hi = f->ntensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0)
            return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t vw_kv_count(const vw_file *f) { return f->nkv; }
const vw_kv *vw_kv_at(const vw_file *f, size_t i) { return i < f->nkv ? &f->kv[i] : NULL; }
const vw_kv *vw_kv_find(const vw_file *f, const char *key)
{
    vw_kv k = {.key = key};
    return bsearch(&k, f->kv, f->nkv, sizeof *f->kv, cmp_kv);
}

void vw_version(const vw_file *f, int *major, int *minor)
{
    *major = f->major;
    *minor = f->minor;
}
uint32_t vw_alignment(const vw_file *f) { return f->alignment; }
uint64_t vw_file_size(const vw_file *f) { return f->len; }
int vw_section_count(const vw_file *f) { return f->nsec; }
vw_section_info vw_section_at(const vw_file *f, int i) { return f->sec[i]; }
const void *vw_graph(const vw_file *f, size_t *size)
{
    *size = f->graph ? (size_t)f->graph_size : 0;
    return f->graph;
}
