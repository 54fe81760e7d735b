/* Fused multi-head attention, reference.
 *
 * Per query: two passes over the visible keys, recomputing each score rather
 * than storing it (so nothing of size Lk is held): pass 1 finds the row
 * maximum, pass 2 accumulates exp(s - max) and exp(s - max)·v directly in the
 * output row, which is then divided by the sum. This is the plain definition
 * of max-subtracted softmax; the SIMD kernels use the one-pass online
 * formulation instead and are tested against this one.
 */
#include <math.h>

#include "ref.h"

static float score(const float *q, const float *k, int D, float scale)
{
    float s = 0.0f;
    for (int d = 0; d < D; d++)
        s += q[d] * k[d];
    return s * scale;
}

void vk_attention_f32_ref(const vk_attention_f32_args *a, int w0, int w1)
{
    const int QB = (a->Lq + VK_ATTN_QBLOCK - 1) / VK_ATTN_QBLOCK;
    const int D = a->D;
    for (int w = w0; w < w1; w++) {
        const int qb = w % QB, bh = w / QB;
        const int h = bh % a->H, b = bh / a->H;
        const int i0 = qb * VK_ATTN_QBLOCK;
        const int i1 = i0 + VK_ATTN_QBLOCK < a->Lq ? i0 + VK_ATTN_QBLOCK : a->Lq;
        const float *kb = a->k + (ptrdiff_t)b * a->Lk * a->k_ld + (ptrdiff_t)h * D;
        const float *vb = a->v + (ptrdiff_t)b * a->Lk * a->v_ld + (ptrdiff_t)h * D;
        for (int i = i0; i < i1; i++) {
            const float *q = a->q + ((ptrdiff_t)b * a->Lq + i) * a->q_ld + (ptrdiff_t)h * D;
            float *o = a->o + ((ptrdiff_t)b * a->Lq + i) * a->o_ld + (ptrdiff_t)h * D;
            /* keys [0, nk) are visible */
            const int nk = a->causal && i + 1 < a->Lk ? i + 1 : a->Lk;
            for (int d = 0; d < D; d++)
                o[d] = 0.0f;
            if (nk <= 0)
                continue;
            float m = -INFINITY;
            for (int j = 0; j < nk; j++) {
                float s = score(q, kb + (ptrdiff_t)j * a->k_ld, D, a->scale);
                m = s > m ? s : m;
            }
            float l = 0.0f;
            for (int j = 0; j < nk; j++) {
                float p = expf(score(q, kb + (ptrdiff_t)j * a->k_ld, D, a->scale) - m);
                const float *v = vb + (ptrdiff_t)j * a->v_ld;
                l += p;
                for (int d = 0; d < D; d++)
                    o[d] += p * v[d];
            }
            for (int d = 0; d < D; d++)
                o[d] /= l;
        }
    }
}
