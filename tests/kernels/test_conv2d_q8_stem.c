/* Few-channel quantized convolutions (the first layer of CNNs: C <= 4, which
 * the AVX-512 level runs without an im2col, kernels/avx512/conv2d_q8_stem.c):
 * the dispatched conv2d_q8 against the reference kernel, byte for byte (the
 * reference itself is checked against an int64 oracle in test_conv2d_q8.c).
 *
 * Swept: C 1..4; kernels 1×1, 2×3, 3×3, 5×5, 7×7; strides 1..3; no padding,
 * TFLite SAME (pad 0 before, 1 after for stride 2), torch-style K/2, and
 * padding wider than the kernel (rows and columns entirely outside); widths
 * from 1 to 40 (edge pixels only, up to several register tiles of interior
 * pixels with tails) and the real 224×224 stems; OC across 1..4 panels
 * (1, 15, 16, 17, 31, 32, 33, 48, 63, 64) and past them (80: the im2col
 * path); u8 with b_offset (row sums) and s8 with per-channel requantization;
 * zero points at the ends; ReLU6 bounds; multipliers > 1 (left shifts);
 * batches of 2, row sub-ranges split in pieces, and output pixel strides > OC
 * (bytes between must stay untouched). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "kernels/requant.h"
#include "testutil.h"

static int rnd(tu_rng *r, int lo, int hi) { return lo + (int)(tu_next(r) % (uint64_t)(hi - lo + 1)); }

typedef struct scase {
    int N, H, W, C, OC, KH, KW, s, pt, pl, pb, pr, out_extra;
    int a_signed, bo, per_channel, relu6, big_mul, zp_edge;
} scase;

static int run(const scase *c, uint64_t salt)
{
    tu_rng r = tu_rng_make(salt);
    vk_conv_geom g = {.N = c->N, .H = c->H, .W = c->W, .C = c->C, .OC = c->OC, .KH = c->KH,
                      .KW = c->KW, .stride_h = c->s, .stride_w = c->s, .pad_t = c->pt,
                      .pad_l = c->pl, .dil_h = 1, .dil_w = 1, .in_ld = c->C,
                      .out_ld = c->OC + c->out_extra};
    g.OH = (c->H + c->pt + c->pb - c->KH) / c->s + 1;
    g.OW = (c->W + c->pl + c->pr - c->KW) / c->s + 1;
    const size_t ni = (size_t)g.N * g.H * g.W * g.C, no = (size_t)g.N * g.OH * g.OW * g.out_ld;
    const size_t nw = (size_t)g.OC * g.KH * g.KW * g.C;
    uint8_t *in = tu_alloc(ni), *y = tu_alloc(no), *yr = tu_alloc(no);
    int8_t *w = tu_alloc(nw), *wp = tu_alloc(vk_pack_conv_s8_size(g.OC, g.KH, g.KW, g.C));
    int32_t *cs = tu_alloc(((size_t)g.OC + 16) * 4), *bias = tu_alloc((size_t)g.OC * 4);
    int32_t *mult = tu_alloc((size_t)g.OC * 4);
    int8_t *shift = tu_alloc((size_t)g.OC);
    const size_t sbytes = vk_conv2d_q8_scratch(&g);
    void *scr = tu_alloc(sbytes), *scr_r = tu_alloc(sbytes);
    tu_fill_u8(&r, in, ni);
    tu_fill_s8(&r, (int8_t *)w, nw);
    vk_pack_conv_s8(g.OC, g.KH, g.KW, g.C, w, wp, cs);
    const int K = g.KH * g.KW * g.C;
    for (int o = 0; o < g.OC; o++) {
        bias[o] = rnd(&r, -40000, 40000);
        /* real multiplier around 1/(K·64) (outputs spread over the type), or > 1 */
        double real = (0.5 + (double)rnd(&r, 0, 1000) / 1000.0) / (K * 64.0);
        if (c->big_mul)
            real = 1.0 + rnd(&r, 0, 1000) / 100.0;
        vk_quantize_multiplier(real, &mult[o], &shift[o]);
    }
    const int32_t tmin = c->a_signed ? -128 : 0, tmax = c->a_signed ? 127 : 255;
    int32_t za = rnd(&r, tmin, tmax), zo = rnd(&r, tmin, tmax);
    if (c->zp_edge)
        za = (salt & 1) ? tmin : tmax, zo = (salt & 2) ? tmin : tmax;
    int32_t lo = tmin, hi = tmax;
    if (c->relu6)
        lo = zo, hi = zo + rnd(&r, 0, tmax - zo);
    tu_fill_u8(&r, y, no);
    memcpy(yr, y, no);
    vk_conv2d_q8_args a = {.g = g, .in = in, .a_signed = c->a_signed, .a_zero = za, .Wp = wp,
                           .w_colsum = cs, .b_offset = c->bo, .bias = bias,
                           .rq = {mult, shift, c->per_channel, zo, lo, hi}, .out = y,
                           .scratch = scr};
    vk_conv2d_q8_args ar = a;
    ar.out = yr, ar.scratch = scr_r;
    const int rows = g.N * g.OH;
    tu_ref()->conv2d_q8(&ar, 0, rows);
    /* in three pieces (the range contract), the middle one possibly empty */
    const int m1 = rows / 3, m2 = rows - rows / 4;
    tu_ops()->conv2d_q8(&a, 0, m1);
    tu_ops()->conv2d_q8(&a, m1, m2);
    tu_ops()->conv2d_q8(&a, m2, rows);
    int bad = 0;
    for (size_t i = 0; i < no && !bad; i++)
        if (y[i] != yr[i]) {
            const size_t px = i / (size_t)g.out_ld;
            tu_fail("conv2d_q8 %s N=%d %dx%dx%d -> %dx%dx%d k%dx%d s%d pad t%d l%d b%d r%d "
                    "ld %td bo %d zero %d/%d bounds [%d,%d]%s%s: pixel %zu (row %zu col %zu) "
                    "ch %zu = %d, reference %d",
                    c->a_signed ? "s8" : "u8", g.N, g.H, g.W, g.C, g.OH, g.OW, g.OC, g.KH, g.KW,
                    c->s, c->pt, c->pl, c->pb, c->pr, g.out_ld, c->bo, za, zo, lo, hi,
                    c->per_channel ? " per-channel" : "", c->big_mul ? " big multipliers" : "",
                    px, px / (size_t)g.OW, px % (size_t)g.OW, i % (size_t)g.out_ld, y[i], yr[i]);
            bad = 1;
        }
    tu_free(in), tu_free(y), tu_free(yr), tu_free(w), tu_free(wp), tu_free(cs);
    tu_free(bias), tu_free(mult), tu_free(shift), tu_free(scr), tu_free(scr_r);
    return bad;
}

