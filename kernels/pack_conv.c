/* Conv and depthwise weight packers (layouts: kernels.h) and the per-call
 * scratch sizes of the conv kernels. */
#include <limits.h>
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

/* Patchify geometry (kernels/avx512/conv_patch.h): stride == kernel, no
 * padding or dilation, every patch inside the image, dense input rows, and
 * C < 16: with more channels the f32 conv reads the input in place (its
 * VK_CONV_DIRECT_MIN_C) and neither kernel gained from the route (2×2 C
 * 96-384, 4×4 C 64-128: 0.9-1.06×). Returns the rows per chunk (the
 * budget's worth of K-float rows, at most every output pixel), else 0. */
#define PATCH_MAX_C 15
#define PATCH_BUDGET (768 * 1024) /* holds ViT-B/32's 49 × 3072, B/16's 196 × 768 floats */
static int patch_rows(const vk_conv_geom *g)
{
    if (g->N <= 0 || g->OH <= 0 || g->OW <= 0 || g->KH <= 0 || g->KW <= 0 || g->C <= 0 ||
        g->C > PATCH_MAX_C || (long long)g->KH * g->KW <= 1 ||
        (long long)g->KH * g->KW > INT_MAX / g->C || g->stride_h != g->KH ||
        g->stride_w != g->KW || g->pad_t != 0 || g->pad_l != 0 || g->dil_h != 1 ||
        g->dil_w != 1 || g->in_ld != g->C || (long long)g->OH * g->KH > g->H ||
        (long long)g->OW * g->KW > g->W)
        return 0;
    const long long K = (long long)g->KH * g->KW * g->C, M = (long long)g->N * g->OH * g->OW;
    long long rows = PATCH_BUDGET / (K * (long long)sizeof(float));
    rows = rows < 8 ? 8 : rows;
    return (int)(rows < M ? rows : M);
}

/* f32: where the conv would run its K-blocked gathered path (K > 512: the
 * route ran ViT-B/32's K = 3072 at 1.05-1.15×, B/16's 768 at 1.2×), or with
 * enough channels to pay for the gather against the merged-row direct path
 * (C = 3, K = 48-432: 1.0-1.2× at OC >= 128, 0.94-0.97× at OC = 64, 0.7× at
 * OC = 16-32). */
int vk_conv_patch_rows_f32(const vk_conv_geom *g)
{
    const int rows = patch_rows(g); /* first: then K fits an int */
    return rows > 0 && (g->KH * g->KW * g->C > CONV_F32_KC || g->OC >= 128) ? rows : 0;
}

/* bf16: the conv's per-pixel gather (a division per run) loses to the matmul
 * at every small-C patchify shape measured, K = 4 to 3072 (1.1-1.9×). */
int vk_conv_patch_rows_bf16(const vk_conv_geom *g) { return patch_rows(g); }

/* One packed A tile (CONV_F32_MR rows of CONV_F32_KC floats: 28 KB, which
 * leaves L1 room for the weights), then a row of KW·C zeros that padding
 * taps read (a whole kernel row of taps when the kernel merges them) — at
 * least 16 floats, which also take the whole-vector stores the
 * packer lets run past the tile's last row. Or the patchify route's rows. */
size_t vk_conv2d_f32_scratch(const vk_conv_geom *g)
{
    const size_t tile =
        ((size_t)CONV_F32_MR * CONV_F32_KC + vk_round_up((size_t)g->KW * g->C, 16)) *
        sizeof(float);
    const size_t patch =
        (size_t)vk_conv_patch_rows_f32(g) * ((size_t)g->KH * g->KW * g->C) * sizeof(float);
    return tile > patch ? tile : patch;
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
