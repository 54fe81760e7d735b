/* Quantized average pooling (TFLite uint8 / int8), NEON, bit-identical to
 * kernels/ref/pool_q8.c: in-image taps summed in int32 (16 channels per step:
 * bytes widened to int16, then vaddw into four int32x4), then
 * (sum ± count/2) / count truncated, in f32 — exact for windows of < 2^16
 * taps, as derived in kernels/avx512/avgpool_q8.c — 0 for a window entirely
 * in padding, clamped to [lo, hi]. The last < 16 channels go through a copy.
 * Windows of >= 2^16 taps, dilation < 1, and bounds not lo <= hi within the
 * type (never from the planner) run the reference.
 */
#include <arm_neon.h>
#include <string.h>

#include "../pool_window.h"
#include "../ref/ref.h"
#include "neon.h"

#define NAI static inline __attribute__((always_inline))

NAI void accumulate(const uint8_t *p, int cw, const int sg, int32x4_t a[4])
{
    uint8x16_t b;
    if (cw >= 16) {
        b = vld1q_u8(p);
    } else {
        uint8_t t[16] = {0};
        memcpy(t, p, (size_t)cw);
        b = vld1q_u8(t);
    }
    int16x8_t l, h;
    if (sg) {
        l = vmovl_s8(vget_low_s8(vreinterpretq_s8_u8(b)));
        h = vmovl_high_s8(vreinterpretq_s8_u8(b));
    } else {
        l = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(b)));
        h = vreinterpretq_s16_u16(vmovl_high_u8(b));
    }
    a[0] = vaddw_s16(a[0], vget_low_s16(l));
    a[1] = vaddw_high_s16(a[1], l);
    a[2] = vaddw_s16(a[2], vget_low_s16(h));
    a[3] = vaddw_high_s16(a[3], h);
}

/* round_half_away(acc / count), clamped */
NAI int32x4_t rdiv(int32x4_t acc, int32x4_t half, float32x4_t cnt, int32x4_t lo, int32x4_t hi)
{
    const uint32x4_t neg = vcltq_s32(acc, vdupq_n_s32(0));
    const int32x4_t num = vbslq_s32(neg, vsubq_s32(acc, half), vaddq_s32(acc, half));
    const int32x4_t q = vcvtq_s32_f32(vdivq_f32(vcvtq_f32_s32(num), cnt)); /* toward zero */
    return vminq_s32(vmaxq_s32(q, lo), hi);
}

static void pool(const vk_conv_geom *g, const uint8_t *in, uint8_t *out, int32_t lo, int32_t hi,
                 int r0, int r1, const int sg)
{
    const int C = g->C, dh = g->dil_h, dw = g->dil_w;
    const int32x4_t vlo = vdupq_n_s32(lo), vhi = vdupq_n_s32(hi);
    const ptrdiff_t sh = (ptrdiff_t)dh * g->W * g->in_ld, sw = (ptrdiff_t)dw * g->in_ld;
    for (int r = r0; r < r1; r++) {
        const int n = r / g->OH, oh = r % g->OH;
        const uint8_t *img = in + (ptrdiff_t)n * g->H * g->W * g->in_ld;
        const int ih0 = oh * g->stride_h - g->pad_t;
        int kh0, kh1;
        vk_pool_taps(ih0, g->KH, dh, g->H, &kh0, &kh1);
        for (int ow = 0; ow < g->OW; ow++) {
            uint8_t *o = out + ((ptrdiff_t)r * g->OW + ow) * g->out_ld;
            const int iw0 = ow * g->stride_w - g->pad_l;
            int kw0, kw1;
            vk_pool_taps(iw0, g->KW, dw, g->W, &kw0, &kw1);
            const int count = (kh1 - kh0) * (kw1 - kw0);
            const float32x4_t cnt = vdupq_n_f32((float)(count > 0 ? count : 1));
            const int32x4_t half = vdupq_n_s32(count / 2);
            const ptrdiff_t off = ((ptrdiff_t)ih0 * g->W + iw0) * g->in_ld;
            for (int c = 0; c < C; c += 16) {
                const int cw = C - c >= 16 ? 16 : C - c;
                int32x4_t a[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
                for (int kh = kh0; kh < kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++)
                        accumulate(img + (off + kh * sh + kw * sw) + c, cw, sg, a);
                const int16x8_t h0 = vcombine_s16(vmovn_s32(rdiv(a[0], half, cnt, vlo, vhi)),
                                                  vmovn_s32(rdiv(a[1], half, cnt, vlo, vhi)));
                const int16x8_t h1 = vcombine_s16(vmovn_s32(rdiv(a[2], half, cnt, vlo, vhi)),
                                                  vmovn_s32(rdiv(a[3], half, cnt, vlo, vhi)));
                const uint8x16_t v = vreinterpretq_u8_s8(vcombine_s8(vmovn_s16(h0), vmovn_s16(h1)));
                if (cw == 16) {
                    vst1q_u8(o + c, v);
                } else {
                    uint8_t t[16];
                    vst1q_u8(t, v);
                    memcpy(o + c, t, (size_t)cw);
                }
            }
        }
    }
}

void vk_avgpool_q8_neon(const vk_conv_geom *g, const void *in, void *out, int is_signed,
                        int32_t lo, int32_t hi, int r0, int r1)
{
    const int32_t tmin = is_signed ? -128 : 0, tmax = is_signed ? 127 : 255;
    if (lo > hi || lo < tmin || hi > tmax || g->dil_h < 1 || g->dil_w < 1 ||
        (int64_t)g->KH * g->KW >= 65536) {
        vk_avgpool_q8_ref(g, in, out, is_signed, lo, hi, r0, r1);
        return;
    }
    if (is_signed)
        pool(g, in, out, lo, hi, r0, r1, 1);
    else
        pool(g, in, out, lo, hi, r0, r1, 0);
}
