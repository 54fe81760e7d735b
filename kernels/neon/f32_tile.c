/* The f32 register tile of the NEON kernels (f32_neon.h): up to 4 rows × one
 * 16-column panel. Per 4 k: one A vector per row, then per k the panel's 16
 * floats as 4 B vectors and one vfmaq_laneq_f32 per row and B vector. */
#include "f32_neon.h"

#define FMA4(r, l)                                                    \
    do {                                                              \
        acc[r][0] = vfmaq_laneq_f32(acc[r][0], b0, av[r], l);         \
        acc[r][1] = vfmaq_laneq_f32(acc[r][1], b1, av[r], l);         \
        acc[r][2] = vfmaq_laneq_f32(acc[r][2], b2, av[r], l);         \
        acc[r][3] = vfmaq_laneq_f32(acc[r][3], b3, av[r], l);         \
    } while (0)

#define STEP(l)                                                                     \
    do {                                                                            \
        const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);                  \
        const float32x4_t b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);             \
        b += 16;                                                                    \
        FMA4(0, l);                                                                 \
        if (R > 1)                                                                  \
            FMA4(1, l);                                                             \
        if (R > 2)                                                                  \
            FMA4(2, l);                                                             \
        if (R > 3)                                                                  \
            FMA4(3, l);                                                             \
    } while (0)

VFN_AI void tile(const float *const a[VK_F32N_MR], int len, const float *b,
                 float32x4_t acc_io[VK_F32N_MR][4], const int R)
{
    float32x4_t acc[VK_F32N_MR][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++)
            acc[r][v] = acc_io[r][v];
    float32x4_t av[VK_F32N_MR];
    int k = 0;
    for (; k + 4 <= len; k += 4) {
        for (int r = 0; r < R; r++)
            av[r] = vld1q_f32(a[r] + k);
        STEP(0);
        STEP(1);
        STEP(2);
        STEP(3);
    }
    for (; k < len; k++) {
        /* lane 0 of a vector holding only a[r][k] */
        for (int r = 0; r < R; r++)
            av[r] = vld1q_dup_f32(a[r] + k);
        STEP(0);
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++)
            acc_io[r][v] = acc[r][v];
}

#define TILE_R(NAME, R)                                                                    \
    static void NAME(const float *const a[VK_F32N_MR], int len, const float *b,            \
                     float32x4_t acc[VK_F32N_MR][4])                                       \
    {                                                                                      \
        tile(a, len, b, acc, R);                                                           \
    }
TILE_R(tile1, 1)
TILE_R(tile2, 2)
TILE_R(tile3, 3)
TILE_R(tile4, 4)
#undef TILE_R

void vk_f32_tile_neon(const float *const a[VK_F32N_MR], int R, int len, const float *b,
                      float32x4_t acc[VK_F32N_MR][4])
{
    switch (R) {
    case 1: tile1(a, len, b, acc); break;
    case 2: tile2(a, len, b, acc); break;
    case 3: tile3(a, len, b, acc); break;
    default: tile4(a, len, b, acc); break;
    }
}
