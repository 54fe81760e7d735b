/* The dispatched add_q8 / avgpool_q8 / maxpool_q8 / mean_q8 against the
 * reference kernels, byte for byte (integer kernels: no tolerance).
 *
 *  - add_q8: every (a, b) byte pair for random scale / zero-point / bound
 *    configurations (so every rounding case of the three MBQM steps the
 *    configuration can reach), multipliers that put products exactly on and
 *    one either side of rounding boundaries, lengths around the 8-lane / 32-element
 *    steps with unaligned starts, in place (y == a), and parameter sets
 *    outside vk_add_q8_prepare's range (positive shifts) that SIMD kernels
 *    hand to the reference.
 *  - pooling: channel counts 1, odd, one below / at / above 16, 32 and 64,
 *    windows over and entirely outside the image, strides, dilation, pixel
 *    strides wider than C (bytes between must be left alone), row ranges;
 *    ResNet-50's stem max pool and MobileNetV2's final 7×7 average pool.
 *  - mean_q8: the same channel counts, HW 1 … 64, multipliers with left and
 *    right shifts (saturating left shifts too), channel slices, batch ranges.
 *  - maxpool_f32 (not quantized, but the same pooling walk): bit for bit,
 *    with NaN, ±0 and ±inf taps and empty windows.
 * Outputs start as the same random bytes on both sides, so a write outside
 * the range shows up as a difference. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/requant.h"
#include "testutil.h"

static int32_t rnd(tu_rng *r, int32_t lo, int32_t hi) /* [lo, hi] */
{
    return lo + (int32_t)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

static float log_uniform(tu_rng *r, float lo, float hi)
{
    return lo * powf(hi / lo, tu_uniform(r, 0.0f, 1.0f));
}

/* ---- add_q8 ------------------------------------------------------------- */

static void random_add_params(tu_rng *r, int sg, vk_add_q8_params *p)
{
    const int32_t tmin = sg ? -128 : 0, tmax = sg ? 127 : 255;
    float sa = log_uniform(r, 1e-3f, 1.0f), sb = log_uniform(r, 1e-3f, 1.0f);
    if (tu_next(r) % 4 == 0)
        sb = sa; /* the common residual case: equal input scales */
    float so = (sa + sb) * log_uniform(r, 0.05f, 4.0f);
    if (tu_next(r) % 8 == 0)
        so = sa * 1e-7f; /* tiny output scale: positive output shift, saturating */
    int32_t za = rnd(r, tmin, tmax), zb = rnd(r, tmin, tmax), zo = rnd(r, tmin, tmax);
    int32_t lo = tmin, hi = tmax;
    if (tu_next(r) % 2) /* a fused ReLU / ReLU6 */
        lo = zo, hi = rnd(r, zo, tmax);
    vk_add_q8_prepare(sa, za, sb, zb, so, zo, sg, lo, hi, p);
}

static int check_add(const vk_add_q8_params *p, const uint8_t *a, const uint8_t *b, size_t n,
                     size_t i0, size_t i1, int in_place, const char *what)
{
    uint8_t *y = tu_alloc(n), *yr = tu_alloc(n);
    tu_rng r = tu_rng_make(n * 131 + i0);
    tu_fill_u8(&r, yr, n);
    tu_ref()->add_q8(a, b, yr, p, i0, i1);
    if (in_place) { /* y starts as a copy of a and is both input and output */
        memcpy(y, a, n);
        tu_ops()->add_q8(y, b, y, p, i0, i1);
        memcpy(yr, a, i0);
        memcpy(yr + i1, a + i1, n - i1);
    } else {
        tu_rng r2 = tu_rng_make(n * 131 + i0);
        tu_fill_u8(&r2, y, n); /* the same bytes as yr's outside [i0, i1) */
        tu_ops()->add_q8(a, b, y, p, i0, i1);
    }
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++)
        if (y[i] != yr[i]) {
            tu_fail("add_q8 %s n=%zu [%zu,%zu)%s: y[%zu] = %d, reference %d (a %d b %d; ls %d "
                    "a %d/%d b %d/%d out %d/%d z %d %d %d bounds %d %d %s)",
                    what, n, i0, i1, in_place ? " in place" : "", i, y[i], yr[i], a[i], b[i],
                    p->left_shift, p->a_mult, p->a_shift, p->b_mult, p->b_shift, p->out_mult,
                    p->out_shift, p->a_zero, p->b_zero, p->out_zero, p->out_min, p->out_max,
                    p->is_signed ? "s8" : "u8");
            bad = 1;
        }
    tu_free(y), tu_free(yr);
    return bad;
}

