/* Quantized depthwise convolution (channel multiplier 1), NHWC, NEON.
 *
 * No reduction across channels, so channels go on lanes: 16 (or 8) input
 * bytes widened to int16, each tap's weight held as w + b_offset in int16,
 * and one widening multiply-accumulate (smlal / smlal2) per 4 channels adds
 * x·(w + b_offset) exactly to int32 (|x| <= 255, |w + b_offset| <= 32767:
 * the product fits; the sums wrap modulo 2^32 as the reference's do).
 *
 * Padding taps read a 16-byte buffer of the zero point, so every tap is a
 * product with the same weight and the zero point leaves the sum once per
 * channel:
 *   Σ_t (x_t − za)(w_t + bo) = Σ_t x_t (w_t + bo) − za·Σ_t (w_t + bo)
 * which, with the bias, is each accumulator's start value (modulo 2^32).
 *
 * Loop order: output rows, then channel blocks of 16 (then one of 8, then the
 * < 8 left over, loaded through a copy so nothing past C is read), then the
 * row's pixels; the block's weights and start values are set up once per
 * row. Requantization as requant.h, 4 lanes at a time (q8_neon.h).
 *
 * A zero point outside the input type, |b_offset| > 32639 (no TFLite model:
 * |b_offset| <= 128) or more than 7×7 taps run the reference instead.
 */
#include <string.h>

#include "../pack.h"
#include "../ref/ref.h"
#include "neon.h"
#include "q8_neon.h"

#define DW_TMAX 49 /* taps whose weights are kept on the stack (up to 7×7) */

typedef struct dw_blk {
    const vk_dwconv_q8_args *a;
    int c0, cw;                 /* channels [c0, c0 + cw) */
    const uint8_t *zpad;        /* 16 bytes of the zero point */
    int16x8_t w[DW_TMAX][2];    /* (w + bo) per tap, channels c0.. c0+7, c0+8.. */
    int32x4_t init[4];
    vqn_rq rq[4];
} dw_blk;

/* The 16 (NA = 4) or 8 (NA = 2) activations of one pixel as int16; TAIL:
 * cw < 8 of them, through a copy, zero past cw. */
VQN_AI void load_x(const uint8_t *p, int cw, const int NA, const int TAIL, const int SGN,
                   int16x8_t *x0, int16x8_t *x1)
{
    if (NA == 4) {
        const uint8x16_t b = vld1q_u8(p);
        *x0 = SGN ? vmovl_s8(vget_low_s8(vreinterpretq_s8_u8(b)))
                  : vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(b)));
        *x1 = SGN ? vmovl_high_s8(vreinterpretq_s8_u8(b)) : vreinterpretq_s16_u16(vmovl_high_u8(b));
        return;
    }
    uint8x8_t b;
    if (TAIL) {
        uint8_t t[8] = {0};
        memcpy(t, p, (size_t)cw);
        b = vld1_u8(t);
    } else {
        b = vld1_u8(p);
    }
    *x0 = SGN ? vmovl_s8(vreinterpret_s8_u8(b)) : vreinterpretq_s16_u16(vmovl_u8(b));
    *x1 = *x0;
}

