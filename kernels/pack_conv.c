/* Conv and depthwise weight packers (layouts: kernels.h) and the per-call
 * scratch sizes of the conv kernels. */
#include <string.h>

#include "pack.h"

/* The implicit-GEMM conv packs A (im2col) one register tile at a time into
 * rows of this many floats; K blocks never exceed it. Kept in sync with
 * kernels/avx512/conv2d_f32_uk.h (VK_CONV_MR, VK_CONV_KC). */
#define CONV_F32_KC 512
#define CONV_F32_MR 14

size_t vk_pack_conv_f32_size(int OC, int KH, int KW, int C)
{
    return vk_round_up((size_t)OC, VK_F32_NR) * (size_t)KH * KW * C;
}

/* OHWI rows are already K = (kh, kw, c) contiguous: packing is a transpose
 * of OC×K into K×OC panels of VK_F32_NR columns. */
void vk_pack_conv_f32(int OC, int KH, int KW, int C, const float *w_ohwi, float *Wp)
{
    const size_t K = (size_t)KH * KW * C;
    const int np = (OC + VK_F32_NR - 1) / VK_F32_NR;
    for (int p = 0; p < np; p++) {
        float *dst = Wp + (size_t)p * K * VK_F32_NR;
        for (size_t k = 0; k < K; k++)
            for (int j = 0; j < VK_F32_NR; j++) {
                int oc = p * VK_F32_NR + j;
                dst[k * VK_F32_NR + j] = oc < OC ? w_ohwi[(size_t)oc * K + k] : 0.0f;
            }
    }
}

size_t vk_pack_conv_s8_size(int OC, int KH, int KW, int C)
{
    size_t K = (size_t)KH * KW * C;
    return vk_round_up((size_t)OC, VK_Q8_NR) * vk_round_up(K, 4);
}

/* matmul-q8 B layout over K = (kh, kw, c): groups of 4 consecutive k may span
 * two taps; padding past K and OC is zero and adds nothing to the sums. */
void vk_pack_conv_s8(int OC, int KH, int KW, int C, const int8_t *w_ohwi, int8_t *Wp,
                     int32_t *colsum)
{
    const size_t K = (size_t)KH * KW * C;
    const size_t K4 = (K + 3) / 4;
    const int np = (OC + VK_Q8_NR - 1) / VK_Q8_NR;
    for (int p = 0; p < np; p++) {
        for (int j = 0; j < VK_Q8_NR; j++) {
            int oc = p * VK_Q8_NR + j;
            int32_t sum = 0;
            for (size_t g = 0; g < K4; g++)
                for (int t = 0; t < 4; t++) {
                    size_t k = 4 * g + (size_t)t;
                    int8_t v = (oc < OC && k < K) ? w_ohwi[(size_t)oc * K + k] : 0;
                    Wp[(((size_t)p * K4 + g) * VK_Q8_NR + j) * 4 + t] = v;
                    sum += v;
                }
            colsum[oc] = sum;
        }
    }
}

size_t vk_pack_dw_size(int KH, int KW, int C)
{
    return (size_t)KH * KW * vk_round_up((size_t)C, 16);
}

void vk_pack_dw_f32(int KH, int KW, int C, const float *w, float *Wp)
{
    const size_t Cp = vk_round_up((size_t)C, 16);
    for (int t = 0; t < KH * KW; t++) {
        memcpy(Wp + t * Cp, w + (size_t)t * C, (size_t)C * sizeof *w);
        memset(Wp + t * Cp + C, 0, (Cp - (size_t)C) * sizeof *w);
    }
}

void vk_pack_dw_s8(int KH, int KW, int C, const int8_t *w, int8_t *Wp)
{
    const size_t Cp = vk_round_up((size_t)C, 16);
    for (int t = 0; t < KH * KW; t++) {
        memcpy(Wp + t * Cp, w + (size_t)t * C, (size_t)C);
        memset(Wp + t * Cp + C, 0, Cp - (size_t)C);
    }
}

/* One packed A tile (CONV_F32_MR rows of CONV_F32_KC floats: 28 KB, which
 * leaves L1 room for the weights), then a row of KW·C zeros that padding
 * taps read (a whole kernel row of taps when the kernel merges them) — at
 * least 16 floats, which also take the whole-vector stores the
 * packer lets run past the tile's last row. */
size_t vk_conv2d_f32_scratch(const vk_conv_geom *g)
{
    return ((size_t)CONV_F32_MR * CONV_F32_KC + vk_round_up((size_t)g->KW * g->C, 16)) *
           sizeof(float);
}

/* Owned by the quantized-conv kernel's author (kernels/avx512/conv2d_q8*.c).
 * That kernel's layout: per 16-channel panel 640 bytes of folded bias and
 * requantization constants (cq_panel), then an im2col block of PB pixels × Kp
 * bytes (Kp = K rounded up to 4; PB as cq_block() there: ~32 KB, 24..96). */
size_t vk_conv2d_q8_scratch(const vk_conv_geom *g)
{
    const size_t Kp = vk_round_up((size_t)g->KH * g->KW * g->C, 4);
    const size_t P = vk_round_up((size_t)g->OC, VK_Q8_NR) / VK_Q8_NR;
    size_t pb = 32768 / Kp / 24 * 24;
    pb = pb < 24 ? 24 : pb > 96 ? 96 : pb;
    return vk_round_up(P * 640 + pb * Kp, 64);
}
