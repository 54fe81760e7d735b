/* safetensors reader: every number in the header is checked against the
 * file before anything it points at is handed out (safetensors.h). */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "le.h"
#include "errmsg.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensor data is used in place: a big-endian host would need a byte-swapping loader"
#endif

struct st_file {
    const uint8_t *base;
    size_t len;
    void *map; /* non-NULL when we own an mmap */
    uint64_t header_size;
    const uint8_t *buffer;
    uint64_t buffer_size;
    json_doc *doc; /* names and metadata strings live in its arena */
    size_t ntensors, nmeta;
    st_tensor *tensors;
    int64_t *dims;
    const st_tensor **by_name;
    const char **meta_keys, **meta_values;
};

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1},       [ST_U8] = {"U8", 1},     [ST_I8] = {"I8", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_I16] = {"I16", 2},         [ST_U16] = {"U16", 2},   [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},       [ST_I32] = {"I32", 4},   [ST_U32] = {"U32", 4},
    [ST_F32] = {"F32", 4},         [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},
};

const char *st_dtype_name(st_dtype t)
{
    return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].name : "?";
}

size_t st_dtype_size(st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].size : 0; }

int st_dtype_parse(const char *name, st_dtype *out)
{
    for (int i = 0; name && i < ST_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (st_dtype)i;
            return 0;
        }
    return -1;
}

/* "an array", "a string", ... for messages. */
static const char *a_type(const json_value *v)
{
    switch (json_type(v)) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    case JSON_OBJECT: return "an object";
    default: return "nothing";
    }
}

/* A non-negative JSON integer. */
static int get_u64(const json_value *v, uint64_t *out)
{
    int64_t i;
    if (json_int(v, &i) != 0 || i < 0)
        return -1;
    *out = (uint64_t)i;
    return 0;
}

/* A name for messages: the key, shortened, with anything unprintable as '?'. */
static const char *show_name(const char *s, size_t n, char buf[72])
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 64; i++)
        buf[k++] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
    if (n > 64) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = 0;
    return buf;
}

static int parse_metadata(st_file *f, const json_value *m, char *err, size_t errlen)
{
    if (json_type(m) != JSON_OBJECT)
        FAIL("__metadata__ is %s, not an object of strings", a_type(m));
    size_t n = json_len(m);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values)
        FAIL("out of memory for %zu metadata entries", n);
    char b[72];
    for (size_t i = 0; i < n; i++) {
        size_t klen;
        const char *k = json_key_at(m, i, &klen);
        if (strlen(k) != klen)
            FAIL("__metadata__ key '%s' contains U+0000", show_name(k, klen, b));
        const json_value *v = json_at(m, i);
        if (json_type(v) != JSON_STRING)
            FAIL("__metadata__ '%s' is %s, not a string", show_name(k, klen, b), a_type(v));
        const char *s = json_cstr(v);
        if (!s)
            FAIL("__metadata__ '%s': value contains U+0000", show_name(k, klen, b));
        for (size_t j = 0; j < i; j++)
            if (strcmp(f->meta_keys[j], k) == 0)
                FAIL("duplicate __metadata__ key '%s'", show_name(k, klen, b));
        f->meta_keys[i] = k;
        f->meta_values[i] = s;
    }
    f->nmeta = n;
    return 0;
}

