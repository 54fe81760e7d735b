/* AVX-512 f32 scan (kernels.h "Flat-index scans"). Narrow batches: 4 rows ×
 * up to 4 queries, dims on lanes, FMA, masked tail, one reduction per dot.
 * Wide batches (≥ 6 queries of a group, packed queries given): 16 queries on
 * lanes, each row float broadcast into one FMA, 8 rows per packed load. */
#include <immintrin.h>
#include <string.h>

#include "avx512.h"

#define NARROW_R 4
#define NARROW_Q 4
#define WIDE_R 8
#define WIDE_MIN_Q 6
#define F32_INLINE static inline __attribute__((always_inline))

F32_INLINE void narrow_tile(const vk_scan_args *a, size_t r, int R, int j0, int Q, float *out)
{
    const float *q = a->q;
    __m512 acc[NARROW_R][NARROW_Q];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (size_t d = 0; d < a->dim; d += 16) {
        __mmask16 m = a->dim - d >= 16 ? (__mmask16)0xffff
                                       : (__mmask16)((1u << (a->dim - d)) - 1);
        __m512 c[NARROW_R];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++)
            c[i] = _mm512_maskz_loadu_ps(
                m, (const float *)(const void *)(a->codes + (r + (size_t)i) * a->row_bytes) + d);
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++) {
            __m512 qv = _mm512_maskz_loadu_ps(m, q + (size_t)(j0 + j) * a->qlen + d);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++)
                acc[i][j] = _mm512_fmadd_ps(c[i], qv, acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            out[(r + (size_t)i) * a->ldo + (size_t)(j0 + j)] = _mm512_reduce_add_ps(acc[i][j]);
}

static void narrow_rows(const vk_scan_args *a, size_t r0, size_t r1, int j0, int j1)
{
    vk_scan_args b = *a;
    b.codes = a->codes + r0 * a->row_bytes; /* rows and out based at 0 */
    float *out = a->out;
    size_t n = r1 - r0;
    for (int j = j0; j < j1; j += NARROW_Q) {
        int Q = j1 - j < NARROW_Q ? j1 - j : NARROW_Q;
        size_t r = 0;
        for (; r + NARROW_R <= n; r += NARROW_R) {
            switch (Q) {
            case 1: narrow_tile(&b, r, NARROW_R, j, 1, out); break;
            case 2: narrow_tile(&b, r, NARROW_R, j, 2, out); break;
            case 3: narrow_tile(&b, r, NARROW_R, j, 3, out); break;
            default: narrow_tile(&b, r, NARROW_R, j, 4, out); break;
            }
        }
        for (; r < n; r++) {
            switch (Q) {
            case 1: narrow_tile(&b, r, 1, j, 1, out); break;
            case 2: narrow_tile(&b, r, 1, j, 2, out); break;
            case 3: narrow_tile(&b, r, 1, j, 3, out); break;
            default: narrow_tile(&b, r, 1, j, 4, out); break;
            }
        }
    }
}

F32_INLINE void wide_tile(const vk_scan_args *a, size_t r, int R, int g, float *out)
{
    __m512 acc[WIDE_R];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
        acc[i] = _mm512_setzero_ps();
    const float *qt = (const float *)a->qt + (size_t)g * a->dim * VK_SCAN_QGROUP;
    const float *rows = (const float *)(const void *)(a->codes + r * a->row_bytes);
    size_t stride = a->row_bytes / sizeof(float);
    for (size_t d = 0; d < a->dim; d++) {
        __m512 qv = _mm512_loadu_ps(qt + d * VK_SCAN_QGROUP);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++)
            acc[i] = _mm512_fmadd_ps(qv, _mm512_set1_ps(rows[(size_t)i * stride + d]), acc[i]);
    }
    int cnt = a->nq - g * VK_SCAN_QGROUP;
    __mmask16 m = cnt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cnt) - 1);
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
        _mm512_mask_storeu_ps(out + (size_t)i * a->ldo, m, acc[i]);
}

void vk_scan_f32_avx512(const vk_scan_args *a, size_t r0, size_t r1)
{
    float *out = a->out;
    for (int g = 0; g * VK_SCAN_QGROUP < a->nq; g++) {
        int j0 = g * VK_SCAN_QGROUP;
        int j1 = a->nq - j0 < VK_SCAN_QGROUP ? a->nq : j0 + VK_SCAN_QGROUP;
        if (a->qt && j1 - j0 >= WIDE_MIN_Q) {
            size_t r = r0;
            for (; r + WIDE_R <= r1; r += WIDE_R)
                wide_tile(a, r, WIDE_R, g, out + (r - r0) * a->ldo + j0);
            for (; r < r1; r++)
                wide_tile(a, r, 1, g, out + (r - r0) * a->ldo + j0);
            continue;
        }
        narrow_rows(a, r0, r1, j0, j1);
    }
}
