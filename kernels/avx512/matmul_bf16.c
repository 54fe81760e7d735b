/* AVX-512 BF16 matmul: C = act(bf16(A)·B + bias + residual) over
 * [m0,m1)×[n0,n1), B in the matmul-bf16 panel layout (K in pairs).
 *
 * A is rounded to bf16 one tile at a time (vcvtne2ps2bf16, RNE: the rounding
 * kernels.h defines and the reference repeats) into a stack buffer of up to
 * 14 rows × 1024 k (29 KB, in L1 beside the B stream), then the vdpbf16ps
 * tiles of matmul_bf16_uk.c sweep the column block: per pair of k, one
 * broadcast of a row's pair and one 64-byte B load per panel feed 16 × 2
 * multiply-adds, twice the work of an f32 FMA per instruction.
 *
 * Blocking (Zen 5: 48 KB L1D, 1 MB L2 per core), as the f32 kernel:
 *   column blocks of NC columns (B block kc × NC × 2 bytes ≈ 512 KB in L2)
 *     K blocks of kc <= 1024 (C reloaded once per block)
 *       row tiles (rows split evenly, <= 14 per tile; <= 6 rows: 4 panels)
 *         pack the tile's A block to bf16, then sweep the block's columns.
 * K blocks depend on K alone, so every element is summed in the same order
 * whatever range the caller asks for (thread splits give identical results).
 * GELUs run over each finished row tile; ReLU/ReLU6 in registers.
 */
#include <immintrin.h>
#include <stdint.h>

#include "avx512.h"
#include "matmul_bf16_uk.h"

#define NV 2
#define SMALL_NV 4
#define L2_B_BYTES (512 * 1024)

void vk_matmul_bf16_avx512(const vk_matmul_bf16_args *a, int m0, int m1, int n0, int n1)
{
    const int M = m1 - m0, K = a->K;
    if (M <= 0 || n1 <= n0)
        return;
    const int small = M <= VK_BF16_SMALL_MR;
    const int mr_max = small ? M : VK_BF16_MR;
    const int nv = small ? SMALL_NV : NV;
    const int w = 16 * nv;
    int nkb = 1, kc_step = K;
    if (K > VK_BF16_KC) {
        nkb = (K + VK_BF16_KC - 1) / VK_BF16_KC;
        kc_step = ((K + nkb - 1) / nkb + 31) & ~31;
        nkb = (K + kc_step - 1) / kc_step;
    }
    int nc = n1 - n0;
    if (!small && kc_step > 0) {
        int nc_l2 = L2_B_BYTES / (kc_step * 2) / w * w;
        nc_l2 = nc_l2 < 4 * w ? 4 * w : nc_l2;
        nc = nc_l2 < nc ? nc_l2 : nc;
    }
    const int nt = (M + mr_max - 1) / mr_max;
    const int K2 = (K + 1) / 2;
    const ptrdiff_t bps = (ptrdiff_t)K2 * VK_BF16_NR * 2;
    uint16_t abuf[VK_BF16_MR * VK_BF16_ALD] __attribute__((aligned(64)));

    for (int jc = n0; jc < n1; jc += nc) {
        const int jce = n1 - jc < nc ? n1 : jc + nc;
        const int nfull = (jce - jc) / w;
        const int tail = (jce - jc) - nfull * w;
        for (int kb = 0; kb < nkb; kb++) {
            const int k0 = kb * kc_step;
            const int kc = K - k0 < kc_step ? K - k0 : kc_step;
            const int last = kb == nkb - 1;
            vk_bf16_uk_args u;
            u.a = abuf;
            u.bps = bps;
            u.kc2 = (kc + 1) / 2;
            u.ldc = a->ldc;
            u.ldr = a->ldr;
            u.first = kb == 0;
            u.act = last && (a->act == VK_ACT_RELU || a->act == VK_ACT_RELU6) ? a->act
                                                                               : VK_ACT_NONE;
            for (int t = 0; t < nt; t++) {
                const int i0 = m0 + (int)((long)M * t / nt);
                const int i1 = m0 + (int)((long)M * (t + 1) / nt);
                const int r = i1 - i0;
                for (int i = 0; i < r; i++)
                    vk_bf16_pack_row(abuf + i * VK_BF16_ALD,
                                     a->A + (ptrdiff_t)(i0 + i) * a->lda + k0, kc);
                u.c = a->C + (ptrdiff_t)i0 * a->ldc + jc;
                u.b = a->Bp + (ptrdiff_t)(jc / VK_BF16_NR) * bps + (ptrdiff_t)k0 * VK_BF16_NR;
                u.bias = u.first && a->bias ? a->bias + jc : NULL;
                u.res = u.first && a->residual ? a->residual + (ptrdiff_t)i0 * a->ldr + jc
                                               : NULL;
                /* B comes from L3/DRAM for the first row tile of a block
                 * (and every tile when M is small), from L2 for the others */
                const vk_bf16_uk_fn(*tab)[5] = vk_bf16_uk[small || t == 0];
                if (nfull > 0) {
                    u.ntiles = nfull;
                    u.mlast = 0xFFFF;
                    tab[r][nv](&u);
                }
                if (tail > 0) {
                    const int off = nfull * w;
                    int tv = (tail + 15) / 16;
                    const int rem = tail - 16 * (tv - 1);
                    vk_bf16_uk_args ut = u;
                    ut.b += (ptrdiff_t)nfull * nv * bps;
                    ut.c += off;
                    ut.bias = u.bias ? u.bias + off : NULL;
                    ut.res = u.res ? u.res + off : NULL;
                    ut.ntiles = 1;
                    ut.mlast = (__mmask16)(rem == 16 ? 0xFFFF : (1u << rem) - 1);
                    if (tv == 3) { /* no 3-panel tile: 2 + 1 */
                        const __mmask16 mrem = ut.mlast;
                        ut.mlast = 0xFFFF;
                        tab[r][2](&ut);
                        ut.b += 2 * bps;
                        ut.c += 32;
                        ut.bias = ut.bias ? ut.bias + 32 : NULL;
                        ut.res = ut.res ? ut.res + 32 : NULL;
                        ut.mlast = mrem;
                        tv = 1;
                    }
                    tab[r][tv](&ut);
                }
                if (last)
                    vk_bf16_act_rows(a->C + (ptrdiff_t)i0 * a->ldc + jc, a->ldc, r, jce - jc,
                                     a->act);
            }
        }
    }
}
