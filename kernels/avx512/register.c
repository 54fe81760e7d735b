/* AVX-512 (F/BW/DQ/VL + VNNI) kernels. Compiled with this level's flags only. */
#include "../kernels.h"
#include "avx512.h"

void vk_register_avx512(vk_ops *o)
{
    (void)o;
    VK_SET(o, dot_f16, vk_dot_f16_avx512, VK_ISA_AVX512, "avx512: vcvtph2ps, 4 x 16 lanes, next row prefetched");
    VK_SET(o, matmul_f32, vk_matmul_f32_avx512, VK_ISA_AVX512, "avx512: 8x32 tile (small M: 6x64), L2 B blocks");
    VK_SET(o, matmul_q8, vk_matmul_q8_avx512, VK_ISA_AVX512, "avx512: VNNI, 12x32 tile, 16x24 half tile");
    VK_SET(o, quant_rows, vk_quant_rows_avx512, VK_ISA_AVX512, "avx512: 16 lanes, per-row symmetric int8");
    VK_SET(o, conv_wino_f32, vk_conv_wino_f32_avx512, VK_ISA_AVX512, "avx512: F(4x4,3x3), 6x64 tile products");
    VK_SET(o, conv2d_f32, vk_conv2d_f32_avx512, VK_ISA_AVX512, "avx512: implicit GEMM, 14x32 tile");
    VK_SET(o, dwconv_f32, vk_dwconv_f32_avx512, VK_ISA_AVX512, "avx512: 16-channel vectors, 3x3 s1/s2 row blocks");
    VK_SET(o, attention_f32, vk_attention_f32_avx512, VK_ISA_AVX512,
           "avx512: online softmax, 16 queries x 16 keys, queries on lanes");
    VK_SET(o, layernorm_f32, vk_layernorm_f32_avx512, VK_ISA_AVX512, "avx512: corrected two-pass");
    VK_SET(o, softmax_f32, vk_softmax_f32_avx512, VK_ISA_AVX512, "avx512: vk_exp512");
    VK_SET(o, l2norm_f32, vk_l2norm_f32_avx512, VK_ISA_AVX512, "avx512: f64 sum of squares");
    VK_SET(o, act_f32, vk_act_f32_avx512, VK_ISA_AVX512, "avx512: vmath.h");
    VK_SET(o, add_f32, vk_add_f32_avx512, VK_ISA_AVX512, "avx512: vmath.h");
    VK_SET(o, avgpool_f32, vk_avgpool_f32_avx512, VK_ISA_AVX512, "avx512: 64-channel chunks");
    VK_SET(o, gap_f32, vk_gap_f32_avx512, VK_ISA_AVX512, "avx512: 128-channel chunks");
    VK_SET(o, conv2d_q8, vk_conv2d_q8_avx512, VK_ISA_AVX512,
           "avx512: VNNI implicit GEMM, up to 12 px x 64 ch tiles; C <= 4 stems without im2col");
    VK_SET(o, dwconv_q8, vk_dwconv_q8_avx512, VK_ISA_AVX512,
           "avx512: 16 ch/vector, vpdpwssd per tap, 3x3/5x5 s1/s2 fast paths");
    VK_SET(o, add_q8, vk_add_q8_avx512, VK_ISA_AVX512, "avx512: exact 64-bit lanes, vpmuldq");
    VK_SET(o, avgpool_q8, vk_avgpool_q8_avx512, VK_ISA_AVX512, "avx512: 64 ch int32 sums, exact f32 divide");
    VK_SET(o, maxpool_q8, vk_maxpool_q8_avx512, VK_ISA_AVX512, "avx512: 64 ch byte max");
    VK_SET(o, maxpool_f32, vk_maxpool_f32_avx512, VK_ISA_AVX512, "avx512: 64 ch vmaxps");
    VK_SET(o, mean_q8, vk_mean_q8_avx512, VK_ISA_AVX512, "avx512: 64 ch int32 sums, 64-bit requant");
    VK_SET(o, scan_f32, vk_scan_f32_avx512, VK_ISA_AVX512,
           "avx512: 4 rows x 4 queries FMA; >=6 queries: 16 on lanes, broadcast rows");
    VK_SET(o, scan_s8, vk_scan_s8_avx512, VK_ISA_AVX512,
           "avx512: VNNI, row by row x 4 queries; >=6 queries: 16 on lanes, broadcast rows");
    VK_SET(o, scan_u4, vk_scan_u4_avx512, VK_ISA_AVX512,
           "avx512: VNNI, nibble AND/shift, row by row x 4; >=6 queries: unpacked rows, 16 on lanes");
    VK_SET(o, scan_u8, vk_scan_u8_avx512, VK_ISA_AVX512,
           "avx512: VNNI, row by row x 4 queries; >=6 queries: 16 on lanes, broadcast rows");
    VK_SET(o, dwconv_bf16, vk_dwconv_bf16_avx512, VK_ISA_AVX512,
           "avx512: weights widened per 64-channel slice, f32 depthwise kernel");
    /* vdpbf16ps needs AVX512_BF16, which this level does not imply (Ice Lake
     * has VNNI without it); without it these run the reference. */
    if (vk_cpu_get()->avx512bf16) {
        VK_SET(o, matmul_bf16, vk_matmul_bf16_avx512, VK_ISA_AVX512,
               "avx512: BF16 vdpbf16ps, 14x32 tile (small M: 6x64), A rounded per tile");
        VK_SET(o, conv2d_bf16, vk_conv2d_bf16_avx512, VK_ISA_AVX512,
               "avx512: BF16 vdpbf16ps implicit GEMM, 14x32 tile, bf16 im2col runs");
    }
}
