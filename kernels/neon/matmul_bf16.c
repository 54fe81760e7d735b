/* bf16 matmul, NEON: C = act(bf16(A)·B + bias + residual) over
 * [m0,m1)×[n0,n1) on the widening 4×16 tile of matmul_bf16_tile.c (bf16
 * weights shifted to f32, A rounded to bf16 on the fly as kernels.h defines,
 * FMAs). Same loop order as the f32 NEON matmul: row blocks whose A slice
 * stays in L2, 16-column panels, row tiles of 4. Each element is summed over
 * k in order, then bias, then residual — the reference's order, and
 * independent of the range a call covers. */
#include "bf16_neon.h"
#include "neon.h"

#define MR VK_F32N_MR
#define A_BLOCK_BYTES (192 * 1024)

void vk_matmul_bf16_neon(const vk_matmul_bf16_args *a, int m0, int m1, int n0, int n1)
{
    if (m0 >= m1 || n0 >= n1)
        return;
    const int K = a->K;
    const size_t bps = (size_t)((K + 1) / 2) * VK_BF16_NR * 2;
    int mc = K > 0 ? A_BLOCK_BYTES / (4 * K) : m1 - m0;
    mc = mc < MR ? MR : mc;
    for (int mb = m0; mb < m1; mb += mc) {
        const int mend = m1 - mb < mc ? m1 : mb + mc;
        for (int n = n0; n < n1; n += VK_BF16_NR) {
            const int w = n1 - n < VK_BF16_NR ? n1 - n : VK_BF16_NR;
            const uint16_t *bp = a->Bp + (size_t)(n / VK_BF16_NR) * bps;
            for (int i = mb; i < mend; i += MR) {
                const int R = mend - i < MR ? mend - i : MR;
                const float *rows[MR];
                float32x4_t acc[MR][4];
                for (int r = 0; r < MR; r++)
                    rows[r] = a->A + (ptrdiff_t)(i + (r < R ? r : 0)) * a->lda;
                for (int r = 0; r < R; r++)
                    for (int v = 0; v < 4; v++)
                        acc[r][v] = vdupq_n_f32(0.0f);
                vk_bf16_tile_neon(rows, R, K, bp, 1, acc);
                for (int r = 0; r < R; r++)
                    vfn_epi_row(acc[r], a->bias ? a->bias + n : NULL,
                                a->residual ? a->residual + (ptrdiff_t)(i + r) * a->ldr + n : NULL,
                                a->C + (ptrdiff_t)(i + r) * a->ldc + n, w, a->act);
            }
        }
    }
}
