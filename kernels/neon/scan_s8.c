/* NEON int8 scan (kernels.h "Flat-index scans"): sdot of signed codes with
 * signed query bytes, 16 bytes per instruction, one row × up to 4 queries per
 * pass (the row chunk is loaded once for the 4). Packed queries are not used. */
#include <arm_neon.h>

#include "../kernels.h"
#include "neon.h"

void vk_scan_s8_neon(const vk_scan_args *a, size_t r0, size_t r1)
{
    const int8_t *q = a->q;
    int32_t *out = a->out;
    for (size_t r = r0; r < r1; r++) {
        const int8_t *c = (const int8_t *)(a->codes + r * a->row_bytes);
        for (int j0 = 0; j0 < a->nq; j0 += 4) {
            int Q = a->nq - j0 < 4 ? a->nq - j0 : 4;
            int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
            for (size_t o = 0; o < a->row_bytes; o += 16) {
                int8x16_t cv = vld1q_s8(c + o);
                for (int j = 0; j < Q; j++)
                    acc[j] = vdotq_s32(acc[j], cv, vld1q_s8(q + (size_t)(j0 + j) * a->qlen + o));
            }
            for (int j = 0; j < Q; j++)
                out[(r - r0) * a->ldo + (size_t)(j0 + j)] = vaddvq_s32(acc[j]);
        }
    }
}
