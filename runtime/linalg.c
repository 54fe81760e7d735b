/* Covariance and symmetric eigendecomposition (runtime/linalg.h). */
#include "runtime/linalg.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "runtime/par_for.h"

/* Eight independent partial sums: the compiler keeps them in vector lanes,
 * and enough of them hide the add latency (one running sum can be neither
 * vectorised without reassociation nor pipelined). */
static double dot(const double *a, const double *b, size_t n)
{
    double s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int q = 0; q < 8; q++)
            s[q] += a[i + q] * b[i + q];
    for (; i < n; i++)
        s[0] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Work on n·n doubles is only worth waking the pool for above this size. */
#define PAR_MIN_WORK 65536

static vr_pool *pool_if(vr_pool *pool, size_t work) { return work >= PAR_MIN_WORK ? pool : NULL; }

/* ------------------------------------------------------------ covariance --- */

#define COV_BLOCK 64 /* samples centred at a time: 64·d doubles stay in L2 */
#define COV_ROWS 16  /* covariance rows per unit of work, dealt round-robin */

typedef struct cov_job {
    const double *y; /* bs × d centred samples */
    size_t bs, d;
    double *cov;
} cov_job;

/* Lower triangle rows [i0, i1): C[i][0..i] += Σ_s y[s][i] · y[s][0..i],
 * four samples per pass over the row. */
static void cov_rows(const cov_job *j, size_t i0, size_t i1)
{
    size_t d = j->d, bs = j->bs;
    for (size_t i = i0; i < i1; i++) {
        double *c = j->cov + i * d;
        size_t s = 0;
        for (; s + 4 <= bs; s += 4) {
            const double *y0 = j->y + s * d, *y1 = y0 + d, *y2 = y1 + d, *y3 = y2 + d;
            double a0 = y0[i], a1 = y1[i], a2 = y2[i], a3 = y3[i];
            for (size_t k = 0; k <= i; k++)
                c[k] += a0 * y0[k] + a1 * y1[k] + a2 * y2[k] + a3 * y3[k];
        }
        for (; s < bs; s++) {
            const double *y0 = j->y + s * d;
            double a0 = y0[i];
            for (size_t k = 0; k <= i; k++)
                c[k] += a0 * y0[k];
        }
    }
}

/* Rows dealt in round-robin groups so the triangle's growing rows balance. */
static void cov_task(void *ctx, int tid, int nthreads)
{
    const cov_job *j = ctx;
    for (size_t g = (size_t)tid * COV_ROWS; g < j->d; g += (size_t)nthreads * COV_ROWS)
        cov_rows(j, g, g + COV_ROWS < j->d ? g + COV_ROWS : j->d);
}

int vr_covariance(const float *x, size_t n, size_t d, double *mean, double *cov, vr_pool *pool,
                  char *err, size_t errlen)
{
    if (!x || !mean || !cov)
        return vf_fail(err, errlen, "covariance: NULL argument");
    if (n == 0 || d == 0 || d > VR_LINALG_MAX_DIM)
        return vf_fail(err, errlen, "covariance: %zu rows of dimension %zu (need ≥ 1 row, 1 … %d dims)",
                       n, d, VR_LINALG_MAX_DIM);
    if (n > SIZE_MAX / d)
        return vf_fail(err, errlen, "covariance: %zu × %zu values overflow", n, d);
    for (size_t k = 0; k < d; k++)
        mean[k] = 0;
    for (size_t s = 0; s < n; s++) {
        const float *r = x + s * d;
        for (size_t k = 0; k < d; k++)
            mean[k] += r[k];
    }
    /* A double sum of floats cannot overflow, so it is finite exactly when
     * every input is (an Inf or NaN propagates). */
    for (size_t k = 0; k < d; k++) {
        if (!isfinite(mean[k]))
            return vf_fail(err, errlen, "covariance: column %zu has a non-finite value", k);
        mean[k] /= (double)n;
    }
    size_t bs_max = n < COV_BLOCK ? n : COV_BLOCK;
    double *y = malloc(bs_max * d * sizeof *y);
    if (!y)
        return vf_fail(err, errlen, "covariance: out of memory");
    memset(cov, 0, d * d * sizeof *cov);
    for (size_t s0 = 0; s0 < n; s0 += COV_BLOCK) {
        size_t bs = n - s0 < COV_BLOCK ? n - s0 : COV_BLOCK;
        for (size_t s = 0; s < bs; s++)
            for (size_t k = 0; k < d; k++)
                y[s * d + k] = (double)x[(s0 + s) * d + k] - mean[k];
        cov_job j = {y, bs, d, cov};
        vr_pool *p = pool_if(pool, bs * d * d / 2);
        if (p)
            vr_pool_run(p, cov_task, &j);
        else
            cov_task(&j, 0, 1);
    }
    free(y);
    double inv = 1.0 / (double)n;
    for (size_t i = 0; i < d; i++)
        for (size_t k = 0; k <= i; k++) {
            cov[i * d + k] *= inv;
            cov[k * d + i] = cov[i * d + k];
        }
    return 0;
}

