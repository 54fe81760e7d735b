/* f32 matmul, NEON: C = act(A·B + bias + residual) over [m0,m1)×[n0,n1) on
 * the 4×16 FMA tile of f32_tile.c.
 *
 * Loop order: blocks of rows whose A slice (~192 KB) stays in L2, then the
 * 16-column panels (K×64 bytes of B, re-read from L1/L2 by each row tile),
 * then the block's row tiles of 4 (the last one 1..4 rows). Each element is
 * summed over k in order, one FMA per k, then bias, then residual: the result
 * does not depend on the range a call covers. GELU and QuickGELU are act.h's
 * scalar definitions.
 */
#include "f32_neon.h"
#include "neon.h"

#define MR VK_F32N_MR
#define A_BLOCK_BYTES (192 * 1024)

void vk_matmul_f32_neon(const vk_matmul_f32_args *a, int m0, int m1, int n0, int n1)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    const int K = a->K;
    int mc = K > 0 ? A_BLOCK_BYTES / (4 * K) : m1 - m0;
    mc = mc < MR ? MR : mc;
    for (int mb = m0; mb < m1; mb += mc) {
        const int mend = m1 - mb < mc ? m1 : mb + mc;
        for (int n = n0; n < n1; n += VK_F32_NR) {
            const int w = n1 - n < VK_F32_NR ? n1 - n : VK_F32_NR;
            const float *bp = a->Bp + (size_t)(n / VK_F32_NR) * K * VK_F32_NR;
            for (int i = mb; i < mend; i += MR) {
                const int R = mend - i < MR ? mend - i : MR;
                const float *rows[MR];
                float32x4_t acc[MR][4];
                for (int r = 0; r < MR; r++)
                    rows[r] = a->A + (ptrdiff_t)(i + (r < R ? r : 0)) * a->lda;
                for (int r = 0; r < R; r++)
                    for (int v = 0; v < 4; v++)
                        acc[r][v] = vdupq_n_f32(0.0f);
                vk_f32_tile_neon(rows, R, K, bp, acc);
                for (int r = 0; r < R; r++)
                    vfn_epi_row(acc[r], a->bias ? a->bias + n : NULL,
                                a->residual ? a->residual + (ptrdiff_t)(i + r) * a->ldr + n : NULL,
                                a->C + (ptrdiff_t)(i + r) * a->ldc + n, w, a->act);
            }
        }
    }
}
