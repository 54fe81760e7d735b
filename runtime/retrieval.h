/* Retrieval post-processing on f32 embeddings: normalisation, model
 * ensembles, PCA whitening, α-query expansion and database-side augmentation,
 * k-reciprocal re-ranking. Plain math on row-major matrices: no file I/O, no
 * search inside (callers pass the neighbour lists a search gave them).
 *
 * Conventions: a "row" is one embedding of dimension d; n rows are n·d floats,
 * row-major. Similarities are inner products of L2-normalised rows (cosines),
 * higher is better; distances are smaller-is-better. Functions returning int
 * give 0, or -1 with a message in err (formats/errmsg.h). Sums are in double
 * unless said otherwise; results are rounded to f32 once.
 *
 * ---------------------------------------------------------------------------
 * L2 normalisation (vr_l2_normalize_rows):
 *   x ← x / ‖x‖₂;   a zero row stays zero (so does a row whose norm underflows).
 *
 * Ensemble of M models (vr_ensemble_concat): model m gives e_m (dimension d_m)
 * and a weight w_m ≥ 0 (Σ w_m > 0). The fused row is
 *   y = normalise([ √w_1 · ê_1, …, √w_M · ê_M ]),   ê_m = normalise(e_m)
 * The square roots make the fused cosine the weighted mean of the per-model
 * cosines when no row is zero:
 *   ⟨y, y'⟩ = Σ_m w_m ⟨ê_m, ê'_m⟩ / Σ_m w_m
 * so concatenation and score fusion (below) with the same weights rank alike.
 *
 * Score fusion (vr_fuse_scores): s[i] = Σ_m w_m s_m[i] / Σ_m w_m for the same
 * candidates i in every list (the weighted mean; ranks as the weighted sum).
 *
 * ---------------------------------------------------------------------------
 * PCA whitening (vr_whiten_fit / vr_whiten_apply), Jégou & Chum, "Negative
 * evidences and co-occurrences in image retrieval", ECCV 2012, §2:
 *   fit on n training rows x_s (the caller L2-normalises them first, as the
 *   rows it will whiten): μ = mean, C = (1/n) Σ (x_s − μ)(x_s − μ)ᵀ (double,
 *   runtime/linalg.h), C = U Λ Uᵀ with λ_1 ≥ λ_2 ≥ … (unit eigenvectors u_i,
 *   largest-magnitude component positive);
 *   rank r = #{i : λ_i > tol} capped at n − 1 (centred rows span at most n − 1
 *     directions), tol = λ_1 · max(n, d) · 64 · 2⁻⁵² (eigenvalues below are
 *     rounding noise of the double computation);
 *   d_out = requested (0: r), capped at r — a degenerate set (n ≤ d, or rows
 *     confined to a subspace) keeps only the directions it has seen;
 *   ε = eps_rel · λ_1 (regularisation: bounds the gain of the weakest kept
 *     direction at (λ_1·eps_rel)^(−power));
 *   P = diag((λ_i + ε)^(−power)) · U_{:, 1…d_out}ᵀ    (d_out × d)
 *   apply: y = normalise(P (x − μ)).
 * power = 0.5 is full whitening (unit variance in every kept direction),
 * 0 is a plain PCA projection (rotation + truncation), values in between
 * (0.25) shrink the whitening; any power in [0, 1] is accepted.
 * The result is plain arrays (mean[d], proj[d_out·d]): an index stores them as
 * tensors and may build a vr_whiten over its own memory to apply them.
 *
 * ---------------------------------------------------------------------------
 * Query expansion and database-side augmentation (Radenović, Tolias & Chum,
 * "Fine-tuning CNN image retrieval with no human annotation", TPAMI 2019,
 * §5.1, αQE; Arandjelović & Zisserman, "Three things everyone should know",
 * CVPR 2012, DBA):
 *   αQE:  q' = normalise(q + Σ_{i<k} w_i · x_{n_i})
 *   DBA:  x'_j = normalise(x_j + Σ_{i<k, n_i ≠ j} w_i · x_{n_i})
 * with n_i, s_i the i-th neighbour (a database row) and its similarity, best
 * first, and w_i = s_i^α for s_i > 0, 0 otherwise (α = 0: plain average
 * query expansion over the positive neighbours). k counts the list entries
 * looked at; for DBA the row itself is always in once, with weight 1, and its
 * own entry in the list is skipped (a search of the database by itself puts
 * it first, so k = 1 leaves the row as it is).
 *
 * ---------------------------------------------------------------------------
 * k-reciprocal re-ranking (Zhong, Zheng, Cao & Li, "Re-ranking person
 * re-identification with k-reciprocal encoding", CVPR 2017), over a set of N
 * items (queries and gallery together) with an original distance matrix
 * dist (N×N, ≥ 0, e.g. √(2 − 2·cos) for normalised rows). Where the paper's
 * text and its authors' released code differ, we follow the code, whose
 * parameters (k1 = 20, k2 = 6, λ = 0.3) the paper reports:
 *   d(i, j) = dist[i][j]² / max_j' dist[i][j']²   (0 when the row is all zero)
 *   N(i, k) = the k + 1 items nearest to i by dist (i itself usually first),
 *     ties broken by lower index;
 *   R(i, k) = {j ∈ N(i, k) : i ∈ N(j, k)}   (k-reciprocal neighbours);
 *   R*(i) = R(i, k1) ∪ R(c, h) for every c ∈ R(i, k1) with
 *     |R(c, h) ∩ R(i, k1)| > (2/3) |R(c, h)|   (h = k1/2 rounded half to even)
 *   V[i][j] = exp(−d(i, j)) / Σ_{j' ∈ R*(i)} exp(−d(i, j')) for j ∈ R*(i), else 0;
 *   local query expansion (k2 > 1): V[i] ← mean of V[j] over the k2 nearest j
 *     (N(i, k2 − 1), i itself included);
 *   Jaccard: d_J(i, j) = 1 − Σ_c min(V[i][c], V[j][c]) / Σ_c max(V[i][c], V[j][c])
 *     (= 1 − m / (2 − m) with m the sum of minima, every row of V summing to 1);
 *   final: d*(i, j) = (1 − λ) · d_J(i, j) + λ · d(i, j)   (d_J clamped at 0
 *     against rounding).
 * k1 is capped at N − 1 and k2 at N. Cost: O(N²) to rank, then O(N·k1²) for
 * the sets and sparse Jaccard sums; memory O(N·k1·k2) beyond the caller's
 * matrices (N = 5,125, the GroceryStore test ∪ train set: 0.15 s of CPU). For
 * search on a large index, re-rank a shortlist: the query and its top K
 * candidates form the N = K + 1 items (vr_kreciprocal_shortlist).
 * k1 should be near the number of relevant items a query has. Measured with
 * MobileNetV1 embeddings: GroceryStore test → train (~30 relevant per query)
 * with the defaults, mAP 0.376 → 0.499, MAR@10 0.519 → 0.609; UKBench (3
 * relevant besides the query) with the defaults, N-S 3.943 → 3.859 (worse),
 * with k1 = 3, k2 = 2, N-S 3.995.
 */
