/* dot_f16 reference (kernels.h): one row at a time, f32 products summed in
 * dimension order. */
#include "../codes.h"
#include "ref.h"

void vk_dot_f16_ref(const float *q, size_t dim, const uint8_t *rows, size_t row_bytes,
                    const uint32_t *idx, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = rows + (size_t)idx[i] * row_bytes;
        float s = 0.0f;
        for (size_t d = 0; d < dim; d++)
            s += q[d] * vk_code_f16_to_f32((uint16_t)(r[2 * d] | r[2 * d + 1] << 8));
        out[i] = s;
    }
}
