/* conv2d_f32: the dispatched kernel against a naive double-precision oracle
 * (computed from the unpacked OHWI weights, so the packer is checked too) and
 * against the reference kernel.
 *
 * Tolerance, per output. The pre-activation value is
 *     v = bias + residual + Σ_k w_k·x_k,   K = KH·KW·C terms
 * (padding taps add exact zeros). Any f32 evaluation order of these K + 2
 * terms, each product rounded once, is within γ_{K+2}·S of v, where
 *     S = |bias| + |residual| + Σ_k |w_k·x_k|
 * (Higham, Accuracy and Stability, 3.1), so two implementations differ by at
 * most 2·γ_{K+2}·S. The activation then multiplies that by its Lipschitz
 * constant L (1 for ReLU/ReLU6; GELU's slope peaks at 1.129, QuickGELU's at
 * 1.1: L = 1.2 bounds both) and adds its own evaluation error: libm erff/expf
 * are within 2 ulp, vmath's erf within 5e-7 absolute, so GELU is within
 * 0.5·|v|·5e-7 + a few ulp of |v|, QuickGELU within a few ulp of |v| (vmath
 * exp 2 ulp, one division): 1e-6·|v| per implementation covers both.
 *   vs oracle:    tol = L·γ_{K+2}·S + 1e-6·|v|
 *   vs reference: tol = 2·L·γ_{K+2}·S + 2e-6·|v|
 * Splitting the row range must not change a single bit (the summation order
 * of an output does not depend on which call computes it), and rows outside
 * the range, channels past OC within out_ld, must be left untouched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "testutil.h"

#define SENTINEL 1234.5f

typedef struct conv_case {
    int N, H, W, C, OC, KH, KW, sh, sw, dh, dw, pt, pl, OH, OW;
    int in_extra, out_extra; /* in_ld = C + in_extra, out_ld = OC + out_extra */
    int bias, residual;
    vk_act act;
} conv_case;

static const char *act_name(vk_act a)
{
    static const char *n[] = {"none", "relu", "relu6", "gelu", "quickgelu"};
    return n[a];
}

static void describe(const conv_case *c, char *buf, size_t len)
{
    snprintf(buf, len,
             "N%d H%d W%d C%d OC%d K%dx%d s%d,%d d%d,%d pad t%d l%d -> %dx%d ld+%d/+%d%s%s %s",
             c->N, c->H, c->W, c->C, c->OC, c->KH, c->KW, c->sh, c->sw, c->dh, c->dw, c->pt,
             c->pl, c->OH, c->OW, c->in_extra, c->out_extra, c->bias ? " bias" : "",
             c->residual ? " res" : "", act_name(c->act));
}

