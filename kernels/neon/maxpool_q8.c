/* Quantized max pooling (TFLite uint8 / int8), NEON, bit-identical to
 * kernels/ref/pool_q8.c: the largest in-image tap, 0 for a window entirely in
 * padding, clamped to [lo, hi]; 16 channels per vector, bytes throughout.
 * The last < 16 channels are read through a copy and stored byte-wise, so
 * nothing past C is touched. Bounds not lo <= hi within the type, and
 * dilation < 1 (never from the planner), run the reference.
 */
#include <arm_neon.h>
#include <string.h>

#include "../pool_window.h"
#include "../ref/ref.h"
#include "neon.h"

#define NAI static inline __attribute__((always_inline))

NAI uint8x16_t vmax(uint8x16_t a, uint8x16_t b, const int sg)
{
    return sg ? vreinterpretq_u8_s8(vmaxq_s8(vreinterpretq_s8_u8(a), vreinterpretq_s8_u8(b)))
              : vmaxq_u8(a, b);
}

NAI uint8x16_t vclamp(uint8x16_t v, uint8x16_t lo, uint8x16_t hi, const int sg)
{
    if (sg) {
        int8x16_t s = vmaxq_s8(vreinterpretq_s8_u8(v), vreinterpretq_s8_u8(lo));
        return vreinterpretq_u8_s8(vminq_s8(s, vreinterpretq_s8_u8(hi)));
    }
    return vminq_u8(vmaxq_u8(v, lo), hi);
}

NAI uint8x16_t load(const uint8_t *p, int cw)
{
    if (cw >= 16)
        return vld1q_u8(p);
    uint8_t t[16] = {0};
    memcpy(t, p, (size_t)cw);
    return vld1q_u8(t);
}

static void pool(const vk_conv_geom *g, const uint8_t *in, uint8_t *out, int32_t lo, int32_t hi,
                 int r0, int r1, const int sg)
{
    const int C = g->C, dh = g->dil_h, dw = g->dil_w;
    const uint8x16_t vlo = vdupq_n_u8((uint8_t)lo), vhi = vdupq_n_u8((uint8_t)hi);
    const uint8x16_t vmin = vdupq_n_u8(sg ? 0x80 : 0);
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
            const int empty = kh0 >= kh1 || kw0 >= kw1;
            const ptrdiff_t off = ((ptrdiff_t)ih0 * g->W + iw0) * g->in_ld;
            for (int c = 0; c < C; c += 16) {
                const int cw = C - c >= 16 ? 16 : C - c;
                uint8x16_t m = empty ? vdupq_n_u8(0) : vmin;
                for (int kh = kh0; kh < kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++)
                        m = vmax(m, load(img + (off + kh * sh + kw * sw) + c, cw), sg);
                m = vclamp(m, vlo, vhi, sg);
                if (cw == 16) {
                    vst1q_u8(o + c, m);
                } else {
                    uint8_t t[16];
                    vst1q_u8(t, m);
                    memcpy(o + c, t, (size_t)cw);
                }
            }
        }
    }
}

void vk_maxpool_q8_neon(const vk_conv_geom *g, const void *in, void *out, int is_signed,
                        int32_t lo, int32_t hi, int r0, int r1)
{
    const int32_t tmin = is_signed ? -128 : 0, tmax = is_signed ? 127 : 255;
    if (lo > hi || lo < tmin || hi > tmax || g->dil_h < 1 || g->dil_w < 1) {
        vk_maxpool_q8_ref(g, in, out, is_signed, lo, hi, r0, r1);
        return;
    }
    if (is_signed)
        pool(g, in, out, lo, hi, r0, r1, 1);
    else
        pool(g, in, out, lo, hi, r0, r1, 0);
}
