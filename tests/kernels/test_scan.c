/* Flat-index scans (scan_s8, scan_u8, scan_u4, scan_f32): the dispatched kernel and the
 * reference against an int64 (double for f32) oracle, over edge dims (1, odd,
 * one below/at/above the 16/64/128-wide blocks and the 256-byte unpack chunk),
 * row counts around the 4- and 8-row tiles, every batch size 1 … 17 and 33
 * (narrow and wide paths, with and without packed queries), sub-ranges of
 * rows, a strided output, hostile code values (−128) and the extreme sums.
 * Integer results must match exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/codes.h"
#include "testutil.h"

static const size_t g_dims[] = {1,   2,   3,   15,  16,  17,  63,  64,  65,  127, 128,
                                129, 255, 256, 257, 383, 511, 512, 513, 600, 1024};
#define ND (sizeof g_dims / sizeof *g_dims)
static const int g_nqs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 33};
#define NNQ (sizeof g_nqs / sizeof *g_nqs)
#define NROWS 21 /* 2 full 8-row tiles + 5, and 5 4-row tiles + 1 */

typedef enum { K_S8, K_U4, K_U8 } qkind;
static const char *kname(qkind k) { return k == K_S8 ? "s8" : k == K_U4 ? "u4" : "u8"; }

static int quick(void) { return getenv("VIREO_TEST_QUICK") != NULL; }

/* The exact value of Σ q[i]·c[i] in the kernel's own terms (query index i). */
static int64_t oracle_q8(qkind k, const uint8_t *row, size_t row_bytes, const int8_t *q)
{
    int64_t s = 0;
    for (size_t i = 0; i < row_bytes; i++) {
        if (k == K_S8) {
            s += (int64_t)q[i] * (int8_t)row[i];
        } else if (k == K_U8) {
            s += (int64_t)q[i] * row[i];
        } else {
            size_t blk = i / 64 * 64, off = i % 64;
            s += (int64_t)q[2 * blk + off] * (row[i] & 15) + (int64_t)q[2 * blk + 64 + off] * (row[i] >> 4);
        }
    }
    return s;
}

typedef struct q8case {
    qkind kind;
    size_t dim, row_bytes, qlen;
    size_t n;
    int nq;
    uint8_t *codes;
    int8_t *q;
    uint8_t *qt;
} q8case;

/* Random rows: codes for dims < dim (S8 in −128 … 127: a hostile file may hold
 * −128, the kernels must stay exact; U8 0 … 255), zero padding; queries in
 * −127 … 127, zero past dim. extreme: every code and query at its largest
 * magnitude (codes 127·sign, 15, 255; queries 127·sign for U4 / U8). */
static void make_q8(q8case *c, tu_rng *rng, int extreme, int sign)
{
    vk_code_kind ck = c->kind == K_S8 ? VK_CODE_S8 : c->kind == K_U8 ? VK_CODE_U8 : VK_CODE_U4;
    c->row_bytes = vk_code_row_bytes(ck, c->dim);
    c->qlen = c->kind == K_U4 ? 2 * c->row_bytes : c->row_bytes;
    c->codes = tu_alloc(c->n * c->row_bytes);
    c->q = tu_alloc((size_t)c->nq * c->qlen);
    c->qt = tu_alloc(vk_scan_pack_q8_bytes(c->nq, c->qlen));
    for (size_t r = 0; r < c->n; r++)
        for (size_t d = 0; d < c->dim; d++) {
            uint8_t *row = c->codes + r * c->row_bytes;
            if (c->kind == K_S8) {
                int v = extreme ? 127 * sign : (int)(tu_next(rng) % 256) - 128;
                row[d] = (uint8_t)(int8_t)v;
            } else if (c->kind == K_U8) {
                row[d] = (uint8_t)(extreme ? 255 : tu_next(rng) % 256);
            } else {
                unsigned v = extreme ? 15 : (unsigned)(tu_next(rng) % 16);
                row[d / 2] |= (uint8_t)((d & 1) ? v << 4 : v);
            }
        }
    for (int j = 0; j < c->nq; j++)
        for (size_t d = 0; d < c->dim; d++) {
            size_t i = c->kind == K_U4 ? vk_scan_u4_query_index(d) : d;
            c->q[(size_t)j * c->qlen + i] =
                (int8_t)(extreme ? 127 * (c->kind == K_S8 ? 1 : sign)
                                 : (int)(tu_next(rng) % 255) - 127);
        }
    vk_scan_pack_queries_q8(c->q, c->nq, c->qlen, c->qt);
}

static void free_q8(q8case *c) { tu_free(c->codes), tu_free(c->q), tu_free(c->qt); }

