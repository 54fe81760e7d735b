/* Quantized depthwise convolution (channel multiplier 1), NHWC, AVX-512.
 *
 * No reduction across channels, so channels go on lanes: 16 channels per
 * vector, each input byte widened to a 32-bit lane (vpmovzxbd / vpmovsxbd)
 * whose low 16 bits are the activation, each weight held as (w + b_offset)
 * in the low 16 bits of a lane whose high half is zero; one vpdpwssd per tap
 * then adds x·(w + b_offset) exactly (|x| <= 255, |w + b_offset| <= 255 for
 * every TFLite model: products and pair sums fit; the high halves meet the
 * zero weight half whatever the activation's sign extension put there).
 *
 * Padding reads the zero point itself (a 64-byte buffer of a_zero stands in
 * for out-of-image pixels), so that every tap is a product with the same
 * weight, and the zero point comes out of the sum once per channel:
 *   Σ_t (x_t - a_zero)(w_t + bo) = Σ_t x_t (w_t + bo) - a_zero Σ_t (w_t + bo)
 * with the bias, the start value of every accumulator (all modulo 2^32).
 *
 * Loop order: groups of output rows (>= 32 outputs per group), channel
 * blocks, then rows and output pixels, so that the per-block setup (weights,
 * start value, requantization constants) is paid once per group. 3×3 at
 * stride 1 or 2 with b_offset 0 and no left shift (int8 models) first runs
 * its 64-channel blocks on the four-taps path of dwconv_q8_quad.c (channel
 * blocks outermost there). 3×3 and
 * 5×5 kernels at stride 1 or 2 (both ways, no dilation) run whole 32-channel
 * blocks on the two-taps-per-instruction path of dwconv_q8_pair.c; the 16
 * channels left over (C % 32 >= 16) take this file's fast path (interior
 * pixels in blocks of 8 at stride 1, 4 at stride 2, each input column loaded
 * once per kernel row for all the outputs that read it), and image borders,
 * a last partial block of < 16 channels and every other geometry the
 * per-pixel path. Accumulators of up to 32 outputs are requantized together
 * by one of four epilogues (see vq_out in conv2d_q8.h).
 *
 * b_offset beyond ±32639 (no TFLite model: |b_offset| <= 128) would not fit
 * the 16-bit weights: the reference kernel runs instead.
 */
#include <string.h>

#include "../pack.h"
#include "../ref/ref.h"
#include "avx512.h"
#include "conv2d_q8.h"
#include "dwconv_q8.h"

#define DW_CHUNK 32  /* outputs requantized together */
#define DW_TMAX 64   /* taps whose weight vectors are kept on the stack */

typedef struct dw_blk {
    const vk_dwconv_q8_args *a;
    const uint8_t *zpad;
    const __m512i *W; /* KH·KW weight vectors of the block (NULL: T > DW_TMAX) */
    __m512i init;
    int c0;
    __mmask16 cm; /* valid channels of the block */
} dw_blk;

VQ_AI __m512i widen(const uint8_t *p, const int SGN)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)p);
    return SGN ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

VQ_AI __m512i widen_masked(const uint8_t *p, __mmask16 m, const int SGN)
{
    const __m128i b = _mm_maskz_loadu_epi8(m, p);
    return SGN ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
}

/* (w + bo) in the low half of each lane, zero high half. */
static __m512i weight(const vk_dwconv_q8_args *a, int t, int c0)
{
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)a->g.C, 16);
    const __m512i w = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(a->Wp + t * Cp + c0)));
    return _mm512_and_si512(_mm512_add_epi32(w, _mm512_set1_epi32(a->b_offset)),
                            _mm512_set1_epi32(0xFFFF));
}

/* One output pixel, every tap checked against the image. */
VQ_AI __m512i pixel(const dw_blk *d, int n, int oh, int ow, const int SGN)
{
    const vk_dwconv_q8_args *a = d->a;
    const vk_conv_geom *g = &a->g;
    const uint8_t *in = (const uint8_t *)a->in + d->c0;
    __m512i acc = d->init;
    for (int kh = 0; kh < g->KH; kh++) {
        const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
        const int rok = ih >= 0 && ih < g->H;
        const uint8_t *row = in + ((ptrdiff_t)n * g->H + ih) * g->W * g->in_ld;
        for (int kw = 0; kw < g->KW; kw++) {
            const int iw = ow * g->stride_w - g->pad_l + kw * g->dil_w;
            const uint8_t *p =
                rok && iw >= 0 && iw < g->W ? row + (ptrdiff_t)iw * g->in_ld : d->zpad;
            const int t = kh * g->KW + kw;
            const __m512i w = d->W ? d->W[t] : weight(a, t, d->c0);
            acc = _mm512_dpwssd_epi32(acc, widen_masked(p, d->cm, SGN), w);
        }
    }
    return acc;
}

