/* kernels/codes.h: names (and parsing them) and row sizes, the fitted parameters, the row
 * layout (padding, nibble order), round-trip error bounds and binary16
 * rounding, and hostile values (NaN, ±inf, out of range). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/codes.h"
#include "kernels/kernels.h"
#include "testutil.h"

#define U TU_U_F32

static void test_names_sizes(void **st)
{
    (void)st;
    assert_string_equal(vk_code_name(VK_CODE_F32), "f32");
    assert_string_equal(vk_code_name(VK_CODE_S8), "int8-sym");
    assert_string_equal(vk_code_name(VK_CODE_U4), "int4");
    assert_string_equal(vk_code_name(VK_CODE_F16), "f16");
    assert_string_equal(vk_code_name(VK_CODE_U8), "int8");
    assert_null(vk_code_name((vk_code_kind)VK_CODE_KINDS));
    assert_null(vk_code_name((vk_code_kind)-1));
    /* every kind's name parses back to it; "uint8" is U8 too */
    for (int i = 0; i < VK_CODE_KINDS; i++) {
        vk_code_kind k = (vk_code_kind)99;
        assert_int_equal(vk_code_parse(vk_code_name((vk_code_kind)i), &k), 0);
        assert_int_equal(k, i);
    }
    vk_code_kind k = VK_CODE_F32;
    assert_int_equal(vk_code_parse("uint8", &k), 0);
    assert_int_equal(k, VK_CODE_U8);
    assert_int_equal(vk_code_parse("int16", &k), -1);
    assert_int_equal(vk_code_parse("", &k), -1);
    assert_int_equal(vk_code_parse(NULL, &k), -1);
    assert_int_equal(k, VK_CODE_U8); /* untouched on failure */
    assert_true(vk_code_is_quantized(VK_CODE_S8) && vk_code_is_quantized(VK_CODE_U8) &&
                vk_code_is_quantized(VK_CODE_U4));
    assert_false(vk_code_is_quantized(VK_CODE_F32) || vk_code_is_quantized(VK_CODE_F16) ||
                 vk_code_is_quantized((vk_code_kind)VK_CODE_KINDS));
    assert_int_equal(vk_code_row_bytes(VK_CODE_U8, 1), 64);
    assert_int_equal(vk_code_row_bytes(VK_CODE_U8, 1024), 1024);
    assert_int_equal(vk_code_row_bytes(VK_CODE_U8, 1025), 1088);
    assert_int_equal(vk_code_row_bytes(VK_CODE_U8, SIZE_MAX - 3), 0);
    assert_int_equal(vk_code_row_bytes(VK_CODE_S8, 1), 64);
    assert_int_equal(vk_code_row_bytes(VK_CODE_S8, 64), 64);
    assert_int_equal(vk_code_row_bytes(VK_CODE_S8, 65), 128);
    assert_int_equal(vk_code_row_bytes(VK_CODE_U4, 128), 64);
    assert_int_equal(vk_code_row_bytes(VK_CODE_U4, 129), 128);
    assert_int_equal(vk_code_row_bytes(VK_CODE_U4, 1), 64);
    assert_int_equal(vk_code_row_bytes(VK_CODE_F32, 512), 2048);
    assert_int_equal(vk_code_row_bytes(VK_CODE_F32, 17), 128);
    assert_int_equal(vk_code_row_bytes(VK_CODE_F16, 33), 128);
    assert_int_equal(vk_code_row_bytes(VK_CODE_F16, 1024), 2048);
    assert_int_equal(vk_code_row_bytes(VK_CODE_S8, 0), 0);
    assert_int_equal(vk_code_row_bytes((vk_code_kind)9, 10), 0);
    assert_int_equal(vk_code_row_bytes(VK_CODE_F32, SIZE_MAX / 2), 0);
    assert_int_equal(vk_code_row_bytes(VK_CODE_F16, SIZE_MAX / 2 + 1), 0);
    assert_int_equal(vk_code_row_bytes(VK_CODE_S8, SIZE_MAX - 3), 0);
}

