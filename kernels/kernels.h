/* vireo kernels: the interface every ISA implements.
 *
 * Rules of this layer (docs/ARCHITECTURE.md):
 *  - pure compute: no allocation, no threads, no I/O, no globals but the op table;
 *  - every kernel computes a caller-given range of its output, so the runtime can
 *    split work across threads; ranges are documented per op;
 *  - packed weight layouts are defined here (pack.c) once, for every ISA: the
 *    weight format stores them as is.
 *
 * Kernels are reached through the table returned by vk_ops_get(). A kernel of
 * level L lives in kernels/<L>/<op>.c and is registered in kernels/<L>/register.c.
 */
#ifndef VIREO_KERNELS_H
#define VIREO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"

/* ------------------------------------------------------------------------ */
/* Activations fused into epilogues. */
typedef enum vk_act {
    VK_ACT_NONE = 0,
    VK_ACT_RELU,
    VK_ACT_RELU6,
    VK_ACT_GELU,      /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    VK_ACT_QUICKGELU, /* x * sigmoid(1.702 x) (OpenAI CLIP) */
} vk_act;

/* ------------------------------------------------------------------------ */
/* f32 matmul: C = act(A·B + bias + residual)
 *
 * A: row-major M×K, row stride lda (elements).
 * B: packed by vk_pack_f32_b: panels of VK_F32_NR columns; panel p holds
 *    columns [p*NR, p*NR+NR) as K rows of NR floats, zero-padded past N:
 *       Bp[(p*K + k)*NR + j] = B[k][p*NR + j]
 * bias: N floats or NULL. residual: M×N (stride ldr) or NULL; added before the
 * activation (ResNet: relu(conv + bias + x); transformers use act NONE).
 * Range: rows [m0,m1), columns [n0,n1); n0 a multiple of VK_F32_NR, n1 a
 * multiple of VK_F32_NR or equal to N. C may not alias A or residual... except
 * that residual == C (in-place residual add) is allowed.
 */
#define VK_F32_NR 16
typedef struct vk_matmul_f32_args {
    int M, N, K;
    const float *A;
    ptrdiff_t lda;
    const float *Bp;
    const float *bias;
    const float *residual;
    ptrdiff_t ldr;
    float *C;
    ptrdiff_t ldc;
    vk_act act;
} vk_matmul_f32_args;
typedef void (*vk_matmul_f32_fn)(const vk_matmul_f32_args *a, int m0, int m1, int n0, int n1);

/* ------------------------------------------------------------------------ */
/* int8 matmul: u8|s8 activations × s8 weights, s32 accumulation.
 *
 * Effective product: acc[m][n] = Σ_k (A[m][k] - a_zero) · (B[k][n] + b_offset)
 *   - A is u8 (a_signed = 0) or s8 (a_signed = 1), row-major, stride lda bytes.
 *   - B is s8, packed by vk_pack_s8_b: panels of VK_Q8_NR columns, K in groups
 *     of 4 (the grouping VNNI vpdpbusd, AMX and NEON sdot all consume):
 *       Bp[((p*K4 + g)*NR + j)*4 + t] = B[4g + t][p*NR + j]     K4 = ceil(K/4)
 *     zero-padded past K and N. b_colsum[n] = Σ_k B[k][n] (int32, from the packer).
 *   - b_offset lets TFLite's uint8 asymmetric weights (w_u8, zero point zw) be
 *     stored as s8 (w_u8 - 128) with b_offset = 128 - zw. 0 for s8 weights.
 * Then acc += bias[n] (s32, may be NULL) and the output stage:
 *   VK_Q8_OUT_S32: C = acc (int32).
 *   VK_Q8_OUT_U8 / _S8: requantization as kernels/requant.h defines it,
 *       v = vk_mbqm(acc, q_mult[n], q_shift[n]) + out_zero
 *       (per-channel arrays when q_per_channel, else element 0): the exact
 *       64-bit product rounded once, half up (TFLite's single-rounding form;
 *       requant.h says why not gemmlowp's double rounding); clamped to
 *       [out_min, out_max] (which carries a fused ReLU/ReLU6).
 *   VK_Q8_OUT_F32: C = act(acc · a_scale[m or 0] · w_scale[n or 0] + bias_f32[n]
 *                          + residual[m][n])
 *       (a_scale per row for per-token dynamic quantization), evaluated as
 *       v = (float)acc · (a_scale·w_scale); v = v + bias_f32; v = v + residual;
 *       C = act(v): one rounding per operation, no FMA, so every level agrees
 *       exactly before the activation. residual (stride ldr floats) may be
 *       NULL, or equal C with ldr == ldc (in-place residual add).
 * Range: rows [m0,m1), columns [n0,n1) with the same rules as f32 matmul.
 */
