/* vireo-bench: shared declarations of the benchmark driver.
 *
 * Each op family (ops_*.c) builds its operands once per shape, checks our
 * kernel against oneDNN on them, then times both through the harness
 * (harness.c) and emits one row per (shape, threads, baseline).
 */
#ifndef VIREO_BENCH_H
#define VIREO_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kernels/pack.h"
#include "runtime/threadpool.h"

#define BENCH_MAX_THREADS 8
enum { BENCH_CLOCK_AUTO = 0, BENCH_CLOCK_WALL };

typedef struct bench_opts {
    int json;
    int quick;
    int runs;
    double min_ms; /* each run lasts at least this long (and >= 3 calls) */
    const char *filter;
    int clock; /* BENCH_CLOCK_* */
    int threads[BENCH_MAX_THREADS];
    int nthreads;
    int int8_only; /* the re-executed child: int8 rows against onednn-vnni only */
    const char *baseline; /* "onednn" or "onednn-vnni" */
    /* measured peak GOP/s per thread count (index = threads), 0 = unknown */
    double peak_f32[BENCH_MAX_THREADS + 1];
    double peak_int8[BENCH_MAX_THREADS + 1];
    double peak_bf16[BENCH_MAX_THREADS + 1]; /* vdpbf16ps */
} bench_opts;

extern bench_opts g_opt;

/* One output row. gops/baseline_gops < 0 = not measured. */
typedef struct bench_row {
    const char *op;
    const char *dtype; /* f32, int8 */
    char shape[64];
    char layer[48]; /* where the shape comes from, e.g. vit-b16.b1.qkv */
    int threads;
    const char *isa;
    double ops; /* operations per call: 2 per multiply-add; elements for eltwise */
    double ms, baseline_ms;
    /* paired rounds (bench_time_row): median, min and max over the rounds of
     * baseline_ms/ms measured back to back; <= 0 = not measured */
    double ratio_med, ratio_min, ratio_max;
    const char *baseline;
    const char *baseline_impl;
    const char *impl;
    const char *check; /* "ok", "mismatch", "skipped" */
    double max_err;
    int peak_kind; /* 0 none, 1 f32 FMA, 2 int8 VNNI, 3 bf16 vdpbf16ps */
    int elementwise; /* gops counts G elements/s */
} bench_row;

/* ---------------------------------------------------------------- harness */
/* A timed body: one call of the op; `iter` picks the rotated buffer set. */
typedef void (*bench_fn)(void *ctx, int iter);

/* Times `ours` and `theirs` (either may be NULL) in g_opt.runs rounds, each
 * round one run of both back to back (the order alternating), and stores the
 * medians (ms per call) in *ms_ours / *ms_theirs. */
void bench_time_pair(int threads, bench_fn ours, void *ctx_ours, bench_fn theirs,
                     void *ctx_theirs, double *ms_ours, double *ms_theirs);
/* The same into row->ms / baseline_ms, plus the rounds' ratios (ratio_med,
 * ratio_min, ratio_max), which bench_emit reports as the row's ratio. */
void bench_time_row(int threads, bench_fn ours, void *ctx_ours, bench_fn theirs,
                    void *ctx_theirs, bench_row *row);
/* "thread-cpu" (1 thread, auto) or "wall" */
const char *bench_clock_name(int threads);
/* The lower median of v[0..n) (sorts v in place; 0 for n <= 0). */
double bench_median(double *v, int n);

/* How many copies of a `bytes`-sized buffer set to rotate through so that one
 * full rotation exceeds the last-level cache (XNNPACK's rule). */
int bench_rotations(size_t bytes);

void bench_emit(const bench_row *r);
void bench_emit_peak(const char *dtype, int threads, double gops);
void bench_table_header(void);

/* --filter: matches "op.dtype" (e.g. matmul.int8), the shape or the layer */
int bench_selected(const char *op, const char *dtype, const char *shape, const char *layer);
double bench_now(void); /* seconds, monotonic */
double bench_loadavg(void); /* 1-minute load average, -1 if unknown */

void *bench_alloc(size_t bytes); /* 64-aligned, zeroed, aborts on failure */
void bench_free(void *p);
void bench_fill_f32(float *x, size_t n, float lo, float hi, uint64_t seed);
void bench_fill_u8(uint8_t *x, size_t n, uint64_t seed);
void bench_fill_s8(int8_t *x, size_t n, uint64_t seed);

/* Result checks (ours vs oneDNN, once per row before timing).
 * f32: max |got - want| / (1 + |want|), +inf on NaN; int8: max |got - want|. */
double bench_cmp_f32(const float *got, const float *want, size_t n);
double bench_cmp_u8(const uint8_t *got, const uint8_t *want, size_t n);
#define BENCH_TOL_F32 1e-3
#define BENCH_TOL_Q8 1 /* TFLite's double rounding vs oneDNN's f32 scaling */
const char *bench_verdict(double err, double tol);

/* Per-channel requantization for an int8 op whose accumulators sum K
 * products of u8 (around a_zero) and s8 values: real scales chosen so outputs
 * spread around out_zero without saturating much. Fills n entries of each. */
void bench_make_requant(int n, int K, uint64_t seed, float *scales, int32_t *mult,
                        int8_t *shift);
/* s32 bias of the same magnitude as such accumulators */
void bench_make_bias_s32(int n, int K, uint64_t seed, int32_t *bias);

/* The pool for a thread count (created once, kept for the process). */
vr_pool *bench_pool(int threads);
const vk_ops *bench_ops(void);
/* Kernel present? If not, prints a one-time note to stderr and returns 0. */
int bench_have(const void *fn, int op);

/* ----------------------------------------------------------------- peak */
/* Register-resident throughput loops (peak_avx512.c); per thread, returns ops
 * done. Only called when the CPU runs AVX-512 + VNNI. */
double bench_peak_fma_f32(long iters);
double bench_peak_vnni_s8(long iters);
double bench_peak_dpbf16(long iters); /* needs AVX512_BF16 */
void bench_measure_peaks(void);

/* ----------------------------------------------------------------- families */
void bench_matmul(void);
void bench_conv(void);
void bench_attention(void);
void bench_eltwise(void);
void bench_quant_ops(void); /* ops_quant.c: add / pooling / mean, int8 */

#endif
