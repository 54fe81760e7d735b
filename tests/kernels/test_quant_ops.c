/* Quantized add / pooling / softmax and f32 max pooling.
 *  - add_q8: exhaustively over all 256×256 input pairs for several scale
 *    combinations, (a) exactly equal to TFLite's fixed-point formula
 *    (single-rounding form, see requant.h) written independently here in
 *    int64, and (b) within 1 of the ideal real-valued result rounded (the
 *    fixed point's own error is < 1 LSB).
 *  - pooling: exact against naive loops (integer rounding half away from zero).
 *  - softmax_q8: against a double-precision oracle, ±1 (f32 vs double can
 *    round the last bit of p/out_scale differently near .5). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* TFLite's MultiplyByQuantizedMultiplier in its single-rounding form, written
 * out here in int64 independently of requant.h: round half up of
 * x · m · 2^shift / 2^31, from the exact product. */
static int64_t mbqm64(int64_t x, int64_t m, int shift)
{
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    x *= (int64_t)1 << left;
    int total = 31 + right;
    int64_t p = x * m, half = (int64_t)1 << (total - 1);
    /* floor division, spelled out for negative p */
    int64_t num = p + half, d = (int64_t)1 << total;
    return num >= 0 ? num / d : -((-num + d - 1) / d);
}

static int32_t tflite_add(int32_t a, int32_t b, const vk_add_q8_params *p)
{
    int64_t sa = mbqm64((int64_t)(a - p->a_zero) * (1ll << p->left_shift), p->a_mult, p->a_shift);
    int64_t sb = mbqm64((int64_t)(b - p->b_zero) * (1ll << p->left_shift), p->b_mult, p->b_shift);
    int64_t o = mbqm64(sa + sb, p->out_mult, p->out_shift) + p->out_zero;
    return (int32_t)(o < p->out_min ? p->out_min : o > p->out_max ? p->out_max : o);
}

static void test_add_q8_exhaustive(void **state)
{
    const vk_ops *ops = tu_ops();
    struct {
        float sa, sb, so;
        int32_t za, zb, zo;
        int is_signed, relu;
    } cfg[] = {
        {0.0235f, 0.0235f, 0.0470f, 128, 128, 128, 0, 0},  /* MobileNetV2-like residual */
        {0.1f, 0.013f, 0.08f, 120, 140, 3, 0, 1},          /* very different scales, relu */
        {0.02f, 0.05f, 0.07f, -3, 10, -128, 1, 0},         /* int8 */
        {0.5f, 0.5f, 0.001f, 0, 0, 0, 0, 0},               /* saturating output */
    };
    size_t n = 65536;
    uint8_t *a = tu_alloc(n), *b = tu_alloc(n), *y = tu_alloc(n);
    for (size_t i = 0; i < n; i++) {
        a[i] = (uint8_t)(i & 255);
        b[i] = (uint8_t)(i >> 8);
    }
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        int sg = cfg[c].is_signed;
        int32_t lo = sg ? -128 : 0, hi = sg ? 127 : 255;
        if (cfg[c].relu)
            lo = cfg[c].zo > lo ? cfg[c].zo : lo;
        vk_add_q8_params p;
        vk_add_q8_prepare(cfg[c].sa, cfg[c].za, cfg[c].sb, cfg[c].zb, cfg[c].so, cfg[c].zo, sg, lo,
                          hi, &p);
        /* in two pieces: the range contract */
        ops->add_q8(a, b, y, &p, 0, 1001);
        ops->add_q8(a, b, y, &p, 1001, n);
        for (size_t i = 0; i < n; i++) {
            int32_t va = sg ? (int8_t)a[i] : a[i], vb = sg ? (int8_t)b[i] : b[i];
            int32_t got = sg ? (int8_t)y[i] : y[i];
            int32_t want = tflite_add(va, vb, &p);
            if (got != want) {
                tu_fail("config %zu: add(%d, %d) = %d, TFLite formula %d", c, va, vb, got, want);
                break;
            }
            double real = cfg[c].sa * (va - cfg[c].za) + cfg[c].sb * (vb - cfg[c].zb);
            double ideal = fmin(hi, fmax(lo, nearbyint(real / cfg[c].so) + cfg[c].zo));
            if (fabs(got - ideal) > 1) {
                tu_fail("config %zu: add(%d, %d) = %d, real-valued %g", c, va, vb, got, ideal);
                break;
            }
        }
    }
    tu_free(a), tu_free(b), tu_free(y);
}

