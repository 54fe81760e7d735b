/* NEON 8-bit asymmetric scan (kernels.h "Flat-index scans"). sdot multiplies
 * signed bytes only (usdot needs the optional i8mm), so codes c in 0 … 255
 * are read as c − 128 (XOR 0x80) and the dot recovered as
 *   Σ c·q = Σ (c − 128)·q + 128·Σ q,
 * the correction computed once per query. Every partial sum is bounded by
 * 128·127·qlen < 2^31 and the final one is exact (kernels.h), so int32
 * arithmetic is exact throughout. One row × up to 4 queries per pass. */
#include <arm_neon.h>

#include "../kernels.h"
#include "neon.h"

void vk_scan_u8_neon(const vk_scan_args *a, size_t r0, size_t r1)
{
    const int8_t *q = a->q;
    int32_t *out = a->out;
    const uint8x16_t flip = vdupq_n_u8(0x80);
    for (int j0 = 0; j0 < a->nq; j0 += 4) {
        int Q = a->nq - j0 < 4 ? a->nq - j0 : 4;
        int32_t corr[4] = {0, 0, 0, 0};
        for (int j = 0; j < Q; j++) {
            const int8_t *qj = q + (size_t)(j0 + j) * a->qlen;
            int32x4_t s = vdupq_n_s32(0);
            for (size_t o = 0; o < a->qlen; o += 16)
                s = vpadalq_s16(s, vpaddlq_s8(vld1q_s8(qj + o)));
            corr[j] = vaddvq_s32(s) * 128;
        }
        for (size_t r = r0; r < r1; r++) {
            const uint8_t *c = a->codes + r * a->row_bytes;
            int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
            for (size_t o = 0; o < a->row_bytes; o += 16) {
                int8x16_t cv = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(c + o), flip));
                for (int j = 0; j < Q; j++)
                    acc[j] = vdotq_s32(acc[j], cv, vld1q_s8(q + (size_t)(j0 + j) * a->qlen + o));
            }
            for (int j = 0; j < Q; j++)
                out[(r - r0) * a->ldo + (size_t)(j0 + j)] = vaddvq_s32(acc[j]) + corr[j];
        }
    }
}