#ifndef VIREO_RUNTIME_RETRIEVAL_H
#define VIREO_RUNTIME_RETRIEVAL_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/threadpool.h"

/* ----------------------------------------------------------- normalise --- */

/* Each of the n rows of x (n·d) divided by its L2 norm (computed in double);
 * zero rows stay zero. Non-finite values are the caller's problem (they
 * propagate; nothing crashes). */
void vr_l2_normalize_rows(float *x, size_t n, size_t d);

/* ------------------------------------------------------------ ensemble --- */

/* n rows from each of the M models: emb[m] is n·dims[m] floats. out: n rows of
 * Σ dims[m] floats, the weighted concatenation above. weights: M values ≥ 0,
 * finite, not all zero (NULL: all 1). */
int vr_ensemble_concat(const float *const *emb, const size_t *dims, const float *weights,
                       size_t n_models, size_t n, float *out, char *err, size_t errlen);

/* out[i] = Σ_m w_m · scores[m][i] / Σ_m w_m over n candidates (weights as
 * above; NULL: all 1). out may be one of the inputs. */
int vr_fuse_scores(const float *const *scores, const float *weights, size_t n_models, size_t n,
                   float *out, char *err, size_t errlen);

/* ----------------------------------------------------------- whitening --- */

typedef struct vr_whiten_opts {
    size_t d_out;  /* components kept; 0: all the training set supports (its rank) */
    float power;   /* 0.5 full whitening, 0 PCA only, 0.25 shrunk; in [0, 1] */
    float eps_rel; /* ε = eps_rel · λ_1; ≥ 0 */
} vr_whiten_opts;

/* power 0.5, eps_rel 0.1, d_out 0. The strong regularisation is measured,
 * not guessed: MobileNetV1 (Coral, 1024-d) embeddings of GroceryStore, fitted
 * on train (2,640 rows, 2.6 per dimension), val photos → train photos: mAP
 * 0.09 with eps_rel 1e-6 (the weak directions, mostly sampling noise, get
 * unit variance), 0.22 with 1e-3, 0.34 with 0.01, 0.39 with 0.1, 0.40 with
 * 0.3; the centred PCA rotation alone (power 0) gives 0.39. Tune per model and
 * training-set size. */
