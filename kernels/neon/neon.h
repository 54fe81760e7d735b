/* NEON (+dotprod) kernels. Declarations only; one file per op. */
#ifndef VIREO_KERNELS_NEON_H
#define VIREO_KERNELS_NEON_H
#include "../kernels.h"
void vk_scan_s8_neon(const vk_scan_args *a, size_t r0, size_t r1);
void vk_scan_u4_neon(const vk_scan_args *a, size_t r0, size_t r1);
void vk_matmul_f32_neon(const vk_matmul_f32_args *a, int m0, int m1, int n0, int n1);
void vk_matmul_q8_neon(const vk_matmul_q8_args *a, int m0, int m1, int n0, int n1);
void vk_conv2d_f32_neon(const vk_conv2d_f32_args *a, int r0, int r1);
void vk_dwconv_f32_neon(const vk_dwconv_f32_args *a, int r0, int r1);
void vk_attention_f32_neon(const vk_attention_f32_args *a, int w0, int w1);
void vk_conv2d_q8_neon(const vk_conv2d_q8_args *a, int r0, int r1);
void vk_dwconv_q8_neon(const vk_dwconv_q8_args *a, int r0, int r1);
#endif
