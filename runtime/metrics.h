/* Retrieval evaluation: per-query metrics over a ranked result list and
 * their means over a query set (the protocols of ../shared/README.md).
 *
 * A query's result is a ranked list of gallery items, best first, seen as
 * relevance flags rel[0 … len−1] (1: relevant), plus n_rel, the number of
 * relevant items in the whole gallery (≥ the number in the list; the list may
 * be a truncated top-k). With hits(k) = Σ_{t<min(k,len)} rel[t]:
 *   Recall@k  = 1 if hits(k) ≥ 1 else 0        (the hit rate, as the
 *               GroceryStore / eProduct protocols use it, not hits/n_rel)
 *   AR@k      = hits(k) / min(k, n_rel)        (MAR@10 = mean of AR@10)
 *   AP        = (1/n_rel) Σ_{t: rel[t]} hits(t+1)/(t+1)
 *               (non-interpolated, as TREC and scikit-learn; relevant items
 *               missing from a truncated list count as never retrieved, so
 *               mAP needs the full ranking to be the usual mAP)
 *   N-S score = hits(4)                        (Nistér & Stewénius, CVPR 2006:
 *               UKBench's score, 0 … 4, mean over queries)
 * A query with n_rel = 0 has none of these defined: the evaluation skips it
 * and counts it.
 *
 * The query itself: UKBench queries every image against all 1,000 images,
 * itself included, and its score counts the query's own hit (the standard N-S
 * definition: "the number of the four images of the same object among the top
 * four", max 4.0). With the query left in, Recall@1 is trivially 1 and mAP is
 * inflated, so vr_eval_by_labels can drop the query's own entry (self_index)
 * from its list and from n_rel: report N-S with self kept (self_index NULL) and
 * Recall@1 / mAP with self dropped, and say which.
 */
#ifndef VIREO_RUNTIME_METRICS_H
#define VIREO_RUNTIME_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Relevant entries among the first k (k > len: all of the list). */
size_t vr_hits_at(const uint8_t *rel, size_t len, size_t k);
/* 1 if any of the first k is relevant. */
int vr_recall_at(const uint8_t *rel, size_t len, size_t k);
/* hits(k) / min(k, n_rel); 0 when n_rel or k is 0. */
double vr_ar_at(const uint8_t *rel, size_t len, size_t k, size_t n_rel);
/* Average precision; 0 when n_rel is 0. */
double vr_average_precision(const uint8_t *rel, size_t len, size_t n_rel);

/* Means over queries, accumulated one query at a time. */
typedef struct vr_eval {
    size_t queries;  /* queries counted (n_rel ≥ 1) */
    size_t skipped;  /* queries without a relevant item */
    double recall1, recall5, recall10, mar10, map, ns_score; /* sums while accumulating */
} vr_eval;

void vr_eval_init(vr_eval *e);
/* Adds one query (n_rel ≥ the relevant entries in rel, else -1 … the caller's
 * counts are wrong; returns 0 or -1). */
int vr_eval_add(vr_eval *e, const uint8_t *rel, size_t len, size_t n_rel);
/* Sums → means (over e->queries; all 0 when none counted). */
void vr_eval_finish(vr_eval *e);

/* The common case: relevance = same label. For query i, ranked[i·stride + t]
 * (t < count[i], count NULL: stride) are gallery indices (< n_gallery),
 * best first; q_label[i] and g_label[g] are class labels. n_rel is counted in
 * the gallery. self_index: NULL, or per query the gallery index of the query
 * itself (or SIZE_MAX if it is not in the gallery), which is then removed from
 * the list and from n_rel. Result in *out (finished). Errors: an index out of
 * range, a repeated entry in one list, allocation failure. */
int vr_eval_by_labels(const uint32_t *ranked, const size_t *count, size_t stride, size_t nq,
                      const int32_t *q_label, const int32_t *g_label, size_t n_gallery,
                      const size_t *self_index, vr_eval *out, char *err, size_t errlen);

#endif
