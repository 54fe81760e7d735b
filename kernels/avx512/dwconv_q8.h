/* The AVX-512 depthwise kernel's files (dwconv_q8.c: driver, 16-channel and
 * per-pixel paths; dwconv_q8_pair.c: 32-channel two-taps-per-instruction
 * path; dwconv_q8_quad.c: 64-channel four-taps-per-instruction path for 3×3
 * with b_offset 0). */
#ifndef VIREO_KERNELS_AVX512_DWCONV_Q8_H
#define VIREO_KERNELS_AVX512_DWCONV_Q8_H

#include "../kernels.h"
#include "conv2d_q8.h"

/* Rows [r0, r1), channels [c0, c0 + 32) (all inside C) of a 3×3 or 5×5
 * depthwise conv at stride 1 or 2 (both ways), no dilation, b_offset within
 * ±32639. zpad: 64 bytes of the input zero point. */
void vk_dwq8_pair_rows(const vk_dwconv_q8_args *a, int r0, int r1, int c0, const vq_out *o,
                       const uint8_t *zpad);

/* The four-taps-per-instruction path (dwconv_q8_quad.c): 3×3, stride 1 or 2
 * both ways, no dilation, b_offset 0, no left shift (vk_dwq8_quad_ok); rows
 * [r0, r1) of the channels [0, end), end returned: blocks of 64, and a last
 * partial block when it has more than 32 channels. */
int vk_dwq8_quad_ok(const vk_dwconv_q8_args *a, const vq_out *o);
int vk_dwq8_quad_rows(const vk_dwconv_q8_args *a, int r0, int r1, const vq_out *o,
                      const uint8_t *zpad);

#endif
