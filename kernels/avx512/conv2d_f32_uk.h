/* Private to kernels/avx512/conv2d_f32*.c: the f32 conv micro-kernel table. */
#ifndef VIREO_KERNELS_AVX512_CONV2D_F32_UK_H
#define VIREO_KERNELS_AVX512_CONV2D_F32_UK_H

#include <immintrin.h>
#include <stddef.h>

#include "../kernels.h"

/* Register tile: up to VK_CONV_MR output pixels × 32 output channels.
 * VK_CONV_KC: the longest K block, also the row stride of the packed A tile
 * (vk_conv2d_f32_scratch in kernels/pack_conv.c sizes the tile from these). */
#define VK_CONV_MR 14
#define VK_CONV_KC 512
/* From this many input channels on, the direct micro-kernel (per-tap loops
 * of C) beats gathering im2col tiles; below, taps are too short unless a
 * dense input lets a whole kernel row run as one loop (conv2d_f32.c). */
#define VK_CONV_DIRECT_MIN_C 16

typedef struct vk_conv_uk_args {
    const float *a;    /* packed A tile: MR rows of VK_CONV_KC floats */
    const float *w;    /* first panel at the block's k0 */
    ptrdiff_t wps;     /* floats from one panel to the next (K * 16) */
    int kc;            /* K block length */
    float *c;          /* output tile; row i at c + i*ldc */
    ptrdiff_t ldc;
    const float *bias; /* at the tile's first channel, or NULL */
    const float *res;  /* residual at the tile, or NULL */
    ptrdiff_t ldr;
    __mmask16 m0, m1;  /* valid channels of each 16-channel vector */
    int first, last;   /* first: start from bias + residual; else from c */
    vk_act act;        /* only RELU / RELU6 are applied here (on last) */
} vk_conv_uk_args;

typedef void (*vk_conv_uk_fn)(const vk_conv_uk_args *u);
/* [NV - 1][MR - 1] */
extern const vk_conv_uk_fn vk_conv_f32_uk[2][VK_CONV_MR];

/* Direct variant: reads the input in place, all K = (kh, kw, c) in one call.
 * Pixel i of the tile is (img[i], ih0[i], iw0[i]): its batch item and the
 * top-left input coordinate of its window. Taps outside the image read
 * `zero` (C zeros); a tap outside for every pixel of the tile is skipped. */
typedef struct vk_conv_dk_args {
    const vk_conv_geom *g;
    const float *img[VK_CONV_MR];
    int ih0[VK_CONV_MR], iw0[VK_CONV_MR];
    const float *zero;
    /* 1×1 without padding: the pixels' input rows, computed once per tile
     * for all the channel slices (else NULL) */
    const float *pix[VK_CONV_MR];
    int use_pix;
    vk_conv_uk_args u; /* a and kc unused; first = last = 1 */
} vk_conv_dk_args;
typedef void (*vk_conv_dk_fn)(const vk_conv_dk_args *d);
extern const vk_conv_dk_fn vk_conv_f32_dk[2][VK_CONV_MR];

#endif
