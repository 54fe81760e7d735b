/* Row-wise ops, reference: layernorm, softmax, l2norm over rows [r0, r1) of an
 * R×N tensor. y may alias x (each element is read before it is written). */
#include <math.h>

#include "ref.h"

/* Corrected two-pass (Chan, Golub & LeVeque 1983): the second pass sums the
 * deviations from the first-pass mean as well as their squares; the former
 * corrects the mean's rounding error (which would otherwise be ~N·u·|mean|,
 * large next to sigma for rows with a big common offset) and removes its
 * contribution from the variance. gamma/beta may be NULL (1 resp. 0). */
void vk_layernorm_f32_ref(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N,
                          const float *gamma, const float *beta, float eps, int r0, int r1)
{
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        float *yr = y + (ptrdiff_t)r * ldy;
        float s = 0.0f;
        for (int i = 0; i < N; i++)
            s += xr[i];
        const float m0 = s / (float)N;
        float s1 = 0.0f, s2 = 0.0f;
        for (int i = 0; i < N; i++) {
            float d = xr[i] - m0;
            s1 += d;
            s2 += d * d;
        }
        const float c = s1 / (float)N;
        const float mean = m0 + c;
        float var = s2 / (float)N - c * c;
        var = var > 0.0f ? var : 0.0f;
        const float rstd = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < N; i++) {
            float g = gamma ? gamma[i] : 1.0f, b = beta ? beta[i] : 0.0f;
            yr[i] = (xr[i] - mean) * rstd * g + b;
        }
    }
}

void vk_softmax_f32_ref(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N, int r0,
                        int r1)
{
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        float *yr = y + (ptrdiff_t)r * ldy;
        float m = -INFINITY;
        for (int i = 0; i < N; i++)
            m = xr[i] > m ? xr[i] : m;
        float s = 0.0f;
        for (int i = 0; i < N; i++) {
            float e = expf(xr[i] - m);
            yr[i] = e;
            s += e;
        }
        const float inv = 1.0f / s;
        for (int i = 0; i < N; i++)
            yr[i] *= inv;
    }
}

/* The sum of squares is accumulated in double: no overflow or underflow for
 * any finite f32 input, so no rescaling pass is needed; the scale is applied
 * in double too, so 1/‖x‖ beyond FLT_MAX (tiny vectors) still works. */
void vk_l2norm_f32_ref(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N, int r0,
                       int r1)
{
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        float *yr = y + (ptrdiff_t)r * ldy;
        double ss = 0.0;
        for (int i = 0; i < N; i++)
            ss += (double)xr[i] * xr[i];
        const double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
        for (int i = 0; i < N; i++)
            yr[i] = (float)(xr[i] * inv);
    }
}