static void test_stem_sweep(void **state)
{
    (void)state;
    static const int ks[][2] = {{1, 1}, {2, 3}, {3, 3}, {5, 5}, {7, 7}};
    static const int OCs[] = {1, 15, 16, 17, 31, 32, 33, 48, 63, 64, 80};
    tu_rng r = tu_rng_make(11);
    int idx = 0;
    for (int C = 1; C <= 4; C++)
        for (size_t k = 0; k < sizeof ks / sizeof *ks; k++)
            for (int pm = 0; pm < 4; pm++, idx++) {
                scase c = {0};
                c.N = rnd(&r, 0, 3) ? 1 : 2;
                c.C = C, c.KH = ks[k][0], c.KW = ks[k][1];
                c.s = rnd(&r, 1, 3);
                c.H = rnd(&r, 1, 14), c.W = rnd(&r, 1, 40);
                if (pm == 1) { /* TFLite SAME */
                    const int oh = (c.H + c.s - 1) / c.s, ow = (c.W + c.s - 1) / c.s;
                    const int th = (oh - 1) * c.s + c.KH - c.H, tw = (ow - 1) * c.s + c.KW - c.W;
                    c.pt = th > 0 ? th / 2 : 0, c.pb = th > 0 ? th - th / 2 : 0;
                    c.pl = tw > 0 ? tw / 2 : 0, c.pr = tw > 0 ? tw - tw / 2 : 0;
                } else if (pm == 2) { /* torch: K/2 on every side */
                    c.pt = c.pb = c.KH / 2, c.pl = c.pr = c.KW / 2;
                } else if (pm == 3) { /* wider than the kernel: rows and columns all padding */
                    c.pt = rnd(&r, 0, c.KH + 1), c.pb = rnd(&r, 0, c.KH + 1);
                    c.pl = rnd(&r, 0, c.KW + 1), c.pr = rnd(&r, 0, c.KW + 1);
                }
                while (c.H + c.pt + c.pb < c.KH)
                    c.pb++;
                while (c.W + c.pl + c.pr < c.KW)
                    c.pr++;
                c.OC = OCs[(size_t)idx % (sizeof OCs / sizeof *OCs)];
                c.out_extra = rnd(&r, 0, 2) ? 0 : rnd(&r, 1, 7);
                c.a_signed = rnd(&r, 0, 1);
                c.bo = rnd(&r, 0, 1) ? 0 : rnd(&r, -127, 128);
                c.per_channel = rnd(&r, 0, 1);
                c.relu6 = rnd(&r, 0, 2) == 0;
                c.big_mul = rnd(&r, 0, 9) == 0;
                c.zp_edge = rnd(&r, 0, 5) == 0;
                if (run(&c, 100 + (uint64_t)idx))
                    return;
            }
}

/* The real stems: MobileNetV2 3×3 s2 (TFLite SAME: no padding before) as
 * the Coral uint8 model (b_offset, per-tensor) and the TF2 int8 one, and
 * ResNet-50's 7×7 s2 pad 3, u8 activations with int8 per-channel weights. */
static void test_stem_models(void **state)
{
    (void)state;
    const scase cs[] = {
        {1, 224, 224, 3, 32, 3, 3, 2, 0, 0, 1, 1, 0, 0, 119, 0, 1, 0, 0},
        {1, 224, 224, 3, 32, 3, 3, 2, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0},
        {1, 224, 224, 3, 64, 7, 7, 2, 3, 3, 3, 3, 0, 0, 0, 1, 1, 0, 0},
        {1, 224, 224, 3, 64, 7, 7, 2, 3, 3, 3, 3, 0, 0, 37, 0, 0, 0, 0},
    };
    /* under emulation (VIREO_TEST_QUICK) the reference's 118 M multiply-adds
     * of each 7×7 case take too long: the MobileNetV2 ones only */
    const char *q = getenv("VIREO_TEST_QUICK");
    const size_t n = q && *q && *q != '0' ? 2 : sizeof cs / sizeof *cs;
    for (size_t i = 0; i < n; i++)
        if (run(&cs[i], 200 + i))
            return;
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stem_sweep),
        cmocka_unit_test(test_stem_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