#define VK_Q8_NR 16
typedef enum vk_q8_out {
    VK_Q8_OUT_S32 = 0,
    VK_Q8_OUT_U8,
    VK_Q8_OUT_S8,
    VK_Q8_OUT_F32,
} vk_q8_out;

typedef struct vk_requant {
    const int32_t *mult;  /* Q31 multipliers, >= 2^30 or 0 */
    const int8_t *shift;  /* left shift if > 0, right if < 0 (TFLite convention) */
    int per_channel;
    int32_t out_zero;
    int32_t out_min, out_max;
} vk_requant;

typedef struct vk_matmul_q8_args {
    int M, N, K;
    const void *A;
    ptrdiff_t lda;
    int a_signed;
    int32_t a_zero;
    const int8_t *Bp;
    const int32_t *b_colsum;
    int32_t b_offset;
    const int32_t *bias;
    vk_q8_out out;
    void *C;
    ptrdiff_t ldc; /* in elements of the output type */
    vk_requant rq;
    /* VK_Q8_OUT_F32 */
    const float *a_scale;
    int a_scale_per_row;
    const float *w_scale;
    int w_scale_per_channel;
    const float *bias_f32;
    vk_act act;
    const float *residual;
    ptrdiff_t ldr;
} vk_matmul_q8_args;
typedef void (*vk_matmul_q8_fn)(const vk_matmul_q8_args *a, int m0, int m1, int n0, int n1);

/* ------------------------------------------------------------------------ */
/* Dynamic per-row (per-token) int8 quantization of f32 rows, the input side
 * of an int8 LINEAR (ONNX Runtime's DynamicQuantizeMatMul with a scale per
 * row instead of per tensor). For each row r in [r0, r1) of x (N floats,
 * stride ldx):
 *   amax = max_k |x[k]|   (NaN elements ignored)
 *   amax >= VK_QROWS_TINY: inv = 127 / amax, scale[r] = amax / 127 (f32 divisions)
 *   else (a row of zeros): inv = 0, scale[r] = 0
 *   q[k] = nearbyint(min(max(x[k]·inv, -127), 127))   f32 product; ties to even;
 *          a NaN product clamps to -127
 *   y[r·ldy + k] = q[k] + 128
 * Codes are symmetric int8 stored as u8 with zero point 128, the operand VNNI
 * multiplies without a per-load sign flip: matmul_q8 with a_signed 0, a_zero
 * 128, a_scale = scale (per row), VK_Q8_OUT_F32. Every level computes the
 * same bytes and scales (exactly; tests/kernels/test_quant_rows.c). */
#define VK_QROWS_TINY 1e-30f
typedef void (*vk_quant_rows_fn)(const float *x, ptrdiff_t ldx, int N, uint8_t *y, ptrdiff_t ldy,
                                 float *scale, int r0, int r1);

/* ------------------------------------------------------------------------ */
/* Convolution, NHWC.
 *
 * Geometry shared by all conv ops. Output size is given (not derived) so both
 * TFLite SAME/VALID and torch explicit padding map onto it:
 *   in pixel (n, oh*sh - pad_t + kh*dh, ow*sw - pad_l + kw*dw); outside the
 *   image reads as 0 (f32) or as a_zero (quantized: TFLite pads with the input
 *   zero point, so padding contributes nothing).
 * Pixel strides in_ld / out_ld (elements) let an op read or write a channel
 * slice of a wider tensor (Inception's concat writes in place).
 * Range: output rows [r0, r1) over N*OH (row r = n*OH + oh), all columns.
 */
