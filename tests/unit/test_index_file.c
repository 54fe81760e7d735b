/* Index file format: a table of deliberately broken files, each refused with
 * an error naming what is wrong; truncation at every length; a bit flipped in
 * every byte; counts that claim more than the file holds. Runs under
 * ASan/UBSan in CI, so "refused" also means "no read out of bounds, no huge
 * allocation" (ASan aborts on an allocation beyond its limit). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/crc32c.h"
#include "formats/index_file.h"
#include "formats/le.h"
#include "runtime/index.h"
#include "testutil.h"

enum { DIM = 5, DIM_IN = 6, ROWS = 7 };

/* Under ASan, any allocation over 64 MB aborts the test: a reader that
 * trusted a count claiming 2^30 entries would try one (the files here are
 * 2 KB). No effect in a build without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_allocation_size_mb=64"; }

static char g_dir[64];
/* The sample's code kind: the symmetric int8 kind (the one 1.0 files hold)
 * or the asymmetric one (added in 1.1); tests over the sample run for both. */
static vk_code_kind g_kind = VK_CODE_S8;
static const vk_code_kind g_kinds[] = {VK_CODE_S8, VK_CODE_U8};

/* A small file that has every section: g_kind codes of odd dim with the f16
 * copy, two transform tensors, metadata, seven rows (not a multiple of 8, so
 * the tombstone bitmap has bits past the end), two of them deleted. */