static void pool_oracle(const vk_conv_geom *g, const uint8_t *in, int sg, int is_max, int32_t lo,
                        int32_t hi, int32_t *out)
{
    for (int n = 0; n < g->N; n++)
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++)
                for (int c = 0; c < g->C; c++) {
                    long long s = 0;
                    int cnt = 0, m = -1000;
                    for (int kh = 0; kh < g->KH; kh++)
                        for (int kw = 0; kw < g->KW; kw++) {
                            int ih = oh * g->stride_h - g->pad_t + kh, iw = ow * g->stride_w - g->pad_l + kw;
                            if (ih < 0 || iw < 0 || ih >= g->H || iw >= g->W)
                                continue;
                            uint8_t raw = in[((size_t)(n * g->H + ih) * g->W + iw) * g->in_ld + c];
                            int v = sg ? (int8_t)raw : raw;
                            s += v, cnt++;
                            m = v > m ? v : m;
                        }
                    long v = 0;
                    if (cnt)
                        v = is_max ? m : lround((double)s / cnt); /* half away from zero */
                    v = v < lo ? lo : v > hi ? hi : v;
                    out[((size_t)(n * g->OH + oh) * g->OW + ow) * g->C + c] = (int32_t)v;
                }
}

static void test_pool_q8(void **state)
{
    const vk_ops *ops = tu_ops();
    struct {
        int N, H, W, C, K, s, pad, OH, OW;
    } shapes[] = {
        {1, 7, 7, 1024, 7, 1, 0, 1, 1}, /* MobileNet global pool as a 7×7 window */
        {2, 5, 6, 17, 3, 2, 1, 3, 3},   {1, 8, 8, 3, 3, 1, 1, 8, 8},
        {1, 1, 1, 5, 3, 1, 1, 1, 1},    {1, 9, 9, 33, 3, 2, 0, 4, 4},
    };
    tu_rng r = tu_rng_make(5);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int sg = 0; sg < 2; sg++)
            for (int is_max = 0; is_max < 2; is_max++) {
                vk_conv_geom g = {.N = shapes[s].N, .H = shapes[s].H, .W = shapes[s].W,
                                  .C = shapes[s].C, .OH = shapes[s].OH, .OW = shapes[s].OW,
                                  .OC = shapes[s].C, .KH = shapes[s].K, .KW = shapes[s].K,
                                  .stride_h = shapes[s].s, .stride_w = shapes[s].s,
                                  .pad_t = shapes[s].pad, .pad_l = shapes[s].pad, .dil_h = 1,
                                  .dil_w = 1, .in_ld = shapes[s].C, .out_ld = shapes[s].C};
                size_t ni = (size_t)g.N * g.H * g.W * g.C, no = (size_t)g.N * g.OH * g.OW * g.C;
                uint8_t *in = tu_alloc(ni), *out = tu_alloc(no);
                int32_t *want = tu_alloc(no * 4);
                tu_fill_u8(&r, in, ni);
                int32_t lo = sg ? -100 : 10, hi = sg ? 120 : 250;
                pool_oracle(&g, in, sg, is_max, lo, hi, want);
                vk_pool_q8_fn fn = is_max ? ops->maxpool_q8 : ops->avgpool_q8;
                int rows = g.N * g.OH;
                fn(&g, in, out, sg, lo, hi, 0, rows / 2);
                fn(&g, in, out, sg, lo, hi, rows / 2, rows);
                for (size_t i = 0; i < no; i++) {
                    int32_t got = sg ? (int8_t)out[i] : out[i];
                    if (got != want[i]) {
                        tu_fail("shape %zu %s %s: element %zu got %d want %d", s,
                                sg ? "s8" : "u8", is_max ? "max" : "avg", i, got, want[i]);
                        break;
                    }
                }
                tu_free(in), tu_free(out), tu_free(want);
            }
}