typedef struct vk_conv_geom {
    int N, H, W, C;
    int OH, OW, OC;
    int KH, KW;
    int stride_h, stride_w;
    int pad_t, pad_l;
    int dil_h, dil_w;
    ptrdiff_t in_ld, out_ld;
} vk_conv_geom;

/* General conv (any K×K incl. 1×1 and the 3-channel first layer).
 * Weights packed by vk_pack_conv_f32 from OHWI ([OC][KH][KW][C], TFLite's
 * order; converters transpose torch's OIHW) into the matmul-B layout with
 * K = KH*KW*C in (kh, kw, c) order.
 * scratch: per-call workspace of vk_conv2d_f32_scratch(g) bytes, 64-aligned
 * (each thread passes its own). */
typedef struct vk_conv2d_f32_args {
    vk_conv_geom g;
    const float *in;
    const float *Wp;
    const float *bias;
    const float *residual; /* same geometry as out (stride out_ld) or NULL */
    float *out;
    vk_act act;
    void *scratch;
} vk_conv2d_f32_args;
typedef void (*vk_conv2d_f32_fn)(const vk_conv2d_f32_args *a, int r0, int r1);

/* Winograd F(4×4, 3×3) f32 convolution, NHWC (Lavin & Gray, "Fast Algorithms
 * for Convolutional Neural Networks", 2016): 3×3 kernels, stride 1, no
 * dilation; any padding and output size. Each 4×4 block of outputs (a tile)
 * comes from the 6×6 input patch at (4·th − pad_t, 4·tw − pad_l) as
 *     Y = Aᵀ [ Σ_c U_c ⊙ (Bᵀ d_c B) ] A,     U_c = G g_c Gᵀ
 * with the matrices of kernels/wino.h: 36 independent products of
 * [tiles × C]·[C × OC], 4× fewer multiplies than the direct conv's 9·C per
 * output, for input and output transforms that cost O(C + OC) per tile.
 * Weights packed by vk_pack_wino_f32 from OHWI [OC][3][3][C]: for each point
 * ξ < 36 of the transformed 6×6 tile, U_ξ[c][oc] in the matmul-B layout
 * (K = C, N = OC) at Wp + ξ·vk_pack_f32_b_size(C, OC).
 * bias, residual, act: as conv2d_f32. Results differ from the direct conv by
 * the transforms' rounding (bound: tests/kernels/test_conv_wino_f32.c).
 * Range: tile rows [t0, t1) over N·ceil(OH/4): tile row t = n·ceil(OH/4) + th
 * covers output rows 4·th … 4·th+3 (clipped to OH) of image n.
 * scratch: vk_conv_wino_f32_scratch(g) bytes, 64-aligned, per thread. */
#define VK_WINO_TILE 4
typedef vk_conv2d_f32_args vk_conv_wino_f32_args;
typedef void (*vk_conv_wino_f32_fn)(const vk_conv_wino_f32_args *a, int t0, int t1);

/* Depthwise conv (channel multiplier 1: C == OC), any K×K; 3×3 stride 1 and 2
 * are the fast paths. Weights packed by vk_pack_dw_f32 from [KH][KW][C]
 * (TFLite's [1,KH,KW,C]) into [KH*KW][Cp] with Cp = C rounded up to 16. */
typedef struct vk_dwconv_f32_args {
    vk_conv_geom g;
    const float *in;
    const float *Wp;
    const float *bias;
    float *out;
    vk_act act;
} vk_dwconv_f32_args;
typedef void (*vk_dwconv_f32_fn)(const vk_dwconv_f32_args *a, int r0, int r1);