/* Runs one case; returns nonzero on failure. */
static int run_case(const conv_case *cs, uint64_t salt)
{
    char desc[256];
    describe(cs, desc, sizeof desc);
    tu_rng rng = tu_rng_make(salt);
    vk_conv_geom g = {cs->N, cs->H, cs->W, cs->C, cs->OH, cs->OW, cs->OC, cs->KH, cs->KW,
                      cs->sh, cs->sw, cs->pt, cs->pl, cs->dh, cs->dw,
                      cs->C + cs->in_extra, cs->OC + cs->out_extra};
    const int K = cs->KH * cs->KW * cs->C;
    const int R = cs->N * cs->OH;
    const size_t n_in = (size_t)cs->N * cs->H * cs->W * g.in_ld;
    const size_t n_out = (size_t)R * cs->OW * g.out_ld;
    const size_t n_w = (size_t)cs->OC * K;

    float *in = tu_alloc(n_in * 4), *w = tu_alloc(n_w * 4);
    float *wp = tu_alloc(vk_pack_conv_f32_size(cs->OC, cs->KH, cs->KW, cs->C) * 4);
    float *bias = tu_alloc((size_t)cs->OC * 4), *res = tu_alloc(n_out * 4);
    float *want = tu_alloc(n_out * 4), *got = tu_alloc(n_out * 4), *one = tu_alloc(n_out * 4);
    float *tol_o = tu_alloc(n_out * 4), *tol_r = tu_alloc(n_out * 4);
    double *ref_d = tu_alloc(n_out * 8);
    void *scratch = tu_alloc(vk_conv2d_f32_scratch(&g));

    /* Channels past C in the input are garbage the kernel must not read:
     * huge values would blow any tolerance. */
    tu_fill_f32(&rng, in, n_in, -1.0f, 1.0f);
    for (size_t p = 0; p < n_in / g.in_ld; p++)
        for (int c = cs->C; c < g.in_ld; c++)
            in[p * g.in_ld + c] = 1e30f;
    tu_fill_f32(&rng, w, n_w, -1.0f, 1.0f);
    tu_fill_f32(&rng, bias, cs->OC, -1.0f, 1.0f);
    tu_fill_f32(&rng, res, n_out, -2.0f, 2.0f);
    vk_pack_conv_f32(cs->OC, cs->KH, cs->KW, cs->C, w, wp);

    const double L = (cs->act == VK_ACT_GELU || cs->act == VK_ACT_QUICKGELU) ? 1.2 : 1.0;
    const double gk = tu_gamma(K + 2);
    for (int r = 0; r < R; r++) {
        const int n = r / cs->OH, oh = r % cs->OH;
        for (int ow = 0; ow < cs->OW; ow++) {
            const size_t o = ((size_t)r * cs->OW + ow) * g.out_ld;
            for (int oc = 0; oc < cs->OC; oc++) {
                double s = cs->bias ? bias[oc] : 0, sa = fabs(s);
                if (cs->residual) {
                    s += res[o + oc];
                    sa += fabs(res[o + oc]);
                }
                for (int kh = 0; kh < cs->KH; kh++) {
                    int ih = oh * cs->sh - cs->pt + kh * cs->dh;
                    if (ih < 0 || ih >= cs->H)
                        continue;
                    for (int kw = 0; kw < cs->KW; kw++) {
                        int iw = ow * cs->sw - cs->pl + kw * cs->dw;
                        if (iw < 0 || iw >= cs->W)
                            continue;
                        const float *x = in + (((size_t)n * cs->H + ih) * cs->W + iw) * g.in_ld;
                        const float *wk = w + (size_t)oc * K + (size_t)(kh * cs->KW + kw) * cs->C;
                        for (int c = 0; c < cs->C; c++) {
                            double t = (double)x[c] * wk[c];
                            s += t;
                            sa += fabs(t);
                        }
                    }
                }
                ref_d[o + oc] = tu_act_d(s, cs->act);
                tol_o[o + oc] = (float)(L * gk * sa + 1e-6 * fabs(s));
                tol_r[o + oc] = (float)(2 * L * gk * sa + 2e-6 * fabs(s));
            }
        }
    }

    vk_conv2d_f32_args args = {g, in, wp, cs->bias ? bias : NULL, cs->residual ? res : NULL,
                               NULL, cs->act, scratch};
    int fail = 0;
    /* reference, single call */
    for (size_t i = 0; i < n_out; i++)
        want[i] = SENTINEL;
    args.out = want;
    tu_ref()->conv2d_f32(&args, 0, R);
    /* dispatched, single call */
    for (size_t i = 0; i < n_out; i++)
        one[i] = SENTINEL;
    args.out = one;
    tu_ops()->conv2d_f32(&args, 0, R);
    /* dispatched, split into up to three random pieces */
    for (size_t i = 0; i < n_out; i++)
        got[i] = SENTINEL;
    args.out = got;
    int a = R > 0 ? (int)(tu_next(&rng) % (R + 1)) : 0;
    int b = R > 0 ? (int)(tu_next(&rng) % (R + 1)) : 0;
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    tu_ops()->conv2d_f32(&args, b, R);
    tu_ops()->conv2d_f32(&args, 0, a);
    tu_ops()->conv2d_f32(&args, a, b);

    for (size_t p = 0; p < n_out / g.out_ld && !fail; p++) {
        for (int c = 0; c < g.out_ld && !fail; c++) {
            size_t i = p * g.out_ld + c;
            if (c >= cs->OC) {
                if (want[i] != SENTINEL || got[i] != SENTINEL || one[i] != SENTINEL) {
                    tu_fail("%s: pixel %zu channel %d past OC was written", desc, p, c);
                    fail = 1;
                }
                continue;
            }
            double dr = fabs(want[i] - ref_d[i]), dg = fabs(got[i] - ref_d[i]);
            if (!(dr <= tol_o[i])) {
                tu_fail("%s: ref vs oracle at pixel %zu oc %d: %.9g vs %.9g (tol %.3g)", desc, p,
                        c, want[i], ref_d[i], tol_o[i]);
                fail = 1;
            } else if (!(dg <= tol_o[i])) {
                tu_fail("%s: %s vs oracle at pixel %zu oc %d: %.9g vs %.9g (tol %.3g)", desc,
                        tu_level(), p, c, got[i], ref_d[i], tol_o[i]);
                fail = 1;
            } else if (!(fabsf(got[i] - want[i]) <= tol_r[i])) {
                tu_fail("%s: %s vs ref at pixel %zu oc %d: %.9g vs %.9g (tol %.3g)", desc,
                        tu_level(), p, c, got[i], want[i], tol_r[i]);
                fail = 1;
            } else if (memcmp(&got[i], &one[i], 4) != 0) {
                tu_fail("%s: split [0,%d) [%d,%d) [%d,%d) differs from one call at pixel %zu "
                        "oc %d: %.9g vs %.9g",
                        desc, a, a, b, b, R, p, c, got[i], one[i]);
                fail = 1;
            }
        }
    }

    /* A strict sub-range touches only its rows. */
    if (!fail && R >= 3) {
        for (size_t i = 0; i < n_out; i++)
            got[i] = SENTINEL;
        args.out = got;
        tu_ops()->conv2d_f32(&args, 1, R - 1);
        const size_t row = (size_t)cs->OW * g.out_ld;
        for (size_t i = 0; i < n_out && !fail; i++) {
            int inside = i >= row && i < (size_t)(R - 1) * row;
            int c = (int)(i % g.out_ld);
            float expect = inside && c < cs->OC ? one[i] : SENTINEL;
            if (memcmp(&got[i], &expect, 4) != 0) {
                tu_fail("%s: range [1,%d): element %zu: got %.9g want %.9g", desc, R - 1, i,
                        got[i], expect);
                fail = 1;
            }
        }
    }

    tu_free(in);
    tu_free(w);
    tu_free(wp);
    tu_free(bias);
    tu_free(res);
    tu_free(want);
    tu_free(got);
    tu_free(one);
    tu_free(tol_o);
    tu_free(tol_r);
    tu_free(ref_d);
    tu_free(scratch);
    return fail;
}

