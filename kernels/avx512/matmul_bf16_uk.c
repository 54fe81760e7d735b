/* vdpbf16ps register tiles (matmul_bf16_uk.h). Per pair of k: nv 64-byte B
 * loads (16 columns × 2 k each), one 32-bit broadcast of the row's bf16 pair
 * per row, mr·nv vdpbf16ps (32 multiply-adds each, twice an FMA's). The
 * products are exact in f32; each vdpbf16ps adds the pair's two products to
 * the accumulator. Accumulators start at zero; the epilogue adds C (later K
 * blocks) or bias + residual (first block), reading the residual before C is
 * written (residual == C works), applies ReLU / ReLU6 on the last block and
 * stores, masked in the last panel when it passes N. */
#include <string.h>

#include "matmul_bf16_uk.h"
#include "vmath.h"

static inline __attribute__((always_inline)) __m512 bcast_pair(const uint16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_castsi512_ps(_mm512_set1_epi32(v));
}

/* B look-ahead of the streaming variant: 8 pairs (one line per panel each) */
#define PF_B_DIST (8 * 32)

static inline __attribute__((always_inline)) void ukernel(const int mr, const int nv,
                                                          const int pfb,
                                                          const vk_bf16_uk_args *u)
{
    const ptrdiff_t ldc = u->ldc, ldr = u->ldr, bps = u->bps;
    const int kc2 = u->kc2;
    for (int t = 0; t < u->ntiles; t++) {
        const uint16_t *B = u->b + (ptrdiff_t)t * nv * bps;
        float *C = u->c + t * nv * 16;
        const float *bias = u->bias ? u->bias + t * nv * 16 : NULL;
        const float *res = u->res ? u->res + t * nv * 16 : NULL;
        __m512 acc[VK_BF16_MR][4];
        _Pragma("GCC unroll 14") for (int i = 0; i < mr; i++)
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
        {
            acc[i][v] = _mm512_setzero_ps();
            if (!u->first)
                _mm_prefetch((const char *)(C + i * ldc + 16 * v), _MM_HINT_T0);
            else if (res)
                _mm_prefetch((const char *)(res + i * ldr + 16 * v), _MM_HINT_T0);
        }
        _Pragma("GCC unroll 2") for (int g = 0; g < kc2; g++)
        {
            __m512bh b[4];
            _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
            {
                if (pfb) /* integer arithmetic: the look-ahead may pass the end of Bp */
                    _mm_prefetch((const char *)((uintptr_t)(B + v * bps + 32 * g) +
                                                PF_B_DIST * sizeof(uint16_t)),
                                 _MM_HINT_T0);
                b[v] = (__m512bh)_mm512_loadu_si512(B + v * bps + 32 * g);
            }
            _Pragma("GCC unroll 14") for (int i = 0; i < mr; i++)
            {
                const __m512bh x = (__m512bh)bcast_pair(u->a + i * VK_BF16_ALD + 2 * g);
                _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
                    acc[i][v] = _mm512_dpbf16_ps(acc[i][v], x, b[v]);
            }
        }
        _Pragma("GCC unroll 4") for (int v = 0; v < nv; v++)
        {
            const __mmask16 m = v == nv - 1 ? u->mlast : (__mmask16)0xFFFF;
            if (u->first) {
                if (bias) {
                    const __m512 bv = _mm512_maskz_loadu_ps(m, bias + 16 * v);
                    _Pragma("GCC unroll 14") for (int i = 0; i < mr; i++)
                        acc[i][v] = _mm512_add_ps(acc[i][v], bv);
                }
                if (res) {
                    _Pragma("GCC unroll 14") for (int i = 0; i < mr; i++)
                        acc[i][v] = _mm512_add_ps(
                            acc[i][v], _mm512_maskz_loadu_ps(m, res + i * ldr + 16 * v));
                }
            } else {
                _Pragma("GCC unroll 14") for (int i = 0; i < mr; i++)
                    acc[i][v] = _mm512_add_ps(acc[i][v],
                                              _mm512_maskz_loadu_ps(m, C + i * ldc + 16 * v));
            }
            if (u->act == VK_ACT_RELU || u->act == VK_ACT_RELU6) {
                _Pragma("GCC unroll 14") for (int i = 0; i < mr; i++)
                    acc[i][v] = vk_act512(acc[i][v], u->act);
            }
            _Pragma("GCC unroll 14") for (int i = 0; i < mr; i++)
                _mm512_mask_storeu_ps(C + i * ldc + 16 * v, m, acc[i][v]);
        }
    }
}

#define UK_DEF(mr, nv)                                                                    \
    static void uk_##mr##x##nv(const vk_bf16_uk_args *u) { ukernel(mr, nv, 0, u); }        \
    static void ukp_##mr##x##nv(const vk_bf16_uk_args *u) { ukernel(mr, nv, 1, u); }
#define UK_ROW(mr) UK_DEF(mr, 1) UK_DEF(mr, 2)
#define UK_ROW4(mr) UK_ROW(mr) UK_DEF(mr, 4)
UK_ROW4(1) UK_ROW4(2) UK_ROW4(3) UK_ROW4(4) UK_ROW4(5) UK_ROW4(6)
UK_ROW(7) UK_ROW(8) UK_ROW(9) UK_ROW(10) UK_ROW(11) UK_ROW(12) UK_ROW(13) UK_ROW(14)

#define E2(p, mr) {NULL, p##_##mr##x1, p##_##mr##x2, NULL, NULL}
#define E4(p, mr) {NULL, p##_##mr##x1, p##_##mr##x2, NULL, p##_##mr##x4}
#define TAB(p)                                                                            \
    {{NULL}, E4(p, 1), E4(p, 2), E4(p, 3), E4(p, 4), E4(p, 5), E4(p, 6), E2(p, 7),        \
     E2(p, 8), E2(p, 9), E2(p, 10), E2(p, 11), E2(p, 12), E2(p, 13), E2(p, 14)}
const vk_bf16_uk_fn vk_bf16_uk[2][VK_BF16_MR + 1][5] = {TAB(uk), TAB(ukp)};

void vk_bf16_act_rows(float *C, ptrdiff_t ldc, int rows, int w, vk_act act)
{
    if (act != VK_ACT_GELU && act != VK_ACT_QUICKGELU)
        return;
    const __mmask16 mt = (__mmask16)((1u << (w & 15)) - 1);
    for (int i = 0; i < rows; i++) {
        float *c = C + i * ldc;
        int j = 0;
        for (; j + 16 <= w; j += 16)
            _mm512_storeu_ps(c + j, vk_act512(_mm512_loadu_ps(c + j), act));
        if (j < w)
            _mm512_mask_storeu_ps(c + j, mt, vk_act512(_mm512_maskz_loadu_ps(mt, c + j), act));
    }
}
