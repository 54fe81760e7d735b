/* Bounded top-k heap (runtime/search_topk.h). */
#include "runtime/search_topk.h"

#include <stdlib.h>

static void sift_down(vr_cand *c, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, w = i;
        if (l < n && vr_cand_worse(c[l], c[w]))
            w = l;
        if (l + 1 < n && vr_cand_worse(c[l + 1], c[w]))
            w = l + 1;
        if (w == i)
            return;
        vr_cand t = c[i];
        c[i] = c[w], c[w] = t;
        i = w;
    }
}

void vr_topk_push(vr_topk *t, double key, uint32_t row)
{
    vr_cand x = {key, row};
    if (key != key || t->cap == 0)
        return;
    if (t->n < t->cap) {
        size_t i = t->n++;
        while (i > 0) { /* sift up: the worst rises to the root */
            size_t p = (i - 1) / 2;
            if (!vr_cand_worse(x, t->c[p]))
                break;
            t->c[i] = t->c[p];
            i = p;
        }
        t->c[i] = x;
        return;
    }
    if (!vr_cand_worse(t->c[0], x))
        return;
    t->c[0] = x;
    sift_down(t->c, t->n, 0);
}

static int cmp_best_first(const void *pa, const void *pb)
{
    vr_cand a = *(const vr_cand *)pa, b = *(const vr_cand *)pb;
    return vr_cand_worse(b, a) ? -1 : vr_cand_worse(a, b) ? 1 : 0;
}

void vr_topk_sort(vr_cand *c, size_t n)
{
    if (n > 1)
        qsort(c, n, sizeof *c, cmp_best_first);
}
