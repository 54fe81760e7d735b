/* Global average pooling, reference: out[n][c] = mean over the HW pixels of
 * in[n][p][c] (pixel stride in_ld), pixels summed in order. */
#include "ref.h"

void vk_gap_f32_ref(const float *in, ptrdiff_t in_ld, int HW, int C, float *out, int n0, int n1)
{
    for (int n = n0; n < n1; n++) {
        float *o = out + (ptrdiff_t)n * C;
        for (int c = 0; c < C; c++)
            o[c] = 0.0f;
        for (int p = 0; p < HW; p++) {
            const float *x = in + ((ptrdiff_t)n * HW + p) * in_ld;
            for (int c = 0; c < C; c++)
                o[c] += x[c];
        }
        if (HW > 0)
            for (int c = 0; c < C; c++)
                o[c] /= (float)HW;
    }
}