static void test_maxpool_f32(void **state)
{
    const vk_ops *ops = tu_ops();
    tu_rng r = tu_rng_make(6);
    /* InceptionV3's 3×3 s2 valid max pools, a padded one, and a strided view */
    vk_conv_geom g = {.N = 2, .H = 9, .W = 11, .C = 19, .OH = 4, .OW = 5, .OC = 19, .KH = 3,
                      .KW = 3, .stride_h = 2, .stride_w = 2, .dil_h = 1, .dil_w = 1,
                      .in_ld = 24, .out_ld = 21};
    for (int pad = 0; pad < 2; pad++) {
        g.pad_t = g.pad_l = pad;
        size_t ni = (size_t)g.N * g.H * g.W * g.in_ld, no = (size_t)g.N * g.OH * g.OW * g.out_ld;
        float *in = tu_alloc(ni * 4), *out = tu_alloc(no * 4);
        tu_fill_f32(&r, in, ni, -5, 5);
        ops->maxpool_f32(&g, in, out, 0, g.N * g.OH);
        for (int n = 0; n < g.N; n++)
            for (int oh = 0; oh < g.OH; oh++)
                for (int ow = 0; ow < g.OW; ow++)
                    for (int c = 0; c < g.C; c++) {
                        float m = -INFINITY;
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++) {
                                int ih = oh * 2 - pad + kh, iw = ow * 2 - pad + kw;
                                if (ih >= 0 && iw >= 0 && ih < g.H && iw < g.W)
                                    m = fmaxf(m, in[((size_t)(n * g.H + ih) * g.W + iw) * g.in_ld + c]);
                            }
                        float got = out[((size_t)(n * g.OH + oh) * g.OW + ow) * g.out_ld + c];
                        if (got != m) {
                            tu_fail("maxpool pad %d: (%d,%d,%d,%d) got %g want %g", pad, n, oh, ow,
                                    c, got, m);
                            return;
                        }
                    }
        tu_free(in), tu_free(out);
    }
}

static void test_softmax_q8(void **state)
{
    const vk_ops *ops = tu_ops();
    tu_rng r = tu_rng_make(7);
    int Ns[] = {1, 5, 1001};
    for (size_t k = 0; k < 3; k++)
        for (int sg = 0; sg < 2; sg++) {
            int N = Ns[k], rows = 3;
            uint8_t *x = tu_alloc((size_t)N * rows), *y = tu_alloc((size_t)N * rows);
            tu_fill_u8(&r, x, (size_t)N * rows);
            float in_scale = 0.1f, out_scale = 1.0f / 256;
            int32_t out_zero = sg ? -128 : 0;
            ops->softmax_q8(x, y, N, sg, in_scale, 1.0f, out_scale, out_zero, 0, rows);
            for (int rr = 0; rr < rows; rr++) {
                double mx = -1e9, s = 0;
                for (int i = 0; i < N; i++) {
                    int v = sg ? (int8_t)x[rr * N + i] : x[rr * N + i];
                    mx = fmax(mx, v * (double)in_scale);
                }
                for (int i = 0; i < N; i++) {
                    int v = sg ? (int8_t)x[rr * N + i] : x[rr * N + i];
                    s += exp(v * (double)in_scale - mx);
                }
                for (int i = 0; i < N; i++) {
                    int v = sg ? (int8_t)x[rr * N + i] : x[rr * N + i];
                    double q = nearbyint(exp(v * (double)in_scale - mx) / s / out_scale) + out_zero;
                    q = fmin(sg ? 127 : 255, fmax(sg ? -128 : 0, q));
                    int got = sg ? (int8_t)y[rr * N + i] : y[rr * N + i];
                    if (fabs(got - q) > 1) {
                        tu_fail("softmax N=%d %s row %d elem %d: got %d want %g", N,
                                sg ? "s8" : "u8", rr, i, got, q);
                        rr = rows;
                        break;
                    }
                }
            }
            tu_free(x), tu_free(y);
        }
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_q8_exhaustive),
        cmocka_unit_test(test_pool_q8),
        cmocka_unit_test(test_maxpool_f32),
        cmocka_unit_test(test_softmax_q8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
