/* dwconv_f32: the dispatched kernel against a naive double-precision oracle
 * (from the unpacked [KH][KW][C] weights) and against the reference kernel.
 *
 * Tolerance, per output: v = bias + Σ_t w_t·x_t over the KH·KW taps (padding
 * taps add exact zeros). Any f32 evaluation order of these KH·KW + 1 terms is
 * within γ_{KH·KW+1}·S of v, S = |bias| + Σ|w_t·x_t| (Higham 3.1); two
 * implementations differ by at most twice that. The activation multiplies
 * the error by its Lipschitz constant L (1 for ReLU/ReLU6, 1.2 bounds GELU's
 * 1.129 and QuickGELU's 1.1) and adds its own evaluation error, within
 * 1e-6·|v| per implementation (libm erff/expf: 2 ulp; vmath erf: 5e-7
 * absolute, so 0.5·|v|·5e-7 for GELU; see test_conv2d_f32.c):
 *   vs oracle:    tol = L·γ·S + 1e-6·|v|
 *   vs reference: tol = 2·L·γ·S + 2e-6·|v|
 * Splitting the row range must not change a bit; rows outside the range and
 * channels past C within out_ld stay untouched.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "testutil.h"

#define SENTINEL 1234.5f

typedef struct dw_case {
    int N, H, W, C, KH, KW, sh, sw, dh, dw, pt, pl, OH, OW;
    int in_extra, out_extra;
    int bias;
    vk_act act;
} dw_case;

static int out_size(int in, int k, int s, int d, int p0, int p1)
{
    int span = in + p0 + p1 - ((k - 1) * d + 1);
    return span < 0 ? 0 : span / s + 1;
}

static int run_case(const dw_case *cs, uint64_t salt)
{
    char desc[256];
    snprintf(desc, sizeof desc,
             "N%d H%d W%d C%d K%dx%d s%d,%d d%d,%d pad t%d l%d -> %dx%d ld+%d/+%d%s act%d", cs->N,
             cs->H, cs->W, cs->C, cs->KH, cs->KW, cs->sh, cs->sw, cs->dh, cs->dw, cs->pt, cs->pl,
             cs->OH, cs->OW, cs->in_extra, cs->out_extra, cs->bias ? " bias" : "", (int)cs->act);
    tu_rng rng = tu_rng_make(salt);
    vk_conv_geom g = {cs->N, cs->H, cs->W, cs->C, cs->OH, cs->OW, cs->C, cs->KH, cs->KW,
                      cs->sh, cs->sw, cs->pt, cs->pl, cs->dh, cs->dw,
                      cs->C + cs->in_extra, cs->C + cs->out_extra};
    const int T = cs->KH * cs->KW, R = cs->N * cs->OH;
    const size_t n_in = (size_t)cs->N * cs->H * cs->W * g.in_ld;
    const size_t n_out = (size_t)R * cs->OW * g.out_ld;
    float *in = tu_alloc(n_in * 4), *w = tu_alloc((size_t)T * cs->C * 4);
    float *wp = tu_alloc(vk_pack_dw_size(cs->KH, cs->KW, cs->C) * 4);
    float *bias = tu_alloc((size_t)cs->C * 4);
    float *want = tu_alloc(n_out * 4), *got = tu_alloc(n_out * 4), *one = tu_alloc(n_out * 4);
    float *tol_o = tu_alloc(n_out * 4), *tol_r = tu_alloc(n_out * 4);
    double *ref_d = tu_alloc(n_out * 8);

    tu_fill_f32(&rng, in, n_in, -2.0f, 2.0f);
    for (size_t p = 0; p < n_in / g.in_ld; p++)
        for (int c = cs->C; c < g.in_ld; c++)
            in[p * g.in_ld + c] = 1e30f; /* must never be read */
    tu_fill_f32(&rng, w, (size_t)T * cs->C, -1.0f, 1.0f);
    tu_fill_f32(&rng, bias, cs->C, -1.0f, 1.0f);
    vk_pack_dw_f32(cs->KH, cs->KW, cs->C, w, wp);

    const double L = (cs->act == VK_ACT_GELU || cs->act == VK_ACT_QUICKGELU) ? 1.2 : 1.0;
    const double gk = tu_gamma(T + 1);
    for (int r = 0; r < R; r++) {
        const int n = r / cs->OH, oh = r % cs->OH;
        for (int ow = 0; ow < cs->OW; ow++) {
            const size_t o = ((size_t)r * cs->OW + ow) * g.out_ld;
            for (int c = 0; c < cs->C; c++) {
                double s = cs->bias ? bias[c] : 0, sa = fabs(s);
                for (int kh = 0; kh < cs->KH; kh++) {
                    int ih = oh * cs->sh - cs->pt + kh * cs->dh;
                    if (ih < 0 || ih >= cs->H)
                        continue;
                    for (int kw = 0; kw < cs->KW; kw++) {
                        int iw = ow * cs->sw - cs->pl + kw * cs->dw;
                        if (iw < 0 || iw >= cs->W)
                            continue;
                        const size_t px = ((size_t)n * cs->H + ih) * cs->W + iw;
                        double t = (double)in[px * g.in_ld + c] * w[(kh * cs->KW + kw) * cs->C + c];
                        s += t;
                        sa += fabs(t);
                    }
                }
                ref_d[o + c] = tu_act_d(s, cs->act);
                tol_o[o + c] = (float)(L * gk * sa + 1e-6 * fabs(s));
                tol_r[o + c] = (float)(2 * L * gk * sa + 2e-6 * fabs(s));
            }
        }
    }

    vk_dwconv_f32_args args = {g, in, wp, cs->bias ? bias : NULL, NULL, cs->act};
    for (size_t i = 0; i < n_out; i++)
        want[i] = got[i] = one[i] = SENTINEL;
    args.out = want;
    tu_ref()->dwconv_f32(&args, 0, R);
    args.out = one;
    tu_ops()->dwconv_f32(&args, 0, R);
    args.out = got;
    int a = (int)(tu_next(&rng) % (R + 1)), b = (int)(tu_next(&rng) % (R + 1));
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    tu_ops()->dwconv_f32(&args, a, b);
    tu_ops()->dwconv_f32(&args, b, R);
    tu_ops()->dwconv_f32(&args, 0, a);

    int fail = 0;
    for (size_t i = 0; i < n_out && !fail; i++) {
        const size_t p = i / g.out_ld;
        const int c = (int)(i % g.out_ld);
        if (c >= cs->C) {
            if (want[i] != SENTINEL || got[i] != SENTINEL || one[i] != SENTINEL) {
                tu_fail("%s: pixel %zu channel %d past C was written", desc, p, c);
                fail = 1;
            }
        } else if (!(fabs(want[i] - ref_d[i]) <= tol_o[i])) {
            tu_fail("%s: ref vs oracle at pixel %zu c %d: %.9g vs %.9g (tol %.3g)", desc, p, c,
                    want[i], ref_d[i], tol_o[i]);
            fail = 1;
        } else if (!(fabs(got[i] - ref_d[i]) <= tol_o[i])) {
            tu_fail("%s: %s vs oracle at pixel %zu c %d: %.9g vs %.9g (tol %.3g)", desc,
                    tu_level(), p, c, got[i], ref_d[i], tol_o[i]);
            fail = 1;
        } else if (!(fabsf(got[i] - want[i]) <= tol_r[i])) {
            tu_fail("%s: %s vs ref at pixel %zu c %d: %.9g vs %.9g (tol %.3g)", desc, tu_level(),
                    p, c, got[i], want[i], tol_r[i]);
            fail = 1;
        } else if (memcmp(&got[i], &one[i], 4) != 0) {
            tu_fail("%s: split [0,%d) [%d,%d) [%d,%d) differs from one call at pixel %zu c %d",
                    desc, a, a, b, b, R, p, c);
            fail = 1;
        }
    }
    if (!fail && R >= 3) {
        for (size_t i = 0; i < n_out; i++)
            got[i] = SENTINEL;
        tu_ops()->dwconv_f32(&args, 1, R - 1);
        const size_t row = (size_t)cs->OW * g.out_ld;
        for (size_t i = 0; i < n_out && !fail; i++) {
            int inside = i >= row && i < (size_t)(R - 1) * row;
            float expect = inside && (int)(i % g.out_ld) < cs->C ? one[i] : SENTINEL;
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
    tu_free(want);
    tu_free(got);
    tu_free(one);
    tu_free(tol_o);
    tu_free(tol_r);
    tu_free(ref_d);
    return fail;
}

static dw_case mk(int N, int H, int W, int C, int KH, int KW, int s, int d, int pt, int pb,
                  int pl, int pr)
{
    dw_case c = {N, H, W, C, KH, KW, s, s, d, d, pt, pl, 0, 0, 0, 0, 1, VK_ACT_NONE};
    c.OH = out_size(H, KH, s, d, pt, pb);
    c.OW = out_size(W, KW, s, d, pl, pr);
    return c;
}

/* TFLite SAME: output ceil(in / s), the odd padding pixel bottom/right. */
static dw_case same(int N, int H, int W, int C, int K, int s)
{
    int OH = (H + s - 1) / s, OW = (W + s - 1) / s;
    int ph = (OH - 1) * s + K - H, pw = (OW - 1) * s + K - W;
    ph = ph < 0 ? 0 : ph;
    pw = pw < 0 ? 0 : pw;
    return mk(N, H, W, C, K, K, s, 1, ph / 2, ph - ph / 2, pw / 2, pw - pw / 2);
}

/* The 3×3 fast paths: widths 1..21 (every rest after the 6- and 4-pixel
 * blocks, blocks at both borders), row pairs and single rows (odd heights,
 * N = 2, split ranges), every channel tail, 64-channel slices, pad on all
 * sides, TFLite SAME with odd and even sizes, and the MobileNetV2 layers'
 * channel counts on small maps. */
static void test_fast_paths(void **state)
{
    (void)state;
    static const int Cs[] = {1, 15, 16, 17, 33, 144};
    int fails = 0, idx = 0;
    for (int s = 1; s <= 2; s++)
        for (int W = 1; W <= 21; W += (W < 12 ? 1 : 3))
            for (int ci = 0; ci < 6; ci++) {
                dw_case c = mk(1 + (W % 2), 3 + W % 3, W, Cs[ci], 3, 3, s, 1, 1, 1, 1, 1);
                c.in_extra = (W + ci) % 3 == 0 ? 5 : 0;
                c.out_extra = (W + ci) % 4 == 1 ? 3 : 0;
                c.act = (vk_act)(idx % 5);
                c.bias = idx % 4 != 3;
                if (c.OH > 0 && c.OW > 0)
                    fails += run_case(&c, 100 + idx);
                idx++;
            }
    const dw_case more[] = {
        same(1, 8, 8, 32, 3, 2),   same(1, 9, 9, 32, 3, 2),   same(2, 8, 9, 17, 3, 1),
        same(1, 7, 10, 96, 3, 2),  mk(1, 14, 14, 576, 3, 3, 2, 1, 1, 1, 1, 1),
        mk(1, 7, 7, 960, 3, 3, 1, 1, 1, 1, 1, 1), mk(1, 12, 12, 144, 3, 3, 1, 1, 1, 1, 1, 1),
        mk(1, 5, 9, 16, 3, 3, 1, 1, 0, 0, 0, 0),  /* VALID */
        mk(1, 5, 9, 16, 3, 3, 2, 1, 2, 2, 2, 2),  /* pad 2: all-zero border taps */
        mk(1, 3, 30, 32, 3, 3, 1, 1, 1, 1, 1, 1), mk(1, 3, 31, 32, 3, 3, 2, 1, 0, 1, 0, 1),
        /* 64-channel slices: a second slice that is only a masked tail */
        mk(2, 5, 9, 79, 3, 3, 1, 1, 1, 1, 1, 1),  mk(1, 6, 11, 79, 3, 3, 2, 1, 1, 1, 1, 1),
        /* stride-1 maps >= 14 wide (the pairs prefetch the next pair's
         * outputs): heights 4..7 so that the last pair, a lone last row and
         * the image boundary of N = 2 meet the prefetch's end; every channel
         * tail and slice count */
        mk(2, 4, 14, 31, 3, 3, 1, 1, 1, 1, 1, 1), mk(2, 5, 15, 33, 3, 3, 1, 1, 1, 1, 1, 1),
        mk(1, 6, 14, 576, 3, 3, 1, 1, 1, 1, 1, 1), mk(2, 7, 16, 17, 3, 3, 1, 1, 1, 1, 1, 1),
        mk(1, 5, 14, 960, 3, 3, 1, 1, 1, 1, 1, 1), same(2, 7, 13, 15, 3, 1),
        same(1, 9, 28, 16, 3, 1),
    };
    for (size_t i = 0; i < sizeof more / sizeof *more; i++, idx++) {
        dw_case c = more[i];
        c.act = (vk_act)(i % 5);
        fails += run_case(&c, 100 + idx);
    }
    assert_int_equal(fails, 0);
}

/* The general path: other kernel sizes, strides 1..3, dilation, asymmetric
 * padding, strided tensors, tiny images. */
static void test_random_edges(void **state)
{
    (void)state;
    static const int Cs[] = {1, 3, 15, 16, 17, 33};
    static const int Ks[][2] = {{1, 1}, {3, 3}, {5, 5}, {7, 7}, {1, 7}, {7, 1}, {3, 3}};
    static const int HWs[] = {1, 2, 3, 5, 7, 8, 9, 17};
    tu_rng rng = tu_rng_make(11);
    int fails = 0, done = 0;
    while (done < 150 && !fails) {
        dw_case c;
        memset(&c, 0, sizeof c);
        c.N = 1 + (int)(tu_next(&rng) % 2);
        c.C = Cs[tu_next(&rng) % 6];
        int ki = (int)(tu_next(&rng) % 7);
        c.KH = Ks[ki][0];
        c.KW = Ks[ki][1];
        c.H = HWs[tu_next(&rng) % 8];
        c.W = HWs[tu_next(&rng) % 8];
        c.sh = 1 + (int)(tu_next(&rng) % 3);
        c.sw = 1 + (int)(tu_next(&rng) % 3);
        c.dh = 1 + (int)(tu_next(&rng) % 2);
        c.dw = 1 + (int)(tu_next(&rng) % 2);
        int pb = (int)(tu_next(&rng) % c.KH), pr = (int)(tu_next(&rng) % c.KW);
        c.pt = (int)(tu_next(&rng) % c.KH);
        c.pl = (int)(tu_next(&rng) % c.KW);
        c.OH = out_size(c.H, c.KH, c.sh, c.dh, c.pt, pb);
        c.OW = out_size(c.W, c.KW, c.sw, c.dw, c.pl, pr);
        if (c.OH < 1 || c.OW < 1)
            continue;
        c.in_extra = tu_next(&rng) % 3 == 0 ? 3 : 0;
        c.out_extra = tu_next(&rng) % 3 == 0 ? 2 : 0;
        c.bias = tu_next(&rng) % 4 != 0;
        c.act = (vk_act)(tu_next(&rng) % 5);
        fails += run_case(&c, 1000 + done);
        done++;
    }
    assert_int_equal(fails, 0);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_paths),
        cmocka_unit_test(test_random_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