static void test_add_q8_all_pairs(void **state)
{
    (void)state;
    const size_t n = 65536;
    uint8_t *a = tu_alloc(n), *b = tu_alloc(n);
    for (size_t i = 0; i < n; i++)
        a[i] = (uint8_t)(i & 255), b[i] = (uint8_t)(i >> 8);
    tu_rng r = tu_rng_make(101);
    for (int c = 0; c < 24; c++) {
        vk_add_q8_params p;
        random_add_params(&r, c & 1, &p);
        char what[32];
        snprintf(what, sizeof what, "config %d", c);
        if (check_add(&p, a, b, n, 0, n, 0, what))
            break;
    }
    tu_free(a), tu_free(b);
}

static void test_add_q8_lengths(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 63, 64, 65, 100, 1003};
    static const size_t offs[] = {0, 1, 5, 8};
    tu_rng r = tu_rng_make(102);
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (size_t oi = 0; oi < sizeof offs / sizeof *offs; oi++) {
            const size_t i0 = offs[oi], n = i0 + lens[li] + 3;
            uint8_t *a = tu_alloc(n), *b = tu_alloc(n);
            tu_fill_u8(&r, a, n), tu_fill_u8(&r, b, n);
            vk_add_q8_params p;
            const int sg = (int)(li + oi) & 1;
            random_add_params(&r, sg, &p);
            const int bad = check_add(&p, a, b, n, i0, i0 + lens[li], 0, "lengths") ||
                            check_add(&p, a, b, n, i0, i0 + lens[li], 1, "lengths");
            tu_free(a), tu_free(b);
            if (bad)
                return;
        }
}

/* Random multipliers almost never put a product exactly on, or one below or
 * above, a rounding boundary. These do: with A = 2^30 + 2^(10+r) + d and
 * a right shift r, the input stage of (x − z) = ±1 lands at a tie (d = 0),
 * one below it (d = −1) or one above (d = 1) of its divisor 2^(11+r); an
 * output multiplier 2^30 + d puts every odd sum at (or next to) a tie. Over
 * all byte pairs, a rounding constant or shift off by one cannot pass. */
static void test_add_q8_rounding_edges(void **state)
{
    (void)state;
    const size_t n = 65536;
    uint8_t *a = tu_alloc(n), *b = tu_alloc(n);
    for (size_t i = 0; i < n; i++)
        a[i] = (uint8_t)(i & 255), b[i] = (uint8_t)(i >> 8);
    static const int rs[] = {0, 1, 18}; /* 2^30 + 2^(11+r) must stay below 2^31 */
    for (size_t ri = 0; ri < 3; ri++)
        for (int d = -1; d <= 1; d++)
            for (int sg = 0; sg < 2; sg++) {
                const int r = rs[ri];
                vk_add_q8_params p = {
                    .is_signed = sg, .left_shift = 20,
                    .a_zero = sg ? 3 : 131, .b_zero = sg ? -7 : 120, .out_zero = sg ? 0 : 128,
                    .a_mult = (1 << 30) + (1 << (10 + r)) + d, .a_shift = (int8_t)-r,
                    .b_mult = (1 << 30) + (1 << (11 + r)) - d, .b_shift = (int8_t)-(r + 1),
                    /* outputs about (va + vb)/2: in range, clamped at the ends */
                    .out_mult = (1 << 30) + d, .out_shift = (int8_t)-(19 - r),
                    .out_min = sg ? -128 : 0, .out_max = sg ? 127 : 255,
                };
                char what[48];
                snprintf(what, sizeof what, "rounding edges r %d d %d", r, d);
                if (check_add(&p, a, b, n, 0, n, 0, what))
                    goto out;
            }
out:
    tu_free(a), tu_free(b);
}

/* Parameters vk_add_q8_prepare never makes; every level must still give the
 * reference's answer. */
