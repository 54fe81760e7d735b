/* k-reciprocal re-ranking (runtime/retrieval.h): sparse V rows, an inverted
 * index over their columns for the Jaccard sums. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "runtime/par_for.h"
#include "runtime/retrieval.h"

vr_rerank_opts vr_rerank_opts_default(void) { return (vr_rerank_opts){20, 6, 0.3f}; }

void vr_sims_to_dists(const float *sim, size_t n, float *dist)
{
    for (size_t i = 0; i < n; i++) {
        double v = 2.0 - 2.0 * (double)sim[i];
        dist[i] = (float)sqrt(v > 0 ? v : 0);
    }
}

/* Item j before item k in row `row` of dist: nearer, or as near and lower. */
static int before(const float *row, uint32_t j, uint32_t k)
{
    return row[j] < row[k] || (row[j] == row[k] && j < k);
}

typedef struct rank_job {
    const float *dist;
    size_t n, r;    /* r nearest kept per row */
    uint32_t *rank; /* n·r */
    uint32_t *heap; /* per thread: r */
} rank_job;

/* The r nearest of each row, nearest first: a max-heap (by `before`) of the
 * r best so far, then sorted. */
static void rank_rows(void *ctx, int tid, size_t b, size_t e)
{
    const rank_job *j = ctx;
    size_t n = j->n, r = j->r;
    uint32_t *h = j->heap + (size_t)tid * r;
    for (size_t i = b; i < e; i++) {
        const float *row = j->dist + i * n;
        size_t len = 0;
        for (uint32_t c = 0; c < n; c++) {
            if (len < r) { /* sift up */
                size_t at = len++;
                while (at > 0 && before(row, h[(at - 1) / 2], c)) {
                    h[at] = h[(at - 1) / 2];
                    at = (at - 1) / 2;
                }
                h[at] = c;
            } else if (before(row, c, h[0])) { /* replace the worst, sift down */
                size_t at = 0;
                for (;;) {
                    size_t ch = 2 * at + 1;
                    if (ch >= r)
                        break;
                    if (ch + 1 < r && before(row, h[ch], h[ch + 1]))
                        ch++;
                    if (!before(row, c, h[ch]))
                        break;
                    h[at] = h[ch];
                    at = ch;
                }
                h[at] = c;
            }
        }
        /* Heap order → nearest first: pop the worst to the back. */
        uint32_t *out = j->rank + i * r;
        for (size_t t = r; t-- > 0;) {
            out[t] = h[0];
            uint32_t last = h[t];
            size_t at = 0;
            for (;;) {
                size_t ch = 2 * at + 1;
                if (ch >= t)
                    break;
                if (ch + 1 < t && before(row, h[ch], h[ch + 1]))
                    ch++;
                if (!before(row, last, h[ch]))
                    break;
                h[at] = h[ch];
                at = ch;
            }
            h[at] = last;
        }
    }
}

/* Sparse rows: row i is col/val[off[i] … off[i+1]), columns ascending. */
typedef struct sparse {
    size_t *off;
    uint32_t *col;
    double *val;
} sparse;

