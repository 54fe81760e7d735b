/* Quantized NHWC convolution (conv2d_q8): the dispatched kernel and the
 * reference against a naive oracle written here (int64 accumulation straight
 * from the OHWI weights, then kernels/requant.h), exactly.
 *
 * Shapes sweep the AVX-512 kernel's blocks: channel counts around the VNNI
 * group of 4 and the 64-byte vector (C in {1,3,4,5,15,16,17,33}), output
 * channels around the 16-column panel and the panel groups of up to 4
 * (OC in {1,15,16,17,33,49}), the direct 1×1 path and the im2col path (3×3,
 * 5×5, 1×7, strides, dilation, padding on every side), register tiles of up
 * to 12 pixels with their row tails, pixel blocks, and the MobileNetV2 shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "kernels/requant.h"
#include "testutil.h"

typedef struct qcase {
    int N, H, W, C, OC, KH, KW, sh, sw, dh, dw;
    int pt, pb, pl, pr; /* explicit padding; pt = -1: TFLite SAME */
    int in_extra, out_extra;
    int a_signed;
    int mode;    /* 0: uint8 per-tensor (b_offset = 128 - w_zero); 1: int8 per-channel
                  * (b_offset 0); 2: anything goes (random signedness, b_offset, per-channel) */
    int zp;      /* 0 random, 1 zero points 0, 2 extreme zero points */
    int relu6;   /* clamp to [zero, zero + small] */
    int big_mul; /* real multipliers > 1: left shifts and their saturation */
    int fill;    /* 1: every input at the far end from a_zero, every weight -128 */
    int splits;  /* also run split into pieces and on a sub-range */
    int sample;  /* > 1: the oracle computes every sample-th output row only */
    int edge;    /* accumulators at the requantization's ties and extremes */
} qcase;

typedef struct qdata {
    vk_conv_geom g;
    int a_signed, per_channel;
    int32_t a_zero, b_offset;
    uint8_t *in; /* bytes, read as s8 when a_signed */
    int8_t *w;   /* OHWI, as stored (s8) */
    int8_t *Wp;
    int32_t *colsum, *bias, *mult;
    int8_t *shift;
    int32_t out_zero, out_min, out_max;
    size_t in_n, out_n;
} qdata;

static int rnd(tu_rng *r, int lo, int hi)
{
    return lo + (int)(tu_next(r) % (uint64_t)((int64_t)hi - lo + 1));
}

static void geometry(const qcase *c, vk_conv_geom *g)
{
    memset(g, 0, sizeof *g);
    g->N = c->N, g->H = c->H, g->W = c->W, g->C = c->C, g->OC = c->OC;
    g->KH = c->KH, g->KW = c->KW, g->stride_h = c->sh, g->stride_w = c->sw;
    g->dil_h = c->dh, g->dil_w = c->dw;
    const int ekh = (c->KH - 1) * c->dh + 1, ekw = (c->KW - 1) * c->dw + 1;
    if (c->pt < 0) { /* TFLite SAME: the odd pixel of padding goes after */
        g->OH = (c->H + c->sh - 1) / c->sh, g->OW = (c->W + c->sw - 1) / c->sw;
        const int th = (g->OH - 1) * c->sh + ekh - c->H, tw = (g->OW - 1) * c->sw + ekw - c->W;
        g->pad_t = th > 0 ? th / 2 : 0, g->pad_l = tw > 0 ? tw / 2 : 0;
    } else {
        g->pad_t = c->pt, g->pad_l = c->pl;
        g->OH = (c->H + c->pt + c->pb - ekh) / c->sh + 1;
        g->OW = (c->W + c->pl + c->pr - ekw) / c->sw + 1;
    }
    g->in_ld = c->C + c->in_extra, g->out_ld = c->OC + c->out_extra;
}