/* ------------------------------------------------- tridiagonal reduction --- */

/* The trailing block's rows are cut into TRI_CHUNKS parts of equal work (the
 * lower triangle's rows grow), each with its own partial p; the parts are
 * summed in a fixed order, so p does not depend on how many threads ran. */
#define TRI_CHUNKS 8

typedef struct tri_job {
    double *a;
    size_t n, c0;          /* trailing block: rows / columns c0 … n−1 */
    const double *v;       /* this step's reflector (global indices) */
    const double *pv, *pw; /* previous step's rank-2 update, or NULL */
    double *part;          /* TRI_CHUNKS × n partial sums of A·v */
    size_t bound[TRI_CHUNKS + 1];
} tri_job;

/* Rows of chunks [b, e): finish the previous step's update
 * A −= pv·pwᵀ + pw·pvᵀ on the row's lower part, then add the row's share of
 * A·v: its dot with v (entry i) and, by symmetry, A[i][c]·v[i] to entries
 * c < i. One pass over the row per step. */
static void tri_chunks(void *ctx, int tid, size_t b, size_t e)
{
    const tri_job *j = ctx;
    size_t n = j->n, c0 = j->c0;
    const double *v = j->v;
    for (size_t ch = b; ch < e; ch++) {
        double *pc = j->part + ch * n;
        memset(pc + c0, 0, (n - c0) * sizeof *pc);
        for (size_t i = j->bound[ch]; i < j->bound[ch + 1]; i++) {
            double *r = j->a + i * n;
            double vi = v[i];
            if (j->pv) {
                double x = j->pv[i], y = j->pw[i];
                const double *pv = j->pv, *pw = j->pw;
                for (size_t c = c0; c <= i; c++) {
                    double u = r[c] - (x * pw[c] + y * pv[c]);
                    r[c] = u;
                    pc[c] += u * vi;
                }
            } else {
                for (size_t c = c0; c <= i; c++)
                    pc[c] += r[c] * vi;
            }
            /* The diagonal entry went in through the loop above (c = i). */
            pc[i] += dot(r + c0, v + c0, i - c0);
        }
    }
}

/* ‖x‖ (stride inc) without overflow or underflow in the squares. */
static double norm2(const double *x, size_t n, size_t inc)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(x[i * inc]));
    if (scale == 0)
        return 0;
    double s = 0, inv = 1.0 / scale;
    for (size_t i = 0; i < n; i++)
        s += (x[i * inc] * inv) * (x[i * inc] * inv);
    return scale * sqrt(s);
}

/* Lower triangle of A → diagonal d, off-diagonal e (e[k] couples k and k+1,
 * e[n−1] = 0). Reflector k (k ≤ n−3) is H_k = I − τ_k v vᵀ with
 * v = A[k][k+1 …] (the unused upper triangle, v[k+1] = 1) after the call:
 * Qᵀ = H_{n−3} ⋯ H_0. The update of step k, A ← A − v wᵀ − w vᵀ, is applied
 * lazily in step k+1's pass over the rows. Work: pv, pw, p (n doubles each),
 * part (TRI_CHUNKS·n). */
