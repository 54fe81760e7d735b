/* Reference f32 scan: sequential float sums in dimension order. */
#include <string.h>

#include "../kernels.h"
#include "ref.h"

void vk_scan_f32_ref(const vk_scan_args *a, size_t r0, size_t r1)
{
    const float *q = a->q;
    float *out = a->out;
    for (size_t r = r0; r < r1; r++) {
        const float *c = (const float *)(const void *)(a->codes + r * a->row_bytes);
        for (int j = 0; j < a->nq; j++) {
            const float *qj = q + (size_t)j * a->qlen;
            float s = 0.0f;
            for (size_t d = 0; d < a->dim; d++)
                s += qj[d] * c[d];
            out[(r - r0) * a->ldo + (size_t)j] = s;
        }
    }
}