static int out_size(int in, int k, int s, int d, int p0, int p1)
{
    int eff = (k - 1) * d + 1;
    int span = in + p0 + p1 - eff;
    return span < 0 ? 0 : span / s + 1;
}

static conv_case mk(int N, int H, int W, int C, int OC, int KH, int KW, int s, int d, int pt,
                    int pb, int pl, int pr)
{
    conv_case c = {N, H, W, C, OC, KH, KW, s, s, d, d, pt, pl, 0, 0, 0, 0, 1, 0, VK_ACT_NONE};
    c.OH = out_size(H, KH, s, d, pt, pb);
    c.OW = out_size(W, KW, s, d, pl, pr);
    return c;
}

/* TFLite SAME: output ceil(in / s), the odd padding pixel goes bottom/right. */
static conv_case same(int N, int H, int W, int C, int OC, int K, int s)
{
    int OH = (H + s - 1) / s, OW = (W + s - 1) / s;
    int ph = (OH - 1) * s + K - H, pw = (OW - 1) * s + K - W;
    ph = ph < 0 ? 0 : ph;
    pw = pw < 0 ? 0 : pw;
    conv_case c = mk(N, H, W, C, OC, K, K, s, 1, ph / 2, ph - ph / 2, pw / 2, pw - pw / 2);
    return c;
}

