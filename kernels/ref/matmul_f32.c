/* Reference f32 matmul: C = act(A·B + bias + residual) over [m0,m1)×[n0,n1).
 * Plain loops over the packed B layout; the definition the SIMD kernels are
 * tested against. Each output element reads its residual before C is written,
 * so residual == C (in place) is safe. */
#include "../act.h"
#include "ref.h"

void vk_matmul_f32_ref(const vk_matmul_f32_args *a, int m0, int m1, int n0, int n1)
{
    const int K = a->K;
    for (int i = m0; i < m1; i++) {
        const float *Ai = a->A + (ptrdiff_t)i * a->lda;
        float *Ci = a->C + (ptrdiff_t)i * a->ldc;
        const float *Ri = a->residual ? a->residual + (ptrdiff_t)i * a->ldr : NULL;
        for (int j = n0; j < n1; j++) {
            const float *Bj = a->Bp + (size_t)(j / VK_F32_NR) * K * VK_F32_NR + j % VK_F32_NR;
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc += Ai[k] * Bj[(size_t)k * VK_F32_NR];
            if (a->bias)
                acc += a->bias[j];
            if (Ri)
                acc += Ri[j];
            Ci[j] = vk_act1(acc, a->act);
        }
    }
}