static uint8_t *sample_bytes(size_t *len)
{
    tu_rng r = tu_rng_make(11);
    float mean[DIM_IN], proj[DIM * DIM_IN], x[ROWS * DIM];
    tu_fill_f32(&r, mean, DIM_IN, -1, 1);
    tu_fill_f32(&r, proj, DIM * DIM_IN, -1, 1);
    tu_fill_f32(&r, x, ROWS * DIM, -1, 1);
    vr_index_tensor t[2] = {{"whiten.mean", 1, DIM_IN, mean}, {"whiten.proj", DIM, DIM_IN, proj}};
    vr_index_kv kv[1] = {{"transform", "l2,whiten,l2"}};
    vr_index_params p = {.kind = g_kind, .dim_in = DIM_IN, .dim = DIM, .model = "m.vwt:1234",
                         .rescore = 1, .tensors = t, .ntensors = 2, .kv = kv, .nkv = 1};
    vr_index *ix;
    char err[256];
    assert_int_equal(vr_index_create(&p, &ix, err, sizeof err), 0);
    uint64_t ids[ROWS];
    const char *paths[ROWS], *titles[ROWS];
    char pbuf[ROWS][32], tbuf[ROWS][32];
    for (int i = 0; i < ROWS; i++) {
        ids[i] = 100 + (uint64_t)i;
        snprintf(pbuf[i], sizeof pbuf[i], "img/%d.jpg", i);
        snprintf(tbuf[i], sizeof tbuf[i], "item %d", i);
        paths[i] = i == 3 ? NULL : pbuf[i];
        titles[i] = i == 3 ? NULL : tbuf[i];
    }
    if (vr_index_add(ix, ROWS, x, ids, paths, titles, err, sizeof err))
        tu_fail("add: %s", err);
    uint64_t del[2] = {101, 104};
    assert_int_equal(vr_index_delete(ix, del, 2, NULL, NULL, err, sizeof err), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/sample.vix", g_dir);
    if (vr_index_save(ix, path, err, sizeof err))
        tu_fail("save: %s", err);
    vr_index_close(ix);
    size_t n;
    uint8_t *raw = tu_read_file(path, &n);
    assert_non_null(raw);
    uint8_t *b = tu_alloc(n); /* the reader wants mmap-like alignment */
    memcpy(b, raw, n);
    free(raw);
    *len = n;
    return b;
}

static int setup(void **state)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/vireo-ixf-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ helpers */
static uint8_t *entry(uint8_t *b, uint32_t type)
{
    uint32_t n = le32(b + 20);
    for (uint32_t i = 0; i < n && i < VF_INDEX_MAX_SECTIONS; i++)
        if (le32(b + 128 + 32 * i) == type)
            return b + 128 + 32 * i;
    return NULL;
}

static uint8_t *sec(uint8_t *b, uint32_t type) { return b + le64(entry(b, type) + 8); }

static void fix_header(uint8_t *b, size_t len)
{
    uint32_t n = le32(b + 20);
    if (n > VF_INDEX_MAX_SECTIONS || 128 + 32 * (size_t)n > len)
        n = 0;
    uint32_t crc = vf_crc32c(0, b, 124);
    put32(b + 124, vf_crc32c(crc, b + 128, 32 * (size_t)n));
}

/* Recomputes every checksum so a mutation reaches the checks behind them. */
static void fix_crcs(uint8_t *b, size_t len)
{
    uint32_t n = le32(b + 20);
    for (uint32_t i = 0; i < n && i < VF_INDEX_MAX_SECTIONS && 128 + 32 * (size_t)(i + 1) <= len;
         i++) {
        uint8_t *e = b + 128 + 32 * i;
        uint64_t off = le64(e + 8), size = le64(e + 16);
        if (off <= len && size <= len - off)
            put32(e + 24, vf_crc32c(0, b + off, size));
    }
    fix_header(b, len);
}

static int parse(const uint8_t *b, size_t len, unsigned flags, char *err, size_t errlen)
{
    vf_index ix;
    int rc = vf_index_parse(b, len, flags, &ix, err, errlen);
    if (rc == 0)
        vf_index_release(&ix);
    return rc;
}

/* ------------------------------------------------------------ the sample */
static void sample_parses(void)
{
    size_t len;
    uint8_t *b = sample_bytes(&len);
    vf_index ix;
    char err[256];
    if (vf_index_parse(b, len, 0, &ix, err, sizeof err))
        tu_fail("%s", err);
    assert_int_equal(ix.kind, g_kind);
    assert_int_equal(le32(b + 64), g_kind); /* the kind number in the header */
    assert_int_equal(ix.version_minor, VF_INDEX_VERSION_MINOR);
    assert_int_equal(ix.dim, DIM);
    assert_int_equal(ix.dim_in, DIM_IN);
    assert_int_equal(ix.n, ROWS);
    assert_int_equal(ix.ndead, 2);
    assert_int_equal(ix.generation, 1);
    assert_int_equal(ix.file_size, len);
    assert_non_null(ix.rescore);
    assert_int_equal(ix.ntensors, 2);
    assert_string_equal(ix.tensors[1].name, "whiten.proj");
    assert_int_equal(ix.tensors[1].rows, DIM);
    assert_int_equal(ix.tensors[1].cols, DIM_IN);
    assert_int_equal(ix.dead[0], (1 << 1) | (1 << 4));
    assert_int_equal(ix.ids[6], 106);
    assert_string_equal(ix.heap + ix.str_off[2], "img/2.jpg");
    assert_string_equal(ix.heap + ix.str_off[3], "");
    assert_int_equal(ix.nsections, 8);
    for (int i = 0; i < ix.nsections; i++)
        assert_int_equal(ix.sections[i].offset % 64, 0);
    /* rows are scanned in place: 64-byte aligned */
    assert_int_equal((uintptr_t)ix.codes % 64, 0);
    assert_int_equal((uintptr_t)ix.rescore % 64, 0);
    vf_index_release(&ix);
    tu_free(b);
}

/* ------------------------------------------------------------ broken files */
typedef void (*mutator)(uint8_t *b, size_t *len);
typedef struct {
    const char *name;
    mutator mutate;
    int fix; /* 1: recompute every checksum, 2: only the header's, 0: none */
    const char *expect;
} broken_case;

static uint8_t *meta_entry(uint8_t *b, int i) { return sec(b, VF_IX_META) + 8 + 16 * i; }
static uint8_t *tensor_entry(uint8_t *b, int i) { return sec(b, VF_IX_TRANSFORM) + 8 + 32 * i; }
static uint64_t *str_offs(uint8_t *b) { return (uint64_t *)(sec(b, VF_IX_STRINGS) + 16); }
static char *heap(uint8_t *b) { return (char *)sec(b, VF_IX_STRINGS) + 16 + 8 * (ROWS + 1); }
static float *tensor_data(uint8_t *b, int i)
{
    return (float *)(sec(b, VF_IX_TRANSFORM) + le64(tensor_entry(b, i) + 16));
}

#define M(name, body)                                   \
    static void name(uint8_t *b, size_t *len)           \
    {                                                   \
        (void)b;                                        \
        (void)len;                                      \
        body;                                           \
    }
M(m_magic, b[3] = 'X')
M(m_major, put16(b + 8, 2))
M(m_bom_be, put32(b + 16, 0x04030201))
M(m_bom_bad, put32(b + 16, 0x11223344))
M(m_header_size, put32(b + 12, 64))
M(m_header_crc, b[56] ^= 1)
M(m_reserved, b[100] = 1)
M(m_flags, put32(b + 68, 2))
M(m_unfitted, put32(b + 68, VF_INDEX_FLAG_UNFITTED))
M(m_file_size_big, put64(b + 24, *len + 64))
M(m_file_size_small, put64(b + 24, *len - 1))
M(m_nsec0, put32(b + 20, 0))
M(m_nsec17, put32(b + 20, 17))
M(m_table_off, put64(b + 32, 256))
M(m_kind, put32(b + 64, 9))
M(m_kind_next, put32(b + 64, VK_CODE_KINDS)) /* the first number after the known kinds */
M(m_dim0, put32(b + 56, 0))
M(m_dim_big, put32(b + 56, VF_INDEX_MAX_DIM + 1))
M(m_dim_in0, put32(b + 60, 0))
M(m_dim_other, put32(b + 56, DIM + 1))
M(m_rows_huge, put64(b + 40, 1ull << 40))
M(m_rows_limit, put64(b + 40, VF_INDEX_MAX_ROWS))
M(m_rows_plus, put64(b + 40, ROWS + 1))
M(m_dead_over_rows, put64(b + 48, ROWS + 1))
M(m_dead_count, put64(b + 48, 3))
M(m_sec_type, put32(entry(b, VF_IX_DEAD), 99))
M(m_sec_flags, put32(entry(b, VF_IX_IDS) + 4, 1))
M(m_sec_reserved, put32(entry(b, VF_IX_IDS) + 28, 1))
M(m_sec_unaligned, put64(entry(b, VF_IX_IDS) + 8, le64(entry(b, VF_IX_IDS) + 8) + 8))
M(m_sec_past_end, put64(entry(b, VF_IX_STRINGS) + 16, *len))
M(m_sec_size_overflow, put64(entry(b, VF_IX_STRINGS) + 16, UINT64_MAX - 63))
M(m_sec_off_overflow, put64(entry(b, VF_IX_STRINGS) + 8, UINT64_MAX - 63))
M(m_sec_overlap, put64(entry(b, VF_IX_IDS) + 8, le64(entry(b, VF_IX_RESCORE) + 8)))
M(m_sec_in_table, put64(entry(b, VF_IX_META) + 8, 128))
M(m_sec_dup, put32(entry(b, VF_IX_DEAD), VF_IX_IDS))
M(m_sec_missing, put32(b + 20, le32(b + 20) - 1))
M(m_sec_crc, sec(b, VF_IX_IDS)[0] ^= 0x40)
M(m_padding, b[le64(entry(b, VF_IX_DEAD) + 8) + 2] = 7) /* DEAD is 1 byte: then padding */
M(m_trailing, b[*len + 10] = 1; *len += 64; put64(b + 24, *len)) /* the buffer has 64 spare */
M(m_codes_size, put64(entry(b, VF_IX_CODES) + 16, le64(entry(b, VF_IX_CODES) + 16) - 64))
M(m_rescore_size, put64(entry(b, VF_IX_RESCORE) + 16, 64))
M(m_params_size, put64(entry(b, VF_IX_PARAMS) + 16, 32))
M(m_meta_count, put32(sec(b, VF_IX_META), 0x40000000))
M(m_meta_count0, put32(sec(b, VF_IX_META), 0))
M(m_meta_reserved, put32(sec(b, VF_IX_META) + 4, 1))
M(m_meta_key_range, put32(meta_entry(b, 0), 0xffffff00))
M(m_meta_key_nonul, put32(meta_entry(b, 0) + 4, le32(meta_entry(b, 0) + 4) - 1))
M(m_meta_key_empty, put32(meta_entry(b, 0) + 4, 0); sec(b, VF_IX_META)[le32(meta_entry(b, 0))] =
                                                        0)
M(m_meta_val_range, put32(meta_entry(b, 1) + 8, 0x7fffffff))
M(m_meta_dup, put32(meta_entry(b, 1), le32(meta_entry(b, 0)));
  put32(meta_entry(b, 1) + 4, le32(meta_entry(b, 0) + 4)))
M(m_meta_no_model, sec(b, VF_IX_META)[le32(meta_entry(b, 0)) + 4] = 'x') /* "model" -> "modex" */
M(m_tr_count0, put32(sec(b, VF_IX_TRANSFORM), 0))
M(m_tr_count_big, put32(sec(b, VF_IX_TRANSFORM), 65))
M(m_tr_count_size, put32(sec(b, VF_IX_TRANSFORM), 64))
M(m_tr_reserved, put64(tensor_entry(b, 0) + 24, 1))
M(m_tr_rows0, put32(tensor_entry(b, 0) + 8, 0))
M(m_tr_shape_overflow, put32(tensor_entry(b, 1) + 8, 0xffffffff);
  put32(tensor_entry(b, 1) + 12, 0xffffffff))
M(m_tr_shape_big, put32(tensor_entry(b, 1) + 8, 1000))
M(m_tr_unaligned, put64(tensor_entry(b, 1) + 16, le64(tensor_entry(b, 1) + 16) + 4))
M(m_tr_off_huge, put64(tensor_entry(b, 1) + 16, UINT64_MAX - 63))
M(m_tr_in_table, put64(tensor_entry(b, 0) + 16, 0))
M(m_tr_overlap, put64(tensor_entry(b, 1) + 16, le64(tensor_entry(b, 0) + 16)))
M(m_tr_name_range, put32(tensor_entry(b, 0), 0xfffff000))
M(m_tr_name_in_data, put32(tensor_entry(b, 0), (uint32_t)le64(tensor_entry(b, 0) + 16));
  put32(tensor_entry(b, 0) + 4, 0))
M(m_tr_name_dup, put32(tensor_entry(b, 1), le32(tensor_entry(b, 0)));
  put32(tensor_entry(b, 1) + 4, le32(tensor_entry(b, 0) + 4)))
M(m_tr_nan, tensor_data(b, 1)[7] = NAN)
M(m_tr_inf, tensor_data(b, 0)[0] = -INFINITY)
M(m_params_a0, ((float *)sec(b, VF_IX_PARAMS))[2] = 0)
M(m_params_a_neg, ((float *)sec(b, VF_IX_PARAMS))[0] = -1)
M(m_params_a_nan, ((float *)sec(b, VF_IX_PARAMS))[4] = NAN)
M(m_params_b_inf, ((float *)sec(b, VF_IX_PARAMS))[DIM + 1] = INFINITY)
M(m_dead_past_end, sec(b, VF_IX_DEAD)[0] = (uint8_t)((1 << 1) | (1 << 7)))
M(m_dead_bitmap_count, sec(b, VF_IX_DEAD)[0] |= 1)
M(m_str_count, put64(sec(b, VF_IX_STRINGS), ROWS + 1))
M(m_str_count_huge, put64(sec(b, VF_IX_STRINGS), UINT64_MAX))
M(m_str_heap, put64(sec(b, VF_IX_STRINGS) + 8, le64(sec(b, VF_IX_STRINGS) + 8) + 8))
M(m_str_first, str_offs(b)[0] = 1)
M(m_str_backwards, str_offs(b)[2] = str_offs(b)[1] - 1)
M(m_str_past_heap, str_offs(b)[4] = UINT64_MAX)
M(m_str_short, str_offs(b)[4] = str_offs(b)[3] + 1) /* row 3 is "\0\0" */
M(m_str_one_nul, heap(b)[9] = 'x') /* "img/0.jpg\0" loses its NUL */
M(m_str_three_nul, heap(b)[3] = 0) /* "img\0.jpg\0item 0\0" */
M(m_str_no_end_nul, heap(b)[str_offs(b)[1] - 1] = 'x')
M(m_truncate_header, *len = 100)
M(m_truncate_table, *len = 200)
#undef M

static const broken_case cases[] = {
    {"bad magic", m_magic, 1, "magic"},
    {"unknown major version", m_major, 1, "unsupported index version 2."},
    {"big-endian file", m_bom_be, 1, "big-endian"},
    {"bad byte-order mark", m_bom_bad, 1, "byte-order"},
    {"header size", m_header_size, 1, "header_size"},
    {"header checksum", m_header_crc, 0, "header checksum"},
    {"reserved header bytes", m_reserved, 1, "reserved"},
    {"unknown header flag", m_flags, 1, "flags 0x2: unknown"},
    {"unfitted parameters with rows", m_unfitted, 1, "not fitted yet, but there are 7 rows"},
    {"file_size too big", m_file_size_big, 1, "truncated: the header says"},
    {"file_size too small", m_file_size_small, 1, "trailing"},
    {"zero sections", m_nsec0, 1, "section_count"},
    {"too many sections", m_nsec17, 1, "section_count"},
    {"section table offset", m_table_off, 1, "section_table_offset"},
    {"unknown code kind", m_kind, 1, "code kind 9"},
    {"code kind after the last known", m_kind_next, 1, "code kind 5"},
    {"dim 0", m_dim0, 1, "dim 0"},
    {"dim too big", m_dim_big, 1, "dim 65537"},
    {"dim_in 0", m_dim_in0, 1, "dim_in 0"},
    {"dim disagrees with the sections", m_dim_other, 1, "PARAMS section holds"},
    {"row count 2^40", m_rows_huge, 1, "over the limit"},
    {"row count at the limit", m_rows_limit, 1, "CODES section holds"},
    {"one row too many", m_rows_plus, 1, "CODES section holds"},
    {"more dead than rows", m_dead_over_rows, 1, "dead count"},
    {"dead count disagrees with the bitmap", m_dead_count, 1, "the header says 3"},
    {"unknown section type", m_sec_type, 1, "unknown type 99"},
    {"section flags", m_sec_flags, 1, "flags/reserved"},
    {"section reserved", m_sec_reserved, 1, "flags/reserved"},
    {"unaligned section", m_sec_unaligned, 1, "multiple of 64"},
    {"section past the end", m_sec_past_end, 1, "truncated: STRINGS section ends at byte"},
    {"section size overflows", m_sec_size_overflow, 1, "STRINGS section: offset"},
    {"section offset overflows", m_sec_off_overflow, 1, "overflows"},
    {"overlapping sections", m_sec_overlap, 1, "overlaps"},
    {"section over the table", m_sec_in_table, 1, "overlaps"},
    {"duplicate section", m_sec_dup, 1, "second IDS"},
    {"missing section", m_sec_missing, 1, "missing STRINGS"},
    {"section checksum", m_sec_crc, 2, "IDS section checksum mismatch"},
    {"non-zero padding", m_padding, 1, "padding"},
    {"non-zero trailing bytes", m_trailing, 1, "padding"},
    {"CODES size", m_codes_size, 1, "CODES section holds"},
    {"RESCORE size", m_rescore_size, 1, "RESCORE section holds"},
    {"PARAMS size", m_params_size, 1, "PARAMS section holds"},
    {"META count overflows the section", m_meta_count, 1, "entries need"},
    {"META empty", m_meta_count0, 1, "no entries"},
    {"META reserved", m_meta_reserved, 1, "reserved"},
    {"META key out of range", m_meta_key_range, 1, "bad key"},
    {"META key without its NUL", m_meta_key_nonul, 1, "bad key"},
    {"META empty key", m_meta_key_empty, 1, "bad key"},
    {"META value out of range", m_meta_val_range, 1, "bad value"},
    {"META duplicate key", m_meta_dup, 1, "duplicate key 'model'"},
    {"META without model", m_meta_no_model, 1, "no \"model\" key"},
    {"TRANSFORM count 0", m_tr_count0, 1, "count 0"},
    {"TRANSFORM count 65", m_tr_count_big, 1, "count 65"},
    {"TRANSFORM entries past the section", m_tr_count_size, 1, "entries need"},
    {"TRANSFORM reserved", m_tr_reserved, 1, "reserved"},
    {"TRANSFORM zero rows", m_tr_rows0, 1, "has a zero"},
    {"TRANSFORM shape overflows", m_tr_shape_overflow, 1, "overflow"},
    {"TRANSFORM data past the section", m_tr_shape_big, 1, "inside the section"},
    {"TRANSFORM data unaligned", m_tr_unaligned, 1, "64-aligned"},
    {"TRANSFORM data offset overflows", m_tr_off_huge, 1, "inside the section"},
    {"TRANSFORM data over its entries", m_tr_in_table, 1, "after the entry table"},
    {"TRANSFORM data overlap", m_tr_overlap, 1, "overlap"},
    {"TRANSFORM name out of range", m_tr_name_range, 1, "bad name"},
    {"TRANSFORM name inside data", m_tr_name_in_data, 1, "bad name"},
    {"TRANSFORM duplicate name", m_tr_name_dup, 1, "duplicate tensor name 'whiten.mean'"},
    {"TRANSFORM NaN", m_tr_nan, 1, "'whiten.proj': value 7 is not finite"},
    {"TRANSFORM infinity", m_tr_inf, 1, "'whiten.mean': value 0 is not finite"},
    {"PARAMS a = 0", m_params_a0, 1, "dimension 2"},
    {"PARAMS a < 0", m_params_a_neg, 1, "dimension 0"},
    {"PARAMS a NaN", m_params_a_nan, 1, "dimension 4"},
    {"PARAMS b infinite", m_params_b_inf, 1, "dimension 1"},
    {"DEAD bit past the rows", m_dead_past_end, 1, "past row 7"},
    {"DEAD bitmap disagrees with the count", m_dead_bitmap_count, 1, "3 rows marked"},
    {"STRINGS count", m_str_count, 1, "8 records for 7 rows"},
    {"STRINGS count huge", m_str_count_huge, 1, "records for 7 rows"},
    {"STRINGS heap size", m_str_heap, 1, "heap"},
    {"STRINGS first offset", m_str_first, 1, "offsets must run from 0"},
    {"STRINGS offsets backwards", m_str_backwards, 1, "record 1"},
    {"STRINGS offset past the heap", m_str_past_heap, 1, "record 3"},
    {"STRINGS record too short", m_str_short, 1, "record 3"},
    {"STRINGS record with one NUL", m_str_one_nul, 1, "record 0"},
    {"STRINGS record with three NULs", m_str_three_nul, 1, "record 0"},
    {"STRINGS record not NUL-terminated", m_str_no_end_nul, 1, "record 0"},
    {"truncated in the header", m_truncate_header, 0, "truncated: 100 bytes"},
    {"truncated in the section table", m_truncate_table, 0, "truncated: the section table"},
};

static void broken_files(void)
{
    size_t len0;
    uint8_t *good = sample_bytes(&len0);
    char err[512];
    assert_int_equal(parse(good, len0, 0, err, sizeof err), 0);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        uint8_t *b = tu_alloc(len0 + 64); /* zeroed: room for a mutation that grows the file */
        memcpy(b, good, len0);
        size_t len = len0;
        cases[c].mutate(b, &len);
        if (cases[c].fix == 1)
            fix_crcs(b, len);
        else if (cases[c].fix == 2)
            fix_header(b, len);
        err[0] = 0;
        int rc = parse(b, len, 0, err, sizeof err);
        if (getenv("VIREO_TEST_VERBOSE"))
            fprintf(stderr, "%-42s -> %s\n", cases[c].name, rc ? err : "ACCEPTED");
        if (rc == 0)
            tu_fail("case '%s' (%s codes): accepted", cases[c].name, vk_code_name(g_kind));
        else if (!strstr(err, cases[c].expect))
            tu_fail("case '%s' (%s codes): error '%s' does not mention '%s'", cases[c].name,
                    vk_code_name(g_kind), err, cases[c].expect);
        tu_free(b);
    }
    tu_free(good);
}

