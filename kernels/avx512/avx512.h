/* AVX-512 kernels. Declarations only; one file per op. */
#ifndef VIREO_KERNELS_AVX512_H
#define VIREO_KERNELS_AVX512_H
#include "../kernels.h"
void vk_matmul_f32_avx512(const vk_matmul_f32_args *a, int m0, int m1, int n0, int n1);
void vk_matmul_q8_avx512(const vk_matmul_q8_args *a, int m0, int m1, int n0, int n1);
void vk_quant_rows_avx512(const float *x, ptrdiff_t ldx, int N, uint8_t *y, ptrdiff_t ldy,
                          float *scale, int r0, int r1);
void vk_conv2d_f32_avx512(const vk_conv2d_f32_args *a, int r0, int r1);
void vk_conv_wino_f32_avx512(const vk_conv_wino_f32_args *a, int t0, int t1);
void vk_dwconv_f32_avx512(const vk_dwconv_f32_args *a, int r0, int r1);
void vk_matmul_bf16_avx512(const vk_matmul_bf16_args *a, int m0, int m1, int n0, int n1);
void vk_conv2d_bf16_avx512(const vk_conv2d_bf16_args *a, int r0, int r1);
void vk_dwconv_bf16_avx512(const vk_dwconv_bf16_args *a, int r0, int r1);

void vk_attention_f32_avx512(const vk_attention_f32_args *a, int w0, int w1);
void vk_layernorm_f32_avx512(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N,
                             const float *gamma, const float *beta, float eps, int r0, int r1);
void vk_softmax_f32_avx512(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N, int r0,
                           int r1);
void vk_l2norm_f32_avx512(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy, int N, int r0,
                          int r1);
void vk_act_f32_avx512(const float *x, float *y, vk_act act, size_t i0, size_t i1);
void vk_add_f32_avx512(const float *a, const float *b, float *y, vk_act act, size_t i0,
                       size_t i1);
void vk_avgpool_f32_avx512(const vk_conv_geom *g, const float *in, float *out, int r0, int r1);
void vk_gap_f32_avx512(const float *in, ptrdiff_t in_ld, int HW, int C, float *out, int n0,
                       int n1);
void vk_conv2d_q8_avx512(const vk_conv2d_q8_args *a, int r0, int r1);
void vk_dwconv_q8_avx512(const vk_dwconv_q8_args *a, int r0, int r1);
/* quantized add, pooling, mean (bit-identical to the reference) */
void vk_add_q8_avx512(const void *a, const void *b, void *y, const vk_add_q8_params *p, size_t i0,
                      size_t i1);
void vk_avgpool_q8_avx512(const vk_conv_geom *g, const void *in, void *out, int is_signed,
                          int32_t lo, int32_t hi, int r0, int r1);
void vk_maxpool_q8_avx512(const vk_conv_geom *g, const void *in, void *out, int is_signed,
                          int32_t lo, int32_t hi, int r0, int r1);
void vk_maxpool_f32_avx512(const vk_conv_geom *g, const float *in, float *out, int r0, int r1);
void vk_mean_q8_avx512(const void *in, ptrdiff_t in_ld, int HW, int C, int is_signed,
                       int32_t in_zero, int32_t mult, int shift, int32_t out_zero, int32_t lo,
                       int32_t hi, void *out, int n0, int n1);
/* flat-index scans */
void vk_scan_f32_avx512(const vk_scan_args *a, size_t r0, size_t r1);
void vk_scan_s8_avx512(const vk_scan_args *a, size_t r0, size_t r1);
void vk_scan_u4_avx512(const vk_scan_args *a, size_t r0, size_t r1);
void vk_scan_u8_avx512(const vk_scan_args *a, size_t r0, size_t r1);
void vk_dot_f16_avx512(const float *q, size_t dim, const uint8_t *rows, size_t row_bytes,
                       const uint32_t *idx, size_t n, float *out);
#endif
