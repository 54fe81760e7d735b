/* Quantized depthwise convolution (dwconv_q8): the dispatched kernel and the
 * reference against a naive oracle written here (int64 accumulation from the
 * [KH][KW][C] weights, then kernels/requant.h), exactly.
 *
 * The AVX-512 kernel puts 16 channels on a vector (C around 16: 1, 3, 4, 5,
 * 15, 16, 17, 33, 48), runs interior pixels of 3×3 / 5×5 at stride 1 in
 * blocks of 8 outputs and at stride 2 in blocks of 4, everything near a
 * border, with dilation or another kernel per pixel, and requantizes in
 * chunks of 32 outputs: widths go from 1 to past 2 chunks, padding is
 * explicit on every side or TFLite SAME. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "kernels/requant.h"
#include "testutil.h"

typedef struct dcase {
    int N, H, W, C, KH, KW, sh, sw, dh, dw;
    int pt, pb, pl, pr; /* pt = -1: TFLite SAME */
    int in_extra, out_extra;
    int a_signed;
    int mode;  /* 0 uint8 per-tensor, 1 per-channel b_offset 0 (int8 models),
                  2 anything goes, 3 per-tensor b_offset 0 */
    int zp;    /* 0 random, 1 zero points 0, 2 extreme zero points */
    int relu6, big_mul, fill, splits;
    int sample; /* > 1: the oracle computes every sample-th output row only */
    int edge;   /* accumulators at the requantization's ties and extremes
                   (2: outputs around -2^16 before a zero point of 2^16) */
} dcase;

typedef struct ddata {
    vk_conv_geom g;
    int a_signed, per_channel;
    int32_t a_zero, b_offset;
    uint8_t *in;
    int8_t *w, *Wp; /* [KH][KW][C] and packed */
    int32_t *bias, *mult;
    int8_t *shift;
    int32_t out_zero, out_min, out_max;
    size_t in_n, out_n;
} ddata;

static int rnd(tu_rng *r, int lo, int hi)
{
    return lo + (int)(tu_next(r) % (uint64_t)((int64_t)hi - lo + 1));
}

static void geometry(const dcase *c, vk_conv_geom *g)
{
    memset(g, 0, sizeof *g);
    g->N = c->N, g->H = c->H, g->W = c->W, g->C = g->OC = c->C;
    g->KH = c->KH, g->KW = c->KW, g->stride_h = c->sh, g->stride_w = c->sw;
    g->dil_h = c->dh, g->dil_w = c->dw;
    const int ekh = (c->KH - 1) * c->dh + 1, ekw = (c->KW - 1) * c->dw + 1;
    if (c->pt < 0) {
        g->OH = (c->H + c->sh - 1) / c->sh, g->OW = (c->W + c->sw - 1) / c->sw;
        const int th = (g->OH - 1) * c->sh + ekh - c->H, tw = (g->OW - 1) * c->sw + ekw - c->W;
        g->pad_t = th > 0 ? th / 2 : 0, g->pad_l = tw > 0 ? tw / 2 : 0;
    } else {
        g->pad_t = c->pt, g->pad_l = c->pl;
        g->OH = (c->H + c->pt + c->pb - ekh) / c->sh + 1;
        g->OW = (c->W + c->pl + c->pr - ekw) / c->sw + 1;
    }
    g->in_ld = c->C + c->in_extra, g->out_ld = c->C + c->out_extra;
}

static int64_t oracle_acc(const ddata *d, int r, int ow, int ch)
{
    const vk_conv_geom *g = &d->g;
    const int n = r / g->OH, oh = r % g->OH;
    int64_t acc = 0;
    for (int kh = 0; kh < g->KH; kh++)
        for (int kw = 0; kw < g->KW; kw++) {
            const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
            const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
            int64_t x = d->a_zero; /* TFLite pads with the input zero point */
            if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W) {
                const uint8_t b = d->in[(((size_t)n * g->H + ih) * g->W + iw) * g->in_ld + ch];
                x = d->a_signed ? (int8_t)b : b;
            }
            acc += (x - d->a_zero) * ((int64_t)d->w[(kh * g->KW + kw) * g->C + ch] + d->b_offset);
        }
    return acc;
}

