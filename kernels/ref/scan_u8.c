/* Reference 8-bit asymmetric scan: unsigned codes × signed query bytes,
 * direct loops, int32 sums (bounded, kernels.h). */
#include "../kernels.h"
#include "ref.h"

void vk_scan_u8_ref(const vk_scan_args *a, size_t r0, size_t r1)
{
    const int8_t *q = a->q;
    int32_t *out = a->out;
    for (size_t r = r0; r < r1; r++) {
        const uint8_t *c = a->codes + r * a->row_bytes;
        for (int j = 0; j < a->nq; j++) {
            const int8_t *qj = q + (size_t)j * a->qlen;
            int32_t s = 0;
            for (size_t i = 0; i < a->row_bytes; i++)
                s += (int32_t)qj[i] * c[i];
            out[(r - r0) * a->ldo + (size_t)j] = s;
        }
    }
}
