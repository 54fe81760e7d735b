/* Packed weight layouts: one definition, used by the converters (to write the
 * weight file) and by every ISA's kernels (to read it). See kernels.h for the
 * layouts themselves. Sizes are in elements of the packed type; a packer
 * writes exactly that many (padding included, zero-filled). */
#ifndef VIREO_KERNELS_PACK_H
#define VIREO_KERNELS_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

static inline size_t vk_round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* f32 matmul B (K×N, row stride ldb). */
size_t vk_pack_f32_b_size(int K, int N);
void vk_pack_f32_b(int K, int N, const float *B, ptrdiff_t ldb, float *Bp);

/* s8 matmul B (K×N, row stride ldb); colsum gets round_up(N, VK_Q8_NR) sums
 * (zero past N). */
size_t vk_pack_s8_b_size(int K, int N);
void vk_pack_s8_b(int K, int N, const int8_t *B, ptrdiff_t ldb, int8_t *Bp, int32_t *colsum);

/* Conv weights from OHWI [OC][KH][KW][C]. */
size_t vk_pack_conv_f32_size(int OC, int KH, int KW, int C);
void vk_pack_conv_f32(int OC, int KH, int KW, int C, const float *w_ohwi, float *Wp);
size_t vk_pack_conv_s8_size(int OC, int KH, int KW, int C);
void vk_pack_conv_s8(int OC, int KH, int KW, int C, const int8_t *w_ohwi, int8_t *Wp,
                     int32_t *colsum);

/* Winograd F(4,3) conv weights from OHWI [OC][3][3][C] (layout: kernels.h,
 * conv_wino_f32): 36 matmul-B blocks of vk_pack_f32_b_size(C, OC) floats. */
size_t vk_pack_wino_f32_size(int OC, int C);
void vk_pack_wino_f32(int OC, int C, const float *w_ohwi, float *Wp);

/* Depthwise weights from [KH][KW][C] to [KH*KW][round_up(C,16)]. */
size_t vk_pack_dw_size(int KH, int KW, int C);
void vk_pack_dw_f32(int KH, int KW, int C, const float *w, float *Wp);
void vk_pack_dw_s8(int KH, int KW, int C, const int8_t *w, int8_t *Wp);

/* bf16 (kernels/pack_bf16.c; layouts: kernels.h). Packers take f32 and round
 * each weight once (vk_f32_to_bf16). Sizes in uint16_t elements.
 * matmul B: K×N, row stride ldb. */
size_t vk_pack_bf16_b_size(int K, int N);
void vk_pack_bf16_b(int K, int N, const float *B, ptrdiff_t ldb, uint16_t *Bp);
/* conv weights from OHWI [OC][KH][KW][C] f32 */
size_t vk_pack_conv_bf16_size(int OC, int KH, int KW, int C);
void vk_pack_conv_bf16(int OC, int KH, int KW, int C, const float *w_ohwi, uint16_t *Wp);
/* depthwise from [KH][KW][C] f32 to [KH*KW][round_up(C,16)] bf16 (size: vk_pack_dw_size) */
void vk_pack_dw_bf16(int KH, int KW, int C, const float *w, uint16_t *Wp);
/* n values f32 -> bf16 (RNE, NaN-safe) and back, for converters and tests */
void vk_f32_to_bf16_n(const float *x, uint16_t *y, size_t n);
void vk_bf16_to_f32_n(const uint16_t *x, float *y, size_t n);

/* Patchify convs (stride == kernel, unpadded, small C: a ViT's patch
 * embedding) that the AVX-512 f32 / bf16 convs run as a matmul over im2col
 * rows gathered into the scratch: rows per chunk (K floats each), 0 for any
 * other geometry. The scratch sizes below include the chunk. */
int vk_conv_patch_rows_f32(const vk_conv_geom *g);
int vk_conv_patch_rows_bf16(const vk_conv_geom *g);

/* Workspace a conv kernel needs per call (bytes, 64-aligned buffer). */
size_t vk_conv2d_f32_scratch(const vk_conv_geom *g);
size_t vk_conv2d_q8_scratch(const vk_conv_geom *g);
size_t vk_conv2d_bf16_scratch(const vk_conv_geom *g);
size_t vk_conv_wino_f32_scratch(const vk_conv_geom *g);

#endif
