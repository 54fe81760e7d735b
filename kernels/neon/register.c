/* NEON (+dotprod) kernels; ops without one here run the reference. */
#include "../kernels.h"
#include "neon.h"

void vk_register_neon(vk_ops *o)
{
    VK_SET(o, dot_f16, vk_dot_f16_neon, VK_ISA_NEON, "neon: vcvt_f32_f16, 4 x 4 lanes");
    VK_SET(o, scan_s8, vk_scan_s8_neon, VK_ISA_NEON, "neon: sdot, 1 row x 4 queries");
    VK_SET(o, scan_u4, vk_scan_u4_neon, VK_ISA_NEON, "neon: nibble AND/shift + sdot, 1 row x 4 queries");
    VK_SET(o, scan_u8, vk_scan_u8_neon, VK_ISA_NEON, "neon: codes XOR 0x80 + sdot, 1 row x 4 queries");
    VK_SET(o, matmul_f32, vk_matmul_f32_neon, VK_ISA_NEON, "neon: FMA by lane, 4x16 tile, fused epilogue");
    VK_SET(o, conv2d_f32, vk_conv2d_f32_neon, VK_ISA_NEON,
           "neon: implicit GEMM, 4x16 FMA tile (1x1 in place, im2col for K <= 512, else per-tap runs)");
    VK_SET(o, dwconv_f32, vk_dwconv_f32_neon, VK_ISA_NEON, "neon: 16 channels on lanes, FMA per tap");
    VK_SET(o, attention_f32, vk_attention_f32_neon, VK_ISA_NEON,
           "neon: online softmax, 4 queries x 4 keys per step, vector exp");
    VK_SET(o, quant_rows, vk_quant_rows_neon, VK_ISA_NEON, "neon: 4 lanes, per-row symmetric int8");
    VK_SET(o, matmul_q8, vk_matmul_q8_neon, VK_ISA_NEON, "neon: sdot by lane, 4x16 tile, zero points via row/column sums");
    VK_SET(o, conv2d_q8, vk_conv2d_q8_neon, VK_ISA_NEON, "neon: sdot implicit GEMM (1x1 in place, else im2col blocks), 4x16 tile");
    VK_SET(o, add_q8, vk_add_q8_neon, VK_ISA_NEON, "neon: 16 per step, exact vmull/vrshl requant");
    VK_SET(o, avgpool_q8, vk_avgpool_q8_neon, VK_ISA_NEON, "neon: 16 ch int32 sums, exact f32 divide");
    VK_SET(o, maxpool_q8, vk_maxpool_q8_neon, VK_ISA_NEON, "neon: 16 ch byte max");
    VK_SET(o, mean_q8, vk_mean_q8_neon, VK_ISA_NEON, "neon: 16 ch int32 sums, scalar output stage");
    VK_SET(o, dwconv_q8, vk_dwconv_q8_neon, VK_ISA_NEON, "neon: 16 ch/vector, smlal per tap, zero-point pad buffer");
    VK_SET(o, matmul_bf16, vk_matmul_bf16_neon, VK_ISA_NEON,
           "neon: bf16 widened by shifts, A rounded on the fly, 4x16 FMA tile");
    VK_SET(o, conv2d_bf16, vk_conv2d_bf16_neon, VK_ISA_NEON,
           "neon: implicit GEMM on the widening 4x16 tile (1x1 in place, else rounded im2col rows)");
    VK_SET(o, dwconv_bf16, vk_dwconv_bf16_neon, VK_ISA_NEON,
           "neon: weights widened per 64-channel slice, f32 depthwise kernel");
}
