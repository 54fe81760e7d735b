/* safetensors reader: files this test writes itself (several dtypes, scalars,
 * empty tensors, metadata), the byte-exact outputs of the reference
 * implementation's own tests, a table of broken headers each refused with an
 * error naming the problem, truncation at every length and random corruption
 * (never a crash: this runs under ASan/UBSan). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/le.h"
#include "formats/safetensors.h"
#include "testutil.h"

/* 8-byte length, the header padded with spaces to a multiple of 8 (as the
 * reference writer does) unless pad == 0, then the buffer. */
static uint8_t *make_file(const char *header, const void *buf, size_t buflen, int pad, size_t *len)
{
    size_t n = strlen(header);
    size_t padded = pad ? (n + 7) / 8 * 8 : n;
    *len = 8 + padded + buflen;
    uint8_t *f = malloc(*len ? *len : 1);
    put64(f, padded);
    memcpy(f + 8, header, n);
    memset(f + 8 + n, ' ', padded - n);
    if (buflen)
        memcpy(f + 8 + padded, buf, buflen);
    return f;
}

/* ------------------------------------------------------------ valid */
typedef struct {
    const char *name, *dtype;
    int ndim;
    int64_t shape[4];
    size_t esize;
} tspec;

static const tspec specs[] = {
    {"model.conv1.weight", "F32", 4, {4, 3, 2, 2}, 4},
    {"model.conv1.bias", "F32", 1, {4}, 4},
    {"half", "F16", 2, {3, 5}, 2},
    {"brain", "BF16", 1, {7}, 2},
    {"double", "F64", 2, {2, 2}, 8},
    {"steps", "I64", 0, {0}, 8}, /* a scalar */
    {"ids", "I32", 1, {3}, 4},
    {"short", "I16", 1, {5}, 2},
    {"bytes", "I8", 1, {9}, 1},
    {"ubytes", "U8", 2, {1, 3}, 1},
    {"mask", "BOOL", 1, {6}, 1},
    {"empty", "F32", 2, {0, 16}, 4},  /* empty: no bytes */
    {"empty2", "F16", 3, {5, 0, 2}, 2},
    {"u16", "U16", 1, {2}, 2},
    {"u32", "U32", 1, {2}, 4},
    {"u64", "U64", 1, {1}, 8},
    {"fp8", "F8_E4M3", 1, {3}, 1},
    {"fp8b", "F8_E5M2", 1, {1}, 1},
    {"tail_empty", "I8", 1, {0}, 1},
};
#define NSPECS (sizeof specs / sizeof *specs)

static size_t spec_bytes(const tspec *s)
{
    size_t n = s->esize;
    for (int d = 0; d < s->ndim; d++)
        n *= (size_t)s->shape[d];
    return n;
}

/* Writes the specs with data laid out in spec order and the header listing
 * them in reverse (header order need not follow the data). Tensor i's bytes
 * are (i * 31 + k) & 255. */
static uint8_t *sample_file(size_t *len, uint64_t *offsets)
{
    size_t total = 0;
    for (size_t i = 0; i < NSPECS; i++) {
        offsets[i] = total;
        total += spec_bytes(&specs[i]);
    }
    char header[8192];
    size_t h = 0;
    h += (size_t)snprintf(header + h, sizeof header - h,
                          "{\"__metadata__\":{\"format\":\"pt\",\"caf\\u00e9\":\"\\u00fc \\ud83d\\ude00\"}");
    for (size_t j = 0; j < NSPECS; j++) {
        size_t i = NSPECS - 1 - j;
        const tspec *s = &specs[i];
        h += (size_t)snprintf(header + h, sizeof header - h, ",\n  \"%s\": {\"dtype\":\"%s\",\"shape\":[",
                              s->name, s->dtype);
        for (int d = 0; d < s->ndim; d++)
            h += (size_t)snprintf(header + h, sizeof header - h, d ? ",%lld" : "%lld",
                                  (long long)s->shape[d]);
        h += (size_t)snprintf(header + h, sizeof header - h, "], \"data_offsets\":[%llu,%llu]}",
                              (unsigned long long)offsets[i],
                              (unsigned long long)(offsets[i] + spec_bytes(s)));
    }
    snprintf(header + h, sizeof header - h, "}");
    uint8_t *buf = malloc(total);
    for (size_t i = 0; i < NSPECS; i++)
        for (size_t k = 0; k < spec_bytes(&specs[i]); k++)
            buf[offsets[i] + k] = (uint8_t)((i * 31 + k) & 255);
    uint8_t *f = make_file(header, buf, total, 1, len);
    free(buf);
    return f;
}