static void oracle(const ddata *d, uint8_t *out, int sample)
{
    const vk_conv_geom *g = &d->g;
    const int tlo = d->a_signed ? -128 : 0, thi = d->a_signed ? 127 : 255;
    const int lo = d->out_min > tlo ? d->out_min : tlo, hi = d->out_max < thi ? d->out_max : thi;
    memset(out, 0xA5, d->out_n);
    for (int r = 0; r < g->N * g->OH; r += sample)
        for (int ow = 0; ow < g->OW; ow++)
            for (int ch = 0; ch < g->C; ch++) {
                int64_t acc = oracle_acc(d, r, ow, ch) + (d->bias ? d->bias[ch] : 0);
                assert_true(acc >= INT32_MIN && acc <= INT32_MAX);
                const int q = d->per_channel ? ch : 0;
                int64_t v = (int64_t)vk_mbqm((int32_t)acc, d->mult[q], d->shift[q]) + d->out_zero;
                v = v < lo ? lo : v > hi ? hi : v;
                out[((size_t)r * g->OW + ow) * g->out_ld + ch] = (uint8_t)v;
            }
}

/* Bias and multipliers from the actual accumulator range (see test_conv2d_q8.c). */
static void choose_requant(ddata *d, const dcase *c, tu_rng *rng)
{
    const vk_conv_geom *g = &d->g;
    int64_t amax = 0;
    const int rows = g->N * g->OH;
    for (int r = 0; r < rows; r += rows > 8 ? rows / 8 : 1)
        for (int ow = 0; ow < g->OW; ow++)
            for (int ch = 0; ch < g->C; ch++) {
                int64_t a = oracle_acc(d, r, ow, ch);
                a = a < 0 ? -a : a;
                amax = a > amax ? a : amax;
            }
    if (rnd(rng, 0, 7) != 0 || c->fill) {
        d->bias = tu_alloc((size_t)g->C * sizeof(int32_t));
        const int32_t b = (int32_t)(amax / 2 + 1);
        tu_fill_s32(rng, d->bias, (size_t)g->C, -b, b);
    }
    const int nq = d->per_channel ? g->C : 1;
    for (int q = 0; q < nq; q++) {
        double real = 80.0 / (double)(amax + 1) * (0.5 + tu_uniform(rng, 0, 1));
        /* per channel, left shifts mixed with right ones */
        if (c->big_mul && (nq == 1 || rnd(rng, 0, 1)))
            real = 1.0 + 100.0 * tu_uniform(rng, 0, 1);
        vk_quantize_multiplier(real, &d->mult[q], &d->shift[q]);
    }
    const int tlo = d->a_signed ? -128 : 0, thi = d->a_signed ? 127 : 255;
    d->out_zero = c->zp == 1   ? 0
                  : c->zp == 2 ? (rnd(rng, 0, 1) ? tlo : thi)
                  : rnd(rng, 0, 3) ? rnd(rng, tlo + 64, thi - 64)
                                   : rnd(rng, tlo, thi);
    d->out_min = tlo, d->out_max = thi;
    if (c->relu6) {
        d->out_min = d->out_zero > tlo ? d->out_zero : tlo;
        d->out_max = d->out_zero + rnd(rng, 40, 200);
        d->out_max = d->out_max < thi ? d->out_max : thi;
    } else if (rnd(rng, 0, 3) == 0) {
        d->out_min = tlo - 1000, d->out_max = thi + 1000;
    }
}

/* Accumulators at the rounding ties and the extremes of the requantization
 * (see test_conv2d_q8.c): only the centre tap weighs (w = 1, b_offset 0,
 * a_zero 0), each channel's byte runs over all 256 values across the 16×16
 * pixels, so acc = x + bias with a per-channel centre. */