static int64_t oracle_acc(const qdata *d, int r, int ow, int oc)
{
    const vk_conv_geom *g = &d->g;
    const int n = r / g->OH, oh = r % g->OH;
    int64_t acc = 0;
    for (int kh = 0; kh < g->KH; kh++)
        for (int kw = 0; kw < g->KW; kw++) {
            const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
            const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
            const int inside = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W;
            for (int c = 0; c < g->C; c++) {
                int64_t x = d->a_zero; /* TFLite pads with the input zero point */
                if (inside) {
                    const uint8_t b = d->in[(((size_t)n * g->H + ih) * g->W + iw) * g->in_ld + c];
                    x = d->a_signed ? (int8_t)b : b;
                }
                const int8_t w = d->w[(((size_t)oc * g->KH + kh) * g->KW + kw) * g->C + c];
                acc += (x - d->a_zero) * ((int64_t)w + d->b_offset);
            }
        }
    return acc;
}

/* Expected output bytes; out_ld gaps keep the 0xA5 fill. */
static void oracle(const qdata *d, uint8_t *out, int sample)
{
    const vk_conv_geom *g = &d->g;
    const int tlo = d->a_signed ? -128 : 0, thi = d->a_signed ? 127 : 255;
    const int lo = d->out_min > tlo ? d->out_min : tlo, hi = d->out_max < thi ? d->out_max : thi;
    memset(out, 0xA5, d->out_n);
    for (int r = 0; r < g->N * g->OH; r += sample)
        for (int ow = 0; ow < g->OW; ow++)
            for (int oc = 0; oc < g->OC; oc++) {
                int64_t acc = oracle_acc(d, r, ow, oc) + (d->bias ? d->bias[oc] : 0);
                assert_true(acc >= INT32_MIN && acc <= INT32_MAX); /* the tests stay in range */
                const int q = d->per_channel ? oc : 0;
                int64_t v = (int64_t)vk_mbqm((int32_t)acc, d->mult[q], d->shift[q]) + d->out_zero;
                v = v < lo ? lo : v > hi ? hi : v;
                out[((size_t)r * g->OW + ow) * g->out_ld + oc] = (uint8_t)v;
            }
}

/* Chooses bias and multipliers from the actual accumulator range, so that
 * outputs spread over the type instead of all saturating. */
static void choose_requant(qdata *d, const qcase *c, tu_rng *rng)
{
    const vk_conv_geom *g = &d->g;
    const int nq = d->per_channel ? g->OC : 1;
    int64_t amax = 0;
    const int rows = g->N * g->OH;
    for (int r = 0; r < rows; r += rows > 8 ? rows / 8 : 1) /* a sample suffices */
        for (int ow = 0; ow < g->OW; ow++)
            for (int oc = 0; oc < g->OC; oc++) {
                int64_t a = oracle_acc(d, r, ow, oc);
                a = a < 0 ? -a : a;
                amax = a > amax ? a : amax;
            }
    if (rnd(rng, 0, 7) != 0 || c->fill) {
        d->bias = tu_alloc((size_t)g->OC * sizeof(int32_t));
        const int32_t b = (int32_t)(amax / 2 + 1);
        tu_fill_s32(rng, d->bias, (size_t)g->OC, -b, b);
    }
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
    if (c->relu6) { /* ReLU6 with a scale of 6/40..6/200 */
        d->out_min = d->out_zero > tlo ? d->out_zero : tlo;
        d->out_max = d->out_zero + rnd(rng, 40, 200);
        d->out_max = d->out_max < thi ? d->out_max : thi;
    } else if (rnd(rng, 0, 3) == 0) { /* a range wider than the type saturates to it */
        d->out_min = tlo - 1000, d->out_max = thi + 1000;
    }
}

/* Accumulators at the rounding ties and the extremes of the requantization:
 * the weights pick input channel 0 (w = 1, b_offset 0, a_zero 0), whose byte
 * runs over all 256 values across the 16×16 pixels, so acc = x + bias with a
 * per-channel centre; multipliers include 2^30 (every odd product is then a
 * tie of the doubling high multiply) and shifts from 31 right to 8 left
 * (left ones only with big_mul). */