/* Truncation at every length, as is (file_size disagrees) and with file_size
 * and the header checksum rewritten to match (sections then run past the
 * end): always refused. */
static void truncated_everywhere(void)
{
    size_t len0;
    uint8_t *good = sample_bytes(&len0);
    uint8_t *b = tu_alloc(len0);
    char err[512];
    for (size_t len = 0; len < len0; len++) {
        for (int forge = 0; forge < 2; forge++) {
            memcpy(b, good, len);
            if (forge && len >= 128) {
                put64(b + 24, len);
                fix_header(b, len);
            }
            if (parse(b, len, 0, err, sizeof err) == 0)
                tu_fail("truncated to %zu bytes (forged %d): accepted", len, forge);
            if (!forge && len > 0 && !strstr(err, "truncated"))
                tu_fail("truncated to %zu bytes: error '%s' does not say so", len, err);
        }
    }
    tu_free(b);
    tu_free(good);
}

/* One bit flipped in every byte of the file (which bit varies): the header
 * checksum covers the header and section table, the section checksums their
 * sections, and padding must be zero, so no flip goes unnoticed. With the
 * bulk checksums skipped, flips in CODES / RESCORE pass the parse and are
 * caught by vf_index_check_crcs. */
static void bit_flips_everywhere(void)
{
    size_t len;
    uint8_t *good = sample_bytes(&len);
    uint8_t *b = tu_alloc(len);
    char err[512];
    uint64_t codes = le64(entry(good, VF_IX_CODES) + 8);
    uint64_t rescore_end = le64(entry(good, VF_IX_RESCORE) + 8) +
                           le64(entry(good, VF_IX_RESCORE) + 16);
    assert_true(codes < rescore_end); /* CODES, RESCORE adjacent in the sample's layout */
    for (size_t pos = 0; pos < len; pos++) {
        memcpy(b, good, len);
        b[pos] ^= (uint8_t)(1u << (pos * 5 % 8));
        if (parse(b, len, 0, err, sizeof err) == 0)
            tu_fail("bit flip at byte %zu: accepted", pos);
        int bulk = pos >= codes && pos < rescore_end;
        vf_index ix;
        int rc = vf_index_parse(b, len, VF_INDEX_SKIP_BULK_CRC, &ix, err, sizeof err);
        if (bulk && rc != 0 && !strstr(err, "padding"))
            tu_fail("flip at %zu in the bulk sections, checksums skipped: refused (%s)", pos, err);
        if (rc == 0) {
            if (!bulk)
                tu_fail("bit flip at byte %zu: accepted with bulk checksums skipped", pos);
            assert_int_equal(ix.bulk_crc_checked, 0);
            if (vf_index_check_crcs(&ix, b, err, sizeof err) == 0)
                tu_fail("bit flip at byte %zu: vf_index_check_crcs passed", pos);
            vf_index_release(&ix);
        }
    }
    tu_free(b);
    tu_free(good);
}

