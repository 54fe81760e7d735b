/* NEON 4-bit scan (kernels.h "Flat-index scans"): a 16-byte chunk's low
 * nibbles (AND 0x0F) and high nibbles (shift right 4) are signed bytes 0 … 15,
 * each sdot'ed with its part of the query (nibble order: per 64-byte block,
 * 64 values for the low nibbles, then 64 for the high). One row × up to 4
 * queries per pass. Packed queries are not used. */
#include <arm_neon.h>

#include "../kernels.h"
#include "neon.h"

void vk_scan_u4_neon(const vk_scan_args *a, size_t r0, size_t r1)
{
    const int8_t *q = a->q;
    int32_t *out = a->out;
    const uint8x16_t lo4 = vdupq_n_u8(0x0f);
    for (size_t r = r0; r < r1; r++) {
        const uint8_t *c = a->codes + r * a->row_bytes;
        for (int j0 = 0; j0 < a->nq; j0 += 4) {
            int Q = a->nq - j0 < 4 ? a->nq - j0 : 4;
            int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
            for (size_t o = 0; o < a->row_bytes; o += 16) {
                uint8x16_t cv = vld1q_u8(c + o);
                int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(cv, lo4));
                int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(cv, 4));
                size_t qo = (o / 64) * 128 + o % 64; /* low-nibble values of this chunk */
                for (int j = 0; j < Q; j++) {
                    const int8_t *qj = q + (size_t)(j0 + j) * a->qlen + qo;
                    acc[j] = vdotq_s32(acc[j], lo, vld1q_s8(qj));
                    acc[j] = vdotq_s32(acc[j], hi, vld1q_s8(qj + 64));
                }
            }
            for (int j = 0; j < Q; j++)
                out[(r - r0) * a->ldo + (size_t)(j0 + j)] = vaddvq_s32(acc[j]);
        }
    }
}
