/* Quantized add (TFLite uint8 / int8 Add), NEON, bit-identical to
 * kernels/ref/add_q8.c: 16 elements per step widened to four int32x4, each
 * MBQM step as vqn_mbqm (q8_neon.h: the exact 64-bit product, vrshl's
 * rounding = requant.h's single rounding half up). The tail (< 16 elements)
 * goes through a 16-byte copy, so nothing past i1 is read or written.
 *
 * Fast-path conditions as the AVX-512 kernel's (vk_add_q8_prepare always
 * meets them): input shifts <= 0, 0 <= left_shift <= 21 (so (x − z)·2^ls and
 * sa + sb fit int32 as in the reference), out_min <= out_max. Otherwise the
 * reference runs.
 */
#include <string.h>

#include "../ref/ref.h"
#include "neon.h"
#include "q8_neon.h"

static vqn_rq rq_make(int32_t mult, int shift)
{
    shift = shift < -31 ? -31 : shift > 30 ? 30 : shift;
    vqn_rq q;
    q.mult = vdupq_n_s32(mult);
    q.left = vdupq_n_s32(shift > 0 ? shift : 0);
    q.nsh_lo = q.nsh_hi = vdupq_n_s64(-(31 + (shift < 0 ? -shift : 0)));
    return q;
}

typedef struct add_n {
    vqn_rq a, b, o;
    int32x4_t za, zb, zo, lo, hi, ls;
} add_n;

/* 4 raw codes (int32) of each input -> 4 clamped outputs (int32) */
VQN_AI int32x4_t add4(const add_n *k, int32x4_t xa, int32x4_t xb)
{
    const int32x4_t sa = vqn_mbqm(vshlq_s32(vsubq_s32(xa, k->za), k->ls), &k->a);
    const int32x4_t sb = vqn_mbqm(vshlq_s32(vsubq_s32(xb, k->zb), k->ls), &k->b);
    /* |sa|, |sb| < 2^29: the sum cannot wrap; the zero point is added
     * saturating, which equals requant.h's 64-bit add followed by the clamp */
    const int32x4_t v = vqaddq_s32(vqn_mbqm(vaddq_s32(sa, sb), &k->o), k->zo);
    return vminq_s32(vmaxq_s32(v, k->lo), k->hi);
}

VQN_AI void widen16(uint8x16_t b, const int sg, int32x4_t x[4])
{
    int16x8_t l, h;
    if (sg) {
        l = vmovl_s8(vget_low_s8(vreinterpretq_s8_u8(b)));
        h = vmovl_high_s8(vreinterpretq_s8_u8(b));
    } else {
        l = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(b)));
        h = vreinterpretq_s16_u16(vmovl_high_u8(b));
    }
    x[0] = vmovl_s16(vget_low_s16(l));
    x[1] = vmovl_high_s16(l);
    x[2] = vmovl_s16(vget_low_s16(h));
    x[3] = vmovl_high_s16(h);
}

VQN_AI uint8x16_t add16(const add_n *k, uint8x16_t a, uint8x16_t b, const int sg)
{
    int32x4_t xa[4], xb[4];
    widen16(a, sg, xa);
    widen16(b, sg, xb);
    return vqn_bytes(add4(k, xa[0], xb[0]), add4(k, xa[1], xb[1]), add4(k, xa[2], xb[2]),
                     add4(k, xa[3], xb[3]));
}

static void run(const add_n *k, const uint8_t *a, const uint8_t *b, uint8_t *y, size_t n,
                const int sg)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        vst1q_u8(y + i, add16(k, vld1q_u8(a + i), vld1q_u8(b + i), sg));
    if (i < n) {
        uint8_t ta[16] = {0}, tb[16] = {0};
        memcpy(ta, a + i, n - i);
        memcpy(tb, b + i, n - i);
        vqn_store_bytes(y + i, add16(k, vld1q_u8(ta), vld1q_u8(tb), sg), (int)(n - i));
    }
}

void vk_add_q8_neon(const void *a, const void *b, void *y, const vk_add_q8_params *p, size_t i0,
                    size_t i1)
{
    if (i0 >= i1)
        return;
    if (p->a_shift > 0 || p->b_shift > 0 || p->left_shift < 0 || p->left_shift > 21 ||
        p->out_min > p->out_max) {
        vk_add_q8_ref(a, b, y, p, i0, i1);
        return;
    }
    add_n k = {
        .a = rq_make(p->a_mult, p->a_shift),
        .b = rq_make(p->b_mult, p->b_shift),
        .o = rq_make(p->out_mult, p->out_shift),
        .za = vdupq_n_s32(p->a_zero),
        .zb = vdupq_n_s32(p->b_zero),
        .zo = vdupq_n_s32(p->out_zero),
        .lo = vdupq_n_s32(p->out_min),
        .hi = vdupq_n_s32(p->out_max),
        .ls = vdupq_n_s32(p->left_shift),
    };
    const uint8_t *pa = (const uint8_t *)a + i0, *pb = (const uint8_t *)b + i0;
    uint8_t *py = (uint8_t *)y + i0;
    if (p->is_signed)
        run(&k, pa, pb, py, i1 - i0, 1);
    else
        run(&k, pa, pb, py, i1 - i0, 0);
}