static void test_curated(void **state)
{
    (void)state;
    const conv_case cases[] = {
        /* 1×1 as a GEMM, M around the 12-pixel tile */
        mk(1, 1, 11, 16, 32, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 1, 12, 17, 33, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 1, 13, 15, 31, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(2, 5, 5, 33, 48 + 1, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 7, 7, 64, 16, 1, 1, 2, 1, 0, 0, 0, 0),
        /* 1×1 stride 1 over >= 128 pixels: the AVX-512 kernel runs the matmul
         * on the input in place (odd C and OC, pixel strides past C / OC) */
        mk(2, 9, 8, 17, 33, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 16, 8, 33, 49, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 11, 13, 1, 7, 1, 1, 1, 1, 0, 0, 0, 0),
        /* ... not at stride 2 (ResNet's downsample form, odd W) */
        mk(2, 18, 16, 17, 33, 1, 1, 2, 1, 0, 0, 0, 0),
        mk(1, 24, 23, 9, 20, 1, 1, 2, 1, 0, 0, 0, 0),
        /* 3×3 pad 1, the ResNet form, with every padding side hit */
        mk(1, 8, 8, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1),
        mk(2, 9, 9, 17, 33, 3, 3, 2, 1, 1, 1, 1, 1),
        mk(1, 17, 3, 3, 17, 3, 3, 1, 2, 2, 2, 2, 2),
        /* first layers: C = 3 */
        mk(1, 17, 17, 3, 32, 3, 3, 2, 1, 1, 1, 1, 1),
        mk(1, 17, 17, 3, 64, 7, 7, 2, 1, 3, 3, 3, 3),
        same(1, 8, 8, 3, 32, 3, 2),
        same(1, 9, 9, 3, 32, 3, 2),
        same(2, 8, 9, 15, 17, 5, 2),
        same(1, 9, 8, 16, 15, 5, 3),
        /* 1×7 / 7×1 (Inception), asymmetric padding */
        mk(1, 9, 9, 16, 16, 1, 7, 1, 1, 0, 0, 3, 3),
        mk(1, 9, 9, 17, 16, 7, 1, 1, 1, 3, 3, 0, 0),
        mk(1, 5, 7, 3, 1, 7, 1, 1, 1, 2, 4, 0, 1),
        /* kernel larger than the image, pad on every side */
        mk(1, 2, 3, 5, 7, 5, 5, 1, 1, 2, 3, 4, 1),
        mk(2, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1),
        mk(1, 3, 3, 33, 17, 7, 7, 3, 2, 4, 4, 4, 4),
        /* small C with K = 735 > 512: gathered tiles in two K blocks */
        mk(1, 9, 9, 15, 33, 7, 7, 1, 1, 3, 3, 3, 3),
        /* 1×1 and dilated small-C forms (gathered), tiny C = 1 */
        mk(2, 5, 6, 3, 17, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 9, 9, 1, 16, 3, 3, 1, 2, 2, 2, 2, 2),
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int v = 0; v < 2; v++) {
            conv_case c = cases[i];
            c.in_extra = v ? 5 : 0;
            c.out_extra = v ? 3 : 0;
            c.residual = v;
            c.act = (vk_act)((i + v) % 5);
            c.bias = (int)((i + v) % 3 != 2);
            fails += run_case(&c, 100 + i * 2 + v);
        }
    }
    assert_int_equal(fails, 0);
}

