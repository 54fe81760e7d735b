/* Private to the AVX-512 bf16 kernels (matmul_bf16.c, conv2d_bf16.c): the
 * vdpbf16ps register tiles both run after packing their activation tile to
 * bf16, over the matmul-bf16 B panels of kernels.h. */
#ifndef VIREO_KERNELS_AVX512_MATMUL_BF16_UK_H
#define VIREO_KERNELS_AVX512_MATMUL_BF16_UK_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "../kernels.h"

/* Tiles: up to VK_BF16_MR rows × 2 panels (28 accumulators + 2 B vectors + 1
 * broadcast = 31 zmm), or up to 6 rows × 4 panels for short row ranges. */
#define VK_BF16_MR 14
#define VK_BF16_SMALL_MR 6
/* K block (k values, a multiple of 32) and the row stride of a packed A tile
 * (bf16 values; not a multiple of 2 KB, so the rows' lines spread over L1
 * sets). */
#define VK_BF16_KC 1024
#define VK_BF16_ALD (VK_BF16_KC + 32)

typedef struct vk_bf16_uk_args {
    const uint16_t *a;  /* packed A tile: row i at a + i*VK_BF16_ALD, kc2 pairs */
    const uint16_t *b;  /* first panel of the first column tile, at the block's pair */
    ptrdiff_t bps;      /* uint16 from one panel to the next: K2 * 32 */
    int kc2;            /* pairs in the K block */
    int ntiles;         /* column tiles of nv panels */
    float *c;           /* row 0, first column */
    ptrdiff_t ldc;
    const float *bias;  /* first K block only, else NULL */
    const float *res;   /* first K block only, else NULL */
    ptrdiff_t ldr;
    int first;          /* start from 0 (+ bias + residual), else from c */
    vk_act act;         /* RELU / RELU6 (last K block only), else NONE */
    __mmask16 mlast;    /* valid lanes of each tile's last panel */
} vk_bf16_uk_args;

typedef void (*vk_bf16_uk_fn)(const vk_bf16_uk_args *u);
/* [B prefetch][rows][panels]: rows 1..14 with 1 or 2 panels, rows 1..6 with
 * 4; others NULL. The prefetching variant is for B streamed from L3 / DRAM
 * (the first row tile of a block, or every tile when rows are few). */
extern const vk_bf16_uk_fn vk_bf16_uk[2][VK_BF16_MR + 1][5];

/* Rounds n floats (RNE) to bf16 into dst, then zeros up to the next multiple
 * of 32 (dst has room: whole vectors are stored). */
static inline void vk_bf16_pack_row(uint16_t *dst, const float *src, int n)
{
    int k = 0;
    for (; k + 32 <= n; k += 32)
        _mm512_storeu_si512(dst + k, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + k + 16),
                                                                  _mm512_loadu_ps(src + k)));
    if (k < n) {
        const int r = n - k;
        const __mmask16 lo = (__mmask16)(r >= 16 ? 0xffff : (1u << r) - 1);
        const __mmask16 hi = (__mmask16)(r <= 16 ? 0 : (1u << (r - 16)) - 1);
        _mm512_storeu_si512(dst + k,
                            (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + k + 16),
                                                         _mm512_maskz_loadu_ps(lo, src + k)));
    }
}

/* Applies a GELU-type activation to rows [0, rows) × columns [0, w) of C. */
void vk_bf16_act_rows(float *C, ptrdiff_t ldc, int rows, int w, vk_act act);

#endif
