/* Private to kernels/avx512: a register-tiled f32 product of up to 6 rows
 * of a row-major A by up to 4 panels of the matmul-B layout (64 columns),
 * the whole K per call, sums stored whole (no bias, no masks): 24
 * accumulators, per k 4 panel loads and 6 broadcasts for 24 FMAs. Used by
 * the Winograd conv's 36 products and by the small-channel (stem) convs. */
#ifndef VIREO_KERNELS_AVX512_UK6X64_H
#define VIREO_KERNELS_AVX512_UK6X64_H

#include <immintrin.h>
#include <stddef.h>

#define UK6_MR 6
#define UK6_NV 4

/* C[mr][nv·16] = A[mr][K] · B panels (K rows of 16), stored whole; on the
 * way, pf_n cache lines from pf into L2, pf_k per k step. */
typedef struct uk6_pf {
    const char *p;
    int n, k;
} uk6_pf;
static inline __attribute__((always_inline)) void uk6(int mr, int nv, const float *A,
                                                     ptrdiff_t lda, const float *B, ptrdiff_t bs,
                                                     int K, float *C, ptrdiff_t ldc, uk6_pf pf)
{
    __m512 acc[UK6_MR][UK6_NV];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        if (pf.n > 0) {
            for (int t = 0; t < pf.k; t++)
                _mm_prefetch(pf.p + 64 * t, _MM_HINT_T1);
            pf.p += 64 * pf.k;
            pf.n -= pf.k;
        }
        __m512 bv[UK6_NV];
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            bv[j] = _mm512_loadu_ps(B + j * bs + (ptrdiff_t)k * 16);
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            const __m512 av = _mm512_set1_ps(A[i * lda + k]);
#pragma GCC unroll 4
            for (int j = 0; j < nv; j++)
                acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            _mm512_storeu_ps(C + i * ldc + j * 16, acc[i][j]);
}

typedef void (*uk6_fn)(const float *, ptrdiff_t, const float *, ptrdiff_t, int, float *, ptrdiff_t,
                      uk6_pf);
#define UK6_DEF(mr, nv)                                                                          \
    static void uk6_##mr##_##nv(const float *A, ptrdiff_t lda, const float *B, ptrdiff_t bs, \
                               int K, float *C, ptrdiff_t ldc, uk6_pf pf)                     \
    {                                                                                       \
        uk6(mr, nv, A, lda, B, bs, K, C, ldc, pf);                                           \
    }
#define UK6_ROW(mr) UK6_DEF(mr, 1) UK6_DEF(mr, 2) UK6_DEF(mr, 3) UK6_DEF(mr, 4)
UK6_ROW(1)
UK6_ROW(2)
UK6_ROW(3)
UK6_ROW(4)
UK6_ROW(5)
UK6_ROW(6)
#define UK6_T(mr) {uk6_##mr##_1, uk6_##mr##_2, uk6_##mr##_3, uk6_##mr##_4}
static const uk6_fn uk6_table[UK6_MR][UK6_NV] = {UK6_T(1), UK6_T(2), UK6_T(3), UK6_T(4), UK6_T(5), UK6_T(6)};

#endif