/* Weights, start values and output constants of one block. */
static void blk_setup(const vk_dwconv_q8_args *a, int c0, int cw, dw_blk *d)
{
    const vk_conv_geom *g = &a->g;
    const ptrdiff_t Cp = (ptrdiff_t)vk_round_up((size_t)g->C, 16);
    const int T = g->KH * g->KW;
    const int16x8_t bo = vdupq_n_s16((int16_t)a->b_offset);
    int32x4_t sum[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    d->a = a, d->c0 = c0, d->cw = cw;
    for (int t = 0; t < T; t++) {
        /* c0 is a multiple of 8 and Cp of 16: 16 bytes at c0 exist for a
         * 16-channel block, 8 for the others */
        const int8_t *wp = a->Wp + t * Cp + c0;
        const int8x16_t w = cw > 8 ? vld1q_s8(wp) : vcombine_s8(vld1_s8(wp), vdup_n_s8(0));
        const int16x8_t w0 = vaddq_s16(vmovl_s8(vget_low_s8(w)), bo);
        const int16x8_t w1 = vaddq_s16(vmovl_high_s8(w), bo);
        d->w[t][0] = w0, d->w[t][1] = w1;
        sum[0] = vaddw_s16(sum[0], vget_low_s16(w0));
        sum[1] = vaddw_high_s16(sum[1], w0);
        sum[2] = vaddw_s16(sum[2], vget_low_s16(w1));
        sum[3] = vaddw_high_s16(sum[3], w1);
    }
    int32_t b[16] = {0};
    if (a->bias)
        memcpy(b, a->bias + c0, (size_t)cw * sizeof *b);
    const int32x4_t za = vdupq_n_s32(a->a_zero);
    for (int v = 0; v < 4; v++) {
        /* bias − za·Σ(w + bo), wrapping (vmlsq is modular) */
        d->init[v] = vmlsq_s32(vld1q_s32(b + 4 * v), za, sum[v]);
        const int nv = cw - 4 * v;
        d->rq[v] = vqn_rq_load(&a->rq, nv > 0 ? c0 + 4 * v : c0, nv > 0 ? nv : 1);
    }
}

/* One output row of one block: NA int32x4 accumulators (16 or 8 channels). */
VQN_AI void blk_row(const dw_blk *d, const vqn_out *o, int r, const int NA, const int TAIL,
                    const int SGN)
{
    const vk_dwconv_q8_args *a = d->a;
    const vk_conv_geom *g = &a->g;
    const int n = r / g->OH, oh = r % g->OH;
    const ptrdiff_t ld = g->in_ld;
    const uint8_t *in = (const uint8_t *)a->in + d->c0;
    uint8_t *out = (uint8_t *)a->out + (ptrdiff_t)r * g->OW * g->out_ld + d->c0;
    const uint8_t *rows[DW_TMAX]; /* per kh: the input row, or NULL outside the image */
    for (int kh = 0; kh < g->KH; kh++) {
        const int ih = oh * g->stride_h - g->pad_t + kh * g->dil_h;
        rows[kh] = ih >= 0 && ih < g->H ? in + ((ptrdiff_t)n * g->H + ih) * g->W * ld : NULL;
    }
    for (int ow = 0; ow < g->OW; ow++) {
        const int iw0 = ow * g->stride_w - g->pad_l;
        int32x4_t acc[4];
        for (int v = 0; v < NA; v++)
            acc[v] = d->init[v];
        for (int kh = 0, t = 0; kh < g->KH; kh++) {
            const uint8_t *row = rows[kh];
            for (int kw = 0; kw < g->KW; kw++, t++) {
                const int iw = iw0 + kw * g->dil_w;
                const uint8_t *p = row && iw >= 0 && iw < g->W ? row + iw * ld : d->zpad;
                int16x8_t x0, x1;
                load_x(p, d->cw, NA, TAIL, SGN, &x0, &x1);
                const int16x8_t w0 = d->w[t][0];
                acc[0] = vmlal_s16(acc[0], vget_low_s16(x0), vget_low_s16(w0));
                acc[1] = vmlal_high_s16(acc[1], x0, w0);
                if (NA == 4) {
                    const int16x8_t w1 = d->w[t][1];
                    acc[2] = vmlal_s16(acc[2], vget_low_s16(x1), vget_low_s16(w1));
                    acc[3] = vmlal_high_s16(acc[3], x1, w1);
                }
            }
        }
        const int32x4_t v0 = vqn_out_val(acc[0], &d->rq[0], o);
        const int32x4_t v1 = vqn_out_val(acc[1], &d->rq[1], o);
        const int32x4_t v2 = NA == 4 ? vqn_out_val(acc[2], &d->rq[2], o) : v0;
        const int32x4_t v3 = NA == 4 ? vqn_out_val(acc[3], &d->rq[3], o) : v1;
        vqn_store_bytes(out + (ptrdiff_t)ow * g->out_ld, vqn_bytes(v0, v1, v2, v3), d->cw);
    }
}

#define ROW_FN(NAME, NA, TAIL, SGN) \
    static void NAME(const dw_blk *d, const vqn_out *o, int r) { blk_row(d, o, r, NA, TAIL, SGN); }
ROW_FN(row16_u8, 4, 0, 0)
ROW_FN(row16_s8, 4, 0, 1)
ROW_FN(row8_u8, 2, 0, 0)
ROW_FN(row8_s8, 2, 0, 1)
ROW_FN(rowt_u8, 2, 1, 0)
ROW_FN(rowt_s8, 2, 1, 1)
#undef ROW_FN

void vk_dwconv_q8_neon(const vk_dwconv_q8_args *a, int r0, int r1)
{
    const vk_conv_geom *g = &a->g;
    if (r0 >= r1)
        return;
    const int sgn = a->a_signed, C = g->C;
    if (a->a_zero < (sgn ? -128 : 0) || a->a_zero > (sgn ? 127 : 255) || a->b_offset < -32639 ||
        a->b_offset > 32639 || g->KH * g->KW > DW_TMAX) {
        vk_dwconv_q8_ref(a, r0, r1);
        return;
    }
    uint8_t zpad[16];
    memset(zpad, (uint8_t)a->a_zero, sizeof zpad);
    const vqn_out o = vqn_out_make(sgn, &a->rq);
    dw_blk d;
    d.zpad = zpad;
    for (int r = r0; r < r1; r++) {
        int c0 = 0;
        for (; c0 + 16 <= C; c0 += 16) {
            blk_setup(a, c0, 16, &d);
            (sgn ? row16_s8 : row16_u8)(&d, &o, r);
        }
        if (c0 + 8 <= C) {
            blk_setup(a, c0, 8, &d);
            (sgn ? row8_s8 : row8_u8)(&d, &o, r);
            c0 += 8;
        }
        if (c0 < C) {
            blk_setup(a, c0, C - c0, &d);
            (sgn ? rowt_s8 : rowt_u8)(&d, &o, r);
        }
    }
}