/* Quantized conv: TFLite semantics. Input u8 (a_signed 0, uint8 asymmetric
 * models) or s8 (a_signed 1, TF2 int8 models); weights s8 packed by
 * vk_pack_conv_s8 (same order as the f32 packer, matmul-q8 B layout, with
 * column sums), b_offset as in matmul_q8; s32 bias; requantized output of
 * the same signedness as the input. */
typedef struct vk_conv2d_q8_args {
    vk_conv_geom g;
    const void *in;
    int a_signed;
    int32_t a_zero;
    const int8_t *Wp;
    const int32_t *w_colsum;
    int32_t b_offset;
    const int32_t *bias;
    vk_requant rq;
    void *out;
    void *scratch; /* vk_conv2d_q8_scratch(g) bytes */
} vk_conv2d_q8_args;
typedef void (*vk_conv2d_q8_fn)(const vk_conv2d_q8_args *a, int r0, int r1);

/* Quantized depthwise: weights packed by vk_pack_dw_s8 into [KH*KW][Cp] s8
 * (Cp = C rounded up to 16), effective weight = w + b_offset. */
typedef struct vk_dwconv_q8_args {
    vk_conv_geom g;
    const void *in;
    int a_signed;
    int32_t a_zero;
    const int8_t *Wp;
    int32_t b_offset;
    const int32_t *bias;
    vk_requant rq;
    void *out;
} vk_dwconv_q8_args;
typedef void (*vk_dwconv_q8_fn)(const vk_dwconv_q8_args *a, int r0, int r1);

/* ------------------------------------------------------------------------ */
/* bf16 weights (issues 3 and 6): the upper 16 bits of an IEEE f32, stored as
 * uint16_t. Weights are rounded to bf16 once, by the packers (round to nearest
 * even; NaN stays a quiet NaN of the same sign, ±inf stays ±inf, a finite value
 * past the largest bf16 rounds to ±inf as RNE says). Activations, bias,
 * residual and outputs are f32.
 *
 * matmul_bf16 and conv2d_bf16 also round the activation operand to bf16 (RNE,
 * vk_f32_to_bf16), so that AVX-512 BF16's vdpbf16ps can multiply pairs:
 *   C[m][n] = act( Σ_k bf16(A[m][k]) · B[k][n]  + bias[n] (+ residual[m][n]) )
 * A product of two bf16 values is exact in f32 (8 + 8 significant bits), so
 * levels differ only in the order of the f32 additions (and vdpbf16ps flushes
 * f32 denormals to zero): tests/kernels/test_matmul_bf16.c derives the bound.
 * dwconv_bf16 keeps its activations f32 (no reduction over channels to pair
 * up: weights widened to f32, FMAs): out = act(bias + Σ_taps x · w).
 */
#define VK_BF16_NR 16
static inline uint16_t vk_f32_to_bf16(float x)
{
    union { float f; uint32_t u; } v = {x};
    if ((v.u & 0x7fffffffu) > 0x7f800000u)    /* NaN: keep sign and top payload, quiet */
        return (uint16_t)((v.u >> 16) | 0x0040u);
    v.u += 0x7fffu + ((v.u >> 16) & 1u);      /* round to nearest, ties to even */
    return (uint16_t)(v.u >> 16);
}
static inline float vk_bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } v = {(uint32_t)h << 16};
    return v.f;
}

/* bf16 matmul: C = act(bf16(A)·B + bias + residual), f32 accumulation.
 * A, bias, residual, C, ranges and aliasing exactly as matmul_f32.
 * B: packed by vk_pack_bf16_b: panels of VK_BF16_NR columns, K in pairs (the
 *    operand vdpbf16ps takes; one 64-byte vector per pair of k per panel):
 *       Bp[((p*K2 + g)*NR + j)*2 + t] = bf16(B[2g + t][p*NR + j])    K2 = ceil(K/2)
 *    zero-padded past K and N. */
typedef struct vk_matmul_bf16_args {
    int M, N, K;
    const float *A;
    ptrdiff_t lda;
    const uint16_t *Bp;
    const float *bias;
    const float *residual;
    ptrdiff_t ldr;
    float *C;
    ptrdiff_t ldc;
    vk_act act;
} vk_matmul_bf16_args;
typedef void (*vk_matmul_bf16_fn)(const vk_matmul_bf16_args *a, int m0, int m1, int n0, int n1);