/* Each sample test for every kind of g_kinds. */
#define FOR_EACH_KIND(name, fn)                                                   \
    static void name(void **state)                                                \
    {                                                                             \
        (void)state;                                                              \
        for (size_t k = 0; k < sizeof g_kinds / sizeof *g_kinds; k++) {           \
            g_kind = g_kinds[k];                                                  \
            fn();                                                                 \
        }                                                                         \
        g_kind = VK_CODE_S8;                                                      \
    }
FOR_EACH_KIND(test_sample_parses, sample_parses)
FOR_EACH_KIND(test_broken_files, broken_files)
FOR_EACH_KIND(test_truncated_everywhere, truncated_everywhere)
FOR_EACH_KIND(test_bit_flips_everywhere, bit_flips_everywhere)

/* Version 1.1 added code kind 4 and nothing else: a file that says 1.0 (as
 * every file written before did) reads as before, whatever its kind, and a
 * higher minor is accepted (additions only). */
static void test_minor_versions(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof g_kinds / sizeof *g_kinds; k++) {
        g_kind = g_kinds[k];
        size_t len;
        uint8_t *b = sample_bytes(&len);
        for (int minor = 0; minor <= VF_INDEX_VERSION_MINOR + 1; minor++) {
            put16(b + 10, (uint16_t)minor);
            fix_header(b, len);
            vf_index ix;
            char err[512];
            if (vf_index_parse(b, len, 0, &ix, err, sizeof err)) {
                tu_fail("%s codes, version 1.%d: refused: %s", vk_code_name(g_kind), minor, err);
                continue;
            }
            assert_int_equal(ix.version_minor, minor);
            assert_int_equal(ix.kind, g_kind);
            vf_index_release(&ix);
        }
        tu_free(b);
    }
    g_kind = VK_CODE_S8;
}

