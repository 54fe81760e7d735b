/* Weight file: round trip, crash-safe save, and a table of deliberately broken
 * files, each of which must be refused with an error naming what is wrong
 * (never a crash: this runs under ASan/UBSan in CI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/crc32c.h"
#include "formats/le.h"
#include "formats/weights.h"
#include "formats/weights_internal.h"
#include "kernels/pack.h"
#include "testutil.h"
#include "weights_util.h"

/* A small but complete file: plain, packed and per-channel quantized
 * tensors, every KV type, a graph. */
static vw_writer *sample_writer(void)
{
    vw_writer *w = vw_writer_new();
    tu_rng r = tu_rng_make(1);
    float bias[5];
    tu_fill_f32(&r, bias, 5, -1, 1);
    int64_t d5[] = {5};
    assert_int_equal(vw_writer_add_tensor(w, "fc.bias", VW_F32, VW_PLAIN, 1, d5, bias, sizeof bias,
                                          NULL),
                     0);
    /* packed f32 B, K=7, N=5 */
    float B[7 * 5], Bp[7 * 16];
    tu_fill_f32(&r, B, 35, -1, 1);
    assert_int_equal(vk_pack_f32_b_size(7, 5), 7 * 16);
    vk_pack_f32_b(7, 5, B, 5, Bp);
    int64_t dkn[] = {7, 5};
    assert_int_equal(vw_writer_add_tensor(w, "fc.weight", VW_F32, VW_F32_B16, 2, dkn, Bp,
                                          sizeof Bp, NULL),
                     1);
    float scales[3] = {0.5f, 0.25f, 0.125f};
    int32_t zeros[3] = {0, 1, -1};
    int64_t d3[] = {3};
    assert_int_equal(vw_writer_add_tensor(w, "conv.w_scale", VW_F32, VW_PLAIN, 1, d3, scales,
                                          sizeof scales, NULL),
                     2);
    assert_int_equal(vw_writer_add_tensor(w, "conv.w_zero", VW_S32, VW_PLAIN, 1, d3, zeros,
                                          sizeof zeros, NULL),
                     3);
    int8_t wq[3 * 2 * 2 * 4];
    tu_fill_s8(&r, wq, sizeof wq);
    int64_t d4[] = {3, 2, 2, 4};
    vw_quant q = {.scheme = VW_Q_CHANNEL, .axis = 0, .scales_tensor = 2, .zeros_tensor = 3};
    assert_int_equal(vw_writer_add_tensor(w, "conv.w", VW_S8, VW_PLAIN, 4, d4, wq, sizeof wq, &q),
                     4);
    uint8_t in_q[4] = {1, 2, 3, 4};
    int64_t d1[] = {4};
    vw_quant qt = {.scheme = VW_Q_TENSOR, .scale = 0.0078125f, .zero = 128};
    assert_int_equal(vw_writer_add_tensor(w, "input", VW_U8, VW_PLAIN, 1, d1, in_q, 4, &qt), 5);
    assert_int_equal(vw_writer_kv_str(w, "model.name", "sample"), 0);
    assert_int_equal(vw_writer_kv_u64(w, "preproc.width", 224), 0);
    assert_int_equal(vw_writer_kv_i64(w, "preproc.input_zero", -3), 0);
    assert_int_equal(vw_writer_kv_f64(w, "preproc.crop_fraction", 0.875), 0);
    float mean[3] = {0.485f, 0.456f, 0.406f};
    assert_int_equal(vw_writer_kv_f32s(w, "preproc.mean", mean, 3), 0);
    int64_t shape[2] = {1, 1001};
    assert_int_equal(vw_writer_kv_i64s(w, "model.output_shape", shape, 2), 0);
    assert_int_equal(vw_writer_set_graph(w, "graph!", 6), 0);
    return w;
}

static uint8_t *sample_bytes(size_t *len)
{
    vw_writer *w = sample_writer();
    void *buf;
    assert_int_equal(vw_writer_serialize(w, &buf, len), 0);
    vw_writer_free(w);
    return buf;
}