static void edge_values(qdata *d, const qcase *c, tu_rng *rng)
{
    static const int32_t mults[] = {1 << 30, (1 << 30) + 1, INT32_MAX, 3 << 29, 1518500250, 0};
    static const int shifts[] = {0, -1, -2, -3, -7, -12, -31, 1, 3, 8};
    static const int32_t centres[] = {0, 0, 1 << 8, -(1 << 8), 1 << 15, -(1 << 20), 1 << 30,
                                      -(1 << 30), INT32_MAX - 130, INT32_MIN + 131};
    const vk_conv_geom *g = &d->g;
    const int K = g->C; /* 1×1 */
    d->a_signed = 1, d->a_zero = 0, d->b_offset = 0, d->per_channel = 1;
    memset(d->w, 0, (size_t)g->OC * K);
    for (int oc = 0; oc < g->OC; oc++)
        d->w[(size_t)oc * K] = 1;
    vk_pack_conv_s8(g->OC, 1, 1, g->C, d->w, d->Wp, d->colsum);
    for (int i = 0; i < g->N * g->H * g->W; i++)
        d->in[(size_t)i * g->in_ld] = (uint8_t)i;
    if (!d->bias)
        d->bias = tu_alloc((size_t)g->OC * sizeof(int32_t));
    for (int oc = 0; oc < g->OC; oc++) {
        d->mult[oc] = mults[rnd(rng, 0, 5)];
        d->shift[oc] = (int8_t)shifts[rnd(rng, 0, c->big_mul ? 9 : 6)];
        d->bias[oc] = centres[rnd(rng, 0, 9)] + rnd(rng, -3, 3);
    }
    d->out_zero = rnd(rng, -20, 20);
    d->out_min = -128, d->out_max = 127;
    if (c->relu6)
        d->out_min = d->out_zero, d->out_max = d->out_zero + 60;
}

static void make(qdata *d, const qcase *c, uint64_t salt)
{
    tu_rng rng = tu_rng_make(salt);
    memset(d, 0, sizeof *d);
    geometry(c, &d->g);
    const vk_conv_geom *g = &d->g;
    d->a_signed = c->a_signed;
    d->per_channel = c->mode == 1;
    if (c->mode == 2) {
        d->per_channel = rnd(&rng, 0, 1);
        d->b_offset = rnd(&rng, -127, 128);
    }
    const int alo = d->a_signed ? -128 : 0, ahi = d->a_signed ? 127 : 255;
    int wzero = 128; /* uint8 weights' zero point (mode 0) */
    if (c->zp == 1) {
        d->a_zero = 0, wzero = 0;
    } else if (c->zp == 2) {
        d->a_zero = rnd(&rng, 0, 1) ? alo : ahi, wzero = rnd(&rng, 0, 1) ? 0 : 255;
    } else {
        d->a_zero = rnd(&rng, alo, ahi), wzero = rnd(&rng, 0, 255);
    }
    if (c->fill)
        wzero = 255; /* w_u8 - w_zero = -255 for stored -128 */
    if (c->mode == 0)
        d->b_offset = 128 - wzero;
    d->in_n = (size_t)g->N * g->H * g->W * g->in_ld;
    d->in = tu_alloc(d->in_n);
    const size_t K = (size_t)g->KH * g->KW * g->C;
    d->w = tu_alloc((size_t)g->OC * K);
    if (c->fill) {
        /* |x - a_zero| = 255 (a_zero at the other end) and w + b_offset = -128 + b_offset */
        memset(d->in, d->a_signed ? (d->a_zero > 0 ? 0x80 : 0x7f) : (d->a_zero > 127 ? 0 : 255),
               d->in_n);
        memset(d->w, 0x80, (size_t)g->OC * K);
    } else {
        tu_fill_u8(&rng, d->in, d->in_n);
        tu_fill_s8(&rng, (int8_t *)d->w, (size_t)g->OC * K);
    }
    d->Wp = tu_alloc(vk_pack_conv_s8_size(g->OC, g->KH, g->KW, g->C));
    d->colsum = tu_alloc(vk_round_up((size_t)g->OC, VK_Q8_NR) * sizeof(int32_t));
    vk_pack_conv_s8(g->OC, g->KH, g->KW, g->C, d->w, d->Wp, d->colsum);
    d->mult = tu_alloc((size_t)g->OC * sizeof(int32_t));
    d->shift = tu_alloc((size_t)g->OC);
    choose_requant(d, c, &rng);
    if (c->edge)
        edge_values(d, c, &rng);
    d->out_n = (size_t)g->N * g->OH * g->OW * g->out_ld;
}

