/* Winograd F(4×4, 3×3): the transform matrices and the work split shared by
 * every level's conv_wino_f32 (interface: kernels.h). Lavin & Gray (2016),
 * interpolation points 0, ±1, ±2, ∞:
 *
 *   Bᵀ (6×6, input)         G (6×3, weights)          Aᵀ (4×6, output)
 *   4  0 -5  0  1  0        1/4     0      0         1  1  1  1  1  0
 *   0 -4 -4  1  1  0       -1/6   -1/6   -1/6        0  1 -1  2 -2  0
 *   0  4 -4 -1  1  0       -1/6    1/6   -1/6        0  1  1  4  4  0
 *   0 -2 -1  2  1  0        1/24   1/12   1/6        0  1 -1  8 -8  1
 *   0  2 -1 -2  1  0        1/24  -1/12   1/6
 *   0  4  0 -5  0  1        0       0      1
 *
 * Transformed points are numbered ξ = 6·i + j (row i, column j of the 6×6).
 *
 * Per call each thread transforms a block of up to vk_wino_tile_block() tiles
 * of its range into V[ξ][tile][Cp], multiplies each V_ξ by U_ξ into
 * M[ξ][tile][OCp] and transforms M back: the two buffers are the scratch. */
#ifndef VIREO_KERNELS_WINO_H
#define VIREO_KERNELS_WINO_H

#include "pack.h"

#define VK_WINO_A 6 /* transformed tile side: 4 outputs + 3 − 1 */
#define VK_WINO_XI 36
static inline int vk_wino_tiles_w(const vk_conv_geom *g) { return (g->OW + 3) / 4; }
static inline int vk_wino_tiles_h(const vk_conv_geom *g) { return (g->OH + 3) / 4; }

/* Tiles per block. V and M of a block (36 · (Cp + OCp) floats a tile) are
 * kept within L2 (VK_WINO_L2 bytes) while U is small enough to be re-read
 * from L2/L3 once per block; when U is large (it streams from DRAM: ResNet's
 * 256- and 512-channel stages hold 9.4 and 37.7 MB) a block takes up to
 * VK_WINO_BIG bytes (ResNet's 14×14×256 stage: all 16 tiles of an image), so
 * U is read once per call, and V/M spill to L3 instead. (The planner keeps a
 * scratch per possible thread: these budgets are also its virtual size.) At
 * least 6 tiles (one register tile of the AVX-512 product), at most every
 * tile of the batch. */
#define VK_WINO_L2 (1024 * 1024)
#define VK_WINO_BIG (2 * 1024 * 1024)
#define VK_WINO_U_BIG (2 * 1024 * 1024)
static inline int vk_wino_tile_block(const vk_conv_geom *g)
{
    const size_t Cp = vk_round_up((size_t)g->C, 16), OCp = vk_round_up((size_t)g->OC, 16);
    const size_t per_tile = (size_t)VK_WINO_XI * sizeof(float) * (Cp + OCp);
    const size_t u_bytes = (size_t)VK_WINO_XI * sizeof(float) * (size_t)g->C * OCp;
    const size_t all = (size_t)g->N * vk_wino_tiles_h(g) * vk_wino_tiles_w(g);
    size_t tb = (u_bytes > VK_WINO_U_BIG ? VK_WINO_BIG : VK_WINO_L2) / per_tile;
    tb = tb > all ? all : tb;
    return tb < 6 ? 6 : tb > 4096 ? 4096 : (int)tb;
}

#endif
