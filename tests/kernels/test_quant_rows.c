/* quant_rows: the dispatched kernel against an oracle written from kernels.h's
 * definition and against the reference kernel, EXACTLY (codes and scales):
 * the maximum is order-free and every other step is a single IEEE operation
 * per element, so no level may differ by a bit.
 *
 * The oracle is independent of the reference's code: it finds the code of
 * each element by rounding in double (x·inv is computed in f32 first, as the
 * definition says, then compared with the half-way points), so a kernel that
 * divides instead of multiplying, rounds half away from zero, clamps at ±128
 * or ±126, or forgets the +128 offset fails.
 *
 * Shapes: N of 1, odd, one below / at / above the 16- and 32-float vector
 * blocks, the ViT widths (768, 3072); rows with strides (ldx > N, ldy > N)
 * whose padding must stay untouched; sub-ranges of rows; rows of zeros, of
 * tiny values (below VK_QROWS_TINY and just above), with NaN and ±inf, with
 * exact half-way products (ties to even), with one dominant element. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { ROW_RANDOM, ROW_ZERO, ROW_TINY, ROW_JUST_ABOVE_TINY, ROW_NAN, ROW_INF, ROW_TIES,
       ROW_SPIKE, ROW_KINDS };

/* The code of x with multiplier inv, from the definition. */
static int oracle_code(float x, float inv)
{
    const float v = x * inv; /* one f32 rounding, as defined */
    if (!(v >= -127.0f))     /* NaN too */
        return -127;
    if (v > 127.0f)
        return 127;
    double f = floor((double)v), d = (double)v - f;
    long q = (long)f;
    if (d > 0.5 || (d == 0.5 && (q & 1)))
        q++;
    return (int)q;
}

static void fill_row(tu_rng *r, float *x, int N, int kind)
{
    tu_fill_f32(r, x, (size_t)N, -3.0f, 3.0f);
    switch (kind) {
    case ROW_ZERO:
        for (int k = 0; k < N; k++)
            x[k] = (k & 1) ? -0.0f : 0.0f;
        break;
    case ROW_TINY: /* amax below VK_QROWS_TINY: all codes 0, scale 0 */
        for (int k = 0; k < N; k++)
            x[k] *= 1e-32f;
        break;
    case ROW_JUST_ABOVE_TINY:
        for (int k = 0; k < N; k++)
            x[k] = x[k] * 1e-31f;
        x[N / 2] = VK_QROWS_TINY;
        break;
    case ROW_NAN:
        x[(N * 2) / 3] = NAN;
        if (N > 2)
            x[0] = -NAN;
        break;
    case ROW_INF:
        x[N / 3] = (N & 1) ? INFINITY : -INFINITY;
        break;
    case ROW_TIES: /* amax 127 → inv 1: x·inv = x exactly, half-integers tie */
        for (int k = 0; k < N; k++)
            x[k] = (float)((int)(tu_next(r) % 254) - 127) + ((k % 3) ? 0.5f : 0.0f);
        x[0] = (N & 1) ? 127.0f : -127.0f;
        break;
    case ROW_SPIKE:
        x[(N * 5) / 7] = 1e4f;
        break;
    default: break;
    }
}