static void test_round_trip(void **state)
{
    size_t len;
    uint8_t *buf = sample_bytes(&len);
    vw_file *f;
    char err[256] = "";
    if (vw_open_mem(buf, len, &f, err, sizeof err) != 0)
        tu_fail("valid file refused: %s", err);
    assert_int_equal(vw_tensor_count(f), 6);
    const vw_tensor *t = vw_find(f, "fc.weight");
    assert_non_null(t);
    assert_int_equal(t->layout, VW_F32_B16);
    assert_int_equal(t->dims[0], 7);
    assert_int_equal(t->dims[1], 5);
    assert_int_equal(((uintptr_t)t->data - (uintptr_t)buf) % 64, 0);
    assert_null(vw_find(f, "nope"));
    const vw_tensor *c = vw_find(f, "conv.w");
    assert_int_equal(c->qscheme, VW_Q_CHANNEL);
    assert_true(c->qscales[1] == 0.25f);
    assert_int_equal(c->qzeros[2], -1);
    const vw_tensor *in = vw_find(f, "input");
    assert_true(in->qscale == 0.0078125f);
    assert_int_equal(in->qzero, 128);
    assert_memory_equal(in->data, ((uint8_t[]){1, 2, 3, 4}), 4);
    const vw_kv *kv = vw_kv_find(f, "model.name");
    assert_string_equal(kv->v.s, "sample");
    assert_int_equal(vw_kv_find(f, "preproc.width")->v.u, 224);
    assert_int_equal(vw_kv_find(f, "preproc.input_zero")->v.i, -3);
    assert_true(vw_kv_find(f, "preproc.crop_fraction")->v.f == 0.875);
    const vw_kv *m = vw_kv_find(f, "preproc.mean");
    assert_int_equal(m->n, 3);
    assert_true(m->v.f32s[2] == 0.406f);
    assert_int_equal(vw_kv_find(f, "model.output_shape")->v.i64s[1], 1001);
    size_t gs;
    const void *g = vw_graph(f, &gs);
    assert_int_equal(gs, 6);
    assert_memory_equal(g, "graph!", 6);
    int recorded;
    assert_int_equal(vw_verify_data(f, &recorded, err, sizeof err), 0);
    assert_true(recorded);
    vw_close(f);
    free(buf);
}

static void test_writer_refuses_bad_tensors(void **state)
{
    vw_writer *w = vw_writer_new();
    float x[4] = {0};
    int64_t d[] = {4}, d2[] = {2, 2};
    assert_int_equal(vw_writer_add_tensor(w, "a", VW_F32, VW_PLAIN, 1, d, x, 16, NULL), 0);
    assert_int_equal(vw_writer_add_tensor(w, "a", VW_F32, VW_PLAIN, 1, d, x, 16, NULL), -1);
    assert_non_null(strstr(vw_writer_error(w), "duplicate"));
    assert_int_equal(vw_writer_add_tensor(w, "b", VW_F32, VW_PLAIN, 1, d, x, 12, NULL), -1);
    assert_int_equal(vw_writer_add_tensor(w, "c", VW_S8, VW_F32_B16, 2, d2, x, 16, NULL), -1);
    assert_int_equal(vw_writer_add_tensor(w, "", VW_F32, VW_PLAIN, 1, d, x, 16, NULL), -1);
    assert_int_equal(vw_writer_kv_u64(w, "k", 1), 0);
    assert_int_equal(vw_writer_kv_u64(w, "k", 2), -1);
    vw_writer_free(w);
}