/* Random corruption with every checksum repaired: whatever the reader
 * decides, it must not crash, and what it accepts must be self-consistent. */
static void test_random_corruption(void **state)
{
    size_t len;
    uint8_t *good = sample_bytes(&len);
    uint8_t *b = tu_alloc(len);
    tu_rng r = tu_rng_make(77);
    int accepted = 0;
    for (int it = 0; it < 4000; it++) {
        memcpy(b, good, len);
        int flips = 1 + (int)(tu_next(&r) % 4);
        for (int k = 0; k < flips; k++)
            b[tu_next(&r) % len] ^= (uint8_t)(1u << (tu_next(&r) % 8));
        fix_crcs(b, len);
        vf_index ix;
        char err[512];
        if (vf_index_parse(b, len, 0, &ix, err, sizeof err) == 0) {
            accepted++;
            assert_true(ix.n <= len && ix.dim >= 1);
            for (uint64_t i = 0; i < ix.n; i++) {
                const char *p = ix.heap + ix.str_off[i];
                const char *t = p + strlen(p) + 1;
                assert_true(t + strlen(t) + 1 == ix.heap + ix.str_off[i + 1]);
            }
            vf_index_release(&ix);
        }
    }
    /* Flips in code bytes are valid files once their checksum is repaired. */
    assert_true(accepted > 0);
    tu_free(b);
    tu_free(good);
}