/* One case: M rows of N (strides N + pad), rows [r0, r1) quantized. */
static int run_case(int M, int N, int xpad, int ypad, int r0, int r1, uint64_t salt)
{
    tu_rng r = tu_rng_make(salt);
    const vk_ops *ops = tu_ops(), *ref = tu_ref();
    const ptrdiff_t ldx = N + xpad, ldy = N + ypad;
    float *x = malloc((size_t)M * ldx * sizeof *x);
    uint8_t *yg = malloc((size_t)M * ldy), *yr = malloc((size_t)M * ldy);
    float *sg = malloc((size_t)M * sizeof *sg), *sr = malloc((size_t)M * sizeof *sr);
    for (int m = 0; m < M; m++) {
        fill_row(&r, x + (ptrdiff_t)m * ldx, N, (int)((salt + (uint64_t)m) % ROW_KINDS));
        for (int k = N; k < ldx; k++)
            x[(ptrdiff_t)m * ldx + k] = NAN; /* padding: must not be read into the max */
    }
    memset(yg, 0xA5, (size_t)M * ldy);
    memset(yr, 0xA5, (size_t)M * ldy);
    for (int m = 0; m < M; m++)
        sg[m] = sr[m] = -1.0f;
    ops->quant_rows(x, ldx, N, yg, ldy, sg, r0, r1);
    ref->quant_rows(x, ldx, N, yr, ldy, sr, r0, r1);
    int bad = 0;
    for (int m = 0; m < M && !bad; m++) {
        const float *xm = x + (ptrdiff_t)m * ldx;
        const int in = m >= r0 && m < r1;
        float amax = 0.0f;
        for (int k = 0; k < N; k++)
            if (fabsf(xm[k]) > amax)
                amax = fabsf(xm[k]);
        const float inv = amax >= VK_QROWS_TINY ? 127.0f / amax : 0.0f;
        const float want_s = !in ? -1.0f : amax >= VK_QROWS_TINY ? amax / 127.0f : 0.0f;
        if (memcmp(&sg[m], &want_s, 4) || memcmp(&sr[m], &want_s, 4)) {
            tu_fail("M%d N%d rows [%d,%d) seed salt %llu: row %d scale %.9g (ref %.9g), want %.9g",
                    M, N, r0, r1, (unsigned long long)salt, m, sg[m], sr[m], want_s);
            bad = 1;
        }
        for (int k = 0; k < ldy && !bad; k++) {
            const ptrdiff_t o = (ptrdiff_t)m * ldy + k;
            const int want = in && k < N ? oracle_code(xm[k], inv) + 128 : 0xA5;
            if (yg[o] != want || yr[o] != want) {
                tu_fail("M%d N%d rows [%d,%d) salt %llu: row %d col %d (x %.9g, inv %.9g): got "
                        "%d ref %d want %d", M, N, r0, r1, (unsigned long long)salt, m, k,
                        k < N ? xm[k] : 0.0f, inv, yg[o], yr[o], want);
                bad = 1;
            }
        }
    }
    free(x), free(yg), free(yr), free(sg), free(sr);
    return bad;
}

static void test_shapes(void **state)
{
    (void)state;
    static const int Ns[] = {1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 97, 768, 3072};
    int fails = 0;
    uint64_t salt = 1;
    for (size_t i = 0; i < sizeof Ns / sizeof *Ns && fails < 3; i++)
        for (int pad = 0; pad < 2 && fails < 3; pad++, salt += 16) {
            const int M = 2 * ROW_KINDS + 1;
            fails += run_case(M, Ns[i], pad ? 5 : 0, pad ? 3 : 0, 0, M, salt);
        }
}

/* Sub-ranges: rows outside [r0, r1) keep their bytes and scales. */
static void test_subranges(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(77);
    int fails = 0;
    for (int i = 0; i < 20 && fails < 3; i++) {
        const int M = 1 + (int)(tu_next(&r) % 20), N = 1 + (int)(tu_next(&r) % 200);
        const int r0 = (int)(tu_next(&r) % (unsigned)M);
        const int r1 = r0 + (int)(tu_next(&r) % (unsigned)(M - r0 + 1));
        fails += run_case(M, N, (int)(tu_next(&r) % 9), (int)(tu_next(&r) % 9), r0, r1,
                          1000 + (uint64_t)i);
    }
}

/* A ViT-B/16 batch's worth of rows (197 tokens × 768) once, to catch a
 * kernel that is right on short rows only. */
static void test_model_rows(void **state)
{
    (void)state;
    run_case(197, 768, 0, 0, 0, 197, 5000);
    run_case(50, 3072, 0, 0, 3, 47, 5001);
}

int main(void)
{
    tu_ops(); /* exits 77 when the machine lacks the forced level */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_subranges),
        cmocka_unit_test(test_model_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