static void test_save_is_crash_safe(void **state)
{
    char dir[] = "/tmp/vireo-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/model.vwt", dir);
    snprintf(bad, sizeof bad, "%s/missing-dir/model.vwt", dir);
    vw_writer *w = sample_writer();
    assert_int_equal(vw_writer_save(w, path), 0);
    vw_file *f;
    char err[256];
    if (vw_open(path, &f, err, sizeof err) != 0)
        tu_fail("saved file refused: %s", err);
    assert_int_equal(vw_tensor_count(f), 6);
    vw_close(f);
    /* A failing save leaves nothing behind and the old file intact. */
    assert_int_equal(vw_writer_save(w, bad), -1);
    assert_non_null(strstr(vw_writer_error(w), "missing-dir"));
    assert_int_equal(vw_open(path, &f, err, sizeof err), 0);
    vw_close(f);
    /* Overwriting replaces atomically; no temp files remain. */
    assert_int_equal(vw_writer_save(w, path), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    vw_writer_free(w);
    assert_int_equal(vw_open("/nonexistent/x.vwt", &f, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(vw_open(dir, &f, err, sizeof err), -1); /* a directory */
    unlink(path);
    rmdir(dir);
}

/* ---- broken files ------------------------------------------------------- */

static uint8_t *sec_ptr(uint8_t *b, uint32_t type) { return wu_section(b, type, NULL); }
#define fix_crcs wu_fix_crcs

static uint8_t *tensor_entry(uint8_t *b, int i) { return sec_ptr(b, VW_SEC_TENSORS) + 8 + 128 * i; }
static uint8_t *kv_entry(uint8_t *b, int i) { return sec_ptr(b, VW_SEC_KV) + 8 + 24 * i; }
static uint8_t *sec_entry(uint8_t *b, int i) { return b + 64 + 32 * i; }

typedef struct {
    const char *name;
    void (*mutate)(uint8_t *b, size_t *len);
    int fix; /* recompute checksums after mutating */
    const char *expect; /* substring of the error */
} broken_case;

#define M(fn, body) static void fn(uint8_t *b, size_t *len) { (void)len; body; }
M(m_magic, b[0] = 'X')
M(m_major, put16(b + 8, 2))
M(m_header_size, put32(b + 12, 128))
M(m_header_crc, b[61] ^= 1)
M(m_reserved, b[45] = 1)
M(m_file_size, put64(b + 16, le64(b + 16) + 1))
M(m_nsec0, put32(b + 24, 0))
M(m_nsec17, put32(b + 24, 17))
M(m_align3, put32(b + 28, 96))
M(m_align_big, put32(b + 28, 1u << 20))
M(m_table_off, put64(b + 32, 128))
M(m_sec_unknown, put32(sec_entry(b, 0), 9))
M(m_sec_flags, put32(sec_entry(b, 1) + 4, 1))
M(m_sec_unaligned, put64(sec_entry(b, 0) + 8, le64(sec_entry(b, 0) + 8) + 8))
M(m_sec_overflow, put64(sec_entry(b, 2) + 16, UINT64_MAX - 8))
M(m_sec_past_end, put64(sec_entry(b, 2) + 16, *len))
M(m_sec_overlap, put64(sec_entry(b, 1) + 8, le64(sec_entry(b, 0) + 8)))
M(m_sec_dup, put32(sec_entry(b, 1), VW_SEC_STRINGS))
M(m_sec_missing, put32(sec_entry(b, 3), 0x0); put32(b + 24, 3))
M(m_sec_crc, sec_ptr(b, VW_SEC_TENSORS)[20] ^= 0x40)
M(m_data_unaligned_sec, put32(b + 28, 4096))
M(m_t_count_huge, put32(sec_ptr(b, VW_SEC_TENSORS), 0xffffffffu))
M(m_t_count_off, put32(sec_ptr(b, VW_SEC_TENSORS), 5))
M(m_t_reserved, tensor_entry(b, 0)[120] = 1)
M(m_t_name_range, put32(tensor_entry(b, 0), 0x7fffffff))
M(m_t_name_nonul, put32(tensor_entry(b, 0) + 4, le32(tensor_entry(b, 0) + 4) + 1))
M(m_t_name_empty, put32(tensor_entry(b, 0) + 4, 0))
M(m_t_dup_name, put32(tensor_entry(b, 1), le32(tensor_entry(b, 0)));
  put32(tensor_entry(b, 1) + 4, le32(tensor_entry(b, 0) + 4)))
M(m_t_dtype, put32(tensor_entry(b, 0) + 8, 99))
M(m_t_dtype0, put32(tensor_entry(b, 0) + 8, 0))
M(m_t_layout, put32(tensor_entry(b, 0) + 12, 77))
M(m_t_layout_dtype, put32(tensor_entry(b, 1) + 8, VW_S8))
M(m_t_layout_ndim, put32(tensor_entry(b, 1) + 16, 3); put64(tensor_entry(b, 1) + 40, 1))
M(m_t_ndim, put32(tensor_entry(b, 0) + 16, 7))
M(m_t_dim0, put64(tensor_entry(b, 0) + 24, 0))
M(m_t_dim_tail, put64(tensor_entry(b, 0) + 32, 3))
M(m_t_dims_overflow, put32(tensor_entry(b, 0) + 16, 3); put64(tensor_entry(b, 0) + 24, 1ull << 40);
  put64(tensor_entry(b, 0) + 32, 1ull << 40); put64(tensor_entry(b, 0) + 40, 1ull << 40))
M(m_t_dim_neg, put64(tensor_entry(b, 0) + 24, UINT64_MAX))
M(m_t_packed_huge, put64(tensor_entry(b, 1) + 24, 1ull << 31))
M(m_t_size, put64(tensor_entry(b, 0) + 80, 24))
M(m_t_off_unaligned, put64(tensor_entry(b, 0) + 72, 32))
M(m_t_off_range, put64(tensor_entry(b, 0) + 72, 1ull << 20))
M(m_t_off_overflow, put64(tensor_entry(b, 0) + 72, UINT64_MAX - 63))
M(m_t_overlap, put64(tensor_entry(b, 1) + 72, le64(tensor_entry(b, 0) + 72)))
M(m_t_qscheme, put32(tensor_entry(b, 0) + 88, 3))
M(m_t_qscale_nan, put32(tensor_entry(b, 5) + 96, 0x7fc00000))
M(m_t_qscale_zero, put32(tensor_entry(b, 5) + 96, 0))
M(m_t_qaxis, put32(tensor_entry(b, 4) + 92, 4))
M(m_t_qref_range, put32(tensor_entry(b, 4) + 104, 99))
M(m_t_qref_self, put32(tensor_entry(b, 4) + 104, 5))
M(m_t_qref_type, put32(tensor_entry(b, 4) + 104, 4)) /* points at the s32 zeros */
M(m_t_qref_len, put32(tensor_entry(b, 4) + 104, 1))  /* 5 biases for 3 channels */
M(m_t_qzero_type, put32(tensor_entry(b, 4) + 108, 3))
M(m_t_qref_stray, put32(tensor_entry(b, 0) + 104, 3))
M(m_kv_count, put32(sec_ptr(b, VW_SEC_KV), 0x40000000))
M(m_kv_name, put32(kv_entry(b, 0), 0xffffff00))
M(m_kv_type, put32(kv_entry(b, 0) + 8, 42))
M(m_kv_str_ref, put64(kv_entry(b, 0) + 16, 0xffffffff00000000ull))
M(m_kv_scalar_n, put32(kv_entry(b, 1) + 12, 2))
M(m_kv_arr_range, put32(kv_entry(b, 4) + 12, 0x10000000))
M(m_kv_arr_unaligned, put64(kv_entry(b, 4) + 16, le64(kv_entry(b, 4) + 16) + 4))
M(m_kv_dup, put32(kv_entry(b, 1), le32(kv_entry(b, 0)));
  put32(kv_entry(b, 1) + 4, le32(kv_entry(b, 0) + 4)))
M(m_truncate_header, *len = 40)
M(m_truncate_table, *len = 100)
#undef M

static const broken_case cases[] = {
    {"bad magic", m_magic, 1, "magic"},
    {"unknown major version", m_major, 1, "version"},
    {"header size", m_header_size, 1, "header_size"},
    {"header checksum", m_header_crc, 0, "header checksum"},
    {"reserved header bytes", m_reserved, 1, "reserved"},
    {"file_size mismatch", m_file_size, 1, "file_size"},
    {"zero sections", m_nsec0, 1, "section_count"},
    {"too many sections", m_nsec17, 1, "section_count"},
    {"alignment not a power of two", m_align3, 1, "alignment"},
    {"alignment too large", m_align_big, 1, "alignment"},
    {"section table offset", m_table_off, 1, "section_table_offset"},
    {"unknown section type", m_sec_unknown, 1, "unknown type"},
    {"section flags", m_sec_flags, 1, "flags"},
    {"unaligned section", m_sec_unaligned, 1, "multiple of 64"},
    {"section size overflow", m_sec_overflow, 1, "outside the file"},
    {"section past the end", m_sec_past_end, 1, "outside the file"},
    {"overlapping sections", m_sec_overlap, 1, "overlaps"},
    {"duplicate section", m_sec_dup, 1, "second section"},
    {"missing section", m_sec_missing, 1, ""},
    {"section checksum", m_sec_crc, 0, "checksum"},
    {"DATA not aligned to the file's alignment", m_data_unaligned_sec, 1, "aligned"},
    {"tensor count overflow", m_t_count_huge, 1, "entries need"},
    {"tensor count mismatch", m_t_count_off, 1, "entries need"},
    {"tensor reserved", m_t_reserved, 1, "reserved"},
    {"tensor name out of range", m_t_name_range, 1, "name"},
    {"tensor name not terminated", m_t_name_nonul, 1, "name"},
    {"tensor name empty", m_t_name_empty, 1, "name"},
    {"duplicate tensor name", m_t_dup_name, 1, "duplicate tensor name"},
    {"unknown dtype", m_t_dtype, 1, "unknown dtype"},
    {"dtype zero", m_t_dtype0, 1, "unknown dtype"},
    {"unknown layout", m_t_layout, 1, "unknown layout"},
    {"layout/dtype mismatch", m_t_layout_dtype, 1, "does not fit"},
    {"layout/ndim mismatch", m_t_layout_ndim, 1, "does not fit"},
    {"ndim > 6", m_t_ndim, 1, "ndim"},
    {"zero dim", m_t_dim0, 1, "dims[0]"},
    {"dim beyond ndim", m_t_dim_tail, 1, "dims[1]"},
    {"dims product overflows", m_t_dims_overflow, 1, "overflows"},
    {"dim > INT64_MAX", m_t_dim_neg, 1, "dims[0]"},
    {"packed dims beyond the packers' range", m_t_packed_huge, 1, "does not fit"},
    {"data_size mismatch", m_t_size, 1, "data_size"},
    {"unaligned tensor", m_t_off_unaligned, 1, "not aligned"},
    {"tensor out of DATA", m_t_off_range, 1, "outside the DATA"},
    {"tensor offset overflow", m_t_off_overflow, 1, "outside the DATA"},
    {"overlapping tensors", m_t_overlap, 1, "overlap"},
    {"unknown qscheme", m_t_qscheme, 1, "quantization scheme"},
    {"NaN scale", m_t_qscale_nan, 1, "scale"},
    {"zero scale", m_t_qscale_zero, 1, "scale"},
    {"quant axis out of range", m_t_qaxis, 1, "axis"},
    {"scales reference out of range", m_t_qref_range, 1, "scales reference"},
    {"scales reference to itself", m_t_qref_self, 1, "scales reference"},
    {"scales tensor wrong dtype", m_t_qref_type, 1, "scales tensor"},
    {"scales tensor wrong length", m_t_qref_len, 1, "scales tensor"},
    {"zero points wrong dtype", m_t_qzero_type, 1, "zero points"},
    {"stray per-channel reference", m_t_qref_stray, 1, "per-channel"},
    {"kv count overflow", m_kv_count, 1, "entries need"},
    {"kv key out of range", m_kv_name, 1, "bad name"},
    {"kv unknown type", m_kv_type, 1, "unknown type"},
    {"kv string out of range", m_kv_str_ref, 1, "string reference"},
    {"kv scalar with n != 1", m_kv_scalar_n, 1, "scalar"},
    {"kv array out of range", m_kv_arr_range, 1, "outside the KV"},
    {"kv array unaligned", m_kv_arr_unaligned, 1, "outside the KV"},
    {"duplicate key", m_kv_dup, 1, "duplicate key"},
    {"truncated in header", m_truncate_header, 0, "too short"},
    {"truncated in section table", m_truncate_table, 0, "file_size"},
};

/* Each case applied to a copy of good must be refused, naming its rule. */
static void check_broken(const uint8_t *good, size_t len0, const broken_case *tab, size_t ntab)
{
    for (size_t c = 0; c < ntab; c++) {
        uint8_t *b = malloc(len0);
        memcpy(b, good, len0);
        size_t len = len0;
        tab[c].mutate(b, &len);
        if (tab[c].fix)
            fix_crcs(b, len);
        vw_file *f = NULL;
        char err[256] = "";
        int rc = vw_open_mem(b, len, &f, err, sizeof err);
        if (rc == 0) {
            tu_fail("case '%s': accepted", tab[c].name);
        } else if (getenv("VIREO_TEST_VERBOSE")) { fprintf(stderr, "%-40s -> %s\n", tab[c].name, err); } if (rc != 0 && !strstr(err, tab[c].expect)) {
            tu_fail("case '%s': error '%s' does not mention '%s'", tab[c].name, err,
                    tab[c].expect);
        }
        assert_null(f);
        vw_close(f);
        free(b);
    }
}

static void test_broken_files(void **state)
{
    size_t len0;
    uint8_t *good = sample_bytes(&len0);
    check_broken(good, len0, cases, sizeof cases / sizeof *cases);
    free(good);
}

/* ---- the Winograd conv layout (CONV_WINO_F32) ---------------------------- */

/* One tensor: f32 [OC = 20, 3, 3, C = 5], 36 blocks of C × round_up(OC, 16). */
enum { WINO_OC = 20, WINO_C = 5 };

static uint8_t *wino_bytes(size_t *len)
{
    float w[WINO_OC * 9 * WINO_C];
    tu_rng r = tu_rng_make(5);
    tu_fill_f32(&r, w, WINO_OC * 9 * WINO_C, -1, 1);
    size_t n = vk_pack_wino_f32_size(WINO_OC, WINO_C);
    assert_int_equal(n, 36 * WINO_C * 32);
    float *p = malloc(n * sizeof *p);
    vk_pack_wino_f32(WINO_OC, WINO_C, w, p);
    int64_t d[] = {WINO_OC, 3, 3, WINO_C}, d5[] = {WINO_OC, 5, 5, WINO_C};
    vw_writer *wr = vw_writer_new();
    assert_int_equal(vw_writer_add_tensor(wr, "conv.w", VW_F32, VW_CONV_WINO_F32, 4, d, p,
                                          n * sizeof *p, NULL), 0);
    /* the writer applies the same rules as the reader */
    assert_int_equal(vw_writer_add_tensor(wr, "conv5.w", VW_F32, VW_CONV_WINO_F32, 4, d5, p,
                                          n * sizeof *p, NULL), -1);
    assert_int_equal(vw_writer_add_tensor(wr, "short.w", VW_F32, VW_CONV_WINO_F32, 4, d, p,
                                          n * sizeof *p - 4, NULL), -1);
    void *buf;
    assert_int_equal(vw_writer_serialize(wr, &buf, len), 0);
    vw_writer_free(wr);
    free(p);
    return buf;
}

#define M(fn, body) static void fn(uint8_t *b, size_t *len) { (void)len; body; }
M(m_w_kh5, put64(tensor_entry(b, 0) + 32, 5))
M(m_w_kw1, put64(tensor_entry(b, 0) + 40, 1))
M(m_w_bf16, put32(tensor_entry(b, 0) + 8, VW_BF16))
M(m_w_s8, put32(tensor_entry(b, 0) + 8, VW_S8))
M(m_w_ndim3, put32(tensor_entry(b, 0) + 16, 3); put64(tensor_entry(b, 0) + 48, 0))
M(m_w_size, put64(tensor_entry(b, 0) + 80, le64(tensor_entry(b, 0) + 80) - 4))
M(m_w_size_direct, put64(tensor_entry(b, 0) + 80, vk_pack_conv_f32_size(WINO_OC, 3, 3, WINO_C) * 4))
M(m_w_oc33, put64(tensor_entry(b, 0) + 24, 33))   /* 48 padded columns, not 32 */
M(m_w_c6, put64(tensor_entry(b, 0) + 48, 6))
M(m_w_huge, put64(tensor_entry(b, 0) + 24, 1ull << 24); put64(tensor_entry(b, 0) + 48, 1ull << 24))
M(m_w_too_big, put64(tensor_entry(b, 0) + 48, (1ull << 24) + 1))
#undef M

static const broken_case wino_cases[] = {
    {"winograd: 5x3 kernel", m_w_kh5, 1, "3x3 only"},
    {"winograd: 3x1 kernel", m_w_kw1, 1, "3x3 only"},
    {"winograd: bf16 dtype", m_w_bf16, 1, "does not fit"},
    {"winograd: s8 dtype", m_w_s8, 1, "does not fit"},
    {"winograd: 3 dims", m_w_ndim3, 1, "does not fit"},
    {"winograd: data_size 4 bytes short", m_w_size, 1, "data_size"},
    {"winograd: size of the direct layout", m_w_size_direct, 1, "data_size"},
    {"winograd: OC 33 needs 48 columns", m_w_oc33, 1, "data_size"},
    {"winograd: C 6", m_w_c6, 1, "data_size"},
    {"winograd: 2^24 x 2^24 (no overflow, wrong size)", m_w_huge, 1, "data_size"},
    {"winograd: C beyond the packers' range", m_w_too_big, 1, "does not fit"},
};

static void test_wino_layout(void **state)
{
    size_t len;
    uint8_t *good = wino_bytes(&len);
    vw_file *f;
    char err[256] = "";
    if (vw_open_mem(good, len, &f, err, sizeof err) != 0)
        tu_fail("valid Winograd file refused: %s", err);
    const vw_tensor *t = vw_find(f, "conv.w");
    assert_int_equal(t->layout, VW_CONV_WINO_F32);
    assert_string_equal(vw_layout_name(t->layout), "conv_wino_f32");
    assert_int_equal(t->size, vk_pack_wino_f32_size(WINO_OC, WINO_C) * 4);
    vw_close(f);
    int64_t d[] = {WINO_OC, 3, 3, WINO_C};
    assert_int_equal(vw_expected_size(VW_F32, VW_CONV_WINO_F32, 4, d), 36 * WINO_C * 32 * 4);
    int64_t big[] = {1 << 24, 3, 3, 1 << 24}; /* 2^48 · 144 bytes: fits a size_t */
    assert_true(vw_expected_size(VW_F32, VW_CONV_WINO_F32, 4, big) == ((size_t)36 << 50));
    check_broken(good, len, wino_cases, sizeof wino_cases / sizeof *wino_cases);
    free(good);
}

/* Truncation at every length, as is (file_size disagrees) and with file_size
 * and the header checksum rewritten to match (sections then run past the end):
 * always refused, never a read out of bounds. */
static void test_truncated_everywhere(void **state)
{
    size_t len0;
    uint8_t *good = sample_bytes(&len0);
    for (size_t len = 0; len < len0; len++) {
        for (int forge = 0; forge < 2; forge++) {
            uint8_t *b = malloc(len ? len : 1);
            memcpy(b, good, len);
            if (forge && len >= 64) {
                put64(b + 16, len);
                put32(b + 60, vf_crc32c(0, b, 60));
            }
            vw_file *f = NULL;
            char err[256];
            if (vw_open_mem(b, len, &f, err, sizeof err) == 0)
                tu_fail("truncated to %zu bytes (forged %d): accepted", len, forge);
            free(b);
        }
    }
    free(good);
}

/* Random byte corruption with checksums repaired: whatever the reader decides,
 * it must not crash, and what it accepts must be self-consistent. */
static void test_random_corruption(void **state)
{
    size_t len;
    uint8_t *good = sample_bytes(&len);
    tu_rng r = tu_rng_make(77);
    int accepted = 0;
    for (int it = 0; it < 3000; it++) {
        uint8_t *b = malloc(len);
        memcpy(b, good, len);
        int flips = 1 + (int)(tu_next(&r) % 4);
        for (int k = 0; k < flips; k++) {
            size_t pos = 64 + tu_next(&r) % (len - 64); /* header stays parseable */
            b[pos] ^= (uint8_t)(1u << (tu_next(&r) % 8));
        }
        fix_crcs(b, len);
        vw_file *f = NULL;
        char err[256];
        if (vw_open_mem(b, len, &f, err, sizeof err) == 0) {
            accepted++;
            for (size_t i = 0; i < vw_tensor_count(f); i++) {
                const vw_tensor *t = vw_tensor_at(f, i);
                assert_true((const uint8_t *)t->data >= b &&
                            (const uint8_t *)t->data + t->size <= b + len);
                assert_ptr_equal(vw_find(f, t->name), t);
            }
            vw_close(f);
        }
        free(b);
    }
    /* Most flips land in tensor data, which only the explicit verify checks. */
    assert_true(accepted > 0);
    free(good);
}

static void test_verify_detects_data_corruption(void **state)
{
    size_t len;
    uint8_t *b = sample_bytes(&len);
    b[len - 1] ^= 0x10; /* last byte of the last tensor */
    vw_file *f;
    char err[256];
    assert_int_equal(vw_open_mem(b, len, &f, err, sizeof err), 0);
    int recorded;
    assert_int_equal(vw_verify_data(f, &recorded, err, sizeof err), -1);
    assert_non_null(strstr(err, "DATA"));
    vw_close(f);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_writer_refuses_bad_tensors),
        cmocka_unit_test(test_save_is_crash_safe),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_wino_layout),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_verify_detects_data_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