/* Runs fn over rows [r0, r1) into a strided output and checks every dot. */
static int run_q8(const char *who, vk_scan_fn fn, const q8case *c, int packed, size_t r0,
                  size_t r1)
{
    size_t ldo = (size_t)c->nq + 3;
    int32_t *out = tu_alloc((r1 - r0 + 1) * ldo * sizeof(int32_t));
    const int32_t canary = 0x5a5a5a5a;
    for (size_t i = 0; i < (r1 - r0 + 1) * ldo; i++)
        out[i] = canary;
    vk_scan_args a = {c->codes, c->row_bytes, c->dim, c->q, c->qlen, packed ? c->qt : NULL,
                      c->nq, out, ldo};
    fn(&a, r0, r1);
    int bad = 0;
    for (size_t r = r0; r < r1 && !bad; r++)
        for (int j = 0; j < c->nq && !bad; j++) {
            int64_t want = oracle_q8(c->kind, c->codes + r * c->row_bytes, c->row_bytes,
                                     c->q + (size_t)j * c->qlen);
            int32_t got = out[(r - r0) * ldo + (size_t)j];
            if (got != want) {
                tu_fail("%s %s dim %zu n %zu nq %d packed %d rows [%zu,%zu): row %zu query %d: "
                        "got %d want %lld",
                        who, kname(c->kind), c->dim, c->n, c->nq, packed, r0, r1, r,
                        j, got, (long long)want);
                bad = 1;
            }
        }
    /* Nothing written past the range's rows or between a row's queries. */
    for (size_t r = 0; r <= r1 - r0 && !bad; r++)
        for (size_t j = (r == r1 - r0 ? 0 : (size_t)c->nq); j < ldo; j++)
            if (out[r * ldo + j] != canary) {
                tu_fail("%s: wrote outside its output at row %zu column %zu (nq %d dim %zu)", who,
                        r0 + r, j, c->nq, c->dim);
                bad = 1;
                break;
            }
    tu_free(out);
    return bad;
}

static void check_q8_kind(qkind kind)
{
    const vk_ops *ops = tu_ops(), *ref = tu_ref();
    vk_scan_fn fn = kind == K_S8 ? ops->scan_s8 : kind == K_U8 ? ops->scan_u8 : ops->scan_u4;
    vk_scan_fn rfn = kind == K_S8 ? ref->scan_s8 : kind == K_U8 ? ref->scan_u8 : ref->scan_u4;
    size_t nd = quick() ? 10 : ND;
    for (size_t di = 0; di < nd; di++)
        for (size_t qi = 0; qi < NNQ; qi++) {
            tu_rng rng = tu_rng_make(0x5ca9 + di * 131 + qi * 7 + (uint64_t)kind * 100003);
            q8case c = {.kind = kind, .dim = g_dims[di], .n = NROWS, .nq = g_nqs[qi]};
            make_q8(&c, &rng, 0, 1);
            int bad = 0;
            for (int packed = 0; packed < 2 && !bad; packed++) {
                bad |= run_q8(tu_level(), fn, &c, packed, 0, c.n);
                bad |= run_q8(tu_level(), fn, &c, packed, 3, c.n - 2); /* sub-range */
                bad |= run_q8(tu_level(), fn, &c, packed, 5, 6);       /* one row */
            }
            if (c.nq <= 5 || c.dim % 64 == 1) /* the reference is slow: a subset */
                bad |= run_q8("ref", rfn, &c, 0, 0, c.n);
            free_q8(&c);
            if (bad)
                return;
        }
}

static void test_scan_s8(void **st) { (void)st, check_q8_kind(K_S8); }
static void test_scan_u4(void **st) { (void)st, check_q8_kind(K_U4); }
static void test_scan_u8(void **st) { (void)st, check_q8_kind(K_U8); }

/* The largest sums the contract allows: qlen = VK_SCAN_MAX_QLEN with every
 * product at ±127·127 (S8) or ±127·15 (U4), qlen = VK_SCAN_MAX_QLEN_U8 with
 * ±127·255 (U8). The kernels' ±128 offsets wrap int32 internally; the results
 * must still be exact. */
static void test_scan_extremes(void **st)
{
    (void)st;
    const vk_ops *ops = tu_ops();
    for (int kind = K_S8; kind <= K_U8; kind++)
        for (int sign = -1; sign <= 1; sign += 2)
            for (int nq = 1; nq <= 16; nq += 15) {
                tu_rng rng = tu_rng_make(77);
                /* S8, U8: qlen = row_bytes = dim; U4: qlen = 2·row_bytes = dim. */
                size_t max = kind == K_U8 ? VK_SCAN_MAX_QLEN_U8 : VK_SCAN_MAX_QLEN;
                q8case c = {.kind = (qkind)kind, .dim = max, .n = 9, .nq = nq};
                make_q8(&c, &rng, 1, sign);
                assert_int_equal(c.qlen, max);
                vk_scan_fn fn = kind == K_S8   ? ops->scan_s8
                                : kind == K_U8 ? ops->scan_u8
                                               : ops->scan_u4;
                for (int packed = 0; packed < 2; packed++)
                    if (run_q8(tu_level(), fn, &c, packed, 0, c.n)) {
                        free_q8(&c);
                        return;
                    }
                free_q8(&c);
            }
}

