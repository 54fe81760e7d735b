/* Private to kernels/avx512/conv2d_f32.c and conv2d_bf16.c: the im2col
 * gather and chunk loop of the patchify route (vk_conv_patch_rows in kernels/pack.h says
 * which geometry takes it and how many rows a chunk holds).
 *
 * Stride == kernel and no padding: each output pixel reads its own KH × KW
 * block of the image, never out of it, and with a dense input (pixel stride
 * == C) a kernel row of it is KW·C consecutive floats. So an im2col row is KH
 * plain copies, in the (kh, kw, c) order of the packed weights, and the conv
 * is a matmul of those rows with the weights as they are packed.
 */
#ifndef VIREO_KERNELS_AVX512_CONV_PATCH_H
#define VIREO_KERNELS_AVX512_CONV_PATCH_H

#include <stddef.h>
#include <string.h>

#include "../kernels.h"

/* im2col rows of output pixels [m, m + rows) (flattened n·OH·OW + oh·OW + ow)
 * into dst, row-major, lda floats apart. */
static inline void vk_conv_patch_gather(float *dst, ptrdiff_t lda, const vk_conv_geom *g,
                                        const float *in, long long m, int rows)
{
    const size_t run = (size_t)g->KW * g->C;
    int ow = (int)(m % g->OW);
    long long r = m / g->OW;
    int oh = (int)(r % g->OH), n = (int)(r / g->OH);
    for (int i = 0; i < rows; i++, dst += lda) {
        const ptrdiff_t ih = (ptrdiff_t)n * g->H + (ptrdiff_t)oh * g->KH;
        const float *src = in + (ih * g->W + (ptrdiff_t)ow * g->KW) * g->C;
        for (int kh = 0; kh < g->KH; kh++)
            memcpy(dst + kh * run, src + (ptrdiff_t)kh * g->W * g->C, run * sizeof(float));
        if (++ow == g->OW) {
            ow = 0;
            if (++oh == g->OH) {
                oh = 0;
                n++;
            }
        }
    }
}

/* One chunk's product: `rows` im2col rows at A (K floats apart) for the
 * output pixels [p0, p0 + rows); args is the conv's own argument struct. */
typedef void (*vk_conv_patch_mm)(const void *args, const float *A, int K, long long p0, int rows);

/* Output pixels [m0, m0 + M) in chunks of at most P rows, split evenly, each
 * gathered into A (the scratch) and handed to mm. The matmuls sum every
 * output in the same order whatever its chunk, so row ranges do not change a
 * bit. */
static inline void vk_conv_patch_run(const vk_conv_geom *g, const float *in, float *A,
                                     long long m0, long long M, int P, vk_conv_patch_mm mm,
                                     const void *args)
{
    const int K = g->KH * g->KW * g->C;
    const long long nch = (M + P - 1) / P;
    for (long long i = 0; i < nch; i++) {
        const long long p0 = m0 + M * i / nch, rows = m0 + M * (i + 1) / nch - p0;
        vk_conv_patch_gather(A, K, g, in, p0, (int)rows);
        mm(args, A, K, p0, (int)rows);
    }
}

#endif
