/* dot_f16 (exact re-scoring with the f16 copy): the dispatched kernel and the
 * reference against a double-precision oracle that decodes the halves itself
 * (sign · 2^(e−15) · (1 + m/1024), denormals 2^-14 · m/1024, by ldexp).
 *
 * Tolerance, per row: each of the two kernels sums dim f32 products in some
 * order, so each is within gamma_dim · Σ|q·x| of the exact dot (products of
 * an f16 and an f32 value round once; Higham 3.1); the check allows that
 * against the oracle.
 *
 * Shapes: dim 1, odd, one below / at / above the 16-lane and 64-dimension
 * steps, the embedding widths 512 and 1024; rows at the index's stride and at
 * an odd stride (unaligned rows); shortlists of 0, 1, odd lengths, with
 * repeated and reversed indices. The bytes of a row past dim and the floats
 * of q past dim hold NaN, so a kernel that reads past dim fails. Values:
 * random, f16 denormals, the largest finite half (65504). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "../kernels/codes.h"

enum { VAL_RANDOM, VAL_DENORMAL, VAL_LARGE, VAL_KINDS };

static double half_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m / 1024.0, -14);
    return (h & 0x8000) ? -v : v;
}

static uint16_t random_half(tu_rng *r, int kind)
{
    uint16_t sign = (uint16_t)((tu_next(r) & 1) << 15);
    switch (kind) {
    case VAL_DENORMAL: return (uint16_t)(sign | (1 + tu_next(r) % 1023));
    case VAL_LARGE: return (uint16_t)(sign | ((tu_next(r) & 3) ? 0x7bff : (tu_next(r) % 0x7c00)));
    default: return (uint16_t)(sign | (uint16_t)((5 + tu_next(r) % 16) << 10 | tu_next(r) % 1024));
    }
}

static int run_case(size_t dim, size_t row_bytes, size_t nrows, size_t n, int kind, int order)
{
    tu_rng r = tu_rng_make(dim * 131 + row_bytes * 7 + n * 3 + (size_t)kind * 17 + (size_t)order);
    uint8_t *rows = tu_alloc(nrows * row_bytes + 64);
    float *q = tu_alloc((dim + 16) * sizeof(float));
    uint32_t *idx = tu_alloc((n + 1) * sizeof *idx);
    float *got = tu_alloc((n + 1) * sizeof(float)), *ref = tu_alloc((n + 1) * sizeof(float));
    for (size_t i = 0; i < nrows; i++)
        for (size_t b = 0; b + 1 < row_bytes; b += 2) {
            uint16_t h = b < 2 * dim ? random_half(&r, kind) : 0x7e00; /* NaN past dim */
            rows[i * row_bytes + b] = (uint8_t)h;
            rows[i * row_bytes + b + 1] = (uint8_t)(h >> 8);
        }
    tu_fill_f32(&r, q, dim, -2.0f, 2.0f);
    for (size_t d = dim; d < dim + 16; d++)
        q[d] = NAN;
    for (size_t i = 0; i < n; i++)
        idx[i] = order == 0 ? (uint32_t)(tu_next(&r) % nrows)           /* random, repeats */
                 : (uint32_t)(nrows - 1 - i % nrows);                  /* reversed */
    got[n] = ref[n] = 12345.0f; /* canary past the shortlist */
    tu_ops()->dot_f16(q, dim, rows, row_bytes, idx, n, got);
    tu_ref()->dot_f16(q, dim, rows, row_bytes, idx, n, ref);
    int bad = 0;
    if (got[n] != 12345.0f || ref[n] != 12345.0f) {
        tu_fail("dim %zu n %zu: wrote past the shortlist", dim, n);
        bad = 1;
    }
    double g = tu_gamma((int)dim);
    for (size_t i = 0; i < n && !bad; i++) {
        const uint8_t *row = rows + (size_t)idx[i] * row_bytes;
        double exact = 0.0, mag = 0.0;
        for (size_t d = 0; d < dim; d++) {
            double p = (double)q[d] * half_value((uint16_t)(row[2 * d] | row[2 * d + 1] << 8));
            exact += p;
            mag += fabs(p);
        }
        double tol = g * mag + 1e-300;
        const char *who[2] = {tu_level(), "ref"};
        float v[2] = {got[i], ref[i]};
        for (int w = 0; w < 2 && !bad; w++)
            if (!(fabs((double)v[w] - exact) <= tol)) {
                tu_fail("%s dim %zu row_bytes %zu kind %d order %d: item %zu (row %u) got %.9g "
                        "want %.9g (tol %.3g)", who[w], dim, row_bytes, kind, order, i, idx[i],
                        (double)v[w], exact, tol);
                bad = 1;
            }
    }
    tu_free(rows), tu_free(q), tu_free(idx), tu_free(got), tu_free(ref);
    return bad;
}

static void test_shapes(void **state)
{
    (void)state;
    static const size_t dims[] = {1, 2, 7, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 500, 512, 1000, 1024};
    static const size_t ns[] = {0, 1, 5, 40};
    int bad = 0;
    for (size_t a = 0; a < sizeof dims / sizeof *dims && !bad; a++) {
        size_t dim = dims[a];
        size_t strides[2] = {vk_code_row_bytes(VK_CODE_F16, dim), 2 * dim + 2 + 2 * (dim & 1) + 1};
        for (int s = 0; s < 2 && !bad; s++)
            for (size_t b = 0; b < sizeof ns / sizeof *ns && !bad; b++)
                for (int order = 0; order < 2 && !bad; order++)
                    bad |= run_case(dim, strides[s], 23, ns[b], VAL_RANDOM, order);
    }
    assert_int_equal(bad, 0);
}

static void test_values(void **state)
{
    (void)state;
    int bad = 0;
    for (int kind = 0; kind < VAL_KINDS && !bad; kind++)
        for (size_t dim = 1; dim <= 130 && !bad; dim += 43)
            bad |= run_case(dim, vk_code_row_bytes(VK_CODE_F16, dim), 9, 17, kind, 0);
    assert_int_equal(bad, 0);
}

int main(void)
{
    tu_ops(); /* exits 77 when the machine lacks the forced level */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
