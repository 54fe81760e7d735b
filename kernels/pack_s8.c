/* s8 matmul B packing (layout in kernels.h): panels of VK_Q8_NR columns, K in
 * groups of 4 so that one 64-byte row of a panel is exactly the s8 operand of
 * one vpdpbusd (and of AMX / NEON sdot likewise). */
#include <string.h>

#include "pack.h"

size_t vk_pack_s8_b_size(int K, int N)
{
    return vk_round_up((size_t)N, VK_Q8_NR) * vk_round_up((size_t)K, 4);
}

void vk_pack_s8_b(int K, int N, const int8_t *B, ptrdiff_t ldb, int8_t *Bp, int32_t *colsum)
{
    const int K4 = (K + 3) / 4;
    const int NP = (N + VK_Q8_NR - 1) / VK_Q8_NR;
    memset(Bp, 0, vk_pack_s8_b_size(K, N));
    memset(colsum, 0, (size_t)NP * VK_Q8_NR * sizeof *colsum);
    for (int k = 0; k < K; k++) {
        const int8_t *row = B + (ptrdiff_t)k * ldb;
        const int g = k / 4, t = k % 4;
        for (int n = 0; n < N; n++) {
            const int p = n / VK_Q8_NR, j = n % VK_Q8_NR;
            Bp[(((size_t)p * K4 + g) * VK_Q8_NR + j) * 4 + t] = row[n];
            colsum[n] += row[n];
        }
    }
}