/* f32: each implementation's dot differs from the exact one by at most
 * γ_dim·Σ|q·c| (Higham 3.1, any summation order, FMA or not); both are
 * checked against the double oracle with that bound. */
static void test_scan_f32(void **st)
{
    (void)st;
    const vk_ops *ops = tu_ops(), *ref = tu_ref();
    size_t nd = quick() ? 10 : ND;
    for (size_t di = 0; di < nd; di++)
        for (size_t qi = 0; qi < NNQ; qi++) {
            tu_rng rng = tu_rng_make(0xf32 + di * 131 + qi * 7);
            size_t dim = g_dims[di], n = NROWS, qlen = dim + 5;
            int nq = g_nqs[qi];
            size_t rb = vk_code_row_bytes(VK_CODE_F32, dim);
            uint8_t *codes = tu_alloc(n * rb);
            float *q = tu_alloc((size_t)nq * qlen * sizeof(float));
            float *qt = tu_alloc(vk_scan_pack_f32_bytes(nq, dim));
            float *x = tu_alloc(dim * sizeof(float));
            for (size_t r = 0; r < n; r++) {
                tu_fill_f32(&rng, x, dim, -2.0f, 2.0f);
                vk_code_encode(VK_CODE_F32, x, dim, NULL, NULL, codes + r * rb);
            }
            tu_fill_f32(&rng, q, (size_t)nq * qlen, -1.0f, 1.0f);
            vk_scan_pack_queries_f32(q, nq, qlen, dim, qt);
            size_t ldo = (size_t)nq + 1;
            float *out = tu_alloc(n * ldo * sizeof(float));
            int bad = 0;
            for (int impl = 0; impl < 3 && !bad; impl++) {
                vk_scan_args a = {codes, rb, dim, q, qlen, impl == 1 ? qt : NULL, nq, out, ldo};
                (impl == 2 ? ref->scan_f32 : ops->scan_f32)(&a, 0, n);
                for (size_t r = 0; r < n && !bad; r++)
                    for (int j = 0; j < nq && !bad; j++) {
                        const float *c = (const float *)(const void *)(codes + r * rb);
                        double s = 0, sa = 0;
                        for (size_t d = 0; d < dim; d++)
                            s += (double)q[(size_t)j * qlen + d] * c[d],
                                sa += fabs((double)q[(size_t)j * qlen + d] * c[d]);
                        double got = out[r * ldo + (size_t)j];
                        double tol = tu_gamma((int)dim) * sa + 1e-30;
                        if (fabs(got - s) > tol) {
                            tu_fail("f32 %s dim %zu nq %d row %zu query %d: got %.9g want %.9g "
                                    "(tol %.3g)",
                                    impl == 2 ? "ref" : tu_level(), dim, nq, r, j, got, s, tol);
                            bad = 1;
                        }
                    }
            }
            tu_free(codes), tu_free(q), tu_free(qt), tu_free(x), tu_free(out);
            if (bad)
                return;
        }
}

/* The packed layouts, element by element, against their definition. */
static void test_pack_layout(void **st)
{
    (void)st;
    tu_rng rng = tu_rng_make(3);
    int nq = 19;
    size_t qlen = 128;
    int8_t *q = tu_alloc((size_t)nq * qlen);
    tu_fill_s8(&rng, q, (size_t)nq * qlen);
    size_t bytes = vk_scan_pack_q8_bytes(nq, qlen);
    assert_int_equal(bytes, 32 * qlen);
    uint8_t *qt = tu_alloc(bytes);
    vk_scan_pack_queries_q8(q, nq, qlen, qt);
    for (size_t g = 0; g < 2; g++)
        for (size_t s = 0; s < qlen / 4; s++)
            for (size_t j = 0; j < 16; j++)
                for (size_t t = 0; t < 4; t++) {
                    size_t qi = g * 16 + j;
                    uint8_t want = qi < (size_t)nq ? (uint8_t)(q[qi * qlen + 4 * s + t] + 128) : 128;
                    assert_int_equal(qt[((g * (qlen / 4) + s) * 16 + j) * 4 + t], want);
                }
    assert_int_equal(vk_scan_pack_q8_bytes(0, 64), 0);
    assert_int_equal(vk_scan_pack_q8_bytes(1, SIZE_MAX / 8), 0);
    assert_int_equal(vk_scan_pack_f32_bytes(1, SIZE_MAX / 32), 0);
    /* u4 query positions are a permutation of each 128-dim block */
    for (size_t d = 0; d < 512; d++)
        for (size_t e = d + 1; e < 512; e++)
            assert_true(vk_scan_u4_query_index(d) != vk_scan_u4_query_index(e));
    for (size_t d = 0; d < 512; d++)
        assert_true(vk_scan_u4_query_index(d) / 128 == d / 128);
    tu_free(q), tu_free(qt);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_layout), cmocka_unit_test(test_scan_s8),
        cmocka_unit_test(test_scan_u4),     cmocka_unit_test(test_scan_u8),
        cmocka_unit_test(test_scan_extremes),
        cmocka_unit_test(test_scan_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
