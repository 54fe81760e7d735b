/* Shared by the NEON f32 kernels (matmul_f32.c, conv2d_f32.c): the FMA
 * register tile (f32_tile.c) and the fused epilogue. */
#ifndef VIREO_KERNELS_NEON_F32_NEON_H
#define VIREO_KERNELS_NEON_F32_NEON_H

#include <arm_neon.h>
#include <stddef.h>
#include <string.h>

#include "../act.h"
#include "../kernels.h"

#define VFN_AI static inline __attribute__((always_inline))

/* Rows of the register tile: 4 rows × 16 columns = 16 float32x4
 * accumulators, plus 4 A and 4 B vectors. */
#define VK_F32N_MR 4

/* acc[r][v] (columns 4v..4v+3 of row r) += Σ_{k < len} a[r][k]·b[16k + 4v ..],
 * one FMA per k in k order (so an element's sum never depends on the tile it
 * is in). a: R (1..4) row pointers, read [0, len) only. b: 16 floats per k. */
void vk_f32_tile_neon(const float *const a[VK_F32N_MR], int R, int len, const float *b,
                      float32x4_t acc[VK_F32N_MR][4]);

/* act.h's ReLU / ReLU6 exactly (compares, so −0 and NaN come out as there). */
VFN_AI float32x4_t vfn_relu(float32x4_t x, int six)
{
    const float32x4_t z = vdupq_n_f32(0.0f), s = vdupq_n_f32(6.0f);
    if (!six)
        return vbslq_f32(vcgtq_f32(x, z), x, z);
    x = vbslq_f32(vcltq_f32(x, z), z, x);
    return vbslq_f32(vcgtq_f32(x, s), s, x);
}

/* One row of w (1..16) outputs: dst[j] = act(acc + bias[j] + res[j]) (bias,
 * res NULL when absent), the additions in that order. res may equal dst (it is
 * read first). */
static inline void vfn_epi_row(const float32x4_t acc[4], const float *bias, const float *res,
                               float *dst, int w, vk_act act)
{
    float bt[16], rt[16], t[16];
    if (w < 16) {
        if (bias) {
            memcpy(bt, bias, (size_t)w * sizeof *bt);
            bias = bt;
        }
        if (res) {
            memcpy(rt, res, (size_t)w * sizeof *rt);
            res = rt;
        }
    }
    for (int v = 0; v < 4; v++) {
        if (4 * v >= w)
            break;
        float32x4_t x = acc[v];
        if (bias)
            x = vaddq_f32(x, vld1q_f32(bias + 4 * v));
        if (res)
            x = vaddq_f32(x, vld1q_f32(res + 4 * v));
        if (act == VK_ACT_RELU || act == VK_ACT_RELU6)
            x = vfn_relu(x, act == VK_ACT_RELU6);
        if (w == 16 && act != VK_ACT_GELU && act != VK_ACT_QUICKGELU)
            vst1q_f32(dst + 4 * v, x);
        else
            vst1q_f32(t + 4 * v, x);
    }
    if (act == VK_ACT_GELU || act == VK_ACT_QUICKGELU)
        for (int j = 0; j < w; j++)
            t[j] = vk_act1(t[j], act);
    if (w < 16 || act == VK_ACT_GELU || act == VK_ACT_QUICKGELU)
        memcpy(dst, t, (size_t)w * sizeof *dst);
}

#endif
