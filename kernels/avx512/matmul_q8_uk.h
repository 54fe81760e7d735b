/* int8 matmul, AVX-512 VNNI: the microkernels (matmul_q8_uk.c), shared with
 * the driver (matmul_q8.c). */
#ifndef VIREO_KERNELS_AVX512_MATMUL_Q8_UK_H
#define VIREO_KERNELS_AVX512_MATMUL_Q8_UK_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define VK_Q8_MR 12  /* rows of the register tile, 32 columns */
#define VK_Q8_MRH 16 /* rows of the half tile, 16 + up to 8 columns */

/* Where a tile starts and ends. Accumulators start at the column terms plus
 * the row terms (the epilogue has nothing left to add). Full vectors go to
 * c + i·ldc + 16·j. A half tile's second vector covers columns 16-23 for two
 * rows at once (lanes 0-7: row 2p, lanes 8-15: row 2p + 1), so its column
 * terms hold columns 16-23 twice; pair p goes to c2 + 16·p. */
typedef struct vk_q8_ukr_io {
    const __m512i *init;  /* per vector: column terms */
    const int32_t *rterm; /* per row, or NULL */
    int32_t *c, *c2;
    ptrdiff_t ldc;
    /* pfn lines from pf on (a share of the next tile's B columns) to prefetch
     * inside the K loop, pf2 ? two : one per group of 4 k. */
    const int8_t *pf;
    int pfn, pf2;
} vk_q8_ukr_io;

/* A = rows of a (stride lda bytes), B = panels from b (stride bs bytes), kg
 * groups of 4 k and ktail more k. */
typedef void (*vk_q8_ukr_fn)(const uint8_t *a, ptrdiff_t lda, const int8_t *b, ptrdiff_t bs,
                             int kg, int ktail, const vk_q8_ukr_io *io);

/* [a_signed][full vectors - 1][rows - 1]: tiles of 16 or 32 columns. */
extern const vk_q8_ukr_fn vk_q8_ukr[2][2][VK_Q8_MR];
/* [a_signed][rows - 1]: half tiles, 17 to 24 columns. */
extern const vk_q8_ukr_fn vk_q8_ukr_half[2][VK_Q8_MRH];

#endif
