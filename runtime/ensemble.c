/* L2 normalisation, weighted concatenation of model embeddings, score fusion
 * (runtime/retrieval.h). */
#include <math.h>
#include <stdint.h>

#include "formats/errmsg.h"
#include "runtime/retrieval.h"

static double sq_norm(const float *x, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++)
        s += (double)x[i] * x[i];
    return s;
}

void vr_l2_normalize_rows(float *x, size_t n, size_t d)
{
    for (size_t r = 0; r < n; r++) {
        float *row = x + r * d;
        double nn = sq_norm(row, d);
        if (!(nn > 0)) /* zero (or NaN) rows stay as they are */
            continue;
        double inv = 1.0 / sqrt(nn);
        for (size_t i = 0; i < d; i++)
            row[i] = (float)(row[i] * inv);
    }
}

/* Weights: finite, ≥ 0, positive sum; NULL means all 1. */
static int check_weights(const float *w, size_t m, double *sum, char *err, size_t errlen)
{
    *sum = 0;
    for (size_t i = 0; i < m; i++) {
        double v = w ? w[i] : 1.0;
        if (!isfinite(v) || v < 0)
            return vf_fail(err, errlen, "weight %zu is %g (need a finite value ≥ 0)", i, v);
        *sum += v;
    }
    if (!(*sum > 0))
        return vf_fail(err, errlen, "the %zu weights sum to 0", m);
    return 0;
}

int vr_ensemble_concat(const float *const *emb, const size_t *dims, const float *weights,
                       size_t n_models, size_t n, float *out, char *err, size_t errlen)
{
    if (!emb || !dims || !out || n_models == 0)
        return vf_fail(err, errlen, "ensemble: no models");
    double wsum;
    if (check_weights(weights, n_models, &wsum, err, errlen) != 0)
        return -1;
    size_t total = 0;
    for (size_t m = 0; m < n_models; m++) {
        if (!emb[m] || dims[m] == 0)
            return vf_fail(err, errlen, "ensemble: model %zu has no embedding", m);
        if (dims[m] > SIZE_MAX - total)
            return vf_fail(err, errlen, "ensemble: dimensions overflow");
        total += dims[m];
    }
    for (size_t r = 0; r < n; r++) {
        /* The fused row's squared norm is Σ_m w_m over the models whose row
         * is not zero; each block is scaled by √(w_m / ‖e_m‖²) / that norm, so
         * every value is rounded once. */
        double norm2 = 0;
        for (size_t m = 0; m < n_models; m++)
            if (sq_norm(emb[m] + r * dims[m], dims[m]) > 0)
                norm2 += weights ? weights[m] : 1.0;
        double inv = norm2 > 0 ? 1.0 / sqrt(norm2) : 0;
        float *o = out + r * total;
        for (size_t m = 0; m < n_models; m++) {
            const float *e = emb[m] + r * dims[m];
            double nn = sq_norm(e, dims[m]), w = weights ? weights[m] : 1.0;
            double s = nn > 0 ? sqrt(w / nn) * inv : 0;
            for (size_t i = 0; i < dims[m]; i++)
                o[i] = (float)(e[i] * s);
            o += dims[m];
        }
    }
    return 0;
}

int vr_fuse_scores(const float *const *scores, const float *weights, size_t n_models, size_t n,
                   float *out, char *err, size_t errlen)
{
    if (!scores || !out || n_models == 0)
        return vf_fail(err, errlen, "fuse scores: no score lists");
    for (size_t m = 0; m < n_models; m++)
        if (!scores[m] && n > 0)
            return vf_fail(err, errlen, "fuse scores: list %zu is NULL", m);
    double wsum;
    if (check_weights(weights, n_models, &wsum, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t m = 0; m < n_models; m++)
            s += (weights ? weights[m] : 1.0) * scores[m][i];
        out[i] = (float)(s / wsum);
    }
    return 0;
}