/* NO consecutive interior outputs of a KS×KS kernel at stride S: every
 * column in the image; rows out of the image read the zero-point buffer with
 * a column stride of 0. */
VQ_AI void interior(const dw_blk *d, const uint8_t *const *base, const ptrdiff_t *cs, int iw0,
                    __m512i *acc_out, const int KS, const int S, const int NO, const int SGN)
{
    enum { NCOL_MAX = 7 * 2 + 5 };
    __m512i acc[8];
#pragma GCC unroll 8
    for (int o = 0; o < NO; o++)
        acc[o] = d->init;
#pragma GCC unroll 5
    for (int kh = 0; kh < KS; kh++) {
        const uint8_t *p = base[kh] + iw0 * cs[kh];
        const ptrdiff_t st = cs[kh];
        __m512i x[NCOL_MAX];
#pragma GCC unroll 19
        for (int j = 0; j < (NO - 1) * S + KS; j++)
            x[j] = widen(p + j * st, SGN);
#pragma GCC unroll 5
        for (int kw = 0; kw < KS; kw++) {
            const __m512i w = d->W[kh * KS + kw];
#pragma GCC unroll 8
            for (int o = 0; o < NO; o++)
                acc[o] = _mm512_dpwssd_epi32(acc[o], x[o * S + kw], w);
        }
    }
#pragma GCC unroll 8
    for (int o = 0; o < NO; o++)
        acc_out[o] = acc[o];
}

/* Accumulators of outputs [ow0, ow1) of row (n, oh) into acc[0..). */
VQ_AI void row_acc(const dw_blk *d, int n, int oh, int ow0, int ow1, int fast, int owa, int owb,
                   __m512i *acc, const int KS, const int S, const int SGN)
{
    const vk_conv_geom *g = &d->a->g;
    const uint8_t *base[5] = {0};
    ptrdiff_t cs[5] = {0};
    if (fast) {
        const uint8_t *in = (const uint8_t *)d->a->in + d->c0;
        for (int kh = 0; kh < KS; kh++) {
            const int ih = oh * S - g->pad_t + kh;
            const int rok = ih >= 0 && ih < g->H;
            base[kh] = rok ? in + ((ptrdiff_t)n * g->H + ih) * g->W * g->in_ld : d->zpad;
            cs[kh] = rok ? g->in_ld : 0;
        }
    }
    const int NO = S == 1 ? 8 : 4;
    int ow = ow0;
    while (ow < ow1) {
        if (fast && ow >= owa && ow + NO <= owb && ow + NO <= ow1) {
            interior(d, base, cs, ow * S - g->pad_l, acc + (ow - ow0), KS, S, NO, SGN);
            ow += NO;
        } else if (fast && ow >= owa && ow < owb) {
            interior(d, base, cs, ow * S - g->pad_l, acc + (ow - ow0), KS, S, 1, SGN);
            ow++;
        } else {
            acc[ow - ow0] = pixel(d, n, oh, ow, SGN);
            ow++;
        }
    }
}

static void epi(const dw_blk *d, const __m512i *acc, int cnt, uint8_t *out, ptrdiff_t ld,
                const vq_rq *q, const vq_out *o)
{
    const __mmask16 m = d->cm;
#define EPI(MODE)                                                  \
    for (int i = 0; i < cnt; i++)                                  \
        vq_store(out + i * ld, m, vq_bytes(acc[i], q, o, MODE));   \
    break;
    switch (o->mode) {
    case VQ_CLAMP_LEFT: EPI(VQ_CLAMP_LEFT)
    case VQ_CLAMP: EPI(VQ_CLAMP)
    case VQ_SAT_S8: EPI(VQ_SAT_S8)
    default: EPI(VQ_SAT_U8)
    }
#undef EPI
}

/* Rows [r0, r1) for one channel block, with KS/S/SGN fixed for the fast path
 * (KS = 0: no fast path). */
VQ_AI void rows(const dw_blk *d, int r0, int r1, const vq_rq *q, const vq_out *o, const int KS,
                const int S, const int SGN)
{
    const vk_conv_geom *g = &d->a->g;
    const int fast = KS != 0 && d->cm == 0xFFFF;
    /* interior outputs: every kernel column inside the image */
    int owa = 0, owb = 0;
    if (fast) {
        owa = (g->pad_l + S - 1) / S;
        owb = g->W - KS + g->pad_l >= 0 ? (g->W - KS + g->pad_l) / S + 1 : 0;
        owb = owb > g->OW ? g->OW : owb;
    }
    __m512i acc[DW_CHUNK];
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        uint8_t *out = (uint8_t *)d->a->out + (ptrdiff_t)r * g->OW * g->out_ld + d->c0;
        for (int ow = 0; ow < g->OW; ow += DW_CHUNK) {
            const int ow1 = ow + DW_CHUNK < g->OW ? ow + DW_CHUNK : g->OW;
            row_acc(d, n, oh, ow, ow1, fast, owa, owb, acc, KS ? KS : 3, S ? S : 1, SGN);
            epi(d, acc, ow1 - ow, out + (ptrdiff_t)ow * g->out_ld, g->out_ld, q, o);
        }
    }
}