static void check_sample(const st_file *f, const uint8_t *file, size_t len, const uint64_t *offsets)
{
    assert_int_equal(st_tensor_count(f), NSPECS);
    size_t bufsize;
    const uint8_t *buf = st_buffer(f, &bufsize);
    assert_ptr_equal(buf, file + 8 + st_header_size(f));
    assert_int_equal(st_header_size(f) % 8, 0);
    assert_int_equal(8 + st_header_size(f) + bufsize, len);
    for (size_t i = 0; i < NSPECS; i++) {
        const tspec *s = &specs[i];
        const st_tensor *t = st_find(f, s->name);
        if (!t) {
            tu_fail("tensor %s not found", s->name);
            continue;
        }
        assert_ptr_equal(st_tensor_at(f, NSPECS - 1 - i), t); /* header order */
        assert_string_equal(st_dtype_name(t->dtype), s->dtype);
        assert_int_equal(st_dtype_size(t->dtype), s->esize);
        assert_int_equal(t->ndim, s->ndim);
        uint64_t ne = 1;
        for (int d = 0; d < s->ndim; d++) {
            assert_int_equal(t->shape[d], s->shape[d]);
            ne *= (uint64_t)s->shape[d];
        }
        if (s->ndim == 0)
            assert_null(t->shape);
        assert_int_equal(t->nelems, ne);
        assert_int_equal(t->size, spec_bytes(s));
        assert_int_equal(t->begin, offsets[i]);
        assert_int_equal(t->end, offsets[i] + t->size);
        assert_ptr_equal(t->data, buf + offsets[i]); /* zero-copy */
        for (size_t k = 0; k < t->size; k++)
            assert_int_equal(((const uint8_t *)t->data)[k], (i * 31 + k) & 255);
    }
    assert_null(st_find(f, "nope"));
    assert_null(st_find(f, "__metadata__"));
    assert_null(st_tensor_at(f, NSPECS));
    assert_int_equal(st_meta_count(f), 2);
    assert_string_equal(st_meta_get(f, "format"), "pt");
    assert_string_equal(st_meta_get(f, "caf\xc3\xa9"), "\xc3\xbc \xf0\x9f\x98\x80");
    assert_string_equal(st_meta_key_at(f, 0), "format");
    assert_string_equal(st_meta_value_at(f, 1), "\xc3\xbc \xf0\x9f\x98\x80");
    assert_null(st_meta_get(f, "missing"));
    assert_null(st_meta_key_at(f, 2));
}

