/* Retrieval metrics (runtime/metrics.h). */
#include "runtime/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"

size_t vr_hits_at(const uint8_t *rel, size_t len, size_t k)
{
    size_t h = 0, end = k < len ? k : len;
    for (size_t t = 0; t < end; t++)
        h += rel[t] != 0;
    return h;
}

int vr_recall_at(const uint8_t *rel, size_t len, size_t k) { return vr_hits_at(rel, len, k) > 0; }

double vr_ar_at(const uint8_t *rel, size_t len, size_t k, size_t n_rel)
{
    size_t den = k < n_rel ? k : n_rel;
    return den ? (double)vr_hits_at(rel, len, k) / (double)den : 0.0;
}

double vr_average_precision(const uint8_t *rel, size_t len, size_t n_rel)
{
    if (n_rel == 0)
        return 0.0;
    double s = 0;
    size_t h = 0;
    for (size_t t = 0; t < len; t++)
        if (rel[t]) {
            h++;
            s += (double)h / (double)(t + 1);
        }
    return s / (double)n_rel;
}

void vr_eval_init(vr_eval *e) { memset(e, 0, sizeof *e); }

int vr_eval_add(vr_eval *e, const uint8_t *rel, size_t len, size_t n_rel)
{
    if (vr_hits_at(rel, len, len) > n_rel)
        return -1;
    if (n_rel == 0) {
        e->skipped++;
        return 0;
    }
    e->queries++;
    e->recall1 += vr_recall_at(rel, len, 1);
    e->recall5 += vr_recall_at(rel, len, 5);
    e->recall10 += vr_recall_at(rel, len, 10);
    e->mar10 += vr_ar_at(rel, len, 10, n_rel);
    e->map += vr_average_precision(rel, len, n_rel);
    e->ns_score += (double)vr_hits_at(rel, len, 4);
    return 0;
}

void vr_eval_finish(vr_eval *e)
{
    double inv = e->queries ? 1.0 / (double)e->queries : 0.0;
    e->recall1 *= inv;
    e->recall5 *= inv;
    e->recall10 *= inv;
    e->mar10 *= inv;
    e->map *= inv;
    e->ns_score *= inv;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Items of label l in the sorted labels. */
static size_t label_count(const int32_t *sorted, size_t n, int32_t l)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { /* first ≥ l */
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < l)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t first = lo;
    hi = n;
    while (lo < hi) { /* first > l */
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= l)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - first;
}

int vr_eval_by_labels(const uint32_t *ranked, const size_t *count, size_t stride, size_t nq,
                      const int32_t *q_label, const int32_t *g_label, size_t n_gallery,
                      const size_t *self_index, vr_eval *out, char *err, size_t errlen)
{
    vr_eval_init(out);
    if (nq == 0)
        return 0;
    if (!q_label || (stride > 0 && !ranked) || (n_gallery > 0 && !g_label))
        return vf_fail(err, errlen, "evaluation: NULL argument");
    int32_t *sorted = malloc((n_gallery ? n_gallery : 1) * sizeof *sorted);
    uint8_t *rel = malloc(stride ? stride : 1);
    uint8_t *seen = calloc(n_gallery ? n_gallery : 1, 1);
    int rc = -1;
    if (!sorted || !rel || !seen) {
        vf_fail(err, errlen, "evaluation: out of memory");
        goto done;
    }
    memcpy(sorted, g_label, n_gallery * sizeof *sorted);
    qsort(sorted, n_gallery, sizeof *sorted, cmp_i32);
    for (size_t i = 0; i < nq; i++) {
        size_t cnt = count ? count[i] : stride;
        if (cnt > stride) {
            vf_fail(err, errlen, "evaluation: query %zu has %zu results (stride %zu)", i, cnt, stride);
            goto done;
        }
        size_t self = self_index ? self_index[i] : SIZE_MAX;
        if (self != SIZE_MAX && self >= n_gallery) {
            vf_fail(err, errlen, "evaluation: query %zu is gallery item %zu of %zu", i, self, n_gallery);
            goto done;
        }
        const uint32_t *list = ranked + i * stride;
        size_t len = 0;
        int bad = 0;
        for (size_t t = 0; t < cnt; t++) {
            uint32_t g = list[t];
            if (g >= n_gallery || seen[g]) {
                vf_fail(err, errlen, "evaluation: query %zu result %zu is %s %u", i, t,
                        g >= n_gallery ? "out of range:" : "repeated:", g);
                bad = 1;
                break;
            }
            seen[g] = 1;
            if (g != self)
                rel[len++] = g_label[g] == q_label[i];
        }
        for (size_t t = 0; t < cnt && t < stride; t++)
            if (list[t] < n_gallery)
                seen[list[t]] = 0;
        if (bad)
            goto done;
        size_t n_rel = label_count(sorted, n_gallery, q_label[i]);
        if (self != SIZE_MAX && g_label[self] == q_label[i])
            n_rel--;
        vr_eval_add(out, rel, len, n_rel);
    }
    vr_eval_finish(out);
    rc = 0;
done:
    free(sorted), free(rel), free(seen);
    return rc;
}