/* bf16 general conv (any K×K incl. 1×1, the 3-channel stem), NHWC, geometry
 * and range as conv2d_f32. Weights packed by vk_pack_conv_bf16 from OHWI f32
 * into the matmul-bf16 B layout over K = (kh, kw, c) (a pair of k may span two
 * taps). Input pixels rounded to bf16 (see above); padding reads 0.
 * scratch: vk_conv2d_bf16_scratch(g) bytes, 64-aligned, per thread. */
typedef struct vk_conv2d_bf16_args {
    vk_conv_geom g;
    const float *in;
    const uint16_t *Wp;
    const float *bias;
    const float *residual; /* same geometry as out (stride out_ld) or NULL */
    float *out;
    vk_act act;
    void *scratch;
} vk_conv2d_bf16_args;
typedef void (*vk_conv2d_bf16_fn)(const vk_conv2d_bf16_args *a, int r0, int r1);

/* bf16 depthwise conv (channel multiplier 1), as dwconv_f32 with weights
 * packed by vk_pack_dw_bf16 into [KH*KW][round_up(C,16)] bf16. Input f32, not
 * rounded. */
typedef struct vk_dwconv_bf16_args {
    vk_conv_geom g;
    const float *in;
    const uint16_t *Wp;
    const float *bias;
    float *out;
    vk_act act;
} vk_dwconv_bf16_args;
typedef void (*vk_dwconv_bf16_fn)(const vk_dwconv_bf16_args *a, int r0, int r1);

/* ------------------------------------------------------------------------ */
/* Fused multi-head attention, f32:
 *   O = softmax(Q·Kᵀ·scale [+ causal mask]) · V     per (batch, head)
 * Token-major layout, as a fused QKV projection produces it:
 *   Q[b][i][h][d] at q + (b*Lq + i)*q_ld + h*D + d    (likewise K, V over Lk, O over Lq)
 * Online softmax over key blocks: the Lq×Lk score matrix is never materialised.
 * causal: key j is visible to query i iff j <= i.
 * Range: work items [w0, w1) of vk_attention_items(a) (the implementation's
 * split of batch × heads × query blocks, defined in kernels/attention.c).
 */
typedef struct vk_attention_f32_args {
    int B, H, Lq, Lk, D;
    const float *q, *k, *v;
    ptrdiff_t q_ld, k_ld, v_ld;
    float *o;
    ptrdiff_t o_ld;
    float scale;
    int causal;
} vk_attention_f32_args;
typedef void (*vk_attention_f32_fn)(const vk_attention_f32_args *a, int w0, int w1);
#define VK_ATTN_QBLOCK 16
int vk_attention_items(const vk_attention_f32_args *a);

/* ------------------------------------------------------------------------ */
/* Row-wise and element-wise ops. Ranges are rows [r0, r1) of an R×N tensor
 * with row stride ld (elements); elementwise ops take element ranges. */
typedef void (*vk_layernorm_f32_fn)(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N,
                                    const float *gamma, const float *beta, float eps, int r0,
                                    int r1);
typedef void (*vk_softmax_f32_fn)(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N,
                                  int r0, int r1);
typedef void (*vk_l2norm_f32_fn)(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N,
                                 int r0, int r1);
/* y[i] = act(x[i]) for i in [i0, i1); x == y allowed. */
typedef void (*vk_act_f32_fn)(const float *x, float *y, vk_act act, size_t i0, size_t i1);
/* y[i] = act(a[i] + b[i]); y may alias a or b. */
typedef void (*vk_add_f32_fn)(const float *a, const float *b, float *y, vk_act act, size_t i0,
                              size_t i1);
/* NHWC average pooling (TFLite semantics: divisor counts only in-image
 * pixels) over geometry g with KH×KW window; C == OC. Range: output rows. */