static void test_add_q8_odd_params(void **state)
{
    (void)state;
    const size_t n = 65536;
    uint8_t *a = tu_alloc(n), *b = tu_alloc(n);
    for (size_t i = 0; i < n; i++)
        a[i] = (uint8_t)(i & 255), b[i] = (uint8_t)(i >> 8);
    vk_add_q8_params p;
    vk_add_q8_prepare(0.02f, 128, 0.03f, 120, 0.04f, 128, 0, 0, 255, &p);
    vk_add_q8_params q = p;
    q.a_shift = 1, q.left_shift = 4; /* input left shift */
    if (check_add(&q, a, b, n, 0, n, 0, "a_shift > 0"))
        goto out;
    q = p;
    q.left_shift = 0, q.out_shift = 12; /* no 2^20 headroom: output left shift */
    if (check_add(&q, a, b, n, 0, n, 0, "left_shift 0"))
        goto out;
    q = p;
    q.a_shift = -31, q.b_shift = -40, q.out_shift = -60; /* clamped to -31 */
    if (check_add(&q, a, b, n, 0, n, 0, "extreme right shifts"))
        goto out;
    q = p;
    q.out_min = 200, q.out_max = 100; /* crossed bounds: the reference's clamp order */
    if (check_add(&q, a, b, n, 0, n, 0, "crossed bounds"))
        goto out;
    q = p;
    q.out_min = -40, q.out_max = 300; /* bounds past the type: the bytes wrap as in C */
    if (check_add(&q, a, b, n, 0, n, 0, "wide bounds"))
        goto out;
    q = p;
    q.a_mult = 0; /* a real multiplier of 0 */
    check_add(&q, a, b, n, 0, n, 0, "zero multiplier");
out:
    tu_free(a), tu_free(b);
}

/* ---- pooling ------------------------------------------------------------ */

typedef struct pool_case {
    int N, H, W, C, KH, KW, sh, sw, pt, pl, dh, dw, extra_in, extra_out;
    int OH, OW; /* 0: derived as floor((H + 2p − dil·(K−1) − 1)/s) + 1 */
} pool_case;

static int check_pool(const pool_case *pc, int is_max, int sg, int32_t lo, int32_t hi, int r0,
                      int r1, tu_rng *r)
{
    vk_conv_geom g = {.N = pc->N, .H = pc->H, .W = pc->W, .C = pc->C, .OC = pc->C, .KH = pc->KH,
                      .KW = pc->KW, .stride_h = pc->sh, .stride_w = pc->sw, .pad_t = pc->pt,
                      .pad_l = pc->pl, .dil_h = pc->dh, .dil_w = pc->dw,
                      .in_ld = pc->C + pc->extra_in, .out_ld = pc->C + pc->extra_out};
    g.OH = pc->OH ? pc->OH : (pc->H + 2 * pc->pt - pc->dh * (pc->KH - 1) - 1) / pc->sh + 1;
    g.OW = pc->OW ? pc->OW : (pc->W + 2 * pc->pl - pc->dw * (pc->KW - 1) - 1) / pc->sw + 1;
    const int rows = g.N * g.OH;
    if (r1 < 0 || r1 > rows)
        r1 = rows;
    if (r0 > r1)
        r0 = r1;
    const size_t ni = (size_t)g.N * g.H * g.W * g.in_ld, no = (size_t)rows * g.OW * g.out_ld;
    uint8_t *in = tu_alloc(ni), *y = tu_alloc(no), *yr = tu_alloc(no);
    tu_fill_u8(r, in, ni);
    tu_fill_u8(r, y, no);
    memcpy(yr, y, no);
    vk_pool_q8_fn fn = is_max ? tu_ops()->maxpool_q8 : tu_ops()->avgpool_q8;
    vk_pool_q8_fn ref = is_max ? tu_ref()->maxpool_q8 : tu_ref()->avgpool_q8;
    ref(&g, in, yr, sg, lo, hi, r0, r1);
    const int rm = r0 + (r1 - r0) / 3; /* in two calls: the range contract */
    fn(&g, in, y, sg, lo, hi, r0, rm);
    fn(&g, in, y, sg, lo, hi, rm, r1);
    int bad = 0;
    for (size_t i = 0; i < no && !bad; i++)
        if (y[i] != yr[i]) {
            const size_t px = i / (size_t)g.out_ld;
            tu_fail("%s %s N=%d %dx%dx%d k%dx%d s%d,%d pad %d,%d dil %d,%d ld %td/%td -> %dx%d "
                    "bounds [%d,%d] rows [%d,%d): out pixel %zu ch %zu = %d, reference %d",
                    is_max ? "maxpool_q8" : "avgpool_q8", sg ? "s8" : "u8", g.N, g.H, g.W, g.C,
                    g.KH, g.KW, g.stride_h, g.stride_w, g.pad_t, g.pad_l, g.dil_h, g.dil_w,
                    g.in_ld, g.out_ld, g.OH, g.OW, lo, hi, r0, r1, px, i % (size_t)g.out_ld,
                    y[i], yr[i]);
            bad = 1;
        }
    tu_free(in), tu_free(y), tu_free(yr);
    return bad;
}