static void tridiagonalize(double *a, size_t n, double *d, double *e, double *tau, double *pv,
                           double *pw, double *p, double *part, vr_pool *pool)
{
    int pending = 0;
    for (size_t k = 0; k < n; k++) {
        /* Column k (rows k … n−1) gets the pending update: it is the
         * reflector's source. */
        if (pending)
            for (size_t i = k; i < n; i++)
                a[i * n + k] -= pv[i] * pw[k] + pw[i] * pv[k];
        d[k] = a[k * n + k];
        tau[k] = 0;
        e[k] = 0;
        size_t m = n - k - 1;
        if (m == 0)
            break;
        if (m == 1) { /* nothing left to reduce; row k+1 gets the update next */
            e[k] = a[(k + 1) * n + k];
            continue;
        }
        double *v = a + k * n; /* v[k+1 …]: row k's upper part */
        for (size_t i = k + 1; i < n; i++)
            v[i] = a[i * n + k];
        double alpha = v[k + 1], xnorm = norm2(v + k + 2, m - 1, 1), t = 0;
        if (xnorm == 0) {
            e[k] = alpha;
        } else {
            double beta = -copysign(hypot(alpha, xnorm), alpha);
            t = (beta - alpha) / beta;
            double sc = 1.0 / (alpha - beta);
            v[k + 1] = 1;
            for (size_t i = k + 2; i < n; i++)
                v[i] *= sc;
            e[k] = beta;
        }
        tau[k] = t;
        /* Finish the previous update on the trailing block and compute
         * p = τ A v in the same pass. */
        tri_job j = {a, n, k + 1, v, pending ? pv : NULL, pending ? pw : NULL, part, {0}};
        double total = (double)m * (double)(m + 1) / 2;
        for (int ch = 0; ch <= TRI_CHUNKS; ch++) {
            /* rows c0 … c0+x−1 hold x(x+1)/2 of the work */
            double x = (sqrt(8.0 * total * ch / TRI_CHUNKS + 1) - 1) / 2;
            size_t rows = ch == TRI_CHUNKS ? m : (size_t)x;
            j.bound[ch] = k + 1 + (rows < m ? rows : m);
        }
        vr_par_for(pool_if(pool, m * m / 2), TRI_CHUNKS, 1, tri_chunks, &j);
        for (size_t c = k + 1; c < n; c++) {
            double sum = 0;
            for (int ch = 0; ch < TRI_CHUNKS; ch++)
                sum += part[ch * n + c];
            p[c] = t * sum;
        }
        if (t == 0) {
            pending = 0;
            continue;
        }
        /* w = p − (τ/2)(pᵀv) v */
        double kk = -0.5 * t * dot(p + k + 1, v + k + 1, m);
        for (size_t c = k + 1; c < n; c++) {
            pv[c] = v[c];
            pw[c] = p[c] + kk * v[c];
        }
        pending = 1;
    }
}

/* --------------------------------------------- Qᵀ by backward accumulation --- */

#define REFL_BLOCK 32 /* reflectors applied per pass over a row of Qᵀ */

typedef struct acc_job {
    const double *a, *tau;
    double *w;
    size_t n, klo, khi; /* reflectors khi down to klo */
} acc_job;

/* Rows r ≥ klo+1 of W: W[r] ← W[r] H_khi ⋯ H_klo. Row r meets H_k only when
 * r ≥ k+1 (W is still the identity above that). */
