/* The int8 register tile of the NEON kernels (q8_neon.h): up to 4 rows × one
 * 16-column panel, sdot by lane. Per 16 bytes of K: one A vector per row
 * (4 groups of 4 k), then per group the panel's 64 bytes as 4 B vectors and
 * one vdotq_laneq_s32 per row and B vector (4 columns × 4 k each). */
#include <string.h>

#include "q8_neon.h"

/* n (1..15) bytes from row + k, zero past n, reading nothing past them.
 * When the 16 bytes ending there lie in the row (k + n >= 16), one load and a
 * table lookup shift them down; else a byte copy. */
VQN_AI uint8x16_t load_tail(const uint8_t *row, int k, int n)
{
    static const uint8_t idx[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
    if (k + n >= 16) {
        /* lane i takes byte 16 − n + i of the load; indices >= 16 give 0 */
        const uint8x16_t v = vld1q_u8(row + k + n - 16);
        return vqtbl1q_u8(v, vld1q_u8(idx + 16 - n));
    }
    uint8_t t[16] = {0};
    memcpy(t, row + k, (size_t)n);
    return vld1q_u8(t);
}

#define DOT(r, g)                                                   \
    do {                                                            \
        acc[r][0] = vdotq_laneq_s32(acc[r][0], b0, av[r], g);       \
        acc[r][1] = vdotq_laneq_s32(acc[r][1], b1, av[r], g);       \
        acc[r][2] = vdotq_laneq_s32(acc[r][2], b2, av[r], g);       \
        acc[r][3] = vdotq_laneq_s32(acc[r][3], b3, av[r], g);       \
    } while (0)

/* One group of 4 k for every row: lane g of each row's A vector. */
#define GROUP(g)                                         \
    do {                                                 \
        const int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16); \
        const int8x16_t b2 = vld1q_s8(b + 32), b3 = vld1q_s8(b + 48); \
        b += 64;                                         \
        DOT(0, g);                                       \
        if (R > 1)                                       \
            DOT(1, g);                                   \
        if (R > 2)                                       \
            DOT(2, g);                                   \
        if (R > 3)                                       \
            DOT(3, g);                                   \
    } while (0)

VQN_AI void tile(const uint8_t *a, ptrdiff_t lda, int K, uint8_t flip, int readable,
                 const int8_t *bp, int32x4_t acc_io[VK_Q8N_MR][4], const int R)
{
    int32x4_t acc[VK_Q8N_MR][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++)
            acc[r][v] = acc_io[r][v];
    const uint8x16_t fl = vdupq_n_u8(flip);
    const uint8_t *ar[VK_Q8N_MR];
    for (int r = 0; r < VK_Q8N_MR; r++)
        ar[r] = a + (r < R ? r : 0) * lda;
    const int8_t *b = bp;
    int8x16_t av[VK_Q8N_MR];
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        for (int r = 0; r < R; r++)
            av[r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(ar[r] + k), fl));
        GROUP(0);
        GROUP(1);
        GROUP(2);
        GROUP(3);
    }
    if (k < K) {
        const int n = K - k, groups = (n + 3) / 4;
        for (int r = 0; r < R; r++) {
            const uint8x16_t t = readable ? vld1q_u8(ar[r] + k) : load_tail(ar[r], k, n);
            av[r] = vreinterpretq_s8_u8(veorq_u8(t, fl));
        }
        GROUP(0);
        if (groups > 1)
            GROUP(1);
        if (groups > 2)
            GROUP(2);
        if (groups > 3)
            GROUP(3);
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++)
            acc_io[r][v] = acc[r][v];
}

#define TILE_R(NAME, R)                                                                       \
    static void NAME(const uint8_t *a, ptrdiff_t lda, int K, uint8_t flip, int readable,       \
                     const int8_t *bp, int32x4_t acc[VK_Q8N_MR][4])                           \
    {                                                                                         \
        tile(a, lda, K, flip, readable, bp, acc, R);                                          \
    }
TILE_R(tile1, 1)
TILE_R(tile2, 2)
TILE_R(tile3, 3)
TILE_R(tile4, 4)
#undef TILE_R

void vk_q8_tile_neon(const uint8_t *a, ptrdiff_t lda, int R, int K, uint8_t flip, int readable,
                     const int8_t *bp, int32x4_t acc[VK_Q8N_MR][4])
{
    switch (R) {
    case 1: tile1(a, lda, K, flip, readable, bp, acc); break;
    case 2: tile2(a, lda, K, flip, readable, bp, acc); break;
    case 3: tile3(a, lda, K, flip, readable, bp, acc); break;
    default: tile4(a, lda, K, flip, readable, bp, acc); break;
    }
}

int32_t vk_q8_rowsum_neon(const uint8_t *a, int n, uint8_t flip)
{
    const uint8x16_t fl = vdupq_n_u8(flip);
    const int8x16_t ones = vdupq_n_s8(1);
    int32x4_t s = vdupq_n_s32(0);
    int k = 0;
    for (; k + 16 <= n; k += 16)
        s = vdotq_s32(s, vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a + k), fl)), ones);
    uint32_t t = (uint32_t)vaddvq_s32(s);
    for (; k < n; k++)
        t += (uint32_t)(int32_t)(int8_t)(a[k] ^ flip);
    return (int32_t)t;
}