static void test_random_edges(void **state)
{
    (void)state;
    static const int Cs[] = {1, 3, 15, 16, 17, 33};
    static const int OCs[] = {1, 15, 16, 17, 31, 33, 49};
    static const int Ks[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {1, 7}, {7, 1}};
    static const int HWs[] = {1, 2, 3, 5, 7, 8, 9, 17};
    tu_rng rng = tu_rng_make(7);
    int fails = 0, done = 0;
    while (done < 120 && !fails) {
        conv_case c;
        memset(&c, 0, sizeof c);
        c.N = 1 + (int)(tu_next(&rng) % 2);
        c.C = Cs[tu_next(&rng) % 6];
        c.OC = OCs[tu_next(&rng) % 7];
        int ki = (int)(tu_next(&rng) % 6);
        c.KH = Ks[ki][0];
        c.KW = Ks[ki][1];
        c.H = HWs[tu_next(&rng) % 8];
        c.W = HWs[tu_next(&rng) % 8];
        c.sh = 1 + (int)(tu_next(&rng) % 3);
        c.sw = 1 + (int)(tu_next(&rng) % 3);
        c.dh = 1 + (int)(tu_next(&rng) % 2);
        c.dw = 1 + (int)(tu_next(&rng) % 2);
        int pt = (int)(tu_next(&rng) % c.KH), pb = (int)(tu_next(&rng) % c.KH);
        int pl = (int)(tu_next(&rng) % c.KW), pr = (int)(tu_next(&rng) % c.KW);
        c.pt = pt;
        c.pl = pl;
        c.OH = out_size(c.H, c.KH, c.sh, c.dh, pt, pb);
        c.OW = out_size(c.W, c.KW, c.sw, c.dw, pl, pr);
        if (c.OH < 1 || c.OW < 1)
            continue;
        c.in_extra = (int)(tu_next(&rng) % 3) == 0 ? 3 : 0;
        c.out_extra = (int)(tu_next(&rng) % 3) == 0 ? 2 : 0;
        c.bias = (int)(tu_next(&rng) % 4) != 0;
        c.residual = (int)(tu_next(&rng) % 3) == 0;
        c.act = (vk_act)(tu_next(&rng) % 5);
        fails += run_case(&c, 1000 + done);
        done++;
    }
    assert_int_equal(fails, 0);
}

/* Shapes that cross every cache block of the AVX-512 kernel: K > 512 (two K
 * blocks), OC beyond one N block of weights, M beyond one M block; plus the
 * real layer forms (ResNet-50 / MobileNetV2 channel counts on small maps). */
static void test_blocks_and_models(void **state)
{
    (void)state;
    conv_case cases[] = {
        mk(2, 8, 8, 520, 600, 1, 1, 1, 1, 0, 0, 0, 0),   /* 2 K, 2 N, 2 M blocks */
        mk(1, 7, 7, 256, 64, 3, 3, 1, 1, 1, 1, 1, 1),    /* K = 2304: 5 K blocks */
        mk(1, 4, 4, 1024, 33, 1, 1, 1, 1, 0, 0, 0, 0),   /* K = 1024 */
        mk(1, 32, 32, 3, 64, 7, 7, 2, 1, 3, 3, 3, 3),    /* ResNet-50 conv1 */
        same(1, 32, 32, 3, 32, 3, 2),                    /* MobileNetV2 conv1 */
        mk(1, 14, 14, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1),   /* ResNet 3×3 form */
        mk(1, 14, 14, 24, 144, 1, 1, 1, 1, 0, 0, 0, 0),  /* MobileNetV2 expand */
        mk(1, 14, 14, 64, 256, 1, 1, 2, 1, 0, 0, 0, 0),  /* ResNet downsample */
        /* 1×1 whose pixel step is a multiple of 4 KB: 8-pixel tiles */
        mk(1, 7, 9, 1024, 48, 1, 1, 1, 1, 0, 0, 0, 0),   /* C = 1024, M = 63 */
        mk(1, 10, 10, 512, 40, 1, 1, 2, 1, 0, 0, 0, 0),  /* stride 2, C = 512 */
        mk(2, 6, 6, 2048, 20, 1, 1, 2, 1, 0, 0, 0, 0),   /* 16 KB step, batch 2 */
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        conv_case c = cases[i];
        c.residual = i % 2 == 0;
        c.act = i % 2 ? VK_ACT_RELU : VK_ACT_NONE;
        fails += run_case(&c, 500 + i);
    }
    assert_int_equal(fails, 0);
}

/* (after conv_case and run_case) */
#include "conv_patch_variants.h"

