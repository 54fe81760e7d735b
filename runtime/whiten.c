/* PCA whitening: fit (covariance + eigendecomposition in double) and apply
 * (the f32 matmul kernel) — runtime/retrieval.h. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"
#include "runtime/linalg.h"
#include "runtime/par_for.h"
#include "runtime/retrieval.h"

vr_whiten_opts vr_whiten_opts_default(void) { return (vr_whiten_opts){0, 0.5f, 0.1f}; }

void vr_whiten_free(vr_whiten *w)
{
    if (!w)
        return;
    free(w->mean);
    free(w->proj);
    free(w->eigenvalues);
    memset(w, 0, sizeof *w);
}

int vr_whiten_fit(const float *x, size_t n, size_t d, const vr_whiten_opts *o, vr_pool *pool,
                  vr_whiten *w, char *err, size_t errlen)
{
    if (!w)
        return vf_fail(err, errlen, "whitening: NULL output");
    memset(w, 0, sizeof *w);
    vr_whiten_opts opt = o ? *o : vr_whiten_opts_default();
    if (!x || n == 0)
        return vf_fail(err, errlen, "whitening: no training rows");
    if (d == 0 || d > VR_LINALG_MAX_DIM)
        return vf_fail(err, errlen, "whitening: dimension %zu (need 1 … %d)", d, VR_LINALG_MAX_DIM);
    if (!(opt.power >= 0 && opt.power <= 1))
        return vf_fail(err, errlen, "whitening: power %g is not in [0, 1]", opt.power);
    if (!(opt.eps_rel >= 0 && isfinite(opt.eps_rel)))
        return vf_fail(err, errlen, "whitening: eps_rel %g is not a finite value ≥ 0", opt.eps_rel);
    double *mean = malloc(d * sizeof *mean), *cov = malloc(d * d * sizeof *cov);
    double *lam = malloc(d * sizeof *lam), *u = malloc(d * d * sizeof *u);
    int rc = -1;
    if (!mean || !cov || !lam || !u) {
        vf_fail(err, errlen, "whitening: out of memory (dimension %zu)", d);
        goto done;
    }
    if (vr_covariance(x, n, d, mean, cov, pool, err, errlen) != 0 ||
        vr_sym_eig(cov, d, lam, u, pool, err, errlen) != 0)
        goto done;
    double tol = lam[0] * (double)(n > d ? n : d) * 64 * DBL_EPSILON;
    size_t rank = 0;
    while (rank < d && lam[rank] > tol && lam[rank] > 0)
        rank++;
    if (rank > n - 1)
        rank = n - 1;
    if (rank == 0) {
        vf_fail(err, errlen, "whitening: the %zu training rows have no variance (need two distinct rows)", n);
        goto done;
    }
    size_t d_out = opt.d_out && opt.d_out < rank ? opt.d_out : rank;
    w->d_in = d;
    w->d_out = d_out;
    w->rank = rank;
    w->eps = (double)opt.eps_rel * lam[0];
    w->mean = malloc(d * sizeof *w->mean);
    w->proj = malloc(d_out * d * sizeof *w->proj);
    w->eigenvalues = malloc(d_out * sizeof *w->eigenvalues);
    if (!w->mean || !w->proj || !w->eigenvalues) {
        vr_whiten_free(w);
        vf_fail(err, errlen, "whitening: out of memory (dimension %zu)", d);
        goto done;
    }
    for (size_t j = 0; j < d; j++)
        w->mean[j] = (float)mean[j];
    for (size_t i = 0; i < d_out; i++) {
        double g = pow(lam[i] + w->eps, -(double)opt.power);
        w->eigenvalues[i] = lam[i];
        for (size_t j = 0; j < d; j++)
            w->proj[i * d + j] = (float)(g * u[i * d + j]);
    }
    rc = 0;
done:
    free(mean), free(cov), free(lam), free(u);
    return rc;
}

int vr_whiten_check(const vr_whiten *w, char *err, size_t errlen)
{
    if (!w || !w->mean || !w->proj)
        return vf_fail(err, errlen, "whitening: missing mean or projection");
    if (w->d_in == 0 || w->d_in > INT_MAX || w->d_out == 0 || w->d_out > w->d_in)
        return vf_fail(err, errlen, "whitening: %zu → %zu dimensions (need 1 ≤ out ≤ in ≤ %d)",
                       w->d_in, w->d_out, INT_MAX);
    if (w->d_out > SIZE_MAX / w->d_in)
        return vf_fail(err, errlen, "whitening: projection size overflows");
    for (size_t j = 0; j < w->d_in; j++)
        if (!isfinite(w->mean[j]))
            return vf_fail(err, errlen, "whitening: mean[%zu] is not finite", j);
    for (size_t i = 0; i < w->d_out * w->d_in; i++)
        if (!isfinite(w->proj[i]))
            return vf_fail(err, errlen, "whitening: projection entry (%zu, %zu) is not finite",
                           i / w->d_in, i % w->d_in);
    return 0;
}

#define APPLY_ROWS 64 /* rows centred and multiplied per kernel call */

