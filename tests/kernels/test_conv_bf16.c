/* conv2d_bf16 and dwconv_bf16: the dispatched kernels against a naive
 * double-precision oracle (from the unpacked OHWI / [KH][KW][C] f32 weights,
 * so the packers are checked too) and against the reference kernels.
 *
 * Semantics (kernels.h): weights rounded to bf16 by the packer; conv2d_bf16
 * also rounds the input to bf16 (vdpbf16ps), dwconv_bf16 keeps it f32. The
 * oracle rounds with its own arithmetic (frexp / nearbyint, ties to even).
 *
 * Tolerance, per output. v = bias + residual + Σ_k w_k·x_k over the K =
 * KH·KW·C (depthwise: KH·KW) terms, S = |bias| + |residual| + Σ|w_k·x_k|.
 * conv2d: each product of two bf16 values is exact in f32, so an evaluation
 * in any order rounds only its K + 2 additions; dwconv: each product is
 * rounded once (or fused). Either way the f32 result is within γ_{K+2}·S of
 * v (Higham 3.1). vdpbf16ps flushes denormal results to zero: at most
 * 2^-126 per addition, (K + 2)·2^-126 in all. The activation multiplies that
 * by its Lipschitz constant L (1 for ReLU/ReLU6; GELU 1.129, QuickGELU 1.1:
 * L = 1.2) and adds its evaluation error, within 1e-6·|v| per implementation
 * (see test_conv2d_f32.c):
 *   vs oracle:    tol = L·(γ_{K+2}·S + (K + 2)·2^-126) + 1e-6·|v|
 *   vs reference: twice that.
 * Splitting the row range must not change a bit; rows outside the range and
 * channels past OC within out_ld stay untouched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "testutil.h"

#define SENTINEL 1234.5f
#define FTZ_STEP 1.1754943508222875e-38 /* 2^-126 */

typedef struct conv_case {
    int N, H, W, C, OC, KH, KW, sh, sw, dh, dw, pt, pl, OH, OW;
    int in_extra, out_extra;
    int bias, residual;
    vk_act act;
    int depthwise; /* dwconv_bf16 (OC == C, no residual) instead of conv2d_bf16 */
} conv_case;

/* bf16 rounding by arithmetic, ties to even (finite inputs). */
static double bf16_round(float x)
{
    if (x == 0.0f || !isfinite(x))
        return x;
    int e;
    frexp(x, &e);
    if (e < -125)
        e = -125;
    return ldexp(nearbyint(ldexp(x, 8 - e)), e - 8);
}

static void describe(const conv_case *c, char *buf, size_t len)
{
    static const char *an[] = {"none", "relu", "relu6", "gelu", "quickgelu"};
    snprintf(buf, len,
             "%s N%d H%d W%d C%d OC%d K%dx%d s%d,%d d%d,%d pad t%d l%d -> %dx%d ld+%d/+%d%s%s %s",
             c->depthwise ? "dwconv" : "conv", c->N, c->H, c->W, c->C, c->OC, c->KH, c->KW,
             c->sh, c->sw, c->dh, c->dw, c->pt, c->pl, c->OH, c->OW, c->in_extra, c->out_extra,
             c->bias ? " bias" : "", c->residual ? " res" : "", an[c->act]);
}

/* Runs the kernel of the case's kind for rows [r0, r1) into out. */
static void call(const conv_case *cs, const vk_ops *ops, const vk_conv_geom *g, const float *in,
                 const uint16_t *wp, const float *bias, const float *res, float *out,
                 void *scratch, int r0, int r1)
{
    if (cs->depthwise) {
        vk_dwconv_bf16_args a = {*g, in, wp, cs->bias ? bias : NULL, out, cs->act};
        ops->dwconv_bf16(&a, r0, r1);
    } else {
        vk_conv2d_bf16_args a = {*g, in, wp, cs->bias ? bias : NULL, cs->residual ? res : NULL,
                                 out, cs->act, scratch};
        ops->conv2d_bf16(&a, r0, r1);
    }
}