static void test_fit(void **st)
{
    (void)st;
    /* columns: mixed signs, constant zero, constant 3, with NaN/inf ignored */
    const float x[4][4] = {{-2.0f, 0.0f, 3.0f, NAN},
                           {1.0f, 0.0f, 3.0f, 1.0f},
                           {0.5f, 0.0f, 3.0f, INFINITY},
                           {-0.5f, 0.0f, 3.0f, -4.0f}};
    float a[4], b[4];
    vk_code_fit(VK_CODE_S8, &x[0][0], 4, 4, a, b);
    assert_true(a[0] == 2.0f / 127.0f && b[0] == 0.0f);
    assert_true(a[1] == 1.0f);
    assert_true(a[2] == 3.0f / 127.0f);
    assert_true(a[3] == 4.0f / 127.0f);
    vk_code_fit(VK_CODE_U4, &x[0][0], 4, 4, a, b);
    assert_true(b[0] == -2.0f && a[0] == 3.0f / 15.0f);
    assert_true(b[1] == 0.0f && a[1] == 1.0f);
    assert_true(b[2] == 3.0f && a[2] == 1.0f);
    assert_true(b[3] == -4.0f && a[3] == 5.0f / 15.0f);
    vk_code_fit(VK_CODE_U8, &x[0][0], 4, 4, a, b);
    assert_true(b[0] == -2.0f && a[0] == 3.0f / 255.0f);
    assert_true(b[1] == 0.0f && a[1] == 1.0f);
    assert_true(b[2] == 3.0f && a[2] == 1.0f);
    assert_true(b[3] == -4.0f && a[3] == 5.0f / 255.0f);
    vk_code_fit(VK_CODE_F32, &x[0][0], 4, 4, a, b);
    for (int d = 0; d < 4; d++)
        assert_true(a[d] == 1.0f && b[d] == 0.0f);
    /* an all-NaN column and a denormal one still give usable scales */
    const float y[2][2] = {{NAN, 1e-42f}, {NAN, -1e-42f}};
    vk_code_fit(VK_CODE_S8, &y[0][0], 2, 2, a, b);
    assert_true(a[0] == 1.0f && isfinite(a[1]) && a[1] > 0.0f);
    for (int k = VK_CODE_U4; k <= VK_CODE_U8; k += VK_CODE_U8 - VK_CODE_U4) {
        vk_code_fit((vk_code_kind)k, &y[0][0], 2, 2, a, b);
        assert_true(isfinite(a[0]) && a[0] > 0.0f && isfinite(a[1]) && a[1] > 0.0f);
        /* a range wider than f32: the scale stays finite and so does a·c */
        const float z[2] = {-3e38f, 3e38f};
        vk_code_fit((vk_code_kind)k, z, 2, 1, a, b);
        assert_true(isfinite(a[0]) && a[0] > 0.0f && isfinite(a[0] * (k == VK_CODE_U4 ? 15 : 255)));
    }
}

/* Round trip: encode computes v = fl((x − b)/a) (relative error ≤ u), rounds
 * to the nearest code c (|c − (x−b)/a| ≤ 1/2 + u·|v|), decode computes
 * fl(fl(a·c) + b) (two roundings of ≤ u·(|a·c| + |x̂|)). So
 *   |x − x̂| ≤ a/2 + u·a·|v| + u·|a·c| + u·|x̂| ≤ a/2 + 4u·(|x| + |b| + a).
 * For values inside the fitted range that is the a/2 of the design. */
