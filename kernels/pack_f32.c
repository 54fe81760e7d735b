/* f32 matmul B packing (layout in kernels.h): panels of VK_F32_NR columns, each
 * panel K rows of NR contiguous floats, so a kernel streams one panel with unit
 * stride whatever N is; columns past N are zero so tails need no masked loads. */
#include <string.h>

#include "pack.h"

size_t vk_pack_f32_b_size(int K, int N)
{
    return (size_t)K * vk_round_up((size_t)N, VK_F32_NR);
}

void vk_pack_f32_b(int K, int N, const float *B, ptrdiff_t ldb, float *Bp)
{
    const int np = (N + VK_F32_NR - 1) / VK_F32_NR;
    for (int p = 0; p < np; p++) {
        const int j0 = p * VK_F32_NR;
        const int w = N - j0 < VK_F32_NR ? N - j0 : VK_F32_NR;
        float *dst = Bp + (size_t)p * K * VK_F32_NR;
        for (int k = 0; k < K; k++) {
            const float *src = B + (ptrdiff_t)k * ldb + j0;
            float *d = dst + (size_t)k * VK_F32_NR;
            memcpy(d, src, (size_t)w * sizeof(float));
            if (w < VK_F32_NR)
                memset(d + w, 0, (size_t)(VK_F32_NR - w) * sizeof(float));
        }
    }
}