static void release(qdata *d)
{
    tu_free(d->in), tu_free(d->w), tu_free(d->Wp), tu_free(d->colsum);
    tu_free(d->bias), tu_free(d->mult), tu_free(d->shift);
}

static vk_conv2d_q8_args args_of(const qdata *d, void *out, void *scratch)
{
    vk_conv2d_q8_args a;
    memset(&a, 0, sizeof a);
    a.g = d->g;
    a.in = d->in, a.a_signed = d->a_signed, a.a_zero = d->a_zero;
    a.Wp = d->Wp, a.w_colsum = d->colsum, a.b_offset = d->b_offset, a.bias = d->bias;
    a.rq.mult = d->mult, a.rq.shift = d->shift, a.rq.per_channel = d->per_channel;
    a.rq.out_zero = d->out_zero, a.rq.out_min = d->out_min, a.rq.out_max = d->out_max;
    a.out = out, a.scratch = scratch;
    return a;
}

static void describe(const qcase *c, const qdata *d, char *buf, size_t n)
{
    const vk_conv_geom *g = &d->g;
    snprintf(buf, n,
             "N%d %dx%dx%d -> %dx%dx%d k%dx%d s%d,%d d%d,%d pad t%d l%d ld %td/%td %s%s "
             "az %d bo %d zp %d relu6 %d big %d fill %d",
             g->N, g->H, g->W, g->C, g->OH, g->OW, g->OC, g->KH, g->KW, g->stride_h, g->stride_w,
             g->dil_h, g->dil_w, g->pad_t, g->pad_l, g->in_ld, g->out_ld,
             d->a_signed ? "s8" : "u8", d->per_channel ? " per-channel" : "", d->a_zero,
             d->b_offset, c->zp, c->relu6, c->big_mul, c->fill);
}

