/* Dynamic per-row int8 quantization, reference: kernels.h's definition written
 * out one element at a time. */
#include <math.h>

#include "../kernels.h"
#include "ref.h"

void vk_quant_rows_ref(const float *x, ptrdiff_t ldx, int N, uint8_t *y, ptrdiff_t ldy,
                       float *scale, int r0, int r1)
{
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        uint8_t *yr = y + (ptrdiff_t)r * ldy;
        float amax = 0.0f;
        for (int k = 0; k < N; k++) {
            const float a = fabsf(xr[k]);
            if (a > amax) /* false for NaN */
                amax = a;
        }
        float inv = 0.0f;
        scale[r] = 0.0f;
        if (amax >= VK_QROWS_TINY) {
            inv = 127.0f / amax;
            scale[r] = amax / 127.0f;
        }
        for (int k = 0; k < N; k++) {
            /* fmaxf returns -127 for a NaN product, as vmaxps / fmaxnm do */
            const float v = fminf(fmaxf(xr[k] * inv, -127.0f), 127.0f);
            yr[k] = (uint8_t)((int)nearbyintf(v) + 128);
        }
    }
}
