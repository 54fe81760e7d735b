/* The widening bf16 register tile of the NEON kernels (bf16_neon.h): up to 4
 * rows × one 16-column panel. Per pair of k, two vld2q_u16 split the panel's
 * 32 bf16 into even-k and odd-k halves, eight shifts widen them to f32
 * (bf16 is the top half of an f32), and one vfmaq_laneq_f32 per row and
 * vector adds each k. A comes 4 k at a time, rounded on 4 lanes. */
#include "bf16_neon.h"

VFN_AI float32x4_t widen_lo(uint16x8_t x) { return vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(x), 16)); }
VFN_AI float32x4_t widen_hi(uint16x8_t x) { return vreinterpretq_f32_u32(vshll_high_n_u16(x, 16)); }

#define FMA_K(r, w, l)                                                \
    do {                                                              \
        acc[r][0] = vfmaq_laneq_f32(acc[r][0], w[0], av[r], l);       \
        acc[r][1] = vfmaq_laneq_f32(acc[r][1], w[1], av[r], l);       \
        acc[r][2] = vfmaq_laneq_f32(acc[r][2], w[2], av[r], l);       \
        acc[r][3] = vfmaq_laneq_f32(acc[r][3], w[3], av[r], l);       \
    } while (0)

/* one pair of k: lanes l (even k) and l + 1 (odd k) of av[] */
#define PAIR(l)                                                                     \
    do {                                                                            \
        const uint16x8x2_t p0 = vld2q_u16(b), p1 = vld2q_u16(b + 16);               \
        const float32x4_t ev[4] = {widen_lo(p0.val[0]), widen_hi(p0.val[0]),         \
                                   widen_lo(p1.val[0]), widen_hi(p1.val[0])};        \
        const float32x4_t od[4] = {widen_lo(p0.val[1]), widen_hi(p0.val[1]),         \
                                   widen_lo(p1.val[1]), widen_hi(p1.val[1])};        \
        b += 32;                                                                    \
        for (int r = 0; r < R; r++) {                                               \
            FMA_K(r, ev, l);                                                        \
            FMA_K(r, od, (l) + 1);                                                  \
        }                                                                           \
    } while (0)

VFN_AI void tile(const float *const a[VK_F32N_MR], int len, const uint16_t *b, int round_a,
                 float32x4_t acc_io[VK_F32N_MR][4], const int R)
{
    float32x4_t acc[VK_F32N_MR][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++)
            acc[r][v] = acc_io[r][v];
    float32x4_t av[VK_F32N_MR];
    int k = 0;
    for (; k + 4 <= len; k += 4) {
        for (int r = 0; r < R; r++) {
            av[r] = vld1q_f32(a[r] + k);
            if (round_a)
                av[r] = vbf_round(av[r]);
        }
        PAIR(0);
        PAIR(2);
    }
    for (; k < len; k += 2) {
        /* the last 1..3 k: a pair at a time; past len A reads as 0 (B is 0 there) */
        for (int r = 0; r < R; r++) {
            float t[4] = {a[r][k], k + 1 < len ? a[r][k + 1] : 0.0f, 0.0f, 0.0f};
            av[r] = vld1q_f32(t);
            if (round_a)
                av[r] = vbf_round(av[r]);
        }
        PAIR(0);
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < 4; v++)
            acc_io[r][v] = acc[r][v];
}

#define TILE_R(NAME, R)                                                                    \
    static void NAME(const float *const a[VK_F32N_MR], int len, const uint16_t *b,         \
                     int round_a, float32x4_t acc[VK_F32N_MR][4])                          \
    {                                                                                      \
        tile(a, len, b, round_a, acc, R);                                                  \
    }
TILE_R(tile1, 1)
TILE_R(tile2, 2)
TILE_R(tile3, 3)
TILE_R(tile4, 4)
#undef TILE_R

void vk_bf16_tile_neon(const float *const a[VK_F32N_MR], int R, int len, const uint16_t *b,
                       int round_a, float32x4_t acc[VK_F32N_MR][4])
{
    switch (R) {
    case 1: tile1(a, len, b, round_a, acc); break;
    case 2: tile2(a, len, b, round_a, acc); break;
    case 3: tile3(a, len, b, round_a, acc); break;
    default: tile4(a, len, b, round_a, acc); break;
    }
}