static void edge_values(ddata *d, const dcase *c, tu_rng *rng)
{
    static const int32_t mults[] = {1 << 30, (1 << 30) + 1, INT32_MAX, 3 << 29, 1518500250, 0};
    static const int shifts[] = {0, -1, -2, -3, -7, -12, -31, 1, 3, 8};
    static const int32_t centres[] = {0, 0, 1 << 8, -(1 << 8), 1 << 15, -(1 << 20), 1 << 30,
                                      -(1 << 30), INT32_MAX - 130, INT32_MIN + 131};
    const vk_conv_geom *g = &d->g;
    /* mode 2: the same taps as w + b_offset with b_offset 1 (the paths for
     * TFLite's uint8 weights) */
    const int bo = c->mode == 2;
    d->a_signed = 1, d->a_zero = 0, d->b_offset = bo, d->per_channel = 1;
    memset(d->w, -bo, (size_t)g->KH * g->KW * g->C);
    memset(d->w + (g->KH / 2 * g->KW + g->KW / 2) * g->C, 1 - bo, (size_t)g->C);
    vk_pack_dw_s8(g->KH, g->KW, g->C, d->w, d->Wp);
    for (int i = 0; i < g->N * g->H * g->W; i++)
        for (int ch = 0; ch < g->C; ch++)
            d->in[(size_t)i * g->in_ld + ch] = (uint8_t)(i + 37 * ch);
    if (!d->bias)
        d->bias = tu_alloc((size_t)g->C * sizeof(int32_t));
    for (int ch = 0; ch < g->C; ch++) {
        d->mult[ch] = mults[rnd(rng, 0, 5)];
        d->shift[ch] = (int8_t)shifts[rnd(rng, 0, c->big_mul ? 9 : 6)];
        d->bias[ch] = centres[rnd(rng, 0, 9)] + rnd(rng, -3, 3);
    }
    d->out_zero = rnd(rng, -20, 20);
    d->out_min = -128, d->out_max = 127;
    if (c->relu6)
        d->out_min = d->out_zero, d->out_max = d->out_zero + 60;
    if (c->edge == 2) {
        /* zero point 2^16: the unsaturated outputs are v ≈ -2^16, where f32
         * is off by up to 2^-7 (the kernel must not take that route) */
        d->out_zero = 1 << 16;
        for (int ch = 0; ch < g->C; ch++) {
            d->mult[ch] = (1 << 30) + rnd(rng, 0, (1 << 30) - 1), d->shift[ch] = 0;
            d->bias[ch] = (int32_t)(-65536.0 * 2147483648.0 / d->mult[ch]) + rnd(rng, -3, 3);
        }
    }
}

static void make(ddata *d, const dcase *c, uint64_t salt)
{
    tu_rng rng = tu_rng_make(salt);
    memset(d, 0, sizeof *d);
    geometry(c, &d->g);
    const vk_conv_geom *g = &d->g;
    d->a_signed = c->a_signed;
    d->per_channel = c->mode == 1;
    if (c->mode == 2)
        d->per_channel = rnd(&rng, 0, 1), d->b_offset = rnd(&rng, -127, 128);
    /* mode 3: per_channel 0 and b_offset 0, as memset left them */
    const int alo = d->a_signed ? -128 : 0, ahi = d->a_signed ? 127 : 255;
    int wzero = 128;
    if (c->zp == 1)
        d->a_zero = 0, wzero = 0;
    else if (c->zp == 2)
        d->a_zero = rnd(&rng, 0, 1) ? alo : ahi, wzero = rnd(&rng, 0, 1) ? 0 : 255;
    else
        d->a_zero = rnd(&rng, alo, ahi), wzero = rnd(&rng, 0, 255);
    if (c->fill)
        wzero = 255;
    if (c->mode == 0)
        d->b_offset = 128 - wzero;
    d->in_n = (size_t)g->N * g->H * g->W * g->in_ld;
    d->in = tu_alloc(d->in_n);
    const size_t nw = (size_t)g->KH * g->KW * g->C;
    d->w = tu_alloc(nw);
    if (c->fill) {
        memset(d->in, d->a_signed ? (d->a_zero > 0 ? 0x80 : 0x7f) : (d->a_zero > 127 ? 0 : 255),
               d->in_n);
        memset(d->w, 0x80, nw);
    } else {
        tu_fill_u8(&rng, d->in, d->in_n);
        tu_fill_s8(&rng, d->w, nw);
    }
    d->Wp = tu_alloc(vk_pack_dw_size(g->KH, g->KW, g->C));
    vk_pack_dw_s8(g->KH, g->KW, g->C, d->w, d->Wp);
    d->mult = tu_alloc((size_t)g->C * sizeof(int32_t));
    d->shift = tu_alloc((size_t)g->C);
    choose_requant(d, c, &rng);
    if (c->edge)
        edge_values(d, c, &rng);
    d->out_n = (size_t)g->N * g->OH * g->OW * g->out_ld;
}

static void release(ddata *d)
{
    tu_free(d->in), tu_free(d->w), tu_free(d->Wp);
    tu_free(d->bias), tu_free(d->mult), tu_free(d->shift);
}