static int parse_entry(st_file *f, const char *name, const json_value *e, st_tensor *t,
                       int64_t *dims, char *err, size_t errlen)
{
    char b[72];
    const char *nm = show_name(name, strlen(name), b);
    if (json_type(e) != JSON_OBJECT)
        FAIL("tensor '%s': entry is %s, not an object", nm, a_type(e));
    const json_value *dt = NULL, *shape = NULL, *offs = NULL;
    for (size_t i = 0; i < json_len(e); i++) {
        size_t klen;
        const char *k = json_key_at(e, i, &klen);
        const json_value **slot = NULL;
        if (klen == 5 && !memcmp(k, "dtype", 5))
            slot = &dt;
        else if (klen == 5 && !memcmp(k, "shape", 5))
            slot = &shape;
        else if (klen == 12 && !memcmp(k, "data_offsets", 12))
            slot = &offs;
        else {
            char kb[72];
            FAIL("tensor '%s': unknown field '%s'", nm, show_name(k, klen, kb));
        }
        if (*slot)
            FAIL("tensor '%s': field '%s' appears twice", nm, k);
        *slot = json_at(e, i);
    }
    if (!dt || !shape || !offs)
        FAIL("tensor '%s': missing field '%s'", nm, !dt ? "dtype" : !shape ? "shape" : "data_offsets");
    if (json_type(dt) != JSON_STRING)
        FAIL("tensor '%s': dtype is %s, not a string", nm, a_type(dt));
    const char *dts = json_cstr(dt);
    if (!dts)
        FAIL("tensor '%s': unknown dtype (it contains U+0000)", nm);
    if (st_dtype_parse(dts, &t->dtype) != 0) {
        char db[72];
        FAIL("tensor '%s': unknown dtype '%s'", nm, show_name(dts, strlen(dts), db));
    }
    if (json_type(shape) != JSON_ARRAY)
        FAIL("tensor '%s': shape is %s, not an array", nm, a_type(shape));
    size_t nd = json_len(shape);
    if (nd > ST_MAX_DIMS)
        FAIL("tensor '%s': %zu dimensions, more than %d", nm, nd, ST_MAX_DIMS);
    /* Overflow anywhere in the running product is refused, as the reference
     * implementation does (even if a later dimension is 0). */
    uint64_t count = 1, es = dtypes[t->dtype].size;
    for (size_t d = 0; d < nd; d++) {
        uint64_t v;
        if (get_u64(json_at(shape, d), &v) != 0)
            FAIL("tensor '%s': shape[%zu] is not a non-negative integer", nm, d);
        dims[d] = (int64_t)v;
        if (v && count > UINT64_MAX / v)
            FAIL("tensor '%s': the product of shape overflows 64 bits at shape[%zu]", nm, d);
        count *= v;
    }
    if (count > UINT64_MAX / es)
        FAIL("tensor '%s': %llu elements x %llu bytes (%s) overflows 64 bits", nm,
             (unsigned long long)count, (unsigned long long)es, dts);
    uint64_t nbytes = count * es;
    if (json_type(offs) != JSON_ARRAY || json_len(offs) != 2)
        FAIL("tensor '%s': data_offsets is not an array of 2 integers", nm);
    uint64_t begin, end;
    if (get_u64(json_at(offs, 0), &begin) || get_u64(json_at(offs, 1), &end))
        FAIL("tensor '%s': data_offsets are not non-negative integers", nm);
    if (end < begin)
        FAIL("tensor '%s': data_offsets [%llu, %llu] are reversed", nm, (unsigned long long)begin,
             (unsigned long long)end);
    if (end > f->buffer_size)
        FAIL("tensor '%s': data_offsets [%llu, %llu] end past the byte buffer (%llu bytes)", nm,
             (unsigned long long)begin, (unsigned long long)end,
             (unsigned long long)f->buffer_size);
    if (end - begin != nbytes)
        FAIL("tensor '%s': %s with %llu elements needs %llu bytes but data_offsets [%llu, %llu] "
             "span %llu",
             nm, dts, (unsigned long long)count, (unsigned long long)nbytes,
             (unsigned long long)begin, (unsigned long long)end,
             (unsigned long long)(end - begin));
    t->name = name;
    t->ndim = (int)nd;
    t->shape = nd ? dims : NULL;
    t->nelems = count;
    t->begin = begin;
    t->end = end;
    t->size = (size_t)nbytes;
    t->data = f->buffer + begin;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

static int cmp_range(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Sorted by offset, each tensor starts where the previous ended, from 0 to
 * the end of the buffer: no overlap, no hole, nothing unindexed. */
static int check_layout(st_file *f, char *err, size_t errlen)
{
    size_t n = f->ntensors;
    const st_tensor **by_off = malloc((n ? n : 1) * sizeof *by_off);
    if (!by_off)
        FAIL("out of memory for %zu tensors", n);
    for (size_t i = 0; i < n; i++)
        by_off[i] = &f->tensors[i];
    qsort(by_off, n, sizeof *by_off, cmp_range);
    uint64_t at = 0;
    const st_tensor *prev = NULL;
    int rc = 0;
    char b1[72], b2[72];
    for (size_t i = 0; i < n && rc == 0; i++) {
        const st_tensor *t = by_off[i];
        if (t->begin < at)
            rc = vf_fail(err, errlen, "tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                      show_name(prev->name, strlen(prev->name), b1),
                      (unsigned long long)prev->begin, (unsigned long long)prev->end,
                      show_name(t->name, strlen(t->name), b2), (unsigned long long)t->begin,
                      (unsigned long long)t->end);
        else if (t->begin > at)
            rc = vf_fail(err, errlen,
                      "bytes [%llu, %llu) of the byte buffer belong to no tensor (a hole before '%s')",
                      (unsigned long long)at, (unsigned long long)t->begin,
                      show_name(t->name, strlen(t->name), b1));
        at = t->end;
        prev = t;
    }
    free(by_off);
    if (rc == 0 && at != f->buffer_size)
        FAIL("the byte buffer has %llu bytes but the tensors cover %llu (trailing bytes belong to "
             "no tensor)",
             (unsigned long long)f->buffer_size, (unsigned long long)at);
    return rc;
}

static int parse(st_file *f, char *err, size_t errlen)
{
    if (f->len < 8)
        FAIL("file too short for the header length: %zu bytes, need 8", f->len);
    uint64_t n = le64(f->base);
    if (n > ST_MAX_HEADER)
        FAIL("header length %llu exceeds the limit of %u bytes", (unsigned long long)n,
             ST_MAX_HEADER);
    if (n > f->len - 8)
        FAIL("header length %llu runs past the end of the file (%zu bytes follow the length)",
             (unsigned long long)n, f->len - 8);
    const uint8_t *h = f->base + 8;
    if (n == 0 || h[0] != '{')
        FAIL("header does not start with '{'");
    f->header_size = n;
    f->buffer = h + n;
    f->buffer_size = f->len - 8 - n;
    char jerr[200];
    /* Depth 3 is all a valid header needs; the default element limit (4 Mi
     * values, far above any real header) bounds the parser's memory. */
    json_limits lim = {.max_bytes = (size_t)n, .max_depth = 8};
    if (json_parse(h, (size_t)n, &lim, &f->doc, jerr, sizeof jerr) != 0)
        FAIL("header is not valid JSON: %s", jerr);
    const json_value *root = json_root(f->doc);
    size_t members = json_len(root);
    f->tensors = calloc(members ? members : 1, sizeof *f->tensors);
    f->by_name = calloc(members ? members : 1, sizeof *f->by_name);
    if (!f->tensors || !f->by_name)
        FAIL("out of memory for %zu tensors", members);
    /* Shapes: at most ST_MAX_DIMS each, in one block sized by the header. */
    size_t total_dims = 0;
    for (size_t i = 0; i < members; i++) {
        size_t nd = json_len(json_get(json_at(root, i), "shape"));
        total_dims += nd < ST_MAX_DIMS ? nd : ST_MAX_DIMS;
    }
    f->dims = calloc(total_dims ? total_dims : 1, sizeof *f->dims);
    if (!f->dims)
        FAIL("out of memory for %zu dimensions", total_dims);
    int seen_meta = 0;
    size_t used_dims = 0;
    for (size_t i = 0; i < members; i++) {
        size_t klen;
        const char *key = json_key_at(root, i, &klen);
        const json_value *v = json_at(root, i);
        if (klen == 12 && !memcmp(key, "__metadata__", 12)) {
            if (seen_meta++)
                FAIL("__metadata__ appears twice");
            if (parse_metadata(f, v, err, errlen))
                return -1;
            continue;
        }
        char b[72];
        if (strlen(key) != klen)
            FAIL("tensor name '%s' contains U+0000", show_name(key, klen, b));
        st_tensor *t = &f->tensors[f->ntensors];
        if (parse_entry(f, key, v, t, f->dims + used_dims, err, errlen))
            return -1;
        used_dims += (size_t)t->ndim;
        f->by_name[f->ntensors] = t;
        f->ntensors++;
    }
    qsort(f->by_name, f->ntensors, sizeof *f->by_name, cmp_name);
    for (size_t i = 1; i < f->ntensors; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0) {
            char b[72];
            const char *nm = f->by_name[i]->name;
            FAIL("duplicate tensor name '%s'", show_name(nm, strlen(nm), b));
        }
    return check_layout(f, err, errlen);
}

int st_open_mem(const void *buf, size_t len, st_file **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!buf)
        FAIL("no buffer");
    st_file *f = calloc(1, sizeof *f);
    if (!f)
        FAIL("out of memory");
    f->base = buf;
    f->len = len;
    if (parse(f, err, errlen) != 0) {
        st_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int st_open(const char *path, st_file **out, char *err, size_t errlen)
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
    if (st.st_size < 8) {
        close(fd);
        FAIL("%s: file too short for the header length: %lld bytes, need 8", path,
             (long long)st.st_size);
    }
    if ((unsigned long long)st.st_size > SIZE_MAX) {
        close(fd);
        FAIL("%s: file too large to map", path);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        FAIL("%s: mmap: %s", path, strerror(errno));
    char sub[512];
    if (st_open_mem(map, (size_t)st.st_size, out, sub, sizeof sub) != 0) {
        munmap(map, (size_t)st.st_size);
        FAIL("%s: %s", path, sub);
    }
    (*out)->map = map;
    return 0;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap(f->map, f->len);
    json_free(f->doc);
    free(f->tensors);
    free(f->dims);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    free(f);
}

size_t st_tensor_count(const st_file *f) { return f->ntensors; }

const st_tensor *st_tensor_at(const st_file *f, size_t i)
{
    return i < f->ntensors ? &f->tensors[i] : NULL;
}

const st_tensor *st_find(const st_file *f, const char *name)
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

size_t st_meta_count(const st_file *f) { return f->nmeta; }
const char *st_meta_key_at(const st_file *f, size_t i) { return i < f->nmeta ? f->meta_keys[i] : NULL; }
const char *st_meta_value_at(const st_file *f, size_t i)
{
    return i < f->nmeta ? f->meta_values[i] : NULL;
}

const char *st_meta_get(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_values[i];
    return NULL;
}

uint64_t st_header_size(const st_file *f) { return f->header_size; }

const void *st_buffer(const st_file *f, size_t *size)
{
    *size = (size_t)f->buffer_size;
    return f->buffer;
}
