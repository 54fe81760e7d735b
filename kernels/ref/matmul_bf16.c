/* Reference bf16 matmul: C = act(Σ_k bf16(A[i][k])·B[k][j] + bias + residual)
 * over [m0,m1)×[n0,n1), the definition (kernels.h) the SIMD kernels are
 * tested against. A is rounded exactly as the AVX-512 path's vcvtne2ps2bf16
 * rounds it (RNE); each product of two bf16 values is exact in f32, so only the
 * order of the f32 additions differs between levels. Each output element reads
 * its residual before C is written (residual == C is safe). */
#include "../act.h"
#include "ref.h"

void vk_matmul_bf16_ref(const vk_matmul_bf16_args *a, int m0, int m1, int n0, int n1)
{
    const int K = a->K, K2 = (K + 1) / 2;
    for (int i = m0; i < m1; i++) {
        const float *Ai = a->A + (ptrdiff_t)i * a->lda;
        float *Ci = a->C + (ptrdiff_t)i * a->ldc;
        const float *Ri = a->residual ? a->residual + (ptrdiff_t)i * a->ldr : NULL;
        for (int j = n0; j < n1; j++) {
            const uint16_t *Bj =
                a->Bp + (size_t)(j / VK_BF16_NR) * K2 * VK_BF16_NR * 2 + (j % VK_BF16_NR) * 2;
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc += vk_bf16_to_f32(vk_f32_to_bf16(Ai[k])) *
                       vk_bf16_to_f32(Bj[(size_t)(k / 2) * VK_BF16_NR * 2 + (k & 1)]);
            if (a->bias)
                acc += a->bias[j];
            if (Ri)
                acc += Ri[j];
            Ci[j] = vk_act1(acc, a->act);
        }
    }
}