static vk_dwconv_q8_args args_of(const ddata *d, void *out)
{
    vk_dwconv_q8_args a;
    memset(&a, 0, sizeof a);
    a.g = d->g;
    a.in = d->in, a.a_signed = d->a_signed, a.a_zero = d->a_zero;
    a.Wp = d->Wp, a.b_offset = d->b_offset, a.bias = d->bias;
    a.rq.mult = d->mult, a.rq.shift = d->shift, a.rq.per_channel = d->per_channel;
    a.rq.out_zero = d->out_zero, a.rq.out_min = d->out_min, a.rq.out_max = d->out_max;
    a.out = out;
    return a;
}

static int run_case(const dcase *c, uint64_t salt)
{
    ddata d;
    make(&d, c, salt);
    const vk_conv_geom *g = &d.g;
    char what[512];
    snprintf(what, sizeof what,
             "N%d %dx%dx%d -> %dx%d k%dx%d s%d,%d d%d,%d pad t%d l%d ld %td/%td %s%s az %d bo %d "
             "zp %d relu6 %d big %d fill %d",
             g->N, g->H, g->W, g->C, g->OH, g->OW, g->KH, g->KW, g->stride_h, g->stride_w,
             g->dil_h, g->dil_w, g->pad_t, g->pad_l, g->in_ld, g->out_ld,
             d.a_signed ? "s8" : "u8", d.per_channel ? " per-channel" : "", d.a_zero,
             d.b_offset, c->zp, c->relu6, c->big_mul, c->fill);
    uint8_t *want = tu_alloc(d.out_n), *got = tu_alloc(d.out_n);
    const int sample = c->sample > 1 ? c->sample : 1;
    oracle(&d, want, sample);
    const int rows = g->N * g->OH;
    const size_t row_n = (size_t)g->OW * g->out_ld;
    int bad = 0;
    /* the reference against the oracle (on its rows), then the dispatched
     * kernel against both: the reference's output is the expectation */
    memset(got, 0xA5, d.out_n);
    vk_dwconv_q8_args a = args_of(&d, got);
    tu_ref()->dwconv_q8(&a, 0, rows);
    for (int r = 0; r < rows && !bad; r += sample) {
        char msg[600];
        snprintf(msg, sizeof msg, "reference, row %d: %s", r, what);
        bad = tu_check_u8(msg, got + r * row_n, want + r * row_n, row_n);
    }
    memcpy(want, got, d.out_n);
    if (!bad && tu_ops()->dwconv_q8 != tu_ref()->dwconv_q8) {
        memset(got, 0xA5, d.out_n);
        tu_ops()->dwconv_q8(&a, 0, rows);
        char msg[600];
        snprintf(msg, sizeof msg, "dispatched: %s", what);
        bad = tu_check_u8(msg, got, want, d.out_n);
    }
    if (!bad && c->splits && rows > 1) {
        tu_rng rng = tu_rng_make(salt ^ 0x51u);
        memset(got, 0xA5, d.out_n);
        for (int r = 0; r < rows;) {
            const int r1 = r + rnd(&rng, 1, rows - r);
            tu_ops()->dwconv_q8(&a, r, r1);
            r = r1;
        }
        char msg[600];
        snprintf(msg, sizeof msg, "split: %s", what);
        bad = tu_check_u8(msg, got, want, d.out_n);
        const int r0 = rnd(&rng, 0, rows - 1), r1 = rnd(&rng, r0 + 1, rows);
        memset(got, 0xA5, d.out_n);
        tu_ops()->dwconv_q8(&a, r0, r1);
        for (size_t i = 0; i < d.out_n && !bad; i++) {
            const int r = (int)(i / row_n);
            const uint8_t e = r >= r0 && r < r1 ? want[i] : 0xA5;
            if (got[i] != e) {
                tu_fail("sub-range [%d,%d): byte %zu: got %d want %d: %s", r0, r1, i, got[i], e,
                        what);
                bad = 1;
            }
        }
    }
    tu_free(want), tu_free(got);
    release(&d);
    return bad;
}

/* Every C × kernel shape (the fast 3×3 and 5×5, and others), geometry drawn
 * per case. */