/* Patchify convs (stride == kernel, unpadded, small C: a ViT's patch
 * embedding), which the AVX-512 kernel runs as a matmul over gathered im2col
 * rows in chunks of vk_conv_patch_rows_f32 pixels: ViT-B/32 and B/16 geometry
 * (fewer channels), an odd kernel whose patches leave the last input rows and
 * columns unread, OC off the 16-channel panels, batch 2, several chunks per
 * call, every epilogue; and near misses that must not take the route. */
static conv_case patch(int N, int H, int W, int C, int OC, int K)
{
    return mk(N, H, W, C, OC, K, K, K, 1, 0, 0, 0, 0);
}

static void test_patchify(void **state)
{
    (void)state;
    const struct {
        conv_case c;
        int chunks; /* 1: one chunk per whole call, 2: several, 0: not the route */
    } cases[] = {
        {patch(1, 224, 224, 3, 64, 32), 1},  /* B/32: 7×7, K = 3072 */
        {patch(1, 224, 224, 3, 80, 16), 1},  /* B/16: 14×14, K = 768 */
        {patch(2, 23, 27, 3, 129, 5), 1},    /* 4×5 of 23×27, K = 75, OC >= 128 */
        {patch(2, 224, 224, 3, 17, 32), 2},  /* 98 pixels of 3072 */
        {patch(2, 160, 176, 3, 33, 16), 1},  /* 2 × 10 × 11 = 220 pixels ... */
        {patch(3, 160, 176, 3, 33, 16), 2},  /* ... 330 > 256 of 768 */
        {patch(1, 64, 62, 1, 130, 2), 1},    /* K = 4 */
        {patch(1, 40, 40, 15, 31, 8), 1},    /* C = 15, K = 960 */
        {patch(1, 23, 27, 3, 64, 5), 0},     /* f32: K = 75 with 64 channels */
        {patch(1, 48, 48, 16, 20, 4), 0},    /* C = 16: the direct conv */
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        fails += patch_variants(cases[i].c, cases[i].chunks, i, vk_conv_patch_rows_f32);
    assert_int_equal(fails, 0);
}

/* In-place residual (residual == out), as a ResNet block may run it. */
static void test_residual_in_place(void **state)
{
    (void)state;
    const int shapes[][4] = {{5, 16, 33, 1}, {4, 600, 20, 1}, {3, 16, 17, 3}};
    int fails = 0;
    for (int s = 0; s < 3; s++) {
        conv_case c = mk(1, shapes[s][0], shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3],
                         shapes[s][3], 1, 1, shapes[s][3] / 2, shapes[s][3] / 2, shapes[s][3] / 2,
                         shapes[s][3] / 2);
        vk_conv_geom g = {c.N, c.H, c.W, c.C, c.OH, c.OW, c.OC, c.KH, c.KW, 1, 1, c.pt, c.pl,
                          1, 1, c.C, c.OC};
        tu_rng rng = tu_rng_make(900 + s);
        size_t n_in = (size_t)c.H * c.W * c.C, n_out = (size_t)c.OH * c.OW * c.OC;
        size_t n_w = (size_t)c.OC * c.KH * c.KW * c.C;
        float *in = tu_alloc(n_in * 4), *w = tu_alloc(n_w * 4), *bias = tu_alloc(c.OC * 4);
        float *wp = tu_alloc(vk_pack_conv_f32_size(c.OC, c.KH, c.KW, c.C) * 4);
        float *res = tu_alloc(n_out * 4), *want = tu_alloc(n_out * 4), *io = tu_alloc(n_out * 4);
        void *scratch = tu_alloc(vk_conv2d_f32_scratch(&g));
        tu_fill_f32(&rng, in, n_in, -1, 1);
        tu_fill_f32(&rng, w, n_w, -1, 1);
        tu_fill_f32(&rng, bias, c.OC, -1, 1);
        tu_fill_f32(&rng, res, n_out, -1, 1);
        vk_pack_conv_f32(c.OC, c.KH, c.KW, c.C, w, wp);
        memcpy(io, res, n_out * 4);
        vk_conv2d_f32_args a = {g, in, wp, bias, res, want, VK_ACT_RELU, scratch};
        tu_ops()->conv2d_f32(&a, 0, c.OH);
        a.residual = io;
        a.out = io;
        tu_ops()->conv2d_f32(&a, 0, c.OH);
        /* same kernel, same order: bit-identical */
        if (memcmp(io, want, n_out * 4) != 0) {
            tu_fail("in-place residual differs (shape %d)", s);
            fails++;
        }
        tu_free(in);
        tu_free(w);
        tu_free(bias);
        tu_free(wp);
        tu_free(res);
        tu_free(want);
        tu_free(io);
        tu_free(scratch);
    }
    assert_int_equal(fails, 0);
}

