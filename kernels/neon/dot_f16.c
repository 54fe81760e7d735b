/* dot_f16, NEON (kernels.h): 16 dimensions per step, vcvt_f32_f16 converts
 * 4 halves exactly, four independent accumulators, scalar tail. */
#include <arm_neon.h>
#include <string.h>

#include "../codes.h"
#include "neon.h"

void vk_dot_f16_neon(const float *q, size_t dim, const uint8_t *rows, size_t row_bytes,
                     const uint32_t *idx, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = rows + (size_t)idx[i] * row_bytes;
        float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
        size_t d = 0;
        for (; d + 16 <= dim; d += 16) {
            uint16x8_t h0 = vreinterpretq_u16_u8(vld1q_u8(r + 2 * d));
            uint16x8_t h1 = vreinterpretq_u16_u8(vld1q_u8(r + 2 * d + 16));
            float16x8_t f0 = vreinterpretq_f16_u16(h0), f1 = vreinterpretq_f16_u16(h1);
            s0 = vfmaq_f32(s0, vld1q_f32(q + d), vcvt_f32_f16(vget_low_f16(f0)));
            s1 = vfmaq_f32(s1, vld1q_f32(q + d + 4), vcvt_f32_f16(vget_high_f16(f0)));
            s2 = vfmaq_f32(s2, vld1q_f32(q + d + 8), vcvt_f32_f16(vget_low_f16(f1)));
            s3 = vfmaq_f32(s3, vld1q_f32(q + d + 12), vcvt_f32_f16(vget_high_f16(f1)));
        }
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
        for (; d < dim; d++)
            s += q[d] * vk_code_f16_to_f32((uint16_t)(r[2 * d] | r[2 * d + 1] << 8));
        out[i] = s;
    }
}