typedef void (*vk_avgpool_f32_fn)(const vk_conv_geom *g, const float *in, float *out, int r0,
                                  int r1);
/* Global average pooling: in [N][HW][C] (pixel stride in_ld) -> out [N][C];
 * range over n. */
typedef void (*vk_gap_f32_fn)(const float *in, ptrdiff_t in_ld, int HW, int C, float *out,
                              int n0, int n1);

/* ------------------------------------------------------------------------ */
/* Quantized element-wise and pooling ops (TFLite semantics). */

/* y = clamp(MBQM(MBQM((a − za)·2^ls, ma, sa) + MBQM((b − zb)·2^ls, mb, sb), mo, so) + zo)
 * with every shift ≤ 0: TFLite's reference Add for uint8/int8 (left_shift 20,
 * multipliers from vk_add_q8_prepare). Elements [i0, i1). */
typedef struct vk_add_q8_params {
    int is_signed;
    int left_shift;
    int32_t a_zero, b_zero, out_zero;
    int32_t a_mult, b_mult, out_mult;
    int8_t a_shift, b_shift, out_shift;
    int32_t out_min, out_max;
} vk_add_q8_params;
typedef void (*vk_add_q8_fn)(const void *a, const void *b, void *y, const vk_add_q8_params *p,
                             size_t i0, size_t i1);
void vk_add_q8_prepare(float a_scale, int32_t a_zero, float b_scale, int32_t b_zero,
                       float out_scale, int32_t out_zero, int is_signed, int32_t out_min,
                       int32_t out_max, vk_add_q8_params *p);

/* Average pooling over in-image taps, input and output sharing scale and zero
 * point (TFLite requires it): (sum ± count/2) / count rounded half away from
 * zero, clamped. Max pooling: the largest in-image tap (max commutes with the
 * monotone quantization, so one kernel serves f32 semantics on codes), clamped.
 * Geometry as vk_conv_geom with C == OC; range: output rows over N·OH. */
typedef void (*vk_pool_q8_fn)(const vk_conv_geom *g, const void *in, void *out, int is_signed,
                              int32_t out_min, int32_t out_max, int r0, int r1);
typedef void (*vk_maxpool_f32_fn)(const vk_conv_geom *g, const float *in, float *out, int r0,
                                  int r1);

/* Quantized softmax over rows of N: dequantize, softmax(beta·x) in f32,
 * quantize to nearest with out_scale / out_zero, clamp to the type. This is
 * the float semantics of Arm NN's reference backend (the Coral references);
 * TFLite's fixed-point softmax differs from it by at most 1. Rows [r0, r1). */
typedef void (*vk_softmax_q8_fn)(const void *x, void *y, int N, int is_signed, float in_scale,
                                 float beta, float out_scale, int32_t out_zero, int r0, int r1);

/* Requantization between uint8 / int8 tensors (TFLite QUANTIZE of a
 * quantized input): y = clamp(MBQM(x − x_zero, mult, shift) + y_zero).
 * Elements [i0, i1). */
typedef void (*vk_requant_q8_fn)(const void *x, int x_signed, int32_t x_zero, void *y,
                                 int y_signed, int32_t y_zero, int32_t mult, int shift, size_t i0,
                                 size_t i1);

/* Quantized mean over H·W (TFLite MEAN over axes 1, 2):
 *   v = MBQM(Σ(x − in_zero), mult, shift)   (real multiplier in_scale / out_scale)
 *   y = clamp(round_half_away(v / HW) + out_zero, lo, hi)
 * in: [N][HW pixels, stride in_ld][C] → out [N][C]; range over n. */
typedef void (*vk_mean_q8_fn)(const void *in, ptrdiff_t in_ld, int HW, int C, int is_signed,
                              int32_t in_zero, int32_t mult, int shift, int32_t out_zero,
                              int32_t lo, int32_t hi, void *out, int n0, int n1);

