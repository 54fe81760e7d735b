/* int8 matmul, reference: the semantics of kernels.h computed directly,
 * Σ (a - a_zero)(b + b_offset) per output, with no zero-point expansion and no
 * use of b_colsum, so that the optimised kernels (which rely on both) are
 * checked against something independent of them.
 *
 * Accumulation is exact (int64) and then reduced modulo 2^32, which is what an
 * int32 accumulator computes whenever the sum is representable (always for
 * K <= 33025: |a - a_zero|, |b + b_offset| <= 255) and gives the same wrapped
 * value as any other order of int32 additions otherwise; the s32 bias is added
 * modulo 2^32 as well. */
#include <stdint.h>

#include "../act.h"
#include "../kernels.h"
#include "../requant.h"
#include "ref.h"

static int32_t wrap32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }

static int32_t requant(int32_t acc, const vk_requant *rq, int n, int32_t lo, int32_t hi)
{
    const int c = rq->per_channel ? n : 0;
    return vk_requant_one(acc, rq->mult[c], rq->shift[c], rq->out_zero, lo, hi);
}

void vk_matmul_q8_ref(const vk_matmul_q8_args *a, int m0, int m1, int n0, int n1)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    const int K = a->K, K4 = (K + 3) / 4;
    int32_t lo = a->rq.out_min, hi = a->rq.out_max;
    /* The clamp bounds also saturate to the output type (out_min <= out_max
     * assumed). */
    if (a->out == VK_Q8_OUT_U8) {
        lo = lo < 0 ? 0 : lo;
        hi = hi > 255 ? 255 : hi;
    } else if (a->out == VK_Q8_OUT_S8) {
        lo = lo < -128 ? -128 : lo;
        hi = hi > 127 ? 127 : hi;
    }
    for (int m = m0; m < m1; m++) {
        const uint8_t *au = (const uint8_t *)a->A + (ptrdiff_t)m * a->lda;
        const int8_t *as = (const int8_t *)a->A + (ptrdiff_t)m * a->lda;
        for (int p = n0 / VK_Q8_NR; p * VK_Q8_NR < n1; p++) {
            int64_t acc[VK_Q8_NR] = {0};
            for (int k = 0; k < K; k++) {
                const int64_t av = (int64_t)(a->a_signed ? as[k] : au[k]) - a->a_zero;
                const int8_t *bk =
                    a->Bp + (((size_t)p * K4 + (size_t)(k / 4)) * VK_Q8_NR) * 4 + k % 4;
                for (int j = 0; j < VK_Q8_NR; j++)
                    acc[j] += av * ((int64_t)bk[j * 4] + a->b_offset);
            }
            for (int j = 0; j < VK_Q8_NR; j++) {
                const int n = p * VK_Q8_NR + j;
                if (n >= n1)
                    break;
                int32_t s = wrap32(acc[j] + (a->bias ? a->bias[n] : 0));
                const ptrdiff_t o = (ptrdiff_t)m * a->ldc + n;
                switch (a->out) {
                case VK_Q8_OUT_S32: ((int32_t *)a->C)[o] = s; break;
                case VK_Q8_OUT_U8: ((uint8_t *)a->C)[o] = (uint8_t)requant(s, &a->rq, n, lo, hi); break;
                case VK_Q8_OUT_S8: ((int8_t *)a->C)[o] = (int8_t)requant(s, &a->rq, n, lo, hi); break;
                case VK_Q8_OUT_F32: {
                    /* Scale product first, then multiply and add in two
                     * roundings: the AVX-512 epilogue does the same, so the two
                     * agree exactly before the activation. */
                    const float sc = a->a_scale[a->a_scale_per_row ? m : 0] *
                                     a->w_scale[a->w_scale_per_channel ? n : 0];
                    float v = (float)s * sc;
                    v = v + (a->bias_f32 ? a->bias_f32[n] : 0.0f);
                    if (a->residual) /* read before the store: may be C itself */
                        v = v + a->residual[(ptrdiff_t)m * a->ldr + n];
                    ((float *)a->C)[o] = vk_act1(v, a->act);
                    break;
                }
                }
            }
        }
    }
}