static void sparse_free(sparse *s)
{
    free(s->off), free(s->col), free(s->val);
    memset(s, 0, sizeof *s);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Is i among the first cnt entries of list? */
static int in_list(const uint32_t *list, size_t cnt, uint32_t i)
{
    for (size_t t = 0; t < cnt; t++)
        if (list[t] == i)
            return 1;
    return 0;
}

/* R(i, k): the entries j of N(i, k) (first k+1 of i's ranking) with i in
 * N(j, k). Returns how many, written to out in ranking order. */
static size_t reciprocal(const uint32_t *rank, size_t r, uint32_t i, size_t k, uint32_t *out)
{
    size_t cnt = 0;
    const uint32_t *fwd = rank + (size_t)i * r;
    for (size_t t = 0; t <= k; t++)
        if (in_list(rank + (size_t)fwd[t] * r, k + 1, i))
            out[cnt++] = fwd[t];
    return cnt;
}

typedef struct build_ctx {
    const float *dist;
    size_t n, r, k1, h;
    const uint32_t *rank;
    const double *inv_max; /* 1 / max_j dist[i][j]², 0 for an all-zero row */
} build_ctx;

/* d(i, j) of the header: squared distance over the row's largest. */
static double norm_dist(const build_ctx *b, size_t i, size_t j)
{
    double v = b->dist[i * b->n + j];
    return v * v * b->inv_max[i];
}

/* V's row i (before local expansion): R*(i) and its weights, columns sorted.
 * mark: n bytes, zero on entry and exit. Returns the count written. */
static size_t v_row(const build_ctx *b, uint32_t i, uint32_t *cols, double *vals, uint32_t *tmp,
                    unsigned char *mark)
{
    size_t nr = reciprocal(b->rank, b->r, i, b->k1, cols);
    for (size_t t = 0; t < nr; t++)
        mark[cols[t]] = 1; /* 1: in R(i, k1) (and R*); 2: in R* only */
    size_t cnt = nr;
    for (size_t t = 0; t < nr; t++) {
        size_t nc = reciprocal(b->rank, b->r, cols[t], b->h, tmp);
        size_t inter = 0;
        for (size_t u = 0; u < nc; u++)
            inter += mark[tmp[u]] == 1;
        if (3 * inter > 2 * nc)
            for (size_t u = 0; u < nc; u++)
                if (!mark[tmp[u]]) {
                    mark[tmp[u]] = 2;
                    cols[cnt++] = tmp[u];
                }
    }
    qsort(cols, cnt, sizeof *cols, cmp_u32);
    double sum = 0;
    for (size_t t = 0; t < cnt; t++) {
        mark[cols[t]] = 0;
        vals[t] = exp(-norm_dist(b, i, cols[t]));
        sum += vals[t];
    }
    for (size_t t = 0; t < cnt; t++)
        vals[t] /= sum;
    return cnt;
}

typedef struct jac_job {
    const float *dist;
    size_t n;
    const sparse *v, *inv; /* V rows; inv: V's columns (row = item, val = V value) */
    const double *inv_max;
    double lambda;
    double *temp; /* per thread: n */
    float *out;
} jac_job;

static void jaccard_rows(void *ctx, int tid, size_t b, size_t e)
{
    const jac_job *j = ctx;
    size_t n = j->n;
    double *temp = j->temp + (size_t)tid * n;
    for (size_t i = b; i < e; i++) {
        memset(temp, 0, n * sizeof *temp);
        for (size_t t = j->v->off[i]; t < j->v->off[i + 1]; t++) {
            uint32_t c = j->v->col[t];
            double vi = j->v->val[t];
            for (size_t u = j->inv->off[c]; u < j->inv->off[c + 1]; u++) {
                double vg = j->inv->val[u];
                temp[j->inv->col[u]] += vi < vg ? vi : vg;
            }
        }
        const float *drow = j->dist + i * n;
        float *o = j->out + i * n;
        for (size_t g = 0; g < n; g++) {
            /* Every V row sums to 1 up to rounding, so Σ max = 2 − Σ min;
             * identical rows can give −ε: a distance is never negative. */
            double jac = 1.0 - temp[g] / (2.0 - temp[g]);
            jac = jac > 0 ? jac : 0;
            double dg = (double)drow[g] * drow[g] * j->inv_max[i];
            o[g] = (float)((1.0 - j->lambda) * jac + j->lambda * dg);
        }
    }
}

int vr_kreciprocal_rerank(const float *dist, size_t n, size_t nq, const vr_rerank_opts *o,
                          vr_pool *pool, float *out, char *err, size_t errlen)
{
    vr_rerank_opts opt = o ? *o : vr_rerank_opts_default();
    if (opt.k1 < 1 || opt.k2 < 1 || !(opt.lambda >= 0 && opt.lambda <= 1))
        return vf_fail(err, errlen, "re-ranking: k1 %d, k2 %d, lambda %g (need k1, k2 ≥ 1, 0 ≤ λ ≤ 1)",
                       opt.k1, opt.k2, opt.lambda);
    if (nq == 0)
        return 0;
    if (!dist || !out || nq > n)
        return vf_fail(err, errlen, "re-ranking: %zu queries among %zu items", nq, n);
    if (n > INT32_MAX || n > SIZE_MAX / n)
        return vf_fail(err, errlen, "re-ranking: %zu items are too many", n);
    size_t k1 = (size_t)opt.k1 < n - 1 ? (size_t)opt.k1 : n - 1;
    size_t k2 = (size_t)opt.k2 < n ? (size_t)opt.k2 : n;
    /* k1/2 rounded half to even, as numpy's around in the authors' code. */
    size_t h = k1 / 2 + ((k1 & 1) && ((k1 / 2) & 1));
    size_t r = k1 + 1 > k2 ? k1 + 1 : k2;
    int threads = vr_par_threads(pool);

    double *inv_max = malloc(n * sizeof *inv_max);
    uint32_t *rank = malloc(n * r * sizeof *rank);
    uint32_t *heap = malloc((size_t)threads * r * sizeof *heap);
    size_t cap1 = (k1 + 1) * (h + 2); /* |R*| ≤ |R(i,k1)| (1 + h + 1) */
    uint32_t *cols = malloc((cap1 + h + 1) * sizeof *cols), *tmp = cols ? cols + cap1 : NULL;
    double *vals = malloc(cap1 * sizeof *vals);
    unsigned char *mark = calloc(n, 1);
    double *acc = calloc(n, sizeof *acc);
    uint32_t *touched = malloc(n * sizeof *touched);
    double *temp = malloc((size_t)threads * n * sizeof *temp);
    sparse v0 = {0}, v = {0}, inv = {0};
    int rc = -1;
    if (!inv_max || !rank || !heap || !cols || !vals || !mark || !acc || !touched || !temp) {
        vf_fail(err, errlen, "re-ranking: out of memory (%zu items)", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        double mx = 0;
        for (size_t j = 0; j < n; j++) {
            float x = dist[i * n + j];
            if (!isfinite(x) || x < 0) {
                vf_fail(err, errlen, "re-ranking: distance (%zu, %zu) is %g (need finite, ≥ 0)", i, j, x);
                goto done;
            }
            double x2 = (double)x * x;
            mx = x2 > mx ? x2 : mx;
        }
        inv_max[i] = mx > 0 ? 1.0 / mx : 0;
    }
    rank_job rj = {dist, n, r, rank, heap};
    vr_par_for(pool, n, 1, rank_rows, &rj);

    /* V before expansion, row by row into growing arrays. */
    build_ctx bc = {dist, n, r, k1, h, rank, inv_max};
    size_t cap = n * 8, used = 0;
    v0.off = malloc((n + 1) * sizeof *v0.off);
    v0.col = malloc(cap * sizeof *v0.col);
    v0.val = malloc(cap * sizeof *v0.val);
    if (!v0.off || !v0.col || !v0.val)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        size_t cnt = v_row(&bc, (uint32_t)i, cols, vals, tmp, mark);
        if (used + cnt > cap) {
            cap = 2 * (used + cnt);
            uint32_t *nc = realloc(v0.col, cap * sizeof *nc);
            if (nc)
                v0.col = nc;
            double *nv = realloc(v0.val, cap * sizeof *nv);
            if (nv)
                v0.val = nv;
            if (!nc || !nv)
                goto oom;
        }
        v0.off[i] = used;
        memcpy(v0.col + used, cols, cnt * sizeof *cols);
        memcpy(v0.val + used, vals, cnt * sizeof *vals);
        used += cnt;
    }
    v0.off[n] = used;

    /* Local query expansion: V[i] ← mean of V over N(i, k2 − 1). */
    if (k2 > 1) {
        cap = used * 2 + n;
        v.off = malloc((n + 1) * sizeof *v.off);
        v.col = malloc(cap * sizeof *v.col);
        v.val = malloc(cap * sizeof *v.val);
        if (!v.off || !v.col || !v.val)
            goto oom;
        size_t vused = 0;
        for (size_t i = 0; i < n; i++) {
            size_t nt = 0;
            for (size_t t = 0; t < k2; t++) {
                uint32_t g = rank[i * r + t];
                for (size_t u = v0.off[g]; u < v0.off[g + 1]; u++) {
                    uint32_t c = v0.col[u];
                    if (!mark[c]) {
                        mark[c] = 1;
                        touched[nt++] = c;
                    }
                    acc[c] += v0.val[u];
                }
            }
            qsort(touched, nt, sizeof *touched, cmp_u32);
            if (vused + nt > cap) {
                cap = 2 * (vused + nt);
                uint32_t *nc = realloc(v.col, cap * sizeof *nc);
                if (nc)
                    v.col = nc;
                double *nv = realloc(v.val, cap * sizeof *nv);
                if (nv)
                    v.val = nv;
                if (!nc || !nv)
                    goto oom;
            }
            v.off[i] = vused;
            for (size_t t = 0; t < nt; t++) {
                uint32_t c = touched[t];
                v.col[vused] = c;
                v.val[vused++] = acc[c] / (double)k2;
                acc[c] = 0;
                mark[c] = 0;
            }
        }
        v.off[n] = vused;
        sparse_free(&v0);
    } else {
        v = v0;
        memset(&v0, 0, sizeof v0);
    }

    /* Inverted index: for column c, the rows g with V[g][c] ≠ 0. */
    inv.off = calloc(n + 1, sizeof *inv.off);
    inv.col = malloc((v.off[n] ? v.off[n] : 1) * sizeof *inv.col);
    inv.val = malloc((v.off[n] ? v.off[n] : 1) * sizeof *inv.val);
    if (!inv.off || !inv.col || !inv.val)
        goto oom;
    for (size_t t = 0; t < v.off[n]; t++)
        inv.off[v.col[t] + 1]++;
    for (size_t c = 0; c < n; c++)
        inv.off[c + 1] += inv.off[c];
    for (size_t g = 0; g < n; g++)
        for (size_t t = v.off[g]; t < v.off[g + 1]; t++) {
            size_t at = inv.off[v.col[t]]++;
            inv.col[at] = (uint32_t)g;
            inv.val[at] = v.val[t];
        }
    for (size_t c = n; c > 0; c--) /* the fill advanced each start to the next */
        inv.off[c] = inv.off[c - 1];
    inv.off[0] = 0;

    jac_job jj = {dist, n, &v, &inv, inv_max, opt.lambda, temp, out};
    vr_par_for(pool, nq, 1, jaccard_rows, &jj);
    rc = 0;
    goto done;
oom:
    vf_fail(err, errlen, "re-ranking: out of memory (%zu items)", n);
done:
    free(inv_max), free(rank), free(heap), free(cols), free(vals), free(mark), free(acc);
    free(touched), free(temp);
    sparse_free(&v0), sparse_free(&v), sparse_free(&inv);
    return rc;
}

int vr_kreciprocal_shortlist(const float *q, const float *cand, size_t k_cand, size_t d,
                             const vr_rerank_opts *o, float *out, char *err, size_t errlen)
{
    if (k_cand == 0)
        return 0;
    if (!q || !cand || !out || d == 0)
        return vf_fail(err, errlen, "re-ranking: bad shortlist arguments");
    size_t n = k_cand + 1;
    if (n > 65536)
        return vf_fail(err, errlen, "re-ranking: shortlist of %zu is too long (65535 at most)", k_cand);
    float *dist = malloc(n * n * sizeof *dist), *fin = malloc(n * sizeof *fin);
    if (!dist || !fin) {
        free(dist), free(fin);
        return vf_fail(err, errlen, "re-ranking: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const float *a = i ? cand + (i - 1) * d : q;
        dist[i * n + i] = 0;
        for (size_t j = 0; j < i; j++) {
            const float *b = j ? cand + (j - 1) * d : q;
            double s = 0;
            for (size_t c = 0; c < d; c++)
                s += (double)a[c] * b[c];
            float sf = (float)s, dd;
            vr_sims_to_dists(&sf, 1, &dd);
            dist[i * n + j] = dist[j * n + i] = dd;
        }
    }
    int rc = vr_kreciprocal_rerank(dist, n, 1, o, NULL, fin, err, errlen);
    if (rc == 0)
        memcpy(out, fin + 1, k_cand * sizeof *out);
    free(dist), free(fin);
    return rc;
}