static int run_case(const conv_case *cs, uint64_t salt)
{
    char desc[256];
    describe(cs, desc, sizeof desc);
    tu_rng rng = tu_rng_make(salt);
    vk_conv_geom g = {cs->N, cs->H, cs->W, cs->C, cs->OH, cs->OW, cs->OC, cs->KH, cs->KW,
                      cs->sh, cs->sw, cs->pt, cs->pl, cs->dh, cs->dw,
                      cs->C + cs->in_extra, cs->OC + cs->out_extra};
    const int dw = cs->depthwise;
    const int K = dw ? cs->KH * cs->KW : cs->KH * cs->KW * cs->C;
    const int R = cs->N * cs->OH;
    const size_t n_in = (size_t)cs->N * cs->H * cs->W * g.in_ld;
    const size_t n_out = (size_t)R * cs->OW * g.out_ld;
    const size_t n_w = dw ? (size_t)K * cs->C : (size_t)cs->OC * K;
    const size_t n_wp = dw ? vk_pack_dw_size(cs->KH, cs->KW, cs->C)
                           : vk_pack_conv_bf16_size(cs->OC, cs->KH, cs->KW, cs->C);

    float *in = tu_alloc(n_in * 4), *w = tu_alloc(n_w * 4);
    uint16_t *wp = tu_alloc(n_wp * 2);
    float *bias = tu_alloc((size_t)cs->OC * 4), *res = tu_alloc(n_out * 4);
    float *want = tu_alloc(n_out * 4), *got = tu_alloc(n_out * 4), *one = tu_alloc(n_out * 4);
    float *tol_o = tu_alloc(n_out * 4), *tol_r = tu_alloc(n_out * 4);
    double *ref_d = tu_alloc(n_out * 8);
    void *scratch = tu_alloc(vk_conv2d_bf16_scratch(&g));

    /* channels past C are garbage the kernel must not read */
    tu_fill_f32(&rng, in, n_in, -1.0f, 1.0f);
    for (size_t p = 0; p < n_in / g.in_ld; p++)
        for (int c = cs->C; c < g.in_ld; c++)
            in[p * g.in_ld + c] = 1e30f;
    tu_fill_f32(&rng, w, n_w, -1.0f, 1.0f);
    tu_fill_f32(&rng, bias, cs->OC, -1.0f, 1.0f);
    tu_fill_f32(&rng, res, n_out, -2.0f, 2.0f);
    if (dw)
        vk_pack_dw_bf16(cs->KH, cs->KW, cs->C, w, wp);
    else
        vk_pack_conv_bf16(cs->OC, cs->KH, cs->KW, cs->C, w, wp);

    /* the oracle's operands, rounded once (bf16 values are exact in f32):
     * weights always, the input for conv2d only */
    float *w_r = tu_alloc(n_w * 4), *in_r = tu_alloc(n_in * 4);
    for (size_t i = 0; i < n_w; i++)
        w_r[i] = (float)bf16_round(w[i]);
    for (size_t i = 0; i < n_in; i++)
        in_r[i] = dw ? in[i] : (float)bf16_round(in[i]);

    const double L = (cs->act == VK_ACT_GELU || cs->act == VK_ACT_QUICKGELU) ? 1.2 : 1.0;
    const double gk = tu_gamma(K + 2), ftz = (K + 2) * FTZ_STEP;
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
                        const float *x = in_r + (((size_t)n * cs->H + ih) * cs->W + iw) * g.in_ld;
                        const int tap = kh * cs->KW + kw;
                        if (dw) {
                            const double t = (double)x[oc] * w_r[(size_t)tap * cs->C + oc];
                            s += t;
                            sa += fabs(t);
                            continue;
                        }
                        const float *wk = w_r + (size_t)oc * K + (size_t)tap * cs->C;
                        for (int c = 0; c < cs->C; c++) {
                            const double t = (double)x[c] * wk[c];
                            s += t;
                            sa += fabs(t);
                        }
                    }
                }
                ref_d[o + oc] = tu_act_d(s, cs->act);
                tol_o[o + oc] = (float)(L * (gk * sa + ftz) + 1e-6 * fabs(s));
                tol_r[o + oc] = 2 * tol_o[o + oc];
            }
        }
    }

    int fail = 0;
    for (size_t i = 0; i < n_out; i++)
        want[i] = one[i] = got[i] = SENTINEL;
    call(cs, tu_ref(), &g, in, wp, bias, res, want, scratch, 0, R);
    call(cs, tu_ops(), &g, in, wp, bias, res, one, scratch, 0, R);
    int a = R > 0 ? (int)(tu_next(&rng) % (R + 1)) : 0;
    int b = R > 0 ? (int)(tu_next(&rng) % (R + 1)) : 0;
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    call(cs, tu_ops(), &g, in, wp, bias, res, got, scratch, b, R);
    call(cs, tu_ops(), &g, in, wp, bias, res, got, scratch, 0, a);
    call(cs, tu_ops(), &g, in, wp, bias, res, got, scratch, a, b);

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
    /* a strict sub-range touches only its rows */
    if (!fail && R >= 3) {
        for (size_t i = 0; i < n_out; i++)
            got[i] = SENTINEL;
        call(cs, tu_ops(), &g, in, wp, bias, res, got, scratch, 1, R - 1);
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
    tu_free(w_r);
    tu_free(in_r);
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
    conv_case c = {N, H, W, C, OC, KH, KW, s, s, d, d, pt, pl, 0, 0, 0, 0, 1, 0, VK_ACT_NONE, 0};
    c.OH = out_size(H, KH, s, d, pt, pb);
    c.OW = out_size(W, KW, s, d, pl, pr);
    return c;
}