typedef struct apply_job {
    const vr_whiten *w;
    const float *x;
    size_t n;
    const float *bp;  /* Pᵀ packed for the matmul kernel */
    float *scratch;   /* per thread: APPLY_ROWS · d_in */
    const vk_ops *ops;
    float *y;
} apply_job;

static void apply_blocks(void *ctx, int tid, size_t b, size_t e)
{
    const apply_job *j = ctx;
    size_t din = j->w->d_in, dout = j->w->d_out;
    float *a = j->scratch + (size_t)tid * APPLY_ROWS * din;
    for (size_t blk = b; blk < e; blk++) {
        size_t r0 = blk * APPLY_ROWS, rows = j->n - r0 < APPLY_ROWS ? j->n - r0 : APPLY_ROWS;
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < din; c++)
                a[r * din + c] = j->x[(r0 + r) * din + c] - j->w->mean[c];
        vk_matmul_f32_args m = {
            .M = (int)rows, .N = (int)dout, .K = (int)din, .A = a, .lda = (ptrdiff_t)din,
            .Bp = j->bp, .C = j->y + r0 * dout, .ldc = (ptrdiff_t)dout, .act = VK_ACT_NONE,
        };
        j->ops->matmul_f32(&m, 0, (int)rows, 0, (int)dout);
        vr_l2_normalize_rows(j->y + r0 * dout, rows, dout);
    }
}

int vr_whiten_apply(const vr_whiten *w, const float *x, size_t n, float *y, vr_pool *pool,
                    char *err, size_t errlen)
{
    if (!w || !w->mean || !w->proj || w->d_in == 0 || w->d_in > INT_MAX || w->d_out == 0 ||
        w->d_out > w->d_in)
        return vf_fail(err, errlen, "whitening: not a valid transform");
    if (w->d_out > SIZE_MAX / sizeof(float) / w->d_in)
        return vf_fail(err, errlen, "whitening: projection size overflows");
    if (n == 0)
        return 0;
    if (!x || !y)
        return vf_fail(err, errlen, "whitening: NULL rows");
    if (n > SIZE_MAX / sizeof(float) / w->d_in)
        return vf_fail(err, errlen, "whitening: %zu rows overflow", n);
    const char *x0 = (const char *)x, *x1 = (const char *)(x + n * w->d_in);
    const char *y0 = (const char *)y, *y1 = (const char *)(y + n * w->d_out);
    if (x0 < y1 && y0 < x1)
        return vf_fail(err, errlen, "whitening: output overlaps input");
    if (vk_ops_init(err, errlen) != 0)
        return -1;
    size_t din = w->d_in, dout = w->d_out;
    int threads = vr_par_threads(pool);
    size_t bp_n = vk_pack_f32_b_size((int)din, (int)dout);
    float *pt = malloc(din * dout * sizeof *pt);
    float *bp = aligned_alloc(64, vk_round_up(bp_n * sizeof *bp, 64));
    float *scratch = aligned_alloc(64, vk_round_up((size_t)threads * APPLY_ROWS * din * sizeof *scratch, 64));
    if (!pt || !bp || !scratch) {
        free(pt), free(bp), free(scratch);
        return vf_fail(err, errlen, "whitening: out of memory");
    }
    for (size_t i = 0; i < dout; i++)
        for (size_t c = 0; c < din; c++)
            pt[c * dout + i] = w->proj[i * din + c];
    vk_pack_f32_b((int)din, (int)dout, pt, (ptrdiff_t)dout, bp);
    free(pt);
    apply_job j = {w, x, n, bp, scratch, vk_ops_get(), y};
    vr_par_for(pool, (n + APPLY_ROWS - 1) / APPLY_ROWS, 1, apply_blocks, &j);
    free(bp), free(scratch);
    return 0;
}
