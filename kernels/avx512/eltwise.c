/* Element-wise ops, AVX-512: activation, add (+ fused activation). The
 * activation is chosen outside the loop (one specialised loop per act), and
 * the ragged head/tail is a single masked vector. */
#include <immintrin.h>

#include "avx512.h"
#include "vmath.h"

static inline __mmask16 tail_mask(size_t n) { return (__mmask16)((1u << n) - 1); }

/* BODY(v) maps one vector; the loop covers [i0, i1) of x (and b) into y. */
#define ELTWISE_LOOP(LOAD, BODY)                                                  \
    do {                                                                          \
        size_t i = i0;                                                            \
        for (; i + 64 <= i1; i += 64) {                                           \
            __m512 v0 = LOAD(i, 0xFFFF), v1 = LOAD(i + 16, 0xFFFF);               \
            __m512 v2 = LOAD(i + 32, 0xFFFF), v3 = LOAD(i + 48, 0xFFFF);          \
            _mm512_storeu_ps(y + i, BODY(v0));                                    \
            _mm512_storeu_ps(y + i + 16, BODY(v1));                               \
            _mm512_storeu_ps(y + i + 32, BODY(v2));                               \
            _mm512_storeu_ps(y + i + 48, BODY(v3));                               \
        }                                                                         \
        for (; i + 16 <= i1; i += 16) {                                           \
            __m512 v0 = LOAD(i, 0xFFFF);                                          \
            _mm512_storeu_ps(y + i, BODY(v0));                                    \
        }                                                                         \
        if (i < i1) {                                                             \
            const __mmask16 k = tail_mask(i1 - i);                                \
            __m512 v0 = LOAD(i, k);                                               \
            _mm512_mask_storeu_ps(y + i, k, BODY(v0));                            \
        }                                                                         \
    } while (0)

#define ACT_NONE(v) (v)
#define ACT_RELU(v) _mm512_max_ps(v, _mm512_setzero_ps())
#define ACT_RELU6(v) _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.0f))
#define ACT_GELU(v) vk_gelu512(v)
#define ACT_QUICKGELU(v) vk_quickgelu512(v)

#define DISPATCH_ACT(LOAD)                                                        \
    switch (act) {                                                                \
    case VK_ACT_RELU: ELTWISE_LOOP(LOAD, ACT_RELU); break;                        \
    case VK_ACT_RELU6: ELTWISE_LOOP(LOAD, ACT_RELU6); break;                      \
    case VK_ACT_GELU: ELTWISE_LOOP(LOAD, ACT_GELU); break;                        \
    case VK_ACT_QUICKGELU: ELTWISE_LOOP(LOAD, ACT_QUICKGELU); break;              \
    default: ELTWISE_LOOP(LOAD, ACT_NONE); break;                                 \
    }

#define LOAD_X(i, k) _mm512_maskz_loadu_ps(k, x + (i))
#define LOAD_AB(i, k) \
    _mm512_add_ps(_mm512_maskz_loadu_ps(k, a + (i)), _mm512_maskz_loadu_ps(k, b + (i)))

void vk_act_f32_avx512(const float *x, float *y, vk_act act, size_t i0, size_t i1)
{
    if (act == VK_ACT_NONE && x == y)
        return;
    DISPATCH_ACT(LOAD_X)
}

void vk_add_f32_avx512(const float *a, const float *b, float *y, vk_act act, size_t i0, size_t i1)
{
    DISPATCH_ACT(LOAD_AB)
}