static void test_sweep(void **state)
{
    static const int Cs[] = {1, 3, 4, 5, 15, 16, 17, 33, 48};
    static const int ks[][2] = {{3, 3}, {3, 3}, {5, 5}, {1, 1}, {1, 7}, {2, 2}};
    static const int HWs[] = {1, 2, 3, 5, 8, 9, 13, 21, 40, 75};
    tu_rng rng = tu_rng_make(11);
    int idx = 0;
    for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            for (int rep = 0; rep < 2; rep++, idx++) {
                dcase c = {0};
                c.N = rnd(&rng, 0, 4) ? 1 : 2;
                c.C = Cs[ci], c.KH = ks[ki][0], c.KW = ks[ki][1];
                c.H = HWs[rnd(&rng, 0, 6)], c.W = HWs[rnd(&rng, 0, 9)];
                if (c.C >= 33 && c.W > 21)
                    c.H = rnd(&rng, 1, 4);
                const int s = rnd(&rng, 1, 2);
                c.sh = c.sw = s;
                if (rnd(&rng, 0, 4) == 0)
                    c.sh = 3 - s;
                c.dh = c.dw = 1;
                if (rnd(&rng, 0, 4) == 0)
                    c.dh = rnd(&rng, 1, 2), c.dw = rnd(&rng, 1, 2);
                if (rnd(&rng, 0, 1)) {
                    c.pt = -1;
                } else { /* up to a pixel more than the kernel on each side */
                    c.pt = rnd(&rng, 0, c.KH), c.pb = rnd(&rng, 0, c.KH);
                    c.pl = rnd(&rng, 0, c.KW), c.pr = rnd(&rng, 0, c.KW);
                    while (c.H + c.pt + c.pb < (c.KH - 1) * c.dh + 1)
                        c.pb++;
                    while (c.W + c.pl + c.pr < (c.KW - 1) * c.dw + 1)
                        c.pr++;
                }
                c.in_extra = rnd(&rng, 0, 2) ? 0 : rnd(&rng, 1, 9);
                c.out_extra = rnd(&rng, 0, 2) ? 0 : rnd(&rng, 1, 9);
                c.mode = rnd(&rng, 0, 2);
                c.a_signed = c.mode == 0 ? 0 : c.mode == 1 ? 1 : rnd(&rng, 0, 1);
                c.zp = rnd(&rng, 0, 3) == 0 ? rnd(&rng, 1, 2) : 0;
                c.relu6 = rnd(&rng, 0, 3) == 0;
                c.big_mul = rnd(&rng, 0, 15) == 0;
                c.splits = 1;
                if (run_case(&c, 5000 + (uint64_t)idx))
                    return;
            }
}

/* Extreme values: every product at ±255·128 (5×5 with a wide image), zero
 * points at both ends, left shifts with saturation. */
static void test_extremes(void **state)
{
    for (int i = 0; i < 12; i++) {
        dcase c = {0};
        c.N = 1, c.H = 6, c.W = 19, c.C = 40;
        c.KH = c.KW = i < 6 ? 5 : 3, c.sh = c.sw = 1 + i % 2, c.dh = c.dw = 1, c.pt = -1;
        c.mode = i % 3 == 2 ? 2 : i % 2, c.a_signed = c.mode == 2 ? i / 3 % 2 : i % 2;
        c.zp = i % 4 == 3 ? 1 : 2, c.fill = i < 4;
        c.big_mul = i >= 8 || i == 2, c.relu6 = i % 3 == 0, c.splits = 1;
        if (run_case(&c, 6000 + (uint64_t)i))
            return;
    }
}

/* The requantization at its rounding ties and extremes (edge_values): 3×3 on
 * the four-tap path (C = 80: one 64-channel block, the rest on the 16-channel
 * path; C = 32 from i = 12 on: pixel pairs), 1×1 per pixel; saturating and
 * clamping output stages, left shifts. The four-tap path requantizes through
 * f32 (conv2d_q8.h, vq_mbqm_f32), which must hand the ties it cannot round
 * (multiplier 2^30 + 1, which f32 rounds to 2^30) to the exact form, and
 * (i = 15, 16) must not be used with a zero point far from the output range;
 * i >= 17: b_offset 1, so the 32-channel pair path does the same. */
static void test_requant_edges(void **state)
{
    for (int i = 0; i < 19; i++) {
        dcase c = {0};
        c.N = 1, c.H = c.W = 16, c.C = i == 16 || i == 18 || (i >= 12 && i < 15) ? 32 : 80;
        c.KH = c.KW = i % 3 == 2 && i < 12 ? 1 : 3;
        c.sh = c.sw = i >= 12 ? 1 : 1 + i % 3 % 2, c.dh = c.dw = 1, c.pt = -1, c.mode = 1;
        c.a_signed = 1, c.relu6 = (i / 3 % 2 || i == 13) && i < 15, c.big_mul = i >= 6 && i < 12;
        c.edge = i == 15 || i == 16 ? 2 : 1;
        if (i >= 17) /* b_offset 1: the 32-channel pair path */
            c.mode = 2, c.relu6 = i == 18;
        c.splits = i < 3;
        if (run_case(&c, 6500 + (uint64_t)i))
            return;
    }
}