/* The packers against the layouts of kernels.h, element by element. */
static void test_packers(void **state)
{
    (void)state;
    const int OC = 33, KH = 3, KW = 2, C = 5, K = KH * KW * C;
    tu_rng rng = tu_rng_make(42);
    float *w = tu_alloc(OC * K * 4);
    int8_t *w8 = tu_alloc(OC * K);
    tu_fill_f32(&rng, w, OC * K, -1, 1);
    tu_fill_s8(&rng, w8, OC * K);
    size_t nf = vk_pack_conv_f32_size(OC, KH, KW, C), n8 = vk_pack_conv_s8_size(OC, KH, KW, C);
    assert_int_equal(nf, 48 * K);
    assert_int_equal(n8, 48 * ((K + 3) / 4 * 4));
    float *wp = tu_alloc(nf * 4);
    int8_t *wp8 = tu_alloc(n8);
    int32_t *cs = tu_alloc(48 * 4);
    memset(wp, 0x7f, nf * 4);
    memset(wp8, 0x7f, n8);
    vk_pack_conv_f32(OC, KH, KW, C, w, wp);
    vk_pack_conv_s8(OC, KH, KW, C, w8, wp8, cs);
    const int K4 = (K + 3) / 4;
    for (int n = 0; n < 48; n++) {
        int p = n / 16, j = n % 16;
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            float e = n < OC ? w[n * K + k] : 0.0f;
            assert_true(wp[((size_t)p * K + k) * 16 + j] == e);
            sum += n < OC ? w8[n * K + k] : 0;
        }
        for (int k = 0; k < K4 * 4; k++) {
            int8_t e = n < OC && k < K ? w8[n * K + k] : 0;
            assert_int_equal(wp8[(((size_t)p * K4 + k / 4) * 16 + j) * 4 + k % 4], e);
        }
        assert_int_equal(cs[n], sum);
    }
    /* depthwise */
    const int DC = 17;
    assert_int_equal(vk_pack_dw_size(3, 3, DC), 9 * 32);
    float *dwf = tu_alloc(9 * DC * 4), *dwp = tu_alloc(9 * 32 * 4);
    int8_t *dw8 = tu_alloc(9 * DC), *dwp8 = tu_alloc(9 * 32);
    tu_fill_f32(&rng, dwf, 9 * DC, -1, 1);
    tu_fill_s8(&rng, dw8, 9 * DC);
    memset(dwp, 0x7f, 9 * 32 * 4);
    memset(dwp8, 0x7f, 9 * 32);
    vk_pack_dw_f32(3, 3, DC, dwf, dwp);
    vk_pack_dw_s8(3, 3, DC, dw8, dwp8);
    for (int t = 0; t < 9; t++)
        for (int c = 0; c < 32; c++) {
            assert_true(dwp[t * 32 + c] == (c < DC ? dwf[t * DC + c] : 0.0f));
            assert_int_equal(dwp8[t * 32 + c], c < DC ? dw8[t * DC + c] : 0);
        }
    tu_free(w);
    tu_free(w8);
    tu_free(wp);
    tu_free(wp8);
    tu_free(cs);
    tu_free(dwf);
    tu_free(dwp);
    tu_free(dw8);
    tu_free(dwp8);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packers),
        cmocka_unit_test(test_curated),
        cmocka_unit_test(test_random_edges),
        cmocka_unit_test(test_blocks_and_models),
        cmocka_unit_test(test_patchify),
        cmocka_unit_test(test_residual_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
