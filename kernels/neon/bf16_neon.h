/* Shared by the NEON bf16 kernels (matmul_bf16.c, conv2d_bf16.c): the
 * widening register tile (matmul_bf16_tile.c) and the bf16 rounding of
 * activations, exactly vk_f32_to_bf16 (kernels.h) on 4 lanes. */
#ifndef VIREO_KERNELS_NEON_BF16_NEON_H
#define VIREO_KERNELS_NEON_BF16_NEON_H

#include <arm_neon.h>
#include <stdint.h>

#include "f32_neon.h"

/* x rounded to bf16 (nearest even), kept as f32; NaN made quiet, not rounded
 * (rounding could carry a NaN's payload into infinity). */
VFN_AI float32x4_t vbf_round(float32x4_t x)
{
    const uint32x4_t u = vreinterpretq_u32_f32(x);
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    uint32x4_t r = vaddq_u32(u, vaddq_u32(lsb, vdupq_n_u32(0x7fff)));
    r = vbslq_u32(vceqq_f32(x, x), r, vorrq_u32(u, vdupq_n_u32(0x00400000)));
    return vreinterpretq_f32_u32(vandq_u32(r, vdupq_n_u32(0xffff0000u)));
}

/* acc[r][v] (columns 4v..4v+3 of row r) += Σ_{k < len} ã[r][k]·B[k][4v ..]
 * for one 16-column matmul-bf16 panel b (at the pair of k = 0), ã = a
 * rounded to bf16 when round_a, else a as is (already rounded by a gather).
 * One FMA per k, in k order: products of bf16 values are exact, so the sum
 * is the reference's, in its order. a: R (1..4) row pointers, read [0, len). */
void vk_bf16_tile_neon(const float *const a[VK_F32N_MR], int R, int len, const uint16_t *b,
                       int round_a, float32x4_t acc[VK_F32N_MR][4]);

#endif