void vk_dwconv_q8_avx512(const vk_dwconv_q8_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    if (r0 >= r1)
        return;
    const int C = g->C, T = g->KH * g->KW, sgn = a->a_signed;
    if (a->b_offset < -32640 || a->b_offset > 32639) {
        /* w + b_offset would not fit the 16-bit weight halves (never for a
         * TFLite model: |b_offset| <= 128) */
        vk_dwconv_q8_ref(a, r0, r1);
        return;
    }

    /* output stage mode: a scan of the shifts */
    int has_left = 0, min_rsh = 31;
    for (int c = 0; c < (a->rq.per_channel ? C : 1); c++) {
        const int sh = a->rq.shift[c], rsh = sh < 0 ? -sh : 0;
        has_left |= sh > 0;
        min_rsh = rsh < min_rsh ? rsh : min_rsh;
    }
    vq_out o = vq_out_make(sgn, a->rq.out_min, a->rq.out_max, a->rq.out_zero, has_left, min_rsh);
    vq_out_allow_f32(&o); /* the four-tap and pair paths requantize through f32 */

    /* fast path: square 3×3 or 5×5, stride 1 or 2 both ways, no dilation,
     * weights in 16-bit lanes */
    const int KS = g->KH == g->KW && (g->KH == 3 || g->KH == 5) && g->dil_h == 1 &&
                           g->dil_w == 1 && g->stride_h == g->stride_w &&
                           (g->stride_h == 1 || g->stride_h == 2)
                       ? g->KH
                       : 0;
    const int S = KS ? g->stride_h : 0;

    _Alignas(64) uint8_t zpad[64];
    memset(zpad, (uint8_t)a->a_zero, sizeof zpad);
    /* 3×3 with b_offset 0: whole 64-channel blocks four taps per instruction */
    const int cq = vk_dwq8_quad_ok(a, &o) ? vk_dwq8_quad_rows(a, r0, r1, &o, zpad) : 0;
    if (cq == C)
        return;
    _Alignas(64) __m512i W[DW_TMAX];

    /* rows per group: enough outputs to pay for the block setup */
    const int rg = g->OW >= 32 ? 1 : (32 + g->OW - 1) / g->OW;
    for (int rr = r0; rr < r1; rr += rg) {
        const int rr1 = rr + rg < r1 ? rr + rg : r1;
        int c0 = cq;
        if (KS) /* whole 32-channel blocks: two taps per instruction */
            for (; c0 + 32 <= C; c0 += 32)
                vk_dwq8_pair_rows(a, rr, rr1, c0, &o, zpad);
        for (; c0 < C; c0 += 16) {
            dw_blk d;
            d.a = a, d.zpad = zpad, d.c0 = c0;
            d.cm = C - c0 >= 16 ? 0xFFFF : (__mmask16)((1u << (C - c0)) - 1);
            /* init = bias - a_zero·Σ_t (w_t + bo), modulo 2^32 */
            __m512i wsum = _mm512_setzero_si512();
            for (int t = 0; t < T; t++) {
                const __m512i w = weight(a, t, c0);
                if (T <= DW_TMAX)
                    W[t] = w;
                /* back to a signed 32-bit value for the sum */
                wsum = _mm512_add_epi32(wsum, _mm512_srai_epi32(_mm512_slli_epi32(w, 16), 16));
            }
            d.W = T <= DW_TMAX ? W : NULL;
            const __m512i bias =
                a->bias ? _mm512_maskz_loadu_epi32(d.cm, a->bias + c0) : _mm512_setzero_si512();
            d.init = _mm512_sub_epi32(bias, _mm512_mullo_epi32(wsum, _mm512_set1_epi32(a->a_zero)));
            const vq_rq q = vq_rq_load(a->rq.mult, a->rq.shift, a->rq.per_channel, c0, d.cm);

#define ROWS(KS_, S_)                                \
    if (sgn)                                         \
        rows(&d, rr, rr1, &q, &o, KS_, S_, 1);       \
    else                                             \
        rows(&d, rr, rr1, &q, &o, KS_, S_, 0);
            if (KS == 3 && S == 1) {
                ROWS(3, 1)
            } else if (KS == 3 && S == 2) {
                ROWS(3, 2)
            } else if (KS == 5 && S == 1) {
                ROWS(5, 1)
            } else if (KS == 5 && S == 2) {
                ROWS(5, 2)
            } else {
                ROWS(0, 0)
            }
#undef ROWS
        }
    }
}