static void test_valid_file(void **state)
{
    size_t len;
    uint64_t offsets[NSPECS];
    uint8_t *file = sample_file(&len, offsets);
    st_file *f;
    char err[512] = "";
    if (st_open_mem(file, len, &f, err, sizeof err) != 0)
        tu_fail("valid file refused: %s", err);
    check_sample(f, file, len, offsets);
    /* F32 values read in place, little-endian */
    const st_tensor *w = st_find(f, "model.conv1.weight");
    assert_int_equal(((const uint8_t *)w->data)[5], 5);
    st_close(f);

    /* The same through a file and mmap. */
    char dir[] = "/tmp/vireo-st-XXXXXX", path[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(file, 1, len, fp), len);
    fclose(fp);
    if (st_open(path, &f, err, sizeof err) != 0)
        tu_fail("valid file refused from disk: %s", err);
    size_t bs;
    const uint8_t *buf = st_buffer(f, &bs);
    assert_int_equal(bs, len - 8 - st_header_size(f));
    assert_int_equal(((uintptr_t)buf) % 8, 0); /* page-aligned map, padded header */
    assert_int_equal(st_tensor_count(f), NSPECS);
    assert_int_equal(st_find(f, "ids")->size, 12);
    st_close(f);
    /* Errors from disk name the path. */
    fp = fopen(path, "wb");
    fwrite(file, 1, 20, fp);
    fclose(fp);
    assert_int_equal(st_open(path, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "runs past the end"));
    assert_null(f);
    fp = fopen(path, "wb");
    fwrite(file, 1, 5, fp);
    fclose(fp);
    assert_int_equal(st_open(path, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "too short"));
    unlink(path);
    assert_int_equal(st_open(path, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(st_open(dir, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    rmdir(dir);
    free(file);
}

/* Byte-exact outputs of the reference implementation (huggingface/safetensors
 * tensor.rs tests: test_serialization, test_empty, and the forced-alignment
 * case), rebuilt here. */
static void test_reference_vectors(void **state)
{
    st_file *f;
    char err[512];
    size_t len;
    /* {"attn.0": F32 [1,2,3]} with 0..5 as data; header of exactly 64 bytes. */
    float vals[6] = {0, 1, 2, 3, 4, 5};
    const char *h1 = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    assert_int_equal(strlen(h1), 64);
    uint8_t *b = make_file(h1, vals, 24, 1, &len);
    assert_int_equal(len, 96);
    assert_int_equal(st_open_mem(b, len, &f, err, sizeof err), 0);
    const st_tensor *t = st_find(f, "attn.0");
    assert_non_null(t);
    assert_int_equal(t->ndim, 3);
    assert_true(lef32((const uint8_t *)t->data + 20) == 5.0f);
    st_close(f);
    free(b);
    /* "attn0", 4 dims: 57 bytes padded with 7 spaces to 64 */
    const char *h2 = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}";
    b = make_file(h2, vals, 24, 1, &len);
    assert_int_equal(le64(b), 72);
    assert_int_equal(st_open_mem(b, len, &f, err, sizeof err), 0);
    st_close(f);
    free(b);
    /* No tensors: "{}" and 6 spaces; with metadata {"framework":"pt"}. */
    b = make_file("{}", NULL, 0, 1, &len);
    assert_int_equal(len, 16);
    assert_int_equal(st_open_mem(b, len, &f, err, sizeof err), 0);
    assert_int_equal(st_tensor_count(f), 0);
    assert_int_equal(st_meta_count(f), 0);
    st_close(f);
    free(b);
    b = make_file("{\"__metadata__\":{\"framework\":\"pt\"}}", NULL, 0, 1, &len);
    assert_int_equal(le64(b), 40);
    assert_int_equal(st_open_mem(b, len, &f, err, sizeof err), 0);
    assert_string_equal(st_meta_get(f, "framework"), "pt");
    st_close(f);
    free(b);
    /* Unpadded header: legal, data then unaligned. */
    b = make_file("{\"x\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]}}", "abcd", 4, 0, &len);
    assert_int_equal(st_open_mem(b, len, &f, err, sizeof err), 0);
    assert_memory_equal(st_find(f, "x")->data, "abcd", 4);
    st_close(f);
    free(b);
}

/* ---------------------------------------------------- broken headers */
typedef struct {
    const char *name;
    const char *header;
    size_t buflen;
    const char *expect;
} broken_case;

static const broken_case broken[] = {
    {"header not an object", "[]", 0, "start with '{'"},
    {"leading space", " {}", 0, "start with '{'"},
    {"not JSON", "{nope}", 0, "not valid JSON"},
    {"truncated JSON", "{\"a\":{\"dtype\":\"F32\"", 0, "not valid JSON"},
    {"trailing garbage", "{}x", 0, "not valid JSON"},
    {"invalid UTF-8 in a name", "{\"\xff\":{}}", 0, "invalid UTF-8"},
    {"lone surrogate in a name", "{\"\\ud800\":{}}", 0, "lone high surrogate"},
    {"entry is an array", "{\"a\":[1]}", 0, "entry is an array"},
    {"entry is a string", "{\"a\":\"x\"}", 0, "entry is a string"},
    {"entry is null", "{\"a\":null}", 0, "entry is null"},
    {"missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing field 'dtype'"},
    {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing field 'shape'"},
    {"missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing field 'data_offsets'"},
    {"unknown field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
     "unknown field 'x'"},
    {"field twice", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4, "field 'dtype' appears twice"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "unknown dtype 'F31'"},
    {"lowercase dtype", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "unknown dtype"},
    {"dtype not a string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "dtype is a number, not a string"},
    {"dtype with NUL", "{\"a\":{\"dtype\":\"F32\\u0000\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "unknown dtype (it contains U+0000)"},
    {"shape not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4,
     "shape is a number, not an array"},
    {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
     "shape[0] is not a non-negative integer"},
    {"fractional dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]}}", 4,
     "shape[1]"},
    {"string dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
     "shape[0]"},
    {"dim beyond int64", "{\"a\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],\"data_offsets\":[0,4]}}",
     4, "shape[0]"},
    {"shape product overflow",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
     "overflows 64 bits at shape[1]"},
    {"shape overflow before a zero dim",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]}}", 0,
     "overflows"},
    {"bytes overflow", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}",
     0, "overflows 64 bits"},
    {"size wraps to the offsets", /* 2^62 F32 elements = 2^64 bytes = 0 mod 2^64 */
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 0,
     "overflows 64 bits"},
    {"too many dims",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
     "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
     1, "65 dimensions"},
    {"offsets not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":4}}", 4,
     "not an array of 2"},
    {"one offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, "not an array of 2"},
    {"three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8,
     "not an array of 2"},
    {"negative offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
     "not non-negative integers"},
    {"offset beyond int64",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,18446744073709551616]}}",
     4, "not non-negative integers"},
    {"string offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}", 4,
     "not non-negative integers"},
    {"reversed offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "reversed"},
    {"offsets past the buffer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1000]}}", 8,
     "end past the byte buffer"},
    {"huge offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[9223372036854775806,9223372036854775807]}}",
     8, "end past the byte buffer"},
    {"size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
     "needs 8 bytes but data_offsets [0, 4] span 4"},
    {"size mismatch, empty tensor with bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,4]}}",
     4, "needs 0 bytes"},
    {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap"},
    {"same range twice", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "overlap"},
    {"empty tensor inside another", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                    "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8, "overlap"},
    {"hole between tensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
     "bytes [4, 8) of the byte buffer belong to no tensor"},
    {"hole at the start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
     "bytes [0, 4)"},
    {"trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
     "has 8 bytes but the tensors cover 4"},
    {"bytes but no tensors", "{}", 1, "has 1 bytes but the tensors cover 0"},
    {"duplicate names", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
     "duplicate tensor name 'a'"},
    {"duplicate names by escaping", "{\"ab\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                    "\"a\\u0062\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, "duplicate tensor name 'ab'"},
    {"NUL in a name", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "contains U+0000"},
    {"metadata not an object", "{\"__metadata__\":[]}", 0, "__metadata__ is an array"},
    {"metadata value a number", "{\"__metadata__\":{\"a\":1}}", 0, "'a' is a number, not a string"},
    {"metadata value an object", "{\"__metadata__\":{\"a\":{}}}", 0, "is an object, not a string"},
    {"metadata key twice", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "duplicate __metadata__ key 'a'"},
    {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears twice"},
    {"metadata with NUL", "{\"__metadata__\":{\"a\":\"x\\u0000\"}}", 0, "contains U+0000"},
    {"nesting", "{\"__metadata__\":{\"a\":[[[[[[[[[[1]]]]]]]]]]}}", 0, "not valid JSON"},
};

static void test_broken_headers(void **state)
{
    for (size_t c = 0; c < sizeof broken / sizeof *broken; c++) {
        const broken_case *bc = &broken[c];
        uint8_t zeros[64] = {0};
        size_t len;
        uint8_t *b = make_file(bc->header, zeros, bc->buflen, 1, &len);
        st_file *f = (st_file *)1;
        char err[512] = "";
        int rc = st_open_mem(b, len, &f, err, sizeof err);
        if (rc == 0) {
            tu_fail("case '%s': accepted", bc->name);
            st_close(f);
        } else {
            if (getenv("VIREO_TEST_VERBOSE"))
                fprintf(stderr, "%-40s -> %s\n", bc->name, err);
            assert_null(f);
            if (!strstr(err, bc->expect))
                tu_fail("case '%s': error '%s' does not mention '%s'", bc->name, err, bc->expect);
        }
        free(b);
    }
}

/* The length field and the bytes around the header. */
static void test_broken_lengths(void **state)
{
    st_file *f;
    char err[512];
    size_t len;
    uint8_t *good = make_file("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", "wxyz", 4,
                              1, &len);
    assert_int_equal(st_open_mem(good, len, &f, err, sizeof err), 0);
    st_close(f);
    struct {
        const char *name;
        uint64_t n;
        size_t len;
        const char *expect;
    } cases[] = {
        {"empty file", 0, 0, "too short"},
        {"7 bytes", 0, 7, "too short"},
        {"length 0", 0, 0, "start with '{'"},
        {"length past EOF by one", 0, 0, "runs past the end"},
        {"length 2^64-1", UINT64_MAX, 0, "exceeds the limit"},
        {"length 2^63", 1ull << 63, 0, "exceeds the limit"},
        {"length just over 100 MB", ST_MAX_HEADER + 1ull, 0, "exceeds the limit"},
        {"length 100 MB, file short", ST_MAX_HEADER, 0, "runs past the end"},
        {"length cuts the JSON", 16, 0, "not valid JSON"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        uint8_t *b = malloc(len);
        memcpy(b, good, len);
        size_t l = len;
        if (c == 0 || c == 1)
            l = cases[c].len;
        else if (c == 2)
            put64(b, 0);
        else if (c == 3)
            put64(b, len - 8 + 1);
        else
            put64(b, cases[c].n);
        f = (st_file *)1;
        int rc = st_open_mem(b, l, &f, err, sizeof err);
        if (rc == 0) {
            tu_fail("case '%s': accepted", cases[c].name);
            st_close(f);
        } else if (!strstr(err, cases[c].expect)) {
            tu_fail("case '%s': error '%s' does not mention '%s'", cases[c].name, err, cases[c].expect);
        }
        assert_true(rc != 0 && f == NULL);
        free(b);
    }
    /* NUL padding instead of spaces is not JSON. */
    uint8_t nul[8 + 8] = {0};
    put64(nul, 8);
    memcpy(nul + 8, "{}", 2);
    assert_int_equal(st_open_mem(nul, sizeof nul, &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "not valid JSON"));
    assert_int_equal(st_open_mem(NULL, 0, &f, err, sizeof err), -1);
    free(good);
}

/* Every proper prefix is refused (the length field then points past the end,
 * or the byte buffer is short). */
static void test_truncated_everywhere(void **state)
{
    size_t len0;
    uint64_t offsets[NSPECS];
    uint8_t *good = sample_file(&len0, offsets);
    for (size_t len = 0; len < len0; len++) {
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, good, len);
        st_file *f = NULL;
        char err[512];
        if (st_open_mem(b, len, &f, err, sizeof err) == 0) {
            tu_fail("truncated to %zu of %zu bytes: accepted", len, len0);
            st_close(f);
        }
        /* Forge the length so the JSON itself is cut. */
        if (len > 8) {
            put64(b, len - 8);
            if (st_open_mem(b, len, &f, err, sizeof err) == 0 && len < len0) {
                /* only possible if the cut JSON is complete, which it is not */
                tu_fail("truncated header at %zu: accepted", len);
                st_close(f);
            }
        }
        free(b);
    }
    free(good);
}

/* Random byte changes in the length and header: never a crash; whatever is
 * accepted is self-consistent. */
static void test_random_corruption(void **state)
{
    size_t len;
    uint64_t offsets[NSPECS];
    uint8_t *good = sample_file(&len, offsets);
    size_t hend = 8 + (size_t)le64(good);
    tu_rng r = tu_rng_make(99);
    static const char alphabet[] = "0123456789[]{},:\"-eE.FUI \\\x00\xff";
    int accepted = 0;
    for (int it = 0; it < 4000; it++) {
        uint8_t *b = malloc(len);
        memcpy(b, good, len);
        int edits = 1 + (int)(tu_next(&r) % 3);
        for (int k = 0; k < edits; k++) {
            size_t pos = tu_next(&r) % hend;
            if (tu_next(&r) % 2)
                b[pos] = (uint8_t)alphabet[tu_next(&r) % (sizeof alphabet - 1)];
            else
                b[pos] ^= (uint8_t)(1u << (tu_next(&r) % 8));
        }
        st_file *f = NULL;
        char err[512];
        if (st_open_mem(b, len, &f, err, sizeof err) == 0) {
            accepted++;
            size_t bs;
            const uint8_t *buf = st_buffer(f, &bs);
            uint64_t covered = 0;
            for (size_t i = 0; i < st_tensor_count(f); i++) {
                const st_tensor *t = st_tensor_at(f, i);
                assert_true(t->begin <= t->end && t->end <= bs);
                assert_ptr_equal(t->data, buf + t->begin);
                assert_int_equal(t->size, t->nelems * st_dtype_size(t->dtype));
                assert_ptr_equal(st_find(f, t->name), t);
                covered += t->size;
            }
            assert_int_equal(covered, bs);
            st_close(f);
        } else {
            assert_null(f);
        }
        free(b);
    }
    /* flips inside names or metadata values keep the file valid */
    assert_true(accepted > 0);
    free(good);
}

static void test_dtypes(void **state)
{
    st_dtype t;
    assert_int_equal(st_dtype_parse("BF16", &t), 0);
    assert_int_equal(t, ST_BF16);
    assert_int_equal(st_dtype_size(ST_BF16), 2);
    assert_int_equal(st_dtype_parse("F32 ", &t), -1);
    assert_int_equal(st_dtype_parse("", &t), -1);
    assert_int_equal(st_dtype_size(ST_DTYPE_COUNT), 0);
    assert_string_equal(st_dtype_name(ST_DTYPE_COUNT), "?");
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        assert_int_equal(st_dtype_parse(st_dtype_name((st_dtype)i), &t), 0);
        assert_int_equal(t, i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_file),
        cmocka_unit_test(test_reference_vectors),
        cmocka_unit_test(test_broken_headers),
        cmocka_unit_test(test_broken_lengths),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_dtypes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
