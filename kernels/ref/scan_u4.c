/* Reference 4-bit scan: each nibble against its query value (kernels.h
 * nibble order), int32 sums (bounded). */
#include "../kernels.h"
#include "ref.h"

void vk_scan_u4_ref(const vk_scan_args *a, size_t r0, size_t r1)
{
    const int8_t *q = a->q;
    int32_t *out = a->out;
    for (size_t r = r0; r < r1; r++) {
        const uint8_t *c = a->codes + r * a->row_bytes;
        for (int j = 0; j < a->nq; j++) {
            const int8_t *qj = q + (size_t)j * a->qlen;
            int32_t s = 0;
            for (size_t blk = 0; blk < a->row_bytes; blk += 64) {
                const int8_t *qb = qj + 2 * blk;
                for (size_t i = 0; i < 64; i++) {
                    uint8_t v = c[blk + i];
                    s += (int32_t)qb[i] * (v & 15) + (int32_t)qb[64 + i] * (v >> 4);
                }
            }
            out[(r - r0) * a->ldo + (size_t)j] = s;
        }
    }
}
