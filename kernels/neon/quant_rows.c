/* Dynamic per-row int8 quantization, NEON: the reference's operations on 4
 * lanes (kernels.h). fmaxnm / fminnm ignore a NaN operand as fmaxf does, and
 * fcvtns rounds to nearest, ties to even, as nearbyintf in the default mode:
 * codes and scales equal the reference's bit for bit. */
#include <arm_neon.h>
#include <math.h>

#include "neon.h"

void vk_quant_rows_neon(const float *x, ptrdiff_t ldx, int N, uint8_t *y, ptrdiff_t ldy,
                        float *scale, int r0, int r1)
{
    const float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        uint8_t *yr = y + (ptrdiff_t)r * ldy;
        float32x4_t m0 = vdupq_n_f32(0.0f), m1 = m0;
        int k = 0;
        for (; k + 8 <= N; k += 8) {
            m0 = vmaxnmq_f32(m0, vabsq_f32(vld1q_f32(xr + k)));
            m1 = vmaxnmq_f32(m1, vabsq_f32(vld1q_f32(xr + k + 4)));
        }
        float amax = vmaxnmvq_f32(vmaxnmq_f32(m0, m1));
        for (; k < N; k++) {
            const float a = fabsf(xr[k]);
            if (a > amax)
                amax = a;
        }
        float inv = 0.0f;
        scale[r] = 0.0f;
        if (amax >= VK_QROWS_TINY) {
            inv = 127.0f / amax;
            scale[r] = amax / 127.0f;
        }
        k = 0;
        for (; k + 16 <= N; k += 16) {
            int32x4_t q[4];
            for (int v = 0; v < 4; v++) {
                float32x4_t f = vmulq_n_f32(vld1q_f32(xr + k + 4 * v), inv);
                f = vminnmq_f32(vmaxnmq_f32(f, lo), hi);
                q[v] = vcvtnq_s32_f32(f);
            }
            const int16x8_t a = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
            const int16x8_t b = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
            const int8x16_t s = vcombine_s8(vmovn_s16(a), vmovn_s16(b));
            vst1q_u8(yr + k, veorq_u8(vreinterpretq_u8_s8(s), vdupq_n_u8(0x80)));
        }
        for (; k < N; k++) {
            const float v = fminf(fmaxf(xr[k] * inv, -127.0f), 127.0f);
            yr[k] = (uint8_t)((int)nearbyintf(v) + 128);
        }
    }
}