static void acc_rows(void *ctx, int tid, size_t b, size_t e)
{
    const acc_job *j = ctx;
    size_t n = j->n;
    for (size_t r = j->klo + 1 + b; r < j->klo + 1 + e; r++) {
        double *wr = j->w + r * n;
        for (size_t k = j->khi + 1; k-- > j->klo;) {
            if (r < k + 1 || j->tau[k] == 0)
                continue;
            const double *v = j->a + k * n + k + 1; /* upper part of row k */
            double *x = wr + k + 1;
            size_t m = n - k - 1;
            double s = j->tau[k] * dot(x, v, m);
            for (size_t c = 0; c < m; c++)
                x[c] -= s * v[c];
        }
    }
}

static void form_qt(const double *a, const double *tau, size_t n, double *w, vr_pool *pool)
{
    memset(w, 0, n * n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[i * n + i] = 1;
    if (n < 3)
        return;
    size_t nref = n - 2;
    for (size_t khi = nref; khi-- > 0;) {
        size_t klo = khi + 1 >= REFL_BLOCK ? khi + 1 - REFL_BLOCK : 0;
        acc_job j = {a, tau, w, n, klo, khi};
        size_t rows = n - klo - 1;
        vr_par_for(pool_if(pool, rows * (n - klo) * (khi - klo + 1)), rows, 4, acc_rows, &j);
        khi = klo;
    }
}

/* ------------------------------------------------------------ implicit QL --- */

#define ROT_BATCH (1u << 18) /* rotations recorded before they are applied (at most) */
#define PANEL 8               /* columns of W per panel: one cache line per row */

/* During QL, W lives in column panels: panel p holds columns p·8 … p·8+7 of
 * every row, row after row (zero past column n), so the rows a sweep walks
 * are adjacent in memory. */
static void to_panels(const double *w, size_t n, double *wp)
{
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < n; c++)
            wp[((c / PANEL) * n + r) * PANEL + c % PANEL] = w[r * n + c];
    for (size_t c = n; c % PANEL; c++)
        for (size_t r = 0; r < n; r++)
            wp[((c / PANEL) * n + r) * PANEL + c % PANEL] = 0;
}

static void from_panels(const double *wp, size_t n, double *w)
{
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < n; c++)
            w[r * n + c] = wp[((c / PANEL) * n + r) * PANEL + c % PANEL];
}

/* The rotations of many QL sweeps. Sweep t applies, for i = hi[t] down to
 * lo[t], the rotation (c, s) taken in order from cs, to rows i and i+1:
 *   W[i+1] ← s·W[i] + c·W[i+1],   W[i] ← c·W[i] − s·W[i+1]. */
typedef struct rot_batch {
    uint32_t *lo, *hi;
    size_t sweeps;
    double *cs; /* c, s pairs */
    size_t count, cap;
} rot_batch;

typedef struct rot_job {
    const rot_batch *rb;
    double *wp;
    size_t n;
} rot_job;

/* One sweep on one panel; row i+1's new value is final after rotation i, row
 * i's is carried in registers into the next rotation. */
static void sweep_panel(double *wp, size_t lo, size_t hi, const double *cs)
{
    double carry[PANEL];
    for (int q = 0; q < PANEL; q++)
        carry[q] = wp[(hi + 1) * PANEL + q];
    for (size_t i = hi + 1; i-- > lo; cs += 2) {
        double c = cs[0], s = cs[1];
        double *x = wp + i * PANEL, *y = x + PANEL;
        for (int q = 0; q < PANEL; q++) {
            double u = x[q];
            y[q] = s * u + c * carry[q];
            carry[q] = c * u - s * carry[q];
        }
    }
    for (int q = 0; q < PANEL; q++)
        wp[lo * PANEL + q] = carry[q];
}

static void rot_panels(void *ctx, int tid, size_t b, size_t e)
{
    const rot_job *j = ctx;
    for (size_t p = b; p < e; p++) {
        double *wp = j->wp + p * j->n * PANEL;
        const double *cs = j->rb->cs;
        for (size_t t = 0; t < j->rb->sweeps; t++) {
            sweep_panel(wp, j->rb->lo[t], j->rb->hi[t], cs);
            cs += 2 * (j->rb->hi[t] - j->rb->lo[t] + 1);
        }
    }
}

