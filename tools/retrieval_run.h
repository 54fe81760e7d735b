/* One retrieval configuration run end to end on in-memory embeddings, the way
 * `vireo eval` scores it: whitening fitted on a training set, database-side
 * augmentation, the gallery quantized into index codes and scanned by the
 * index search kernels, α-query expansion, k-reciprocal re-ranking, and the
 * full ranking of the gallery for every query.
 *
 * Q (nq·d), G (ng·d), T (nt·d, may be NULL when whitening is off) are
 * L2-normalised rows (one model, or an ensemble fused by
 * vr_ensemble_concat). Order of the steps, each optional:
 *   1. whitening: fit on T (runtime/retrieval.h), apply to Q and G
 *   2. DBA: each gallery row augmented with its dba nearest gallery rows
 *      (exact f32 search of G by itself)
 *   3. codes: G encoded (kernels/codes.h, parameters fitted on G) — the
 *      searched database; quantization error is in every later step
 *   4. search: every query against the codes (runtime/index_view.h), full
 *      ranking, optional exact re-scoring of a shortlist
 *   5. αQE: queries expanded with their qe best rows (decoded from the codes),
 *      searched again
 *   6. k-reciprocal re-ranking over queries ∪ gallery: query–gallery and
 *      gallery–gallery distances from the codes, query–query from Q
 * When the queries are the gallery (UKBench), pass queries_are_gallery = 1
 * (then nq = ng and Q = G); the queries go through steps 1–2 like the gallery
 * does. */
#ifndef VIREO_TOOLS_RETRIEVAL_RUN_H
#define VIREO_TOOLS_RETRIEVAL_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/codes.h"
#include "runtime/retrieval.h"
#include "runtime/threadpool.h"

typedef struct rr_cfg {
    vk_code_kind codes;
    int whiten;          /* 0: off */
    vr_whiten_opts wopt;
    size_t dba;          /* neighbours, 0: off */
    float dba_alpha;
    size_t qe;           /* neighbours, 0: off */
    float qe_alpha;
    int rerank;          /* k-reciprocal */
    vr_rerank_opts ropt;
    size_t rescore;      /* shortlist re-scored exactly (f16 copy), 0: off */
} rr_cfg;

void rr_cfg_default(rr_cfg *c);
/* "int8+whiten+dba10+qe2+rerank" style description (buf returned). */
const char *rr_cfg_name(const rr_cfg *c, char *buf, size_t n);

typedef struct rr_result {
    size_t nq, ng;
    uint32_t *ranked;   /* nq·ng gallery indices, best first (free with rr_result_free) */
    size_t stored_dim;  /* after whitening */
    double search_s;    /* wall time of a top-10 search of all queries in one batch (step 4's codes) */
} rr_result;

int rr_run(const float *Q, size_t nq, const float *G, size_t ng, size_t d, const float *T, size_t nt,
           int queries_are_gallery, const rr_cfg *cfg, vr_pool *pool, rr_result *res, char *err,
           size_t errlen);
void rr_result_free(rr_result *r);

#endif