static void test_pool_q8_vs_ref(void **state)
{
    (void)state;
    static const int chans[] = {1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129};
    tu_rng r = tu_rng_make(201);
    for (size_t ci = 0; ci < sizeof chans / sizeof *chans; ci++) {
        const int C = chans[ci];
        const pool_case cases[] = {
            {2, 5, 6, C, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0},   /* padded 3×3 s2 */
            {1, 7, 7, C, 3, 3, 1, 1, 1, 1, 1, 1, 5, 3, 0, 0},   /* SAME s1, channel slices */
            {1, 6, 5, C, 2, 3, 2, 1, 0, 2, 2, 1, 0, 1, 0, 0},   /* dilation, asymmetric */
            {1, 2, 3, C, 1, 1, 1, 1, 3, 0, 1, 1, 0, 0, 5, 3},   /* rows entirely in padding */
            {1, 4, 4, C, 5, 5, 3, 3, 2, 2, 1, 1, 2, 0, 0, 0},   /* window larger than image */
        };
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
            for (int sg = 0; sg < 2; sg++)
                for (int is_max = 0; is_max < 2; is_max++) {
                    const int32_t tmin = sg ? -128 : 0, tmax = sg ? 127 : 255;
                    int32_t lo = tmin, hi = tmax;
                    if ((k + (size_t)is_max) & 1) /* a ReLU6-like range */
                        lo = rnd(&r, tmin, tmin + 60), hi = rnd(&r, lo, tmax);
                    const int rows = cases[k].N * 8;
                    int r0 = (int)(tu_next(&r) % 2), r1 = rows; /* clipped by check_pool */
                    if (check_pool(&cases[k], is_max, sg, lo, hi, r0, r1, &r))
                        return;
                }
    }
}

static void test_pool_q8_models(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(202);
    /* ResNet-50's stem max pool (rows split as two threads would), MobileNetV2's 7×7 average */
    const pool_case stem = {1, 112, 112, 64, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 56, 56};
    const pool_case gap = {2, 7, 7, 1280, 7, 7, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1};
    for (int sg = 0; sg < 2; sg++) {
        const int32_t lo = sg ? -128 : 0, hi = sg ? 127 : 255;
        if (check_pool(&stem, 1, sg, lo, hi, 0, 28, &r) || check_pool(&stem, 1, sg, lo, hi, 28, 56, &r) ||
            check_pool(&gap, 0, sg, lo, hi, 0, 2, &r) || check_pool(&stem, 0, sg, lo, hi, 3, 40, &r))
            return;
    }
}

