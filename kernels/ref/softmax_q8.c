#include <math.h>

#include "ref.h"

void vk_softmax_q8_ref(const void *x, void *y, int N, int is_signed, float in_scale, float beta,
                       float out_scale, int32_t out_zero, int r0, int r1)
{
    int32_t qmin = is_signed ? -128 : 0, qmax = is_signed ? 127 : 255;
    for (int r = r0; r < r1; r++) {
        size_t base = (size_t)r * N;
        int32_t mx = INT32_MIN;
        for (int i = 0; i < N; i++) {
            int32_t v = is_signed ? ((const int8_t *)x)[base + i] : ((const uint8_t *)x)[base + i];
            mx = v > mx ? v : mx;
        }
        /* The zero point cancels in softmax; the max is subtracted on codes. */
        float sum = 0.0f;
        for (int i = 0; i < N; i++) {
            int32_t v = is_signed ? ((const int8_t *)x)[base + i] : ((const uint8_t *)x)[base + i];
            sum += expf(beta * in_scale * (float)(v - mx));
        }
        for (int i = 0; i < N; i++) {
            int32_t v = is_signed ? ((const int8_t *)x)[base + i] : ((const uint8_t *)x)[base + i];
            float p = expf(beta * in_scale * (float)(v - mx)) / sum;
            int32_t q = (int32_t)lrintf(p / out_scale) + out_zero;
            q = q < qmin ? qmin : q > qmax ? qmax : q;
            if (is_signed)
                ((int8_t *)y)[base + i] = (int8_t)q;
            else
                ((uint8_t *)y)[base + i] = (uint8_t)q;
        }
    }
}
