/* Quantized mean over H·W (TFLite MEAN over axes 1, 2), NEON, bit-identical
 * to kernels/ref/mean_q8.c. The sums, the HW·C part of the work, run on 16
 * channels per step (bytes widened, vaddw into int32: the reference's int32
 * sum, wrapping alike); the output stage, C values per image, is the
 * reference's scalar code (requant.h's vk_mbqm, the rounding division), with
 * the division by HW done in 64 bits so that HW <= 0 gives clamp(out_zero)
 * instead of dividing by zero. lo > hi runs the reference.
 */
#include <arm_neon.h>
#include <string.h>

#include "../ref/ref.h"
#include "../requant.h"
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
    /* wrapping adds (int32 sums of > 8M pixels wrap, as the reference's) */
    a[0] = vreinterpretq_s32_u32(vaddq_u32(vreinterpretq_u32_s32(a[0]),
                                           vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(l)))));
    a[1] = vreinterpretq_s32_u32(vaddq_u32(vreinterpretq_u32_s32(a[1]),
                                           vreinterpretq_u32_s32(vmovl_high_s16(l))));
    a[2] = vreinterpretq_s32_u32(vaddq_u32(vreinterpretq_u32_s32(a[2]),
                                           vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(h)))));
    a[3] = vreinterpretq_s32_u32(vaddq_u32(vreinterpretq_u32_s32(a[3]),
                                           vreinterpretq_u32_s32(vmovl_high_s16(h))));
}

static void run(const uint8_t *in, ptrdiff_t in_ld, int HW, int C, int32_t in_zero, int32_t mult,
                int shift, int32_t out_zero, int32_t lo, int32_t hi, uint8_t *out, int n0,
                int n1, const int sg)
{
    const uint32_t hz = (uint32_t)HW * (uint32_t)in_zero; /* Σ(x − z) = Σx − HW·z mod 2^32 */
    for (int n = n0; n < n1; n++) {
        const uint8_t *img = in + (ptrdiff_t)n * HW * in_ld;
        uint8_t *o = out + (ptrdiff_t)n * C;
        for (int c = 0; c < C; c += 16) {
            const int cw = C - c >= 16 ? 16 : C - c;
            int32x4_t a[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
            for (int q = 0; q < HW; q++)
                accumulate(img + (ptrdiff_t)q * in_ld + c, cw, sg, a);
            int32_t s[16];
            for (int i = 0; i < 4; i++)
                vst1q_s32(s + 4 * i, a[i]);
            for (int i = 0; i < cw; i++) {
                const int32_t acc = (int32_t)((uint32_t)s[i] - hz);
                int64_t v = vk_mbqm(acc, mult, shift);
                v = v > 0 ? (v + HW / 2) / HW : (v - HW / 2) / HW;
                v += out_zero;
                v = v < lo ? lo : v > hi ? hi : v;
                o[c + i] = (uint8_t)v;
            }
        }
    }
}

void vk_mean_q8_neon(const void *in, ptrdiff_t in_ld, int HW, int C, int is_signed,
                     int32_t in_zero, int32_t mult, int shift, int32_t out_zero, int32_t lo,
                     int32_t hi, void *out, int n0, int n1)
{
    if (n0 >= n1 || C <= 0)
        return;
    if (lo > hi && HW > 0) {
        vk_mean_q8_ref(in, in_ld, HW, C, is_signed, in_zero, mult, shift, out_zero, lo, hi, out,
                       n0, n1);
        return;
    }
    if (HW <= 0) {
        const int32_t v = out_zero < lo ? lo : out_zero > hi ? hi : out_zero;
        for (int n = n0; n < n1; n++)
            memset((uint8_t *)out + (ptrdiff_t)n * C, (uint8_t)v, (size_t)C);
        return;
    }
    if (is_signed)
        run(in, in_ld, HW, C, in_zero, mult, shift, out_zero, lo, hi, out, n0, n1, 1);
    else
        run(in, in_ld, HW, C, in_zero, mult, shift, out_zero, lo, hi, out, n0, n1, 0);
}