static int run_case(const qcase *c, uint64_t salt)
{
    qdata d;
    make(&d, c, salt);
    const vk_conv_geom *g = &d.g;
    char what[512];
    describe(c, &d, what, sizeof what);
    uint8_t *want = tu_alloc(d.out_n), *got = tu_alloc(d.out_n);
    const size_t ssz = vk_conv2d_q8_scratch(g);
    void *scratch = ssz ? tu_alloc(ssz) : NULL;
    const int sample = c->sample > 1 ? c->sample : 1;
    oracle(&d, want, sample);
    const int rows = g->N * g->OH;
    const size_t row_n = (size_t)g->OW * g->out_ld;
    int bad = 0;
    /* the reference against the oracle (on its rows), then the dispatched
     * kernel against both: the reference's output is the expectation */
    memset(got, 0xA5, d.out_n);
    vk_conv2d_q8_args a = args_of(&d, got, scratch);
    tu_ref()->conv2d_q8(&a, 0, rows);
    for (int r = 0; r < rows && !bad; r += sample) {
        char msg[600];
        snprintf(msg, sizeof msg, "reference, row %d: %s", r, what);
        bad = tu_check_u8(msg, got + r * row_n, want + r * row_n, row_n);
    }
    memcpy(want, got, d.out_n);
    if (!bad && tu_ops()->conv2d_q8 != tu_ref()->conv2d_q8) {
        memset(got, 0xA5, d.out_n);
        tu_ops()->conv2d_q8(&a, 0, rows);
        char msg[600];
        snprintf(msg, sizeof msg, "dispatched: %s", what);
        bad = tu_check_u8(msg, got, want, d.out_n);
    }
    if (!bad && c->splits && rows > 1) {
        /* Pieces of random length must tile the output exactly... */
        tu_rng rng = tu_rng_make(salt ^ 0x51u);
        memset(got, 0xA5, d.out_n);
        for (int r = 0; r < rows;) {
            const int r1 = r + rnd(&rng, 1, rows - r);
            tu_ops()->conv2d_q8(&a, r, r1);
            r = r1;
        }
        char msg[600];
        snprintf(msg, sizeof msg, "split: %s", what);
        bad = tu_check_u8(msg, got, want, d.out_n);
        /* ...and a sub-range writes only its own rows. */
        const int r0 = rnd(&rng, 0, rows - 1), r1 = rnd(&rng, r0 + 1, rows);
        memset(got, 0xA5, d.out_n);
        tu_ops()->conv2d_q8(&a, r0, r1);
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
    tu_free(want), tu_free(got), tu_free(scratch);
    release(&d);
    return bad;
}

/* Every C × OC × kernel shape; the rest of the geometry drawn per case. */
static void test_sweep(void **state)
{
    static const int Cs[] = {1, 3, 4, 5, 15, 16, 17, 33};
    static const int OCs[] = {1, 15, 16, 17, 33, 49};
    static const int ks[][2] = {{1, 1}, {3, 3}, {5, 5}, {1, 7}};
    static const int HWs[] = {1, 2, 3, 5, 8, 9};
    tu_rng rng = tu_rng_make(1);
    int idx = 0;
    for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
        for (size_t oi = 0; oi < sizeof OCs / sizeof *OCs; oi++)
            for (size_t ki = 0; ki < 4; ki++, idx++) {
                qcase c = {0};
                c.N = rnd(&rng, 0, 4) ? 1 : 2;
                c.C = Cs[ci], c.OC = OCs[oi], c.KH = ks[ki][0], c.KW = ks[ki][1];
                c.H = HWs[rnd(&rng, 0, 5)], c.W = HWs[rnd(&rng, 0, 5)];
                c.sh = rnd(&rng, 1, 2), c.sw = rnd(&rng, 1, 2);
                c.dh = rnd(&rng, 0, 3) ? 1 : 2, c.dw = rnd(&rng, 0, 3) ? 1 : 2;
                if (rnd(&rng, 0, 2) == 0) {
                    c.pt = -1; /* SAME */
                } else {
                    /* explicit padding, up to a pixel more than the kernel */
                    c.pt = rnd(&rng, 0, c.KH), c.pb = rnd(&rng, 0, c.KH);
                    c.pl = rnd(&rng, 0, c.KW), c.pr = rnd(&rng, 0, c.KW);
                    /* a too small image: grow it to one output */
                    while (c.H + c.pt + c.pb < (c.KH - 1) * c.dh + 1)
                        c.pb++;
                    while (c.W + c.pl + c.pr < (c.KW - 1) * c.dw + 1)
                        c.pr++;
                }
                if (ki == 0 && rnd(&rng, 0, 1)) /* the direct 1×1 path: no padding */
                    c.pt = c.pb = c.pl = c.pr = 0, c.sh = c.sw = rnd(&rng, 0, 2) ? 1 : 2;
                c.in_extra = rnd(&rng, 0, 2) ? 0 : rnd(&rng, 1, 9);
                c.out_extra = rnd(&rng, 0, 2) ? 0 : rnd(&rng, 1, 9);
                c.mode = rnd(&rng, 0, 2);
                c.a_signed = c.mode == 0 ? 0 : c.mode == 1 ? 1 : rnd(&rng, 0, 1);
                c.zp = rnd(&rng, 0, 3) == 0 ? rnd(&rng, 1, 2) : 0;
                c.relu6 = rnd(&rng, 0, 3) == 0;
                c.big_mul = rnd(&rng, 0, 15) == 0;
                c.splits = 1;
                if (run_case(&c, 1000 + (uint64_t)idx))
                    return;
            }
}

/* Larger images, so that the register tiles (up to 12 pixels) and the pixel
 * blocks see full, partial and multi-row spans. */
static void test_tiles(void **state)
{
    static const int OCs[] = {16, 32, 48, 64, 80, 144};
    tu_rng rng = tu_rng_make(2);
    for (int i = 0; i < 24; i++) {
        qcase c = {0};
        c.N = 1, c.H = rnd(&rng, 3, 12), c.W = rnd(&rng, 1, 30);
        c.C = rnd(&rng, 0, 1) ? 8 * rnd(&rng, 1, 12) : rnd(&rng, 1, 40);
        if (i % 3 == 2)
            c.C = rnd(&rng, 1, 24);
        c.OC = OCs[i % 6] - (rnd(&rng, 0, 2) ? 0 : rnd(&rng, 1, 15));
        c.KH = c.KW = i % 3 == 2 ? 3 : 1;
        c.sh = c.sw = i % 4 == 3 ? 2 : 1, c.dh = c.dw = 1;
        c.pt = i % 3 == 2 ? -1 : 0;
        c.in_extra = i % 5 == 0 ? 3 : 0, c.out_extra = i % 7 == 0 ? 5 : 0;
        c.mode = i % 3, c.a_signed = c.mode == 1 || (c.mode == 2 && i % 2);
        c.relu6 = i % 2, c.splits = 1;
        if (run_case(&c, 2000 + (uint64_t)i))
            return;
    }
}

/* Zero points 0 and at both ends, left shifts, and the largest accumulators:
 * every product at ±255·128 over K = 3·3·512. */
static void test_extremes(void **state)
{
    for (int i = 0; i < 12; i++) {
        qcase c = {0};
        c.N = 1, c.H = 4, c.W = 5, c.C = i < 4 ? 512 : 24, c.OC = 17;
        c.KH = c.KW = 3, c.sh = c.sw = 1, c.dh = c.dw = 1, c.pt = -1;
        c.mode = i % 2, c.a_signed = i % 2;
        c.zp = 2, c.fill = i < 4;
        c.big_mul = i >= 8 || i == 2 || i == 3, c.relu6 = i % 3 == 0, c.splits = 1;
        if (run_case(&c, 3000 + (uint64_t)i))
            return;
        c.KH = c.KW = 1, c.pt = 0;
        c.zp = i < 6 ? 1 : 2;
        if (run_case(&c, 3100 + (uint64_t)i))
            return;
    }
}

/* The requantization at its rounding ties and extremes (edge_values), on the
 * in-place 1×1 path (C = 4) and the im2col path (C = 1), with the saturating
 * and the clamping output stages and with left shifts. */
static void test_requant_edges(void **state)
{
    for (int i = 0; i < 12; i++) {
        qcase c = {0};
        c.N = 1, c.H = c.W = 16, c.C = i % 2 ? 1 : 4, c.OC = 64, c.KH = c.KW = 1;
        c.sh = c.sw = 1, c.dh = c.dw = 1, c.mode = 1, c.a_signed = 1;
        c.relu6 = i / 2 % 2, c.big_mul = i >= 8, c.edge = 1, c.splits = i < 2;
        if (run_case(&c, 4500 + (uint64_t)i))
            return;
    }
}

/* MobileNetV2 (224, batch 1): the first layer and pointwise layers of each
 * panel count. The oracle checks every 7th output row of the large ones (and
 * the reference, all of them). */
static void test_mobilenet(void **state)
{
    static const int pw[][3] = {{112, 32, 16}, {56, 24, 144}, {28, 192, 32}, {7, 960, 320},
                                {7, 320, 1280}};
    for (int m = 0; m < 2; m++) {
        qcase c = {0};
        c.N = 1, c.H = c.W = 224, c.C = 3, c.OC = 32, c.KH = c.KW = 3, c.sh = c.sw = 2;
        c.dh = c.dw = 1, c.pt = -1, c.mode = m, c.a_signed = m, c.relu6 = 1, c.sample = 7;
        if (run_case(&c, 4000 + (uint64_t)m))
            return;
    }
    for (size_t i = 0; i < sizeof pw / sizeof *pw; i++) {
        qcase c = {0};
        c.N = 1, c.H = c.W = pw[i][0], c.C = pw[i][1], c.OC = pw[i][2], c.KH = c.KW = 1;
        c.sh = c.sw = 1, c.dh = c.dw = 1, c.mode = i % 2, c.a_signed = i % 2, c.relu6 = i % 2;
        c.sample = c.H > 7 ? 7 : 1;
        if (run_case(&c, 4100 + (uint64_t)i))
            return;
    }
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_tiles),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_requant_edges),
        cmocka_unit_test(test_mobilenet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
