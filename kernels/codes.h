/* Flat-index codes: the one definition of how an embedding row is stored in
 * an index file and read by the scan kernels (kernels/<level>/scan_*.c).
 * The index writer (formats/index*.c, runtime/index*.c) produces rows only
 * through these functions, so the layout the scan reads and the layout the
 * file stores cannot drift apart.
 *
 * Kinds (values are stored in index files: never renumber):
 *   VK_CODE_F32 = 0  dim little-endian f32
 *   VK_CODE_S8  = 1  int8, symmetric per dimension: x[d] ≈ a[d]·c[d],
 *                    c in −127 … 127 (−128 never written); b unused (0).
 *                    Named "int8-sym": kept for old files and by choice.
 *   VK_CODE_U4  = 2  4-bit, asymmetric per dimension: x[d] ≈ a[d]·c[d] + b[d],
 *                    c in 0 … 15; dimension 2j in the low nibble of byte j,
 *                    2j+1 in its high nibble
 *   VK_CODE_F16 = 3  IEEE binary16 (the re-scoring copy), round to nearest even
 *   VK_CODE_U8  = 4  8-bit, asymmetric per dimension: x[d] ≈ a[d]·c[d] + b[d],
 *                    c in 0 … 255, one byte per dimension. Named "int8": what
 *                    the CLI's int8 means. Embeddings after ReLU / pooling are
 *                    non-negative, so a symmetric code leaves half its levels
 *                    unused; on such rows (Coral MobileNetV1, GroceryStore)
 *                    this kind halves the step and lifts recall@10 without
 *                    re-scoring (measurements: docs/RETRIEVAL.md).
 * Every row takes vk_code_row_bytes(kind, dim) bytes: the payload rounded up
 * to VK_CODE_ROW_ALIGN; padding bytes are zero (a padded nibble / byte is
 * code 0, and the scans rely on the query being zero there too).
 *
 * Pure compute like the rest of kernels/: no allocation, no I/O.
 */
#ifndef VIREO_KERNELS_CODES_H
#define VIREO_KERNELS_CODES_H

#include <stddef.h>
#include <stdint.h>

typedef enum vk_code_kind {
    VK_CODE_F32 = 0,
    VK_CODE_S8 = 1,
    VK_CODE_U4 = 2,
    VK_CODE_F16 = 3,
    VK_CODE_U8 = 4,
} vk_code_kind;
#define VK_CODE_KINDS 5 /* kinds are 0 … VK_CODE_KINDS − 1 */

#define VK_CODE_ROW_ALIGN 64

/* "f32", "int8-sym", "int4", "f16", "int8" (U8); NULL for an unknown kind. */
const char *vk_code_name(vk_code_kind k);
/* The kind a user's name means: the names above, plus "uint8" for U8.
 * 0, or -1 for an unknown name. */
int vk_code_parse(const char *name, vk_code_kind *k);
/* 1 for the quantized kinds (S8, U8, U4): fitted per-dimension parameters,
 * scanned with int8 queries, worth an f16 re-scoring copy. */
int vk_code_is_quantized(vk_code_kind k);
/* Bytes of one row, 0 for an unknown kind, dim 0, or overflow. */
size_t vk_code_row_bytes(vk_code_kind k, size_t dim);

/* IEEE binary16 → binary32, exact (denormals, ±inf, NaN kept). */
float vk_code_f16_to_f32(uint16_t h);

/* Per-dimension parameters a[dim], b[dim] fitted on n training rows x (n·dim,
 * row-major). S8: a[d] = the largest |x[.][d]| / 127 (a constant-zero column
 * gets a[d] = 1: any positive value reproduces it exactly). U4 / U8: b[d] =
 * min, a[d] = (max − min) / 15 or / 255 (1 when max == min). F32 / F16:
 * a = 1, b = 0.
 * Values outside the fitted range are clamped when encoded. n ≥ 1. */
void vk_code_fit(vk_code_kind k, const float *x, size_t n, size_t dim, float *a, float *b);

/* One row x[dim] → row (vk_code_row_bytes bytes, padding zeroed).
 * Rounding: nearest, ties away from zero (S8), nearest (U4, U8; F16 ties even). */
void vk_code_encode(vk_code_kind k, const float *x, size_t dim, const float *a, const float *b,
                    void *row);
/* The inverse: x[d] = a[d]·c[d] (+ b[d]); exact for F32. */
void vk_code_decode(vk_code_kind k, const void *row, size_t dim, const float *a, const float *b,
                    float *x);

#endif