/* ------------------------------------------------------------------------ */
/* Flat-index scans (kernels/codes.h rows): exact dot products of a block of
 * code rows with a batch of prepared queries. Range: rows [r0, r1).
 *
 * scan_s8: rows of row_bytes int8 codes (row_bytes a multiple of 64, zero
 *   padding past dim). Queries: nq rows of qlen = row_bytes int8 values, each
 *   in −127 … 127, zero past dim.
 * scan_u4: rows of row_bytes bytes of 4-bit codes. Queries: nq rows of
 *   qlen = 2·row_bytes int8 values (−127 … 127) in nibble order: for each
 *   64-byte block b of the row, the 64 values for the low nibbles (dims
 *   128b + 2i, i = 0 … 63) then the 64 for the high nibbles (128b + 2i + 1);
 *   vk_scan_u4_query_index() maps a dim to its position. Zero past dim.
 * scan_u8: rows of row_bytes unsigned codes 0 … 255 (zero padding). Queries
 *   as scan_s8, qlen = row_bytes ≤ VK_SCAN_MAX_QLEN_U8.
 *   All: out[(r − r0)·ldo + j] = Σ q_j[i]·c_r[i], exact int32 (|Σ| ≤
 *   127·127·qlen < 2^31 for qlen ≤ VK_SCAN_MAX_QLEN; 255·127·qlen < 2^31
 *   for scan_u8's qlen ≤ VK_SCAN_MAX_QLEN_U8).
 * scan_f32: rows of row_bytes bytes of f32 (dim used), queries nq × dim f32
 *   (stride qlen floats ≥ dim); out as above in f32 (summation order differs
 *   per level: tolerance derived in tests/kernels/test_scan.c).
 * qt: the same queries packed by vk_scan_pack_queries_q8 / _f32 (groups of
 *   VK_SCAN_QGROUP queries interleaved per 4 bytes / per float), or NULL; a
 *   kernel uses it for wide batches and must give the same result either way.
 */
#define VK_SCAN_QGROUP 16
#define VK_SCAN_MAX_QLEN 131072
#define VK_SCAN_MAX_QLEN_U8 65536 /* the index's largest dim */
typedef struct vk_scan_args {
    const uint8_t *codes; /* row r at codes + r·row_bytes, 64-byte aligned */
    size_t row_bytes;
    size_t dim;           /* scan_f32 only: floats per row used */
    const void *q;        /* int8 (s8/u4) or float (f32), nq rows of qlen */
    size_t qlen;
    const void *qt;       /* packed copy of q or NULL */
    int nq;
    void *out;            /* int32 (s8/u4) or float (f32) */
    size_t ldo;
} vk_scan_args;
typedef void (*vk_scan_fn)(const vk_scan_args *a, size_t r0, size_t r1);

/* Packed queries for wide batches (portable, kernels/ref/scan_pack.c).
 * q8: group g = queries [16g, 16g+16), qlen/4 slots of 16 × 4 bytes:
 *   qt[((g·(qlen/4) + s)·16 + j)·4 + t] = (uint8_t)(q[16g+j][4s+t] + 128),
 *   128 for queries past nq. qlen a multiple of 64.
 * f32: qt[(g·dim + d)·16 + j] = q[16g+j][d], 0 past nq.
 * Sizes in bytes from the _bytes functions (0 on overflow). */
size_t vk_scan_pack_q8_bytes(int nq, size_t qlen);
void vk_scan_pack_queries_q8(const int8_t *q, int nq, size_t qlen, uint8_t *qt);
size_t vk_scan_pack_f32_bytes(int nq, size_t dim);
void vk_scan_pack_queries_f32(const float *q, int nq, size_t qlen, size_t dim, float *qt);
/* Position in a scan_u4 query of dimension d. */
static inline size_t vk_scan_u4_query_index(size_t d)
{
    return (d / 128) * 128 + (d & 1) * 64 + (d % 128) / 2;
}

/* dot_f16: exact re-scoring of a search's shortlist against the f16 copy
 * (VK_CODE_F16 rows, kernels/codes.h).
 *   out[i] = Σ_{d<dim} q[d] · f16(rows + idx[i]·row_bytes)[d],  i < n,
 * the f16 values converted exactly, products and sums in f32 (any order: the
 * levels differ by at most 2·dim·2^-24·Σ_d |q[d]·x[d]|,
 * tests/kernels/test_dot_f16.c). Rows are read in place (little-endian f16,
 * any alignment); q holds dim floats. */
