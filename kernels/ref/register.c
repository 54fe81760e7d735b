/* Plain-C reference kernels: every op, every machine. */
#include "../kernels.h"
#include "ref.h"

void vk_register_ref(vk_ops *o)
{
    /* Entries are added as the kernels land; each op's reference lives in
     * kernels/ref/<op>.c. */
    (void)o;
    VK_SET(o, dot_f16, vk_dot_f16_ref, VK_ISA_REF, "ref: scalar, dimension order");
    VK_SET(o, matmul_f32, vk_matmul_f32_ref, VK_ISA_REF, "ref: scalar loops");
    VK_SET(o, matmul_q8, vk_matmul_q8_ref, VK_ISA_REF, "ref: direct loops, int64");
    VK_SET(o, quant_rows, vk_quant_rows_ref, VK_ISA_REF, "ref: scalar, per-row symmetric int8");
    VK_SET(o, conv2d_f32, vk_conv2d_f32_ref, VK_ISA_REF, "ref: direct loops");
    VK_SET(o, conv_wino_f32, vk_conv_wino_f32_ref, VK_ISA_REF, "ref: F(4x4,3x3) one tile at a time");
    VK_SET(o, dwconv_f32, vk_dwconv_f32_ref, VK_ISA_REF, "ref: direct loops");
    VK_SET(o, attention_f32, vk_attention_f32_ref, VK_ISA_REF, "ref: two-pass per query");
    VK_SET(o, layernorm_f32, vk_layernorm_f32_ref, VK_ISA_REF, "ref: corrected two-pass");
    VK_SET(o, softmax_f32, vk_softmax_f32_ref, VK_ISA_REF, "ref: max-subtracted, libm expf");
    VK_SET(o, l2norm_f32, vk_l2norm_f32_ref, VK_ISA_REF, "ref: double sum of squares");
    VK_SET(o, act_f32, vk_act_f32_ref, VK_ISA_REF, "ref: scalar act.h");
    VK_SET(o, add_f32, vk_add_f32_ref, VK_ISA_REF, "ref: scalar act.h");
    VK_SET(o, avgpool_f32, vk_avgpool_f32_ref, VK_ISA_REF, "ref: direct loops");
    VK_SET(o, gap_f32, vk_gap_f32_ref, VK_ISA_REF, "ref: direct loops");
    VK_SET(o, conv2d_q8, vk_conv2d_q8_ref, VK_ISA_REF, "ref: direct loops, int64");
    VK_SET(o, dwconv_q8, vk_dwconv_q8_ref, VK_ISA_REF, "ref: direct loops, int64");
    VK_SET(o, add_q8, vk_add_q8_ref, VK_ISA_REF, "ref: TFLite fixed-point add");
    VK_SET(o, avgpool_q8, vk_avgpool_q8_ref, VK_ISA_REF, "ref: direct loops");
    VK_SET(o, maxpool_q8, vk_maxpool_q8_ref, VK_ISA_REF, "ref: direct loops");
    VK_SET(o, maxpool_f32, vk_maxpool_f32_ref, VK_ISA_REF, "ref: direct loops");
    VK_SET(o, softmax_q8, vk_softmax_q8_ref, VK_ISA_REF, "ref: dequantize, f32 softmax, quantize");
    VK_SET(o, requant_q8, vk_requant_q8_ref, VK_ISA_REF, "ref: TFLite fixed-point requantize");
    VK_SET(o, mean_q8, vk_mean_q8_ref, VK_ISA_REF, "ref: TFLite integer mean");
    VK_SET(o, scan_f32, vk_scan_f32_ref, VK_ISA_REF, "ref: scalar float sums");
    VK_SET(o, scan_s8, vk_scan_s8_ref, VK_ISA_REF, "ref: direct loops, int32");
    VK_SET(o, scan_u4, vk_scan_u4_ref, VK_ISA_REF, "ref: direct loops, int32");
    VK_SET(o, scan_u8, vk_scan_u8_ref, VK_ISA_REF, "ref: direct loops, int32");
    VK_SET(o, matmul_bf16, vk_matmul_bf16_ref, VK_ISA_REF, "ref: scalar loops, A rounded to bf16");
    VK_SET(o, conv2d_bf16, vk_conv2d_bf16_ref, VK_ISA_REF, "ref: direct loops, input rounded to bf16");
    VK_SET(o, dwconv_bf16, vk_dwconv_bf16_ref, VK_ISA_REF, "ref: direct loops, f32 input");
}
