/* What a scan needs from an open index: the contract between the index store
 * (formats/index_file.*, runtime/index.*) and the searcher (runtime/search.*).
 * All pointers stay valid while the index they came from is open and
 * unmodified; rows are in file order, tombstoned rows included.
 *
 * Search works in the index's stored space: the caller has already applied
 * the index's transform (whitening, L2 normalisation, ensemble fusion) to the
 * queries. Scores are inner products (cosine for normalised rows), higher is
 * better. */
#ifndef VIREO_RUNTIME_INDEX_VIEW_H
#define VIREO_RUNTIME_INDEX_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/codes.h"
#include "runtime/threadpool.h"

typedef struct vr_index_view {
    size_t n;              /* rows, deleted ones included */
    size_t dim;            /* stored dimension */
    vk_code_kind kind;     /* codes scanned */
    size_t row_bytes;      /* vk_code_row_bytes(kind, dim) */
    const void *codes;     /* n·row_bytes bytes, 64-byte aligned */
    const float *a, *b;    /* per-dimension code parameters, dim each (kernels/codes.h) */
    const void *rescore;   /* F16 rows (vk_code_row_bytes(VK_CODE_F16, dim) each) or NULL */
    const uint64_t *ids;   /* n user ids */
    const uint8_t *dead;   /* n bits, bit i (byte i/8, bit i%8) set = row i deleted; NULL: none */
} vr_index_view;

typedef struct vr_hit {
    uint64_t id;
    uint32_t row;  /* row in the view */
    float score;
} vr_hit;

typedef struct vr_search_opts {
    size_t k;        /* results per query, ≥ 1 */
    size_t shortlist;/* the best `shortlist` candidates re-scored exactly (f16 copy
                        when present, else the decoded codes in f32) and re-ordered;
                        0: no re-scoring. With k > shortlist the hits past the
                        shortlist follow in the codes' order, with the codes' scores */
} vr_search_opts;

/* Top k rows of v for each of the nq queries (q: nq·dim f32, row-major), best
 * first, ties broken by lower row. out: nq·k hits; count[i] = hits found for
 * query i (< k when fewer live rows). One pass over the codes serves the whole
 * batch of queries; pool may be NULL (calling thread only). Returns 0, or -1
 * with a message (bad arguments, allocation failure). */
int vr_index_search(const vr_index_view *v, const float *q, size_t nq, const vr_search_opts *o,
                    vr_pool *pool, vr_hit *out, size_t *count, char *err, size_t errlen);

#endif