static void check_roundtrip(vk_code_kind k, size_t dim, size_t n, tu_rng *rng)
{
    float *x = tu_alloc(n * dim * sizeof(float)), *a = tu_alloc(dim * 4), *b = tu_alloc(dim * 4);
    float *y = tu_alloc(dim * sizeof(float));
    size_t rb = vk_code_row_bytes(k, dim);
    uint8_t *row = tu_alloc(rb);
    for (size_t d = 0; d < dim; d++) { /* per-column offset and spread */
        float off = tu_uniform(rng, -3.0f, 3.0f), sp = tu_uniform(rng, 0.01f, 5.0f);
        for (size_t i = 0; i < n; i++)
            x[i * dim + d] = off + sp * tu_uniform(rng, -1.0f, 1.0f);
    }
    vk_code_fit(k, x, n, dim, a, b);
    for (size_t i = 0; i < n; i++) {
        memset(row, 0xff, rb);
        vk_code_encode(k, x + i * dim, dim, a, b, row);
        vk_code_decode(k, row, dim, a, b, y);
        for (size_t d = 0; d < dim; d++) {
            float xv = x[i * dim + d];
            double tol = k == VK_CODE_F16 ? fabs(xv) / 2048.0 + 3e-8
                                          : a[d] / 2.0 + 4 * U * (fabs(xv) + fabs(b[d]) + a[d]);
            if (fabs((double)y[d] - xv) > tol) {
                tu_fail("%s dim %zu row %zu d %zu: x %.9g decoded %.9g (a %.6g b %.6g tol %.3g)",
                        vk_code_name(k), dim, i, d, xv, y[d], a[d], b[d], tol);
                goto out;
            }
        }
        /* padding is zero: bytes past the payload, and the last high nibble */
        size_t payload = k == VK_CODE_S8 || k == VK_CODE_U8 ? dim
                         : k == VK_CODE_U4                  ? (dim + 1) / 2
                                                            : dim * 2;
        for (size_t p = payload; p < rb; p++)
            if (row[p]) {
                tu_fail("%s dim %zu: padding byte %zu is %d", vk_code_name(k), dim, p, row[p]);
                goto out;
            }
        if (k == VK_CODE_U4 && (dim & 1) && (row[dim / 2] >> 4)) {
            tu_fail("int4 dim %zu: padding nibble is not zero", dim);
            goto out;
        }
    }
out:
    tu_free(x), tu_free(a), tu_free(b), tu_free(y), tu_free(row);
}

static void test_roundtrip(void **st)
{
    (void)st;
    static const size_t dims[] = {1, 2, 3, 63, 64, 65, 127, 128, 129, 512, 1023};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        tu_rng rng = tu_rng_make(0xc0de + i);
        check_roundtrip(VK_CODE_S8, dims[i], 50, &rng);
        check_roundtrip(VK_CODE_U4, dims[i], 50, &rng);
        check_roundtrip(VK_CODE_U8, dims[i], 50, &rng);
        check_roundtrip(VK_CODE_F16, dims[i], 20, &rng);
    }
}

static void test_layout_and_clamping(void **st)
{
    (void)st;
    const float a[5] = {1, 1, 1, 1, 1}, b[5] = {0, 0, 0, 0, 0};
    uint8_t row[64];
    /* S8: nearest, ties away from zero, clamped to ±127 (never −128), NaN → 0 */
    const float xs[5] = {2.5f, -2.5f, 1000.0f, -1000.0f, NAN};
    vk_code_encode(VK_CODE_S8, xs, 5, a, b, row);
    assert_int_equal((int8_t)row[0], 3);
    assert_int_equal((int8_t)row[1], -3);
    assert_int_equal((int8_t)row[2], 127);
    assert_int_equal((int8_t)row[3], -127);
    assert_int_equal((int8_t)row[4], 0);
    /* U4: dim 2j low nibble of byte j, 2j+1 high; clamped to 0 … 15 */
    const float xu[5] = {3.0f, 12.0f, -7.0f, 99.0f, 5.4f};
    vk_code_encode(VK_CODE_U4, xu, 5, a, b, row);
    assert_int_equal(row[0], 3 | 12 << 4);
    assert_int_equal(row[1], 0 | 15 << 4);
    assert_int_equal(row[2], 5);
    /* U8: nearest (halves up), clamped to 0 … 255, NaN → 0, ±inf clamped */
    const float a6[6] = {1, 1, 1, 1, 1, 0.5f}, b6[6] = {0, 0, 0, 0, 0, -1};
    const float x8[6] = {2.5f, 254.6f, -7.0f, 1e30f, NAN, -INFINITY};
    vk_code_encode(VK_CODE_U8, x8, 6, a6, b6, row);
    assert_int_equal(row[0], 3);
    assert_int_equal(row[1], 255);
    assert_int_equal(row[2], 0);
    assert_int_equal(row[3], 255);
    assert_int_equal(row[4], 0);
    assert_int_equal(row[5], 0);
    const float x8b[2] = {INFINITY, 0.26f}; /* (0.26 + 1) / 0.5 = 2.52 → 3 */
    vk_code_encode(VK_CODE_U8, x8b, 2, a6 + 4, b6 + 4, row);
    assert_int_equal(row[0], 255);
    assert_int_equal(row[1], 3);
    float y8[2];
    vk_code_decode(VK_CODE_U8, row, 2, a6 + 4, b6 + 4, y8);
    assert_true(y8[0] == 1.0f * 255 + 0 && y8[1] == 0.5f * 3 - 1);
    /* the scan kernels' query order puts each dim where its nibble is read */
    for (size_t d = 0; d < 300; d++) {
        size_t i = vk_scan_u4_query_index(d);
        size_t byte = (i / 128) * 64 + i % 64, hi = (i % 128) >= 64;
        assert_int_equal(byte, d / 2);
        assert_int_equal(hi, d & 1);
    }
    /* F32: bit exact, little-endian */
    const float xf[3] = {-0.0f, INFINITY, 1.5f};
    float yf[3];
    uint8_t rf[64];
    vk_code_encode(VK_CODE_F32, xf, 3, NULL, NULL, rf);
    assert_int_equal(rf[3], 0x80);
    assert_int_equal(rf[8 + 3], 0x3f);
    assert_int_equal(rf[8 + 2], 0xc0);
    vk_code_decode(VK_CODE_F32, rf, 3, NULL, NULL, yf);
    assert_memory_equal(xf, yf, sizeof xf);
}

