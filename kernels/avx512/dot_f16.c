/* dot_f16, AVX-512 (kernels.h): 64 dimensions per step, vcvtph2ps converts
 * 16 halves exactly, four independent accumulators (one FMA latency each per
 * step), a masked step for the tail (masked-off halves and query floats load
 * as 0). The shortlist's rows are scattered through the f16 copy: while one
 * row is summed, every line of the next one is prefetched. */
#include <immintrin.h>

#include "avx512.h"
#include "mask.h"

static inline __m512 load_h16(const uint8_t *p, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

void vk_dot_f16_avx512(const float *q, size_t dim, const uint8_t *rows, size_t row_bytes,
                       const uint32_t *idx, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = rows + (size_t)idx[i] * row_bytes;
        if (i + 1 < n) {
            uintptr_t next = (uintptr_t)(rows + (size_t)idx[i + 1] * row_bytes);
            for (size_t o = 0; o < 2 * dim; o += 64)
                _mm_prefetch((const char *)(next + o), _MM_HINT_T0);
        }
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        size_t d = 0;
        for (; d + 64 <= dim; d += 64) {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), load_h16(r + 2 * d, 0xffff), s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d + 16), load_h16(r + 2 * d + 32, 0xffff), s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d + 32), load_h16(r + 2 * d + 64, 0xffff), s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d + 48), load_h16(r + 2 * d + 96, 0xffff), s3);
        }
        for (; d < dim; d += 16) {
            const __mmask16 m = tail_mask((int)(dim - d));
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), load_h16(r + 2 * d, m), s0);
        }
        out[i] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    }
}
