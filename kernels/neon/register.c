/* NEON (+dotprod) kernels; ops without one here run the reference. */
#include "../kernels.h"
#include "neon.h"

void vk_register_neon(vk_ops *o)
{
    VK_SET(o, scan_s8, vk_scan_s8_neon, VK_ISA_NEON, "neon: sdot, 1 row x 4 queries");
    VK_SET(o, scan_u4, vk_scan_u4_neon, VK_ISA_NEON, "neon: nibble AND/shift + sdot, 1 row x 4 queries");
    VK_SET(o, matmul_f32, vk_matmul_f32_neon, VK_ISA_NEON, "neon: FMA by lane, 4x16 tile, fused epilogue");
    VK_SET(o, conv2d_f32, vk_conv2d_f32_neon, VK_ISA_NEON,
           "neon: implicit GEMM, 4x16 FMA tile (1x1 in place, im2col for K <= 512, else per-tap runs)");
    VK_SET(o, dwconv_f32, vk_dwconv_f32_neon, VK_ISA_NEON, "neon: 16 channels on lanes, FMA per tap");
    VK_SET(o, attention_f32, vk_attention_f32_neon, VK_ISA_NEON,
           "neon: online softmax, 4 queries x 4 keys per step, vector exp");
    VK_SET(o, matmul_q8, vk_matmul_q8_neon, VK_ISA_NEON, "neon: sdot by lane, 4x16 tile, zero points via row/column sums");
    VK_SET(o, conv2d_q8, vk_conv2d_q8_neon, VK_ISA_NEON, "neon: sdot implicit GEMM (1x1 in place, else im2col blocks), 4x16 tile");
    VK_SET(o, dwconv_q8, vk_dwconv_q8_neon, VK_ISA_NEON, "neon: 16 ch/vector, smlal per tap, zero-point pad buffer");
}