static uint16_t f16_of(float f)
{
    uint8_t r[64];
    vk_code_encode(VK_CODE_F16, &f, 1, NULL, NULL, r);
    return (uint16_t)(r[0] | r[1] << 8);
}

static void test_f16(void **st)
{
    (void)st;
    assert_int_equal(f16_of(1.0f), 0x3c00);
    assert_int_equal(f16_of(-2.0f), 0xc000);
    assert_int_equal(f16_of(65504.0f), 0x7bff);
    assert_int_equal(f16_of(65519.0f), 0x7bff);     /* below the halfway point */
    assert_int_equal(f16_of(65520.0f), 0x7c00);     /* halfway to 2^16: to even = inf */
    assert_int_equal(f16_of(1e6f), 0x7c00);
    assert_int_equal(f16_of(-INFINITY), 0xfc00);
    assert_int_equal(f16_of(ldexpf(1, -24)), 0x0001); /* smallest denormal */
    assert_int_equal(f16_of(ldexpf(1, -25)), 0x0000); /* half of it: to even, 0 */
    assert_int_equal(f16_of(ldexpf(3, -25)), 0x0002); /* 1.5 ulp: to even, 2 */
    assert_int_equal(f16_of(ldexpf(1, -26)), 0x0000);
    assert_int_equal(f16_of(1.0f + ldexpf(1, -11)), 0x3c00); /* tie → even */
    assert_int_equal(f16_of(1.0f + ldexpf(3, -11)), 0x3c02); /* tie → even (up) */
    assert_int_equal(f16_of(1.0f + ldexpf(1, -11) + ldexpf(1, -20)), 0x3c01);
    assert_int_equal(f16_of(ldexpf(1023, -24) + ldexpf(1, -25)), 0x0400); /* denormal → normal */
    uint16_t nan = f16_of(NAN);
    assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    /* every non-NaN half decodes and re-encodes to itself */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue;
        uint8_t r[64] = {(uint8_t)h, (uint8_t)(h >> 8)};
        float f;
        vk_code_decode(VK_CODE_F16, r, 1, NULL, NULL, &f);
        if (f16_of(f) != h) {
            tu_fail("half 0x%04x decodes to %.9g which encodes to 0x%04x", h, f, f16_of(f));
            return;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_sizes), cmocka_unit_test(test_fit),
        cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_layout_and_clamping),
        cmocka_unit_test(test_f16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
