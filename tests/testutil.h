/* Shared helpers for the cmocka tests.
 *
 * Kernel tests: tu_ops() returns the table for the level VIREO_ISA forces (the
 * ctest entries run each kernel test once per level); a level the machine lacks
 * makes the test exit 77 (ctest: skipped) with the reason on stderr.
 * tu_ref() is the reference table, to compare against.
 *
 * Random data is seeded: VIREO_TEST_SEED overrides the default; the seed is
 * printed with every failure (tu_fail_ctx) so a failure can be replayed.
 */
#ifndef VIREO_TESTUTIL_H
#define VIREO_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kernels/kernels.h"

const vk_ops *tu_ops(void);
const vk_ops *tu_ref(void);
const char *tu_level(void);

/* splitmix64 stream; tu_seed() is the seed in force. */
typedef struct tu_rng {
    uint64_t s;
} tu_rng;
uint64_t tu_seed(void);
tu_rng tu_rng_make(uint64_t salt); /* seed ^ salt, so each case has its own stream */
uint64_t tu_next(tu_rng *r);
float tu_uniform(tu_rng *r, float lo, float hi);
void tu_fill_f32(tu_rng *r, float *x, size_t n, float lo, float hi);
void tu_fill_u8(tu_rng *r, uint8_t *x, size_t n);
void tu_fill_s8(tu_rng *r, int8_t *x, size_t n);
void tu_fill_s32(tu_rng *r, int32_t *x, size_t n, int32_t lo, int32_t hi);

/* A whole file in malloc'd memory (caller frees), its size in *len; NULL if it
 * cannot be opened or fully read. */
void *tu_read_file(const char *path, size_t *len);

/* 64-byte aligned, zeroed; freed with tu_free. Aborts on failure. */
void *tu_alloc(size_t bytes);
void tu_free(void *p);

/* Failure reporting: prints the seed, the level and the message, then fails
 * the cmocka test. */
#define tu_fail(...) tu_fail_at(__FILE__, __LINE__, __VA_ARGS__)
void tu_fail_at(const char *file, int line, const char *fmt, ...);

/* Compares got[i] with want[i] within tol[i] (or tol_all when tol == NULL).
 * Reports the first failure with its index and context. Returns 0 if equal. */
int tu_check_f32(const char *what, const float *got, const float *want, const float *tol,
                 float tol_all, size_t n);
int tu_check_i32(const char *what, const int32_t *got, const int32_t *want, size_t n);
int tu_check_u8(const char *what, const uint8_t *got, const uint8_t *want, size_t n);
int tu_check_s8(const char *what, const int8_t *got, const int8_t *want, size_t n);

/* The project's shared data (models, images, datasets): $VIREO_SHARED_DIR, or
 * ../shared beside the source tree. NULL if neither exists; tests that need it
 * call tu_require_shared(), which skips (exit 77) with the reason. */
const char *tu_shared_dir(void);
const char *tu_require_shared(void);

/* Unit roundoff of f32 and the classic bound gamma_n = n u / (1 - n u):
 * a length-n dot product computed in any order differs from the exact one by at
 * most gamma_n * sum |a_i b_i| (Higham, Accuracy and Stability, 3.1). Two
 * implementations can differ by twice that. */
#define TU_U_F32 (1.0 / 16777216.0)
double tu_gamma(int n);

/* An activation in double (the oracles' side of the kernels' act.h):
 * ReLU, ReLU6, exact GELU (erf), QuickGELU; identity for VK_ACT_NONE. */
double tu_act_d(double x, vk_act act);

#endif