/* The writer re-reads what it wrote before the rename: contents the reader
 * would refuse (here a string record with its NUL overwritten) never replace
 * the file, and the temp file goes. Writing a parsed file back gives the same
 * bytes but for the generation. */
static void test_writer_reads_back(void **state)
{
    size_t len;
    uint8_t *b = sample_bytes(&len);
    vf_index ix;
    char err[512], path[128];
    assert_int_equal(vf_index_parse(b, len, 0, &ix, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/rewrite.vix", g_dir);
    ix.generation = 7;
    if (vf_index_save(&ix, path, err, sizeof err))
        tu_fail("save: %s", err);
    size_t len2;
    uint8_t *again = tu_read_file(path, &len2);
    assert_non_null(again);
    assert_int_equal(len2, len);
    assert_int_equal(le64(again + 72), 7);
    put64(again + 72, 1);
    fix_header(again, len2);
    assert_memory_equal(again, b, len);
    free(again);

    char *heap_copy = malloc(ix.heap_size);
    memcpy(heap_copy, ix.heap, ix.heap_size);
    heap_copy[9] = 'x'; /* "img/0.jpg\0item 0\0" loses a NUL */
    ix.heap = heap_copy;
    assert_int_equal(vf_index_save(&ix, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not read back"));
    assert_non_null(strstr(err, "record 0"));
    size_t len3;
    uint8_t *kept = tu_read_file(path, &len3);
    assert_non_null(kept);
    assert_int_equal(len3, len);
    free(kept);
    DIR *d = opendir(g_dir);
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp."))
            tu_fail("temp file %s left behind", e->d_name);
    closedir(d);
    free(heap_copy);
    vf_index_release(&ix);
    tu_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_parses),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_bit_flips_everywhere),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_minor_versions),
        cmocka_unit_test(test_writer_reads_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