/* Bounds outside the planner's range go to the reference on every level. */
static void test_pool_q8_odd_bounds(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(203);
    const pool_case pc = {1, 5, 5, 70, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    const int32_t b[][2] = {{200, 100}, {-5, 300}, {-300, 40}};
    for (size_t i = 0; i < 3; i++)
        for (int is_max = 0; is_max < 2; is_max++)
            if (check_pool(&pc, is_max, i == 2, b[i][0], b[i][1], 0, -1, &r))
                return;
}

/* maxpool_f32 bit for bit: NaN taps (skipped), +0 and −0 (the first of equal
 * values stays), −inf, empty windows (−inf), on the pooling sweep's shapes. */
static int check_maxpool_f32(const pool_case *pc, int r0, int r1, tu_rng *r)
{
    vk_conv_geom g = {.N = pc->N, .H = pc->H, .W = pc->W, .C = pc->C, .OC = pc->C, .KH = pc->KH,
                      .KW = pc->KW, .stride_h = pc->sh, .stride_w = pc->sw, .pad_t = pc->pt,
                      .pad_l = pc->pl, .dil_h = pc->dh, .dil_w = pc->dw,
                      .in_ld = pc->C + pc->extra_in, .out_ld = pc->C + pc->extra_out};
    g.OH = pc->OH ? pc->OH : (pc->H + 2 * pc->pt - pc->dh * (pc->KH - 1) - 1) / pc->sh + 1;
    g.OW = pc->OW ? pc->OW : (pc->W + 2 * pc->pl - pc->dw * (pc->KW - 1) - 1) / pc->sw + 1;
    const int rows = g.N * g.OH;
    r1 = r1 < 0 || r1 > rows ? rows : r1;
    r0 = r0 > r1 ? r1 : r0;
    const size_t ni = (size_t)g.N * g.H * g.W * g.in_ld, no = (size_t)rows * g.OW * g.out_ld;
    float *in = tu_alloc(ni * 4), *y = tu_alloc(no * 4), *yr = tu_alloc(no * 4);
    static const float special[] = {NAN, 0.0f, -0.0f, -INFINITY, INFINITY};
    for (size_t i = 0; i < ni; i++) {
        const uint64_t u = tu_next(r);
        in[i] = u % 8 == 0 ? special[(u >> 8) % 5] : tu_uniform(r, -3.0f, 3.0f);
    }
    tu_fill_u8(r, (uint8_t *)y, no * 4);
    memcpy(yr, y, no * 4);
    tu_ref()->maxpool_f32(&g, in, yr, r0, r1);
    const int rm = r0 + (r1 - r0) / 3;
    tu_ops()->maxpool_f32(&g, in, y, r0, rm);
    tu_ops()->maxpool_f32(&g, in, y, rm, r1);
    int bad = 0;
    for (size_t i = 0; i < no && !bad; i++)
        if (memcmp(y + i, yr + i, 4)) {
            tu_fail("maxpool_f32 N=%d %dx%dx%d k%dx%d s%d,%d pad %d,%d dil %d,%d ld %td/%td "
                    "rows [%d,%d): out pixel %zu ch %zu = %a, reference %a",
                    g.N, g.H, g.W, g.C, g.KH, g.KW, g.stride_h, g.stride_w, g.pad_t, g.pad_l,
                    g.dil_h, g.dil_w, g.in_ld, g.out_ld, r0, r1, i / (size_t)g.out_ld,
                    i % (size_t)g.out_ld, (double)y[i], (double)yr[i]);
            bad = 1;
        }
    tu_free(in), tu_free(y), tu_free(yr);
    return bad;
}

static void test_maxpool_f32_vs_ref(void **state)
{
    (void)state;
    static const int chans[] = {1, 3, 15, 16, 17, 63, 64, 65, 129};
    tu_rng r = tu_rng_make(401);
    for (size_t ci = 0; ci < sizeof chans / sizeof *chans; ci++) {
        const int C = chans[ci];
        const pool_case cases[] = {
            {2, 5, 6, C, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0},
            {1, 7, 7, C, 3, 3, 1, 1, 1, 1, 1, 1, 5, 3, 0, 0},
            {1, 6, 5, C, 2, 3, 2, 1, 0, 2, 2, 1, 0, 1, 0, 0},
            {1, 2, 3, C, 1, 1, 1, 1, 3, 0, 1, 1, 0, 0, 5, 3},
        };
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
            if (check_maxpool_f32(&cases[k], (int)(k & 1), -1, &r))
                return;
    }
    const pool_case stem = {1, 112, 112, 64, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 56, 56};
    check_maxpool_f32(&stem, 0, 56, &r);
}

/* ---- mean_q8 ------------------------------------------------------------ */

static int check_mean(int N, int HW, int C, int extra, int sg, int32_t in_zero, int32_t mult,
                      int shift, int32_t out_zero, int32_t lo, int32_t hi, int n0, int n1,
                      tu_rng *r)
{
    const ptrdiff_t ld = C + extra;
    const size_t ni = (size_t)N * HW * ld, no = (size_t)N * C;
    uint8_t *in = tu_alloc(ni), *y = tu_alloc(no), *yr = tu_alloc(no);
    tu_fill_u8(r, in, ni);
    tu_fill_u8(r, y, no);
    memcpy(yr, y, no);
    tu_ref()->mean_q8(in, ld, HW, C, sg, in_zero, mult, shift, out_zero, lo, hi, yr, n0, n1);
    tu_ops()->mean_q8(in, ld, HW, C, sg, in_zero, mult, shift, out_zero, lo, hi, y, n0, n1);
    int bad = 0;
    for (size_t i = 0; i < no && !bad; i++)
        if (y[i] != yr[i]) {
            tu_fail("mean_q8 %s N=%d HW=%d C=%d ld %td zero %d mult %d shift %d out zero %d "
                    "bounds [%d,%d] n [%d,%d): y[%zu] = %d, reference %d",
                    sg ? "s8" : "u8", N, HW, C, ld, in_zero, mult, shift, out_zero, lo, hi, n0,
                    n1, i, y[i], yr[i]);
            bad = 1;
        }
    tu_free(in), tu_free(y), tu_free(yr);
    return bad;
}

static void test_mean_q8_vs_ref(void **state)
{
    (void)state;
    static const int chans[] = {1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129, 1280};
    static const int hws[] = {1, 2, 3, 49, 64};
    tu_rng r = tu_rng_make(301);
    for (size_t ci = 0; ci < sizeof chans / sizeof *chans; ci++)
        for (size_t hi_ = 0; hi_ < sizeof hws / sizeof *hws; hi_++)
            for (int sg = 0; sg < 2; sg++) {
                const int C = chans[ci], HW = hws[hi_];
                const int32_t tmin = sg ? -128 : 0, tmax = sg ? 127 : 255;
                /* real multiplier in_scale / out_scale from 2^-6 to 2^6 (|v| stays far from 2^31) */
                int32_t mult;
                int8_t shift;
                vk_quantize_multiplier(exp2(tu_uniform(&r, -6.0f, 6.0f)), &mult, &shift);
                int32_t lo = tmin, hi = tmax, zo = rnd(&r, tmin, tmax);
                if (tu_next(&r) % 2)
                    lo = zo, hi = rnd(&r, zo, tmax);
                const int N = 3, n0 = (int)(tu_next(&r) % 2), n1 = N - (int)(tu_next(&r) % 2);
                if (check_mean(N, HW, C, (int)(ci % 3) * 5, sg, rnd(&r, tmin, tmax), mult, shift,
                               zo, lo, hi, n0, n1, &r))
                    return;
            }
}

static void test_mean_q8_shifts(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(302);
    /* left shifts up to 30 saturate the scaled sum at int32 (multiplier kept
     * below 0.95·2^31 so the reference's v ± HW/2 cannot overflow); right
     * shifts to −31 and beyond (clamped) round tiny products. */
    static const int shifts[] = {30, 24, 8, 1, 0, -1, -12, -31, -40};
    for (size_t s = 0; s < sizeof shifts / sizeof *shifts; s++)
        for (int sg = 0; sg < 2; sg++) {
            const int32_t mult = (1 << 30) + rnd(&r, 0, (int32_t)(0.9 * (1 << 30)));
            const int32_t tmin = sg ? -128 : 0, tmax = sg ? 127 : 255;
            if (check_mean(2, 49, 70, 3, sg, rnd(&r, tmin, tmax), mult, shifts[s],
                           rnd(&r, tmin, tmax), tmin, tmax, 0, 2, &r))
                return;
        }
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_q8_all_pairs),  cmocka_unit_test(test_add_q8_rounding_edges),
        cmocka_unit_test(test_add_q8_lengths),
        cmocka_unit_test(test_add_q8_odd_params), cmocka_unit_test(test_pool_q8_vs_ref),
        cmocka_unit_test(test_pool_q8_models),    cmocka_unit_test(test_pool_q8_odd_bounds),
        cmocka_unit_test(test_maxpool_f32_vs_ref), cmocka_unit_test(test_mean_q8_vs_ref),
        cmocka_unit_test(test_mean_q8_shifts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