vr_whiten_opts vr_whiten_opts_default(void);

typedef struct vr_whiten {
    size_t d_in, d_out;
    float *mean; /* d_in */
    float *proj; /* d_out × d_in, row-major: P above */
    /* From the fit, for reports (not needed to apply): */
    size_t rank;  /* r above */
    double eps;   /* ε used */
    double *eigenvalues; /* the d_out kept λ_i, descending (NULL when not fitted here) */
} vr_whiten;

/* Fits on n rows of x (n·d, finite). w receives malloc'd arrays (free with
 * vr_whiten_free). Errors: bad options, non-finite rows, a set without
 * variance (rank 0: fewer than two distinct rows), allocation failure.
 * pool may be NULL. */
int vr_whiten_fit(const float *x, size_t n, size_t d, const vr_whiten_opts *o, vr_pool *pool,
                  vr_whiten *w, char *err, size_t errlen);

/* Frees what vr_whiten_fit allocated and zeroes w. Accepts NULL. Never call it
 * on a vr_whiten built over someone else's arrays. */
void vr_whiten_free(vr_whiten *w);

/* Checks arrays that came from outside (an index file): sizes in range,
 * d_out ≤ d_in, every value finite. */
int vr_whiten_check(const vr_whiten *w, char *err, size_t errlen);

/* y (n·d_out) = normalise(P (x − μ)) for the n rows of x (n·d_in). The product
 * runs on the matmul kernel of the dispatched level (f32 accumulation).
 * y must not overlap x. pool may be NULL. */
int vr_whiten_apply(const vr_whiten *w, const float *x, size_t n, float *y, vr_pool *pool,
                    char *err, size_t errlen);

/* ------------------------------------------- query expansion, DBA --- */

/* Neighbour lists from a search: row i has count[i] (≤ stride; count NULL:
 * stride) entries, best first: row[i·stride + t] (a database row index) and
 * sim[i·stride + t] (its similarity). */
typedef struct vr_neighbours {
    size_t stride;
    const uint32_t *row;
    const float *sim;
    const size_t *count;
} vr_neighbours;

/* αQE for nq queries q (nq·d) over database db (n_db·d): out (nq·d) per the
 * formula above, k entries of each list (fewer if the list is shorter).
 * alpha ≥ 0. Errors: a neighbour row ≥ n_db, a non-finite similarity, bad
 * arguments. out may equal q but must not overlap db. */
int vr_alpha_qe(const float *q, size_t nq, const float *db, size_t n_db, size_t d,
                const vr_neighbours *nb, size_t k, float alpha, float *out, char *err,
                size_t errlen);

/* DBA: every database row j replaced per the formula above, from list j of
 * nb (a search of db by itself; list j's entries equal to j are skipped).
 * out (n_db·d) must not overlap db (every row reads the original rows). */
int vr_dba(const float *db, size_t n_db, size_t d, const vr_neighbours *nb, size_t k, float alpha,
           float *out, char *err, size_t errlen);

/* -------------------------------------------------- k-reciprocal rerank --- */

typedef struct vr_rerank_opts {
    int k1, k2;   /* ≥ 1 */
    float lambda; /* weight of the original distance, in [0, 1] */
} vr_rerank_opts;

/* k1 20, k2 6, λ 0.3 (the paper's). */
vr_rerank_opts vr_rerank_opts_default(void);

/* d*(i, j) for the first nq items i (the queries) against all N items j:
 * out is nq·N, row-major. dist: N·N, row stride N, finite and ≥ 0 (need not
 * be symmetric). Put the queries first; for queries that are also gallery
 * items (UKBench) N = nq and out is the whole matrix. pool may be NULL.
 * Errors: bad arguments or distances, allocation failure. */
int vr_kreciprocal_rerank(const float *dist, size_t n, size_t nq, const vr_rerank_opts *o,
                          vr_pool *pool, float *out, char *err, size_t errlen);

/* Re-ranks one query's shortlist: q (d) and its K candidates cand (K·d), all
 * L2-normalised. Builds the (K+1)² distances √max(0, 2 − 2·⟨a, b⟩) (the query
 * is item 0) and writes d*(query, candidate t) to out[t], t < K. */
int vr_kreciprocal_shortlist(const float *q, const float *cand, size_t k_cand, size_t d,
                             const vr_rerank_opts *o, float *out, char *err, size_t errlen);

/* dist[i] = √max(0, 2 − 2·sim[i]) for n similarities of normalised rows (the
 * Euclidean distance between them). */
void vr_sims_to_dists(const float *sim, size_t n, float *dist);

#endif