static void rot_flush(rot_batch *rb, double *wp, size_t n, vr_pool *pool)
{
    if (rb->count == 0)
        return;
    rot_job j = {rb, wp, n};
    size_t panels = (n + PANEL - 1) / PANEL;
    vr_par_for(pool_if(pool, rb->count * n), panels, 1, rot_panels, &j);
    rb->count = 0;
    rb->sweeps = 0;
}

/* Eigenvalues of the tridiagonal (d, e) into d; the rotations applied to
 * the rows of w (Qᵀ on entry, Uᵀ on return). Numerical Recipes' tqli
 * (11.3), 0-based, with e[i] coupling i and i+1. */
static int tql(double *d, double *e, size_t n, double *wp, rot_batch *rb, vr_pool *pool)
{
    /* An off-diagonal entry is negligible when it is small against its two
     * diagonal neighbours (the relative test) or against the whole matrix:
     * dropping it then moves any eigenvalue by at most eps·‖T‖, which is the
     * accuracy a backward-stable method has anyway. Without the absolute test a
     * rank-deficient matrix (whitening fitted on fewer rows than dimensions:
     * hundreds of eigenvalues at rounding level) never converges, because near
     * zero diagonals the relative test asks for e to be exactly 0. */
    double anorm = 0;
    for (size_t i = 0; i < n; i++) {
        double t = fabs(d[i]) + fabs(e[i]);
        if (t > anorm)
            anorm = t;
    }
    const double tiny = DBL_EPSILON * anorm;
    for (size_t l = 0; l < n; l++) {
        int iter = 0;
        size_t m;
        do {
            for (m = l; m + 1 < n; m++) {
                double dd = fabs(d[m]) + fabs(d[m + 1]);
                if (fabs(e[m]) + dd == dd || fabs(e[m]) <= tiny)
                    break;
            }
            if (m != l) {
                if (iter++ == 60)
                    return -1;
                double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
                double r = hypot(g, 1.0);
                g = d[m] - d[l] + e[l] / (g + copysign(r, g));
                double s = 1, c = 1, p = 0;
                size_t i;
                int early = 0;
                if (rb->count + (m - l) > rb->cap)
                    rot_flush(rb, wp, n, pool);
                double *cs = rb->cs + 2 * rb->count;
                for (i = m; i-- > l;) {
                    double f = s * e[i], b = c * e[i];
                    e[i + 1] = (r = hypot(f, g));
                    if (r == 0) { /* underflow: split the block here and retry */
                        d[i + 1] -= p;
                        e[m] = 0;
                        early = 1;
                        break;
                    }
                    s = f / r;
                    c = g / r;
                    g = d[i + 1] - p;
                    r = (d[i] - g) * s + 2.0 * c * b;
                    d[i + 1] = g + (p = s * r);
                    g = c * r - b;
                    *cs++ = c;
                    *cs++ = s;
                }
                /* Rotations m−1 … i+1 were made (all of them, down to l, unless
                 * the sweep stopped early at i). */
                if (i + 1 < m) {
                    rb->lo[rb->sweeps] = (uint32_t)(i + 1);
                    rb->hi[rb->sweeps] = (uint32_t)(m - 1);
                    rb->sweeps++;
                    rb->count += m - 1 - i;
                }
                if (early)
                    continue;
                d[l] -= p;
                e[l] = g;
                e[m] = 0;
            }
        } while (m != l);
    }
    rot_flush(rb, wp, n, pool);
    return 0;
}

/* ------------------------------------------------------- order and signs --- */

typedef struct eig_key {
    double val;
    size_t idx;
} eig_key;