static conv_case same(int N, int H, int W, int C, int OC, int K, int s)
{
    int OH = (H + s - 1) / s, OW = (W + s - 1) / s;
    int ph = (OH - 1) * s + K - H, pw = (OW - 1) * s + K - W;
    ph = ph < 0 ? 0 : ph;
    pw = pw < 0 ? 0 : pw;
    return mk(N, H, W, C, OC, K, K, s, 1, ph / 2, ph - ph / 2, pw / 2, pw - pw / 2);
}

/* Pixel counts around the 14-pixel tile (13, 14, 15, 28, 29), OC around the
 * 16-channel panels and 32-channel steps, odd K (pairs spanning taps), the
 * 3-channel stems, padding on every side, dilation, strides. */
static void test_conv_curated(void **state)
{
    (void)state;
    const conv_case cases[] = {
        mk(1, 1, 13, 16, 32, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 1, 14, 17, 33, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 1, 15, 15, 31, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 2, 14, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 1, 29, 3, 15, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(2, 5, 5, 33, 49, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 7, 7, 64, 16, 1, 1, 2, 1, 0, 0, 0, 0),
        mk(1, 8, 8, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1),
        mk(2, 9, 9, 17, 33, 3, 3, 2, 1, 1, 1, 1, 1),
        mk(1, 17, 3, 3, 17, 3, 3, 1, 2, 2, 2, 2, 2),
        mk(1, 17, 17, 3, 32, 3, 3, 2, 1, 1, 1, 1, 1),
        mk(1, 17, 17, 3, 64, 7, 7, 2, 1, 3, 3, 3, 3),
        same(1, 8, 8, 3, 32, 3, 2),
        same(1, 9, 9, 3, 32, 3, 2),
        same(2, 8, 9, 15, 17, 5, 2),
        same(1, 9, 8, 16, 15, 5, 3),
        mk(1, 9, 9, 16, 16, 1, 7, 1, 1, 0, 0, 3, 3),
        mk(1, 9, 9, 17, 16, 7, 1, 1, 1, 3, 3, 0, 0),
        mk(1, 5, 7, 3, 1, 7, 1, 1, 1, 2, 4, 0, 1),
        mk(1, 2, 3, 5, 7, 5, 5, 1, 1, 2, 3, 4, 1),
        mk(2, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1),
        mk(1, 3, 3, 33, 17, 7, 7, 3, 2, 4, 4, 4, 4),
        mk(1, 9, 9, 15, 33, 7, 7, 1, 1, 3, 3, 3, 3),
        mk(2, 5, 6, 3, 17, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 9, 9, 1, 16, 3, 3, 1, 2, 2, 2, 2, 2),
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases && !fails; i++) {
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

static void test_conv_random(void **state)
{
    (void)state;
    static const int Cs[] = {1, 3, 15, 16, 17, 33};
    static const int OCs[] = {1, 15, 16, 17, 31, 33, 49};
    static const int Ks[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {1, 7}, {7, 1}};
    static const int HWs[] = {1, 2, 3, 5, 7, 8, 9, 17};
    tu_rng rng = tu_rng_make(7);
    int fails = 0, done = 0;
    const int quick = getenv("VIREO_TEST_QUICK") != NULL; /* qemu: fewer */
    while (done < (quick ? 30 : 100) && !fails) {
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

/* K blocks (1024: K = 1025, 2304 = 3 × 768), OC beyond one block of weights
 * (512 KB: 256 channels at kc = 1024), the ResNet-50 forms on small maps. */
static void test_conv_blocks_and_models(void **state)
{
    (void)state;
    conv_case cases[] = {
        mk(2, 8, 8, 520, 600, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 5, 5, 1025, 40, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 7, 7, 256, 64, 3, 3, 1, 1, 1, 1, 1, 1),
        mk(1, 4, 4, 1024, 33, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 3, 5, 1100, 300, 1, 1, 1, 1, 0, 0, 0, 0),
        mk(1, 32, 32, 3, 64, 7, 7, 2, 1, 3, 3, 3, 3),
        same(1, 32, 32, 3, 32, 3, 2),
        mk(1, 14, 14, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1),
        mk(1, 14, 14, 64, 256, 1, 1, 2, 1, 0, 0, 0, 0),
    };
    int fails = 0;
    const int quick = getenv("VIREO_TEST_QUICK") != NULL; /* qemu: the two largest skipped */
    for (size_t i = 0; i < sizeof cases / sizeof *cases && !fails; i++) {
        if (quick && (i == 0 || i == 4))
            continue;
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
 * embedding), which the AVX-512 kernel runs as a bf16 matmul over gathered
 * im2col rows in chunks of vk_conv_patch_rows_bf16 pixels: ViT-B/32 and B/16
 * geometry (fewer channels), an odd kernel whose patches leave the last input
 * rows and columns unread, odd K (a pair across taps), OC off the 16-channel
 * panels, batch 2, several chunks per call, every epilogue; and near misses
 * that must not take the route. */
static conv_case patch(int N, int H, int W, int C, int OC, int K)
{
    return mk(N, H, W, C, OC, K, K, K, 1, 0, 0, 0, 0);
}

static void test_conv_patchify(void **state)
{
    (void)state;
    const struct {
        conv_case c;
        int chunks; /* 1: one chunk per whole call, 2: several, 0: not the route */
    } cases[] = {
        {patch(1, 224, 224, 3, 64, 32), 1},  /* B/32: 7×7, K = 3072 */
        {patch(1, 224, 224, 3, 80, 16), 1},  /* B/16: 14×14, K = 768 */
        {patch(2, 23, 27, 3, 17, 5), 1},     /* 4×5 of 23×27, K = 75 */
        {patch(2, 224, 224, 3, 17, 32), 2},  /* 98 pixels of 3072 */
        {patch(3, 160, 176, 3, 33, 16), 2},  /* 330 pixels of 768 */
        {patch(1, 64, 62, 1, 20, 2), 1},     /* K = 4 */
        {patch(1, 40, 40, 15, 31, 8), 1},    /* C = 15, K = 960 */
        {patch(1, 48, 48, 16, 20, 4), 0},    /* C = 16: the conv's own gather */
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases && !fails; i++)
        fails += patch_variants(cases[i].c, cases[i].chunks, i, vk_conv_patch_rows_bf16);
    assert_int_equal(fails, 0);
}

/* residual == out gives the same bits as a separate residual */
static void test_conv_residual_in_place(void **state)
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
        uint16_t *wp = tu_alloc(vk_pack_conv_bf16_size(c.OC, c.KH, c.KW, c.C) * 2);
        float *res = tu_alloc(n_out * 4), *want = tu_alloc(n_out * 4), *io = tu_alloc(n_out * 4);
        void *scratch = tu_alloc(vk_conv2d_bf16_scratch(&g));
        tu_fill_f32(&rng, in, n_in, -1, 1);
        tu_fill_f32(&rng, w, n_w, -1, 1);
        tu_fill_f32(&rng, bias, c.OC, -1, 1);
        tu_fill_f32(&rng, res, n_out, -1, 1);
        vk_pack_conv_bf16(c.OC, c.KH, c.KW, c.C, w, wp);
        memcpy(io, res, n_out * 4);
        vk_conv2d_bf16_args a = {g, in, wp, bias, res, want, VK_ACT_RELU, scratch};
        tu_ops()->conv2d_bf16(&a, 0, c.OH);
        a.residual = io;
        a.out = io;
        tu_ops()->conv2d_bf16(&a, 0, c.OH);
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

static conv_case dwc(int N, int H, int W, int C, int K, int s, int d, int pad)
{
    conv_case c = mk(N, H, W, C, C, K, K, s, d, pad, pad, pad, pad);
    c.depthwise = 1;
    return c;
}

/* Depthwise: channels around the 16-channel vectors and the 64-channel
 * slices, the 3×3 s1/s2 fast paths (pairs of rows, border blocks), other
 * kernel sizes, dilation, kernels past 16×16 taps (16-channel slices) and
 * past 32×32 (the reference fallback), every epilogue. */
static void test_dwconv(void **state)
{
    (void)state;
    const conv_case cases[] = {
        dwc(1, 7, 7, 1, 3, 1, 1, 1),     dwc(1, 9, 11, 15, 3, 1, 1, 1),
        dwc(2, 8, 8, 17, 3, 2, 1, 1),    dwc(1, 14, 14, 63, 3, 1, 1, 1),
        dwc(1, 13, 13, 64, 3, 2, 1, 1),  dwc(1, 6, 10, 65, 3, 1, 1, 0),
        dwc(1, 7, 7, 130, 3, 2, 1, 0),   dwc(1, 9, 9, 33, 5, 1, 1, 2),
        dwc(1, 10, 10, 48, 5, 2, 1, 2),  dwc(1, 9, 9, 20, 3, 1, 2, 2),
        dwc(1, 6, 6, 70, 7, 1, 1, 3),    dwc(1, 5, 5, 24, 17, 1, 1, 8),
        dwc(1, 3, 3, 18, 33, 1, 1, 16),  dwc(1, 2, 2, 200, 1, 1, 1, 0),
        dwc(1, 1, 1, 16, 3, 1, 1, 1),
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases && !fails; i++)
        for (int v = 0; v < 5 && !fails; v++) {
            conv_case c = cases[i];
            c.in_extra = v % 2 ? 3 : 0;
            c.out_extra = v % 3 ? 5 : 0;
            c.act = (vk_act)((i + (size_t)v) % 5);
            c.bias = v != 2;
            fails += run_case(&c, 3000 + i * 5 + (size_t)v);
        }
    /* MobileNetV2 forms */
    const conv_case mb[] = {dwc(1, 28, 28, 144, 3, 1, 1, 1), dwc(1, 28, 28, 192, 3, 2, 1, 1),
                            dwc(1, 7, 7, 960, 3, 1, 1, 1)};
    for (size_t i = 0; i < 3 && !fails && !getenv("VIREO_TEST_QUICK"); i++) {
        conv_case c = mb[i];
        c.act = VK_ACT_RELU6;
        fails += run_case(&c, 3500 + i);
    }
    assert_int_equal(fails, 0);
}

/* The packers against the layouts of kernels.h, element by element. */
static void test_packers(void **state)
{
    (void)state;
    const int OC = 33, KH = 3, KW = 1, C = 5, K = KH * KW * C; /* K odd: a pad pair */
    tu_rng rng = tu_rng_make(42);
    float *w = tu_alloc(OC * K * 4);
    tu_fill_f32(&rng, w, OC * K, -1, 1);
    const size_t n = vk_pack_conv_bf16_size(OC, KH, KW, C);
    assert_int_equal(n, 48 * (K + 1));
    uint16_t *wp = tu_alloc(n * 2);
    memset(wp, 0x7f, n * 2);
    vk_pack_conv_bf16(OC, KH, KW, C, w, wp);
    const int K2 = (K + 1) / 2;
    for (int o = 0; o < 48; o++)
        for (int k = 0; k < 2 * K2; k++) {
            const double e = o < OC && k < K ? bf16_round(w[o * K + k]) : 0.0;
            const uint16_t got = wp[(((size_t)(o / 16) * K2 + k / 2) * 16 + o % 16) * 2 + k % 2];
            assert_true(vk_bf16_to_f32(got) == e && (e != 0.0 || got == 0));
        }
    const int DC = 17;
    float *dwf = tu_alloc(9 * DC * 4);
    uint16_t *dwp = tu_alloc(9 * 32 * 2);
    tu_fill_f32(&rng, dwf, 9 * DC, -1, 1);
    memset(dwp, 0x7f, 9 * 32 * 2);
    vk_pack_dw_bf16(3, 3, DC, dwf, dwp);
    for (int t = 0; t < 9; t++)
        for (int c = 0; c < 32; c++) {
            const double e = c < DC ? bf16_round(dwf[t * DC + c]) : 0.0;
            assert_true(vk_bf16_to_f32(dwp[t * 32 + c]) == e && (e != 0.0 || dwp[t * 32 + c] == 0));
        }
    tu_free(w);
    tu_free(wp);
    tu_free(dwf);
    tu_free(dwp);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packers),
        cmocka_unit_test(test_conv_curated),
        cmocka_unit_test(test_conv_random),
        cmocka_unit_test(test_conv_blocks_and_models),
        cmocka_unit_test(test_conv_patchify),
        cmocka_unit_test(test_conv_residual_in_place),
        cmocka_unit_test(test_dwconv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
