/* Private to kernels/avx512/attention_f32*.c: the helpers both attention paths
 * share (transposes between query-major rows and query-per-lane vectors, the
 * exp2 they use), and the entry of the whole-row path. */
#ifndef VIREO_KERNELS_AVX512_ATTENTION_F32_H
#define VIREO_KERNELS_AVX512_ATTENTION_F32_H

#include <immintrin.h>
#include <stddef.h>

#include "../kernels.h"
#include "mask.h"
#include "vmath.h"

_Static_assert(VK_ATTN_QBLOCK == 16, "one query per lane of a 16-float vector");

/* Query blocks of at most this many queries (ViT's 197 = 12·16 + 5, 257 =
 * 16·16 + 1, 50 = 3·16 + 2) run one query per row with keys or d on the lanes
 * instead of one query per lane, which would waste most lanes. */
#define VK_ATTN_ROWS_MAX 6

/* log2(e): scores are kept in log2 units, exp(s - m) = 2^(s·log2e - m·log2e) */
#define VK_LOG2E 1.44269504088896341f

/* Runs items [w0, w1) with the whole-row path (attention_f32_full.c) and
 * returns 1, or returns 0 without touching anything when the shape does not
 * fit its workspace. */
int vk_attention_f32_full_avx512(const vk_attention_f32_args *a, int w0, int w1);

/* In-register transpose of a 16×16 block: r[i] holds row i on entry, column i
 * on exit. */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4g + k], 128-bit lane L: rows 4g..4g+3 of column 4L + k */
    for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x88);
        __m512 v1 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x88);
        __m512 w0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xDD);
        __m512 w1 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xDD);
        r[k] = _mm512_shuffle_f32x4(v0, v1, 0x88);
        r[8 + k] = _mm512_shuffle_f32x4(v0, v1, 0xDD);
        r[4 + k] = _mm512_shuffle_f32x4(w0, w1, 0x88);
        r[12 + k] = _mm512_shuffle_f32x4(w0, w1, 0xDD);
    }
}

/* qt[d][l] = scale · q[l][d] for l < nq (rows past nq read as 0). */
static inline void load_qt(const float *q, ptrdiff_t ld, int nq, int D, float scale, float *qt)
{
    const __m512 vs = _mm512_set1_ps(scale);
    for (int d0 = 0; d0 < D; d0 += 16) {
        const int dn = D - d0 < 16 ? D - d0 : 16;
        const __mmask16 m = tail_mask(dn);
        __m512 r[16];
        for (int l = 0; l < 16; l++)
            r[l] = l < nq ? _mm512_maskz_loadu_ps(m, q + l * ld + d0) : _mm512_setzero_ps();
        transpose16(r);
        for (int c = 0; c < dn; c++)
            _mm512_store_ps(qt + (d0 + c) * 16, _mm512_mul_ps(r[c], vs));
    }
}

/* o[l][d] = ot[d][l] · inv[l] for l < nq. */
static inline void store_ot(const float *ot, __m512 inv, int D, float *o, ptrdiff_t ld, int nq)
{
    for (int d0 = 0; d0 < D; d0 += 16) {
        const int dn = D - d0 < 16 ? D - d0 : 16;
        const __mmask16 m = tail_mask(dn);
        __m512 r[16];
        for (int c = 0; c < 16; c++)
            r[c] = c < dn ? _mm512_mul_ps(_mm512_load_ps(ot + (d0 + c) * 16), inv)
                          : _mm512_setzero_ps();
        transpose16(r);
        for (int l = 0; l < nq; l++)
            store_k(o + l * ld + d0, m, r[l]);
    }
}

/* s[j] = Σ_d qt[d] · kp[j·js + d·ds] for the first NR keys of a block of 16
 * (a tail block of <= 8 or <= 4 keys skips the keys it does not have): 16
 * queries on the lanes of qt[d], keys broadcast. The online path reads keys
 * as rows (js = KP_LD, ds = 1), the whole-row path as 16-key panels (js = 1,
 * ds = 16). */
#define KEY_SCORES(NR)                                                                  \
    static inline void key_scores##NR(const float *qt, const float *kp, ptrdiff_t js,   \
                                      ptrdiff_t ds, int D, __m512 *s)                   \
    {                                                                                   \
        __m512 acc[NR];                                                                 \
        for (int j = 0; j < NR; j++)                                                    \
            acc[j] = _mm512_setzero_ps();                                               \
        for (int d = 0; d < D; d++) {                                                   \
            const __m512 qv = _mm512_load_ps(qt + d * 16);                              \
            for (int j = 0; j < NR; j++)                                                \
                acc[j] = _mm512_fmadd_ps(qv, _mm512_set1_ps(kp[j * js + d * ds]), acc[j]); \
        }                                                                               \
        for (int j = 0; j < NR; j++)                                                    \
            s[j] = acc[j];                                                              \
    }
KEY_SCORES(16)
KEY_SCORES(8)
KEY_SCORES(4)

/* The scores of a block of nr = 16, 8 or 4 keys (key_scores16/8/4). */
static inline void key_scores(int nr, const float *qt, const float *kp, ptrdiff_t js, ptrdiff_t ds,
                              int D, __m512 *s)
{
    if (nr == 16)
        key_scores16(qt, kp, js, ds, D, s);
    else if (nr == 8)
        key_scores8(qt, kp, js, ds, D, s);
    else
        key_scores4(qt, kp, js, ds, D, s);
}

/* 2^x for x <= 0 (or -inf / NaN in lanes the caller masks): x = n + f with
 * |f| <= 1/2 exactly, e^(f·ln2) by the cephes expf polynomial (the same as
 * vk_exp512's, on the same reduced range), then ·2^n with vscalefps (which
 * flushes to 0 below the subnormals, so no clamp is needed for x <= 0). Scores
 * come pre-multiplied by log2(e), which saves vk_exp512's multiply, its
 * two-step ln2 reduction and its clamps. Measured: <= 1.25 ulp on [-126, 0]
 * (dense sweep against exp2 in double), inside the 2 ulp the tests assume. */
static inline __m512 exp2_nonpos(__m512 x)
{
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_mul_ps(_mm512_sub_ps(x, n), _mm512_set1_ps(0.693147180559945309f));
    return _mm512_scalef_ps(vk_exp_poly512(r), n);
}

#endif