static int by_value_desc(const void *pa, const void *pb)
{
    const eig_key *a = pa, *b = pb;
    if (a->val != b->val)
        return a->val > b->val ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Sorts eigenpairs by value, descending, moving rows of w by cycles; then
 * makes each row's largest-magnitude entry positive. */
static int sort_and_sign(double *d, double *w, size_t n, double *evals)
{
    eig_key *key = malloc(n * sizeof *key);
    double *tmp = malloc(n * sizeof *tmp);
    unsigned char *done = calloc(n, 1);
    if (!key || !tmp || !done) {
        free(key), free(tmp), free(done);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        key[i] = (eig_key){d[i], i};
    qsort(key, n, sizeof *key, by_value_desc);
    /* Row i of the result is old row key[i].idx. */
    for (size_t i = 0; i < n; i++) {
        evals[i] = key[i].val;
        if (done[i] || key[i].idx == i) {
            done[i] = 1;
            continue;
        }
        memcpy(tmp, w + i * n, n * sizeof *w);
        size_t cur = i;
        while (key[cur].idx != i) {
            memcpy(w + cur * n, w + key[cur].idx * n, n * sizeof *w);
            done[cur] = 1;
            cur = key[cur].idx;
        }
        memcpy(w + cur * n, tmp, n * sizeof *w);
        done[cur] = 1;
    }
    for (size_t i = 0; i < n; i++) {
        double *r = w + i * n, best = 0;
        size_t at = 0;
        for (size_t c = 0; c < n; c++)
            if (fabs(r[c]) > best)
                best = fabs(r[c]), at = c;
        if (r[at] < 0)
            for (size_t c = 0; c < n; c++)
                r[c] = -r[c];
    }
    free(key), free(tmp), free(done);
    return 0;
}

int vr_sym_eig(double *a, size_t n, double *evals, double *evecs, vr_pool *pool, char *err,
               size_t errlen)
{
    if (!a || !evals || !evecs)
        return vf_fail(err, errlen, "eigendecomposition: NULL argument");
    if (n == 0 || n > VR_LINALG_MAX_DIM)
        return vf_fail(err, errlen, "eigendecomposition: size %zu (need 1 … %d)", n,
                       VR_LINALG_MAX_DIM);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c <= i; c++) {
            if (!isfinite(a[i * n + c]))
                return vf_fail(err, errlen, "eigendecomposition: entry (%zu, %zu) is not finite", i, c);
        }
    /* After form_qt the reflectors in a are spent: a holds the panels when
     * they fit (n a multiple of PANEL). */
    size_t panels = (n + PANEL - 1) / PANEL;
    double *work = malloc((6 + TRI_CHUNKS) * n * sizeof *work);
    double *wp = n % PANEL ? malloc(panels * PANEL * n * sizeof *wp) : a;
    /* QL makes about n² rotations in all; a sweep at most n − 1. */
    size_t cap = n * n + n < ROT_BATCH ? n * n + n : ROT_BATCH;
    rot_batch rb = {malloc(cap * sizeof *rb.lo), malloc(cap * sizeof *rb.hi), 0,
                    malloc(2 * cap * sizeof *rb.cs), 0, cap};
    if (!work || !wp || !rb.lo || !rb.hi || !rb.cs) {
        free(work), free(rb.lo), free(rb.hi), free(rb.cs);
        if (wp != a)
            free(wp);
        return vf_fail(err, errlen, "eigendecomposition: out of memory");
    }
    double *d = work, *e = d + n, *tau = e + n, *pv = tau + n, *pw = pv + n, *p = pw + n;
    tridiagonalize(a, n, d, e, tau, pv, pw, p, p + n, pool);
    form_qt(a, tau, n, evecs, pool);
    to_panels(evecs, n, wp);
    int rc = tql(d, e, n, wp, &rb, pool);
    if (rc == 0)
        from_panels(wp, n, evecs);
    free(rb.lo), free(rb.hi), free(rb.cs);
    if (wp != a)
        free(wp);
    if (rc != 0) {
        free(work);
        return vf_fail(err, errlen, "eigendecomposition: QL did not converge (n = %zu)", n);
    }
    rc = sort_and_sign(d, evecs, n, evals);
    free(work);
    if (rc != 0)
        return vf_fail(err, errlen, "eigendecomposition: out of memory");
    return 0;
}
