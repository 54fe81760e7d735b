/* Bounded top-k of (key, row) pairs for the index scan (runtime/search.c).
 * Order: higher key first, equal keys by lower row. A min-heap keeps the
 * worst kept pair at the root, so a candidate is compared with one value. */
#ifndef VIREO_RUNTIME_SEARCH_TOPK_H
#define VIREO_RUNTIME_SEARCH_TOPK_H

#include <stddef.h>
#include <stdint.h>

typedef struct vr_cand {
    double key;
    uint32_t row;
} vr_cand;

typedef struct vr_topk {
    vr_cand *c; /* cap slots */
    size_t n, cap;
} vr_topk;

/* a ranks below b */
static inline int vr_cand_worse(vr_cand a, vr_cand b)
{
    return a.key < b.key || (a.key == b.key && a.row > b.row);
}

/* Offers (key, row); keeps the cap best. NaN keys are never kept. */
void vr_topk_push(vr_topk *t, double key, uint32_t row);
/* Sorts the kept pairs best first (destroys the heap order). */
void vr_topk_sort(vr_cand *c, size_t n);

#endif
