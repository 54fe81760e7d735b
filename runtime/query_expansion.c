/* α-weighted query expansion and database-side augmentation
 * (runtime/retrieval.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "runtime/retrieval.h"

static int check_lists(const vr_neighbours *nb, size_t n_lists, float alpha, char *err,
                       size_t errlen)
{
    if (!nb || (n_lists > 0 && nb->stride > 0 && (!nb->row || !nb->sim)))
        return vf_fail(err, errlen, "query expansion: no neighbour lists");
    if (!(alpha >= 0 && isfinite(alpha)))
        return vf_fail(err, errlen, "query expansion: alpha %g is not a finite value ≥ 0", alpha);
    return 0;
}

/* acc (d doubles) = self + Σ w_i · db[n_i] over the first k entries of list
 * `li`, skipping entries equal to `skip` (SIZE_MAX: none); then out =
 * normalise(acc). */
static int expand_one(const float *self, const float *db, size_t n_db, size_t d,
                      const vr_neighbours *nb, size_t li, size_t k, size_t skip, double alpha,
                      double *acc, float *out, char *err, size_t errlen)
{
    size_t cnt = nb->count ? nb->count[li] : nb->stride;
    if (cnt > nb->stride)
        return vf_fail(err, errlen, "query expansion: list %zu claims %zu entries (stride %zu)",
                       li, cnt, nb->stride);
    if (cnt > k)
        cnt = k;
    for (size_t c = 0; c < d; c++)
        acc[c] = self[c];
    for (size_t t = 0; t < cnt; t++) {
        size_t r = nb->row[li * nb->stride + t];
        double s = nb->sim[li * nb->stride + t];
        if (r >= n_db)
            return vf_fail(err, errlen, "query expansion: list %zu entry %zu names row %zu of %zu",
                           li, t, r, n_db);
        if (!isfinite(s))
            return vf_fail(err, errlen, "query expansion: list %zu entry %zu has similarity %g",
                           li, t, s);
        if (r == skip || !(s > 0))
            continue;
        double wgt = alpha == 0 ? 1.0 : pow(s, alpha);
        const float *x = db + r * d;
        for (size_t c = 0; c < d; c++)
            acc[c] += wgt * x[c];
    }
    double nn = 0;
    for (size_t c = 0; c < d; c++)
        nn += acc[c] * acc[c];
    double inv = nn > 0 ? 1.0 / sqrt(nn) : 0;
    for (size_t c = 0; c < d; c++)
        out[c] = (float)(acc[c] * inv);
    return 0;
}

int vr_alpha_qe(const float *q, size_t nq, const float *db, size_t n_db, size_t d,
                const vr_neighbours *nb, size_t k, float alpha, float *out, char *err,
                size_t errlen)
{
    if (check_lists(nb, nq, alpha, err, errlen) != 0)
        return -1;
    if (nq == 0)
        return 0;
    if (!q || !out || d == 0 || (n_db > 0 && !db))
        return vf_fail(err, errlen, "query expansion: bad arguments");
    double *acc = malloc(d * sizeof *acc);
    if (!acc)
        return vf_fail(err, errlen, "query expansion: out of memory");
    int rc = 0;
    for (size_t i = 0; i < nq && rc == 0; i++)
        rc = expand_one(q + i * d, db, n_db, d, nb, i, k, SIZE_MAX, alpha, acc, out + i * d, err,
                        errlen);
    free(acc);
    return rc;
}

int vr_dba(const float *db, size_t n_db, size_t d, const vr_neighbours *nb, size_t k, float alpha,
           float *out, char *err, size_t errlen)
{
    if (check_lists(nb, n_db, alpha, err, errlen) != 0)
        return -1;
    if (n_db == 0)
        return 0;
    if (!db || !out || d == 0)
        return vf_fail(err, errlen, "database augmentation: bad arguments");
    const char *o0 = (const char *)out, *o1 = (const char *)(out + n_db * d);
    const char *b0 = (const char *)db, *b1 = (const char *)(db + n_db * d);
    if (o0 < b1 && b0 < o1)
        return vf_fail(err, errlen, "database augmentation: output overlaps the database");
    double *acc = malloc(d * sizeof *acc);
    if (!acc)
        return vf_fail(err, errlen, "database augmentation: out of memory");
    /* The row itself is in once, with weight 1: k list entries include it
     * (a search of db by itself lists it first), so k − 1 others. */
    int rc = 0;
    for (size_t j = 0; j < n_db && rc == 0; j++)
        rc = expand_one(db + j * d, db, n_db, d, nb, j, k, j, alpha, acc, out + j * d, err, errlen);
    free(acc);
    return rc;
}