/* 3×3 at stride 1 and 2 with b_offset 0 (the four-taps-per-instruction
 * path: 64-channel blocks, a last partial block of 33..63 channels, the rest
 * of <= 32 channels on the 32- and 16-channel paths; C = 32 as pixel pairs
 * at stride 1): channel counts around
 * each block size, maps from 1 pixel to a few interior blocks (pairs of rows
 * at stride 1: odd heights, batches of 2, row ranges starting anywhere), both
 * signednesses, per-channel and per-tensor, clamping and saturating output
 * stages, extreme products, and left shifts (which leave this path). */
static void test_quad(void **state)
{
    /* 32: pixel pairs at stride 1 when both rows are dense (ld 32) */
    static const int Cs[] = {32, 33, 47, 63, 64, 65, 96, 97, 127, 128, 129, 160, 192, 200};
    static const int HWs[] = {1, 2, 3, 4, 5, 6, 7, 9, 12, 19};
    tu_rng rng = tu_rng_make(13);
    const int ncs = (int)(sizeof Cs / sizeof *Cs);
    for (int idx = 0; idx < 100; idx++) {
        /* from 70 on: C = 32, dense, stride 1 (pixel pairs), every width */
        const int pairs = idx >= 70;
        dcase c = {0};
        c.N = rnd(&rng, 0, 3) ? 1 : 2;
        c.C = pairs ? 32 : Cs[idx % ncs], c.KH = c.KW = 3;
        c.H = HWs[rnd(&rng, 0, 9)], c.W = pairs ? 1 + (idx - 70) % 20 : HWs[rnd(&rng, 0, 9)];
        c.sh = c.sw = pairs ? 1 : 1 + idx % 2, c.dh = c.dw = 1;
        if (rnd(&rng, 0, 1)) {
            c.pt = -1;
        } else {
            c.pt = rnd(&rng, 0, 3), c.pb = rnd(&rng, 0, 3);
            c.pl = rnd(&rng, 0, 3), c.pr = rnd(&rng, 0, 3);
            while (c.H + c.pt + c.pb < 3)
                c.pb++;
            while (c.W + c.pl + c.pr < 3)
                c.pr++;
        }
        c.in_extra = pairs || rnd(&rng, 0, 3) ? 0 : rnd(&rng, 1, 9);
        c.out_extra = pairs || rnd(&rng, 0, 3) ? 0 : rnd(&rng, 1, 9);
        c.mode = rnd(&rng, 0, 1) ? 1 : 3;
        c.a_signed = rnd(&rng, 0, 1);
        c.zp = rnd(&rng, 0, 2);
        c.relu6 = rnd(&rng, 0, 1);
        c.big_mul = rnd(&rng, 0, 9) == 0;
        c.fill = rnd(&rng, 0, 7) == 0;
        c.splits = 1;
        if (run_case(&c, 8000 + (uint64_t)idx))
            return;
    }
}

/* MobileNetV2 (224, batch 1) depthwise layers, TFLite SAME; the oracle
 * checks every 5th output row of the large ones (the reference, all). */
static void test_mobilenet(void **state)
{
    static const int dw[][3] = {{112, 32, 1}, {112, 96, 2}, {56, 144, 1}, {56, 144, 2},
                                {28, 192, 1}, {28, 192, 2}, {14, 384, 1}, {14, 576, 1},
                                {14, 576, 2}, {7, 960, 1}};
    for (size_t i = 0; i < sizeof dw / sizeof *dw; i++) {
        dcase c = {0};
        c.N = 1, c.H = c.W = dw[i][0], c.C = dw[i][1], c.KH = c.KW = 3;
        c.sh = c.sw = dw[i][2], c.dh = c.dw = 1, c.pt = -1;
        /* odd layers b_offset 0, per channel, s8 and u8 activations in turn */
        c.mode = i % 2, c.a_signed = i % 2 && i / 2 % 2, c.relu6 = 1, c.sample = c.H > 14 ? 5 : 1;
        if (run_case(&c, 7000 + (uint64_t)i))
            return;
    }
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_requant_edges),
        cmocka_unit_test(test_quad),
        cmocka_unit_test(test_mobilenet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
