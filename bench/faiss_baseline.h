/* The FAISS peers of `vireo-bench index` (bench/faiss_baseline.cpp, a C++
 * shim over Debian's static libfaiss, whose C API objects are not shipped):
 * IndexFlatIP, and IndexScalarQuantizer QT_8bit / QT_4bit with the inner
 * product metric. Errors (FAISS exceptions) come back as a message. */
#ifndef VIREO_BENCH_FAISS_BASELINE_H
#define VIREO_BENCH_FAISS_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bf_kind { BF_FLAT_IP = 0, BF_SQ8 = 1, BF_SQ4 = 2 } bf_kind;
typedef struct bf_index bf_index;

bf_index *bf_create(bf_kind kind, int dim, char *err, size_t errlen);
/* Trains (scalar quantizers: per-dimension min/max, FAISS's default
 * RS_minmax) and adds the n rows. */
int bf_build(bf_index *ix, size_t n, const float *x, char *err, size_t errlen);
/* k best by inner product per query: dist (nq·k), labels (nq·k, −1 = none). */
int bf_search(bf_index *ix, size_t nq, const float *q, int k, float *dist, int64_t *labels,
              char *err, size_t errlen);
void bf_free(bf_index *ix);
const char *bf_name(bf_kind kind); /* "faiss-flatip", "faiss-sq8", "faiss-sq4" */

/* OpenMP and OpenBLAS threads (both set to t). */
void bf_set_threads(int t);
/* Queries from which FAISS's flat search uses BLAS sgemm (FAISS default 20). */
void bf_set_blas_threshold(int nq);
/* The BLAS FAISS calls, as that library reports itself (OpenBLAS config
 * string, or "reference BLAS"). */
const char *bf_blas_info(void);
/* FAISS's compile options ("OPTIMIZE AVX2 ..." when built with SIMD). */
const char *bf_faiss_info(void);

#ifdef __cplusplus
}
#endif
#endif
