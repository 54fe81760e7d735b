/* Dense linear algebra the retrieval layer needs, in double: the covariance
 * of a set of f32 rows and the eigendecomposition of a symmetric matrix
 * (PCA whitening, runtime/retrieval.h).
 *
 * Covariance (two passes, so no cancellation between E[xxᵀ] and μμᵀ):
 *   μ = (1/n) Σ_s x_s,   C = (1/n) Σ_s (x_s − μ)(x_s − μ)ᵀ
 * (the population covariance, divided by n, not n − 1: whitening only needs
 * it up to a common scale, and n = 1 stays defined). Each x_s − μ is rounded
 * to double once; the products and sums are in double.
 *
 * Eigendecomposition A = U Λ Uᵀ (A symmetric n×n):
 *   1. Householder reduction to tridiagonal form, A = Q T Qᵀ
 *      (Golub & Van Loan, Matrix Computations, 4th ed., 8.3.1), Qᵀ formed by
 *      backward accumulation of the reflectors, several at a time per row;
 *   2. implicit QL with Wilkinson-like shifts on T (the tql2 / tqli algorithm
 *      of EISPACK and Numerical Recipes 11.3); the plane rotations of many
 *      sweeps are recorded and then applied to Qᵀ one column panel at a time,
 *      so Qᵀ streams through the cache once per batch instead of once per
 *      sweep. The arithmetic per element is the same as applying each
 *      rotation at once.
 * About 4/3 n³ flops for the reduction (lower triangle only, one pass over
 * it per step), 4/3 n³ for forming Qᵀ and ~6 n³ for the rotations (QL makes
 * about n² of them, each touching 2n entries), all in portable C (SSE2 on
 * x86-64: no ISA-specific code outside kernels/). Measured on the Zen 5 dev
 * machine (shared, busy), one thread, CPU time: n = 1024 in 0.75 s, n = 2048
 * in 6.2 s (reduction 2.0, Qᵀ 1.1, rotations 3.1), plus 0.7 s for the
 * covariance of 2,640 rows. Work splits over a vr_pool by rows, row chunks
 * of fixed bounds and column panels — never by reduction order — so results
 * are bitwise the same for any number of threads.
 *
 * Output order and signs are fixed so two runs (or another implementation
 * following the same rules) agree: eigenvalues descending (ties keep the
 * order QL left them in); each eigenvector has its largest-magnitude
 * component positive (the first such when several tie).
 */
#ifndef VIREO_RUNTIME_LINALG_H
#define VIREO_RUNTIME_LINALG_H

#include <stddef.h>

#include "runtime/threadpool.h"

/* Largest n (or d) these functions accept: n² doubles must fit in memory
 * many times over before this matters; it keeps every index in an int. */
#define VR_LINALG_MAX_DIM 32768

/* μ (d) and C (d×d row-major, both triangles written) of n rows of x
 * (n·d f32, row-major). Rows must be finite. pool may be NULL. Returns 0, or
 * -1 with a message (bad sizes, non-finite value, allocation failure). */
int vr_covariance(const float *x, size_t n, size_t d, double *mean, double *cov, vr_pool *pool,
                  char *err, size_t errlen);

/* Eigenvalues (evals[n], descending) and eigenvectors (evecs: n×n row-major,
 * row i the unit eigenvector of evals[i]) of the symmetric matrix a (n×n
 * row-major; only the lower triangle is read; a is destroyed). Entries must
 * be finite. pool may be NULL. Returns 0, or -1 with a message (bad sizes,
 * non-finite entry, no convergence — which the shifted QL does not hit in
 * practice —, allocation failure). */
int vr_sym_eig(double *a, size_t n, double *evals, double *evecs, vr_pool *pool, char *err,
               size_t errlen);

#endif