typedef void (*vk_dot_f16_fn)(const float *q, size_t dim, const uint8_t *rows, size_t row_bytes,
                              const uint32_t *idx, size_t n, float *out);

/* ------------------------------------------------------------------------ */
/* The op table. VK_OPS lists every op once: (name, function type). */
#define VK_OPS(X)                        \
    X(matmul_f32, vk_matmul_f32_fn)      \
    X(matmul_q8, vk_matmul_q8_fn)        \
    X(conv2d_f32, vk_conv2d_f32_fn)      \
    X(dwconv_f32, vk_dwconv_f32_fn)      \
    X(conv2d_q8, vk_conv2d_q8_fn)        \
    X(dwconv_q8, vk_dwconv_q8_fn)        \
    X(attention_f32, vk_attention_f32_fn) \
    X(layernorm_f32, vk_layernorm_f32_fn) \
    X(softmax_f32, vk_softmax_f32_fn)    \
    X(l2norm_f32, vk_l2norm_f32_fn)      \
    X(act_f32, vk_act_f32_fn)            \
    X(add_f32, vk_add_f32_fn)            \
    X(avgpool_f32, vk_avgpool_f32_fn)    \
    X(gap_f32, vk_gap_f32_fn)            \
    X(add_q8, vk_add_q8_fn)              \
    X(avgpool_q8, vk_pool_q8_fn)         \
    X(maxpool_q8, vk_pool_q8_fn)         \
    X(maxpool_f32, vk_maxpool_f32_fn)    \
    X(softmax_q8, vk_softmax_q8_fn)      \
    X(requant_q8, vk_requant_q8_fn)      \
    X(mean_q8, vk_mean_q8_fn)              \
    X(scan_f32, vk_scan_fn)              \
    X(scan_s8, vk_scan_fn)               \
    X(scan_u4, vk_scan_fn)               \
    X(scan_u8, vk_scan_fn)               \
    X(matmul_bf16, vk_matmul_bf16_fn)    \
    X(conv2d_bf16, vk_conv2d_bf16_fn)    \
    X(dwconv_bf16, vk_dwconv_bf16_fn)    \
    X(quant_rows, vk_quant_rows_fn)      \
    X(dot_f16, vk_dot_f16_fn)            \
    X(conv_wino_f32, vk_conv_wino_f32_fn)

enum {
#define X(name, type) VK_OP_##name,
    VK_OPS(X)
#undef X
    VK_OP_COUNT
};

typedef struct vk_ops {
#define X(name, type) type name;
    VK_OPS(X)
#undef X
    /* per op: the level and a short description of the kernel chosen */
    vk_isa isa[VK_OP_COUNT];
    const char *impl[VK_OP_COUNT];
    vk_isa level; /* the level this table was built for */
} vk_ops;

/* The table for this process: built once, at the highest level the machine
 * supports, or at the level VIREO_ISA names. An unknown or unsupported
 * VIREO_ISA makes vk_ops_init fail with a message; vk_ops_get then aborts. */
int vk_ops_init(char *err, size_t errlen);
const vk_ops *vk_ops_get(void);
/* A table for an explicit level (tests and benchmarks compare levels). Returns
 * NULL when the machine cannot run that level. */
const vk_ops *vk_ops_for(vk_isa level);
const char *vk_op_name(int op);

/* Registration, one per level: overrides the entries it implements. */
#define VK_SET(ops, name, fn, level, desc) \
    ((ops)->name = (fn), (ops)->isa[VK_OP_##name] = (level), (ops)->impl[VK_OP_##name] = (desc))
void vk_register_ref(vk_ops *ops);
void vk_register_avx512(vk_ops *ops);
void vk_register_amx(vk_ops *ops);
void vk_register_neon(vk_ops *ops);

#endif
