/* Row-wise ops, AVX-512: layernorm, softmax, l2norm over rows [r0, r1).
 * Same algorithms as kernels/ref/rowwise.c (see there for the why); a row of a
 * transformer (768..1024 floats) stays in L1 across the passes, so each op
 * costs about one read and one write of the tensor. y may alias x. */
#include <immintrin.h>
#include <math.h>

#include "avx512.h"
#include "vmath.h"

static inline __mmask16 tail_mask(int n) { return (__mmask16)((1u << n) - 1); }

/* Masked stores are much slower than plain ones on AMD cores: only the ragged
 * tail takes the mask. */
static inline void store_k(float *p, __mmask16 k, __m512 v)
{
    if (k == 0xFFFF)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, k, v);
}

static float row_sum(const float *x, int N)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 64 <= N; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
    }
    for (; i + 16 <= N; i += 16)
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
    if (i < N)
        a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(tail_mask(N - i), x + i));
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

void vk_layernorm_f32_avx512(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N,
                             const float *gamma, const float *beta, float eps, int r0, int r1)
{
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        float *yr = y + (ptrdiff_t)r * ldy;
        const float m0 = row_sum(xr, N) / (float)N;
        const __m512 vm0 = _mm512_set1_ps(m0);
        __m512 s1a = _mm512_setzero_ps(), s1b = s1a, s2a = s1a, s2b = s1a;
        __m512 s1c = s1a, s1d = s1a, s2c = s1a, s2d = s1a;
        int i = 0;
        for (; i + 64 <= N; i += 64) {
            __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(xr + i), vm0);
            __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(xr + i + 16), vm0);
            __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(xr + i + 32), vm0);
            __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(xr + i + 48), vm0);
            s1a = _mm512_add_ps(s1a, d0);
            s1b = _mm512_add_ps(s1b, d1);
            s1c = _mm512_add_ps(s1c, d2);
            s1d = _mm512_add_ps(s1d, d3);
            s2a = _mm512_fmadd_ps(d0, d0, s2a);
            s2b = _mm512_fmadd_ps(d1, d1, s2b);
            s2c = _mm512_fmadd_ps(d2, d2, s2c);
            s2d = _mm512_fmadd_ps(d3, d3, s2d);
        }
        s1a = _mm512_add_ps(s1a, s1c), s1b = _mm512_add_ps(s1b, s1d);
        s2a = _mm512_add_ps(s2a, s2c), s2b = _mm512_add_ps(s2b, s2d);
        for (; i < N; i += 16) {
            const __mmask16 k = N - i >= 16 ? 0xFFFF : tail_mask(N - i);
            __m512 d0 = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, xr + i), vm0);
            s1a = _mm512_add_ps(s1a, d0);
            s2a = _mm512_fmadd_ps(d0, d0, s2a);
        }
        const float c = _mm512_reduce_add_ps(_mm512_add_ps(s1a, s1b)) / (float)N;
        const float mean = m0 + c;
        float var = _mm512_reduce_add_ps(_mm512_add_ps(s2a, s2b)) / (float)N - c * c;
        var = var > 0.0f ? var : 0.0f;
        const __m512 rstd = _mm512_set1_ps(1.0f / sqrtf(var + eps));
        const __m512 vmean = _mm512_set1_ps(mean);
        if (gamma && beta) {
            for (i = 0; i + 16 <= N; i += 16) {
                __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xr + i), vmean);
                __m512 a = _mm512_mul_ps(rstd, _mm512_loadu_ps(gamma + i));
                _mm512_storeu_ps(yr + i, _mm512_fmadd_ps(d, a, _mm512_loadu_ps(beta + i)));
            }
        } else {
            i = 0; /* the masked loop below does the rows without affine parameters */
        }
        /* the tail, and rows without gamma/beta */
        for (; i < N; i += 16) {
            const __mmask16 k = N - i >= 16 ? 0xFFFF : tail_mask(N - i);
            __m512 g = gamma ? _mm512_maskz_loadu_ps(k, gamma + i) : _mm512_set1_ps(1.0f);
            __m512 b = beta ? _mm512_maskz_loadu_ps(k, beta + i) : _mm512_setzero_ps();
            __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + i), vmean);
            store_k(yr + i, k, _mm512_fmadd_ps(d, _mm512_mul_ps(rstd, g), b));
        }
    }
}

void vk_softmax_f32_avx512(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N, int r0,
                           int r1)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        float *yr = y + (ptrdiff_t)r * ldy;
        __m512 m0 = ninf, m1 = ninf;
        int i = 0;
        for (; i + 32 <= N; i += 32) {
            m0 = _mm512_max_ps(m0, _mm512_loadu_ps(xr + i));
            m1 = _mm512_max_ps(m1, _mm512_loadu_ps(xr + i + 16));
        }
        for (; i < N; i += 16) {
            const __mmask16 k = N - i >= 16 ? 0xFFFF : tail_mask(N - i);
            m0 = _mm512_mask_max_ps(m0, k, m0, _mm512_maskz_loadu_ps(k, xr + i));
        }
        const __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(_mm512_max_ps(m0, m1)));
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        for (i = 0; i + 32 <= N; i += 32) {
            __m512 e0 = vk_exp512(_mm512_sub_ps(_mm512_loadu_ps(xr + i), vm));
            __m512 e1 = vk_exp512(_mm512_sub_ps(_mm512_loadu_ps(xr + i + 16), vm));
            _mm512_storeu_ps(yr + i, e0);
            _mm512_storeu_ps(yr + i + 16, e1);
            s0 = _mm512_add_ps(s0, e0);
            s1 = _mm512_add_ps(s1, e1);
        }
        for (; i < N; i += 16) {
            const __mmask16 k = N - i >= 16 ? 0xFFFF : tail_mask(N - i);
            __m512 e = _mm512_maskz_mov_ps(
                k, vk_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + i), vm)));
            store_k(yr + i, k, e);
            s0 = _mm512_add_ps(s0, e);
        }
        const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)));
        for (i = 0; i + 16 <= N; i += 16)
            _mm512_storeu_ps(yr + i, _mm512_mul_ps(_mm512_loadu_ps(yr + i), inv));
        if (i < N) {
            const __mmask16 k = tail_mask(N - i);
            _mm512_mask_storeu_ps(yr + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, yr + i), inv));
        }
    }
}

/* Sum of squares and scaling in double, as the reference (no overflow or
 * underflow for any finite input). */
void vk_l2norm_f32_avx512(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N, int r0,
                          int r1)
{
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        float *yr = y + (ptrdiff_t)r * ldy;
        __m512d a0 = _mm512_setzero_pd(), a1 = a0;
        for (int i = 0; i < N; i += 16) {
            const __mmask16 k = N - i >= 16 ? 0xFFFF : tail_mask(N - i);
            __m512 v = _mm512_maskz_loadu_ps(k, xr + i);
            __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
            __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
            a0 = _mm512_fmadd_pd(lo, lo, a0);
            a1 = _mm512_fmadd_pd(hi, hi, a1);
        }
        const double ss = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
        const __m512d inv = _mm512_set1_pd(ss > 0.0 ? 1.0 / sqrt(ss) : 0.0);
        for (int i = 0; i < N; i += 16) {
            const __mmask16 k = N - i >= 16 ? 0xFFFF : tail_mask(N - i);
            __m512 v = _mm512_maskz_loadu_ps(k, xr + i);
            __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), inv));
            __m256 hi = _mm512_cvtpd_ps(_mm512_mul_pd(
                _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), inv));
            store_k(yr + i, k, _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1));
        }
    }
}
