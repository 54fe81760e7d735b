/* bf16 weight packers (layouts: kernels.h) and the conversions the converters
 * use. Every weight is rounded once, here, by vk_f32_to_bf16 (RNE, NaN-safe);
 * the kernels never see an f32 weight. */
#include <string.h>

#include "pack.h"

void vk_f32_to_bf16_n(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = vk_f32_to_bf16(x[i]);
}

void vk_bf16_to_f32_n(const uint16_t *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = vk_bf16_to_f32(x[i]);
}

size_t vk_pack_bf16_b_size(int K, int N)
{
    return vk_round_up((size_t)K, 2) * vk_round_up((size_t)N, VK_BF16_NR);
}

/* Panel p, pair g, column j: the two k of the pair side by side, so one
 * 32-bit lane of a vector holds what vdpbf16ps multiplies with a broadcast
 * pair of A. Padding (k = K when K is odd, columns past N) is +0. */
void vk_pack_bf16_b(int K, int N, const float *B, ptrdiff_t ldb, uint16_t *Bp)
{
    const int K2 = (K + 1) / 2;
    const int np = (N + VK_BF16_NR - 1) / VK_BF16_NR;
    for (int p = 0; p < np; p++)
        for (int g = 0; g < K2; g++)
            for (int j = 0; j < VK_BF16_NR; j++)
                for (int t = 0; t < 2; t++) {
                    const int k = 2 * g + t, n = p * VK_BF16_NR + j;
                    Bp[(((size_t)p * K2 + g) * VK_BF16_NR + j) * 2 + t] =
                        k < K && n < N ? vk_f32_to_bf16(B[(ptrdiff_t)k * ldb + n]) : 0;
                }
}

size_t vk_pack_conv_bf16_size(int OC, int KH, int KW, int C)
{
    return vk_pack_bf16_b_size(KH * KW * C, OC);
}

/* OHWI rows are K = (kh, kw, c) contiguous: the matmul-bf16 B layout of the
 * transpose, K×OC. */
void vk_pack_conv_bf16(int OC, int KH, int KW, int C, const float *w_ohwi, uint16_t *Wp)
{
    const size_t K = (size_t)KH * KW * C;
    const size_t K2 = (K + 1) / 2;
    const int np = (OC + VK_BF16_NR - 1) / VK_BF16_NR;
    for (int p = 0; p < np; p++)
        for (size_t g = 0; g < K2; g++)
            for (int j = 0; j < VK_BF16_NR; j++)
                for (int t = 0; t < 2; t++) {
                    const size_t k = 2 * g + (size_t)t;
                    const int oc = p * VK_BF16_NR + j;
                    Wp[(((size_t)p * K2 + g) * VK_BF16_NR + j) * 2 + t] =
                        k < K && oc < OC ? vk_f32_to_bf16(w_ohwi[(size_t)oc * K + k]) : 0;
                }
}

void vk_pack_dw_bf16(int KH, int KW, int C, const float *w, uint16_t *Wp)
{
    const size_t Cp = vk_round_up((size_t)C, 16);
    for (int t = 0; t < KH * KW; t++) {
        vk_f32_to_bf16_n(w + (size_t)t * C, Wp + t * Cp, (size_t)C);
        memset(Wp + t * Cp + C, 0, (Cp - (size_t)C) * sizeof *Wp);
    }
}

/* The AVX-512 conv's bf16 im2col tile (kernels/avx512/conv2d_bf16.c:
 * BF16_CONV_MR rows of BF16_CONV_LD bf16, kept in sync with
 * matmul_bf16_uk.h), its patchify route's f32 rows (vk_conv_patch_rows_bf16)
 * or the NEON conv's 4 whole im2col rows of K f32 (kernels/neon/conv2d_bf16.c),
 * whichever is larger; 0 on overflow. */
#define BF16_CONV_MR 14
#define BF16_CONV_LD (1024 + 32)
size_t vk_conv2d_bf16_scratch(const vk_conv_geom *g)
{
    const size_t tile = (size_t)BF16_CONV_MR * BF16_CONV_LD * sizeof(uint16_t);
    const size_t K = (size_t)(g->KH > 0 ? g->KH : 0) * (size_t)(g->KW > 0 ? g->KW : 0) *
                     (size_t)(g->C > 0 ? g->C : 0);
    if (K > SIZE_MAX / 16 - 64)
        return 0;
    const size_t patch = (size_t)vk_conv_patch_rows_bf16(g);
    const size_t rows = (patch > 4 ? patch : 4) * K * sizeof(float);
    return vk_round_up(tile > rows ? tile : rows, 64) + 64;
}
