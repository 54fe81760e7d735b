/* vireo-bench index: flat-index scan speed and recall against FAISS.
 *
 * For each data set (synthetic clustered unit vectors; real embeddings tiled
 * with small perturbations when --real is given), size and dim, and each code
 * kind (f32; int8 = the asymmetric 8-bit kind VK_CODE_U8; int8-sym = the
 * symmetric VK_CODE_S8; int4): our vr_index_search vs FAISS IndexFlatIP / SQ8 / SQ4
 * (bench/faiss_baseline.cpp) on the same rows, queries and threads, single
 * queries and batches of 16. Rows report vectors scanned per second, bytes
 * per second and the fraction of this machine's read bandwidth (measured
 * here first), recall@10 against the exact f32 top-10, and a check:
 *   f32 rows: our top-10 equals FAISS IndexFlatIP's (ties within rounding);
 *   int8/int4: our recall@10 is not below FAISS's scalar quantizer's by more
 *              than 0.02.
 * With --real FILE.f32 and FILE.f32.paths (from `vireo embed`, GroceryStore
 * train + test photos), Recall@1 of photo → photo retrieval (gallery = train,
 * queries = test, same fine class = relevant) per code kind, and recall@10
 * against the f32 top-10 on those real rows as they are (not tiled).
 *
 * Rows are generated chunk by chunk from a per-row seed, so the largest sets
 * never hold their f32 copy unless an f32 row needs it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "faiss_baseline.h"
#include "kernels/codes.h"
#include "runtime/index_view.h"

#define NQ_RECALL 64 /* queries whose recall is measured */
#define BATCH 16
#define TOPK 10
#define CHUNK 65536 /* rows generated at a time; also FAISS's / our training sample */
#define F32_MAX_BYTES (4500ull << 20) /* f32 rows (ours + FAISS's copy) above this: skipped */

typedef struct idx_opts {
    int quick, no_faiss;
    const char *real;
    size_t real_dim;
    size_t sizes[8], nsizes;
    size_t dims[4], ndims;
    size_t shortlist8, shortlist4;
    double bw[BENCH_MAX_THREADS + 1];
    uint64_t *bwbuf; /* 1 GiB read by measure_bandwidth */
} idx_opts;
static idx_opts X;

/* ------------------------------------------------------------- bandwidth */
typedef struct bw_ctx {
    const uint64_t *buf;
    size_t n;
    int prefetch;
    uint64_t sink[BENCH_MAX_THREADS];
    double secs[BENCH_MAX_THREADS]; /* each thread's CPU time for its part */
} bw_ctx;

static double bw_thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t bw_sum_scalar(const uint64_t *p, size_t n)
{
    uint64_t s[8] = {0};
    for (size_t i = 0; i < n; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += p[i + (size_t)k];
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

#if defined(__x86_64__)
#include <immintrin.h>
/* 64-byte loads, 8 independent accumulators: the same loads the scans issue,
 * optionally with the scans' software prefetch 4 KiB ahead (the hardware
 * prefetcher stops at 4 KiB pages; measured 3–8 % faster here). Reached only
 * when the CPU runs AVX-512 (checked by the caller). */
__attribute__((target("avx512f"))) static uint64_t bw_sum_avx512(const uint64_t *p, size_t n,
                                                                 int pf)
{
    __m512i s[8];
    for (int k = 0; k < 8; k++)
        s[k] = _mm512_setzero_si512();
    for (size_t i = 0; i < n; i += 64)
        for (int k = 0; k < 8; k++) {
            if (pf) /* an address, not a pointer: it may be past the buffer */
                _mm_prefetch((const char *)((uintptr_t)(p + i + 8 * (size_t)k) + 4096),
                             _MM_HINT_T0);
            s[k] = _mm512_add_epi64(s[k], _mm512_load_si512(p + i + 8 * (size_t)k));
        }
    for (int k = 1; k < 8; k++)
        s[0] = _mm512_add_epi64(s[0], s[k]);
    uint64_t lanes[8], sum = 0; /* unsigned: the sum wraps */
    _mm512_storeu_si512(lanes, s[0]);
    for (int k = 0; k < 8; k++)
        sum += lanes[k];
    return sum;
}
#endif

static void bw_task(void *ctx, int tid, int nt)
{
    bw_ctx *c = ctx;
    size_t per = c->n / (size_t)nt / 64 * 64, b = per * (size_t)tid;
    double t0 = bw_thread_seconds();
#if defined(__x86_64__)
    const vk_cpu *cpu = vk_cpu_get();
    if (cpu->avx512f && cpu->os_zmm) {
        c->sink[tid] = bw_sum_avx512(c->buf + b, per, c->prefetch);
        c->secs[tid] = bw_thread_seconds() - t0;
        return;
    }
#endif
    c->sink[tid] = bw_sum_scalar(c->buf + b, per);
    c->secs[tid] = bw_thread_seconds() - t0;
}

/* Read bandwidth: a summing pass over 1 GiB (≫ L3), median of `runs`, per
 * thread count, each thread its own contiguous part, timed on each thread's
 * CPU clock (like the 1-thread scan rows: time other processes take the core
 * is not counted), the slowest thread deciding. prefetch: with software
 * prefetch (AVX-512 machines; elsewhere the same plain loop). The buffer is
 * made once and kept (X.bwbuf). */
static double measure_bandwidth(int threads, int prefetch, int runs)
{
    size_t bytes = (size_t)1 << 30;
    bw_ctx c = {.n = bytes / 8, .prefetch = prefetch};
    if (!X.bwbuf) {
        X.bwbuf = bench_alloc(bytes);
        for (size_t i = 0; i < c.n; i++)
            X.bwbuf[i] = i * 0x9e3779b97f4a7c15ull;
    }
    c.buf = X.bwbuf;
    double gb[16];
    runs = runs < 1 ? 1 : runs > 16 ? 16 : runs;
    for (int r = 0; r < runs; r++) {
        vr_pool_run(bench_pool(threads), bw_task, &c);
        double slowest = 0;
        for (int t = 0; t < threads; t++)
            slowest = c.secs[t] > slowest ? c.secs[t] : slowest;
        gb[r] = (double)(c.n / (size_t)threads / 64 * 64 * (size_t)threads) * 8 / slowest / 1e9;
    }
    for (int i = 1; i < runs; i++) /* median, like the scan rows */
        for (int j = i; j > 0 && gb[j] < gb[j - 1]; j--) {
            double t = gb[j];
            gb[j] = gb[j - 1], gb[j - 1] = t;
        }
    return gb[runs / 2];
}

/* The machine's read bandwidth now: the faster of the plain and the
 * prefetching loop, so bw_fraction is against the best this core reads.
 * Measured again beside every row (3 runs each, ~0.2 s): on a machine shared
 * with other work the figure drifts by up to 20 % over minutes, more than the
 * differences being measured. */
static double bandwidth_now(int threads, int runs, double *plain, double *pf)
{
    *plain = measure_bandwidth(threads, 0, runs);
    *pf = measure_bandwidth(threads, 1, runs);
    return *plain > *pf ? *plain : *pf;
}

/* ------------------------------------------------------------------ data */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
static float unit(uint64_t *s) /* uniform in [-1, 1) */
{
    *s = mix(*s);
    return (float)((int64_t)(*s >> 11) - (1ll << 52)) / (float)(1ll << 52);
}

typedef struct dataset {
    const char *name; /* "synthetic", "real-tiled" */
    size_t dim;
    float *centres; /* synthetic: 256 cluster centres */
    const float *real; /* real: m normalised rows */
    size_t m;
} dataset;

static void normalise(float *x, size_t dim)
{
    double s = 0;
    for (size_t d = 0; d < dim; d++)
        s += (double)x[d] * x[d];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 1.0f;
    for (size_t d = 0; d < dim; d++)
        x[d] *= inv;
}

/* Row i of a data set, deterministic: synthetic = unit-norm noisy copy of a
 * cluster centre; real-tiled = a real row plus uniform noise of 0.15 of the
 * typical component (1/√dim), renormalised. */
static void gen_row(const dataset *D, size_t i, float *x)
{
    uint64_t s = mix(i * 0x2545f4914f6cdd1dull + D->dim);
    if (D->real) {
        const float *r = D->real + (i % D->m) * D->dim;
        float amp = 0.15f / sqrtf((float)D->dim);
        for (size_t d = 0; d < D->dim; d++)
            x[d] = r[d] + amp * unit(&s);
    } else {
        const float *c = D->centres + (mix(s) % 256) * D->dim;
        for (size_t d = 0; d < D->dim; d++)
            x[d] = c[d] + 0.6f * unit(&s);
    }
    normalise(x, D->dim);
}

/* Queries: synthetic = rows near (not equal to) random base rows; real =
 * held-out real embeddings (never tiled into the base). */
static void gen_queries(const dataset *D, size_t n, const float *held, float *q)
{
    for (size_t j = 0; j < NQ_RECALL; j++) {
        float *qj = q + j * D->dim;
        if (held) {
            memcpy(qj, held + j * D->dim, D->dim * sizeof(float));
        } else {
            uint64_t s = mix(j + 777);
            gen_row(D, mix(s) % n, qj);
            for (size_t d = 0; d < D->dim; d++)
                qj[d] += 0.05f * unit(&s) / sqrtf((float)D->dim) * 8;
            normalise(qj, D->dim);
        }
    }
}

/* ------------------------------------------------------ exact ground truth */
typedef struct truth {
    float s[NQ_RECALL][TOPK];
    uint32_t r[NQ_RECALL][TOPK];
} truth;

static void truth_offer(truth *T, size_t j, float s, uint32_t row)
{
    if (s <= T->s[j][TOPK - 1])
        return;
    int p = TOPK - 1;
    while (p > 0 && T->s[j][p - 1] < s) {
        T->s[j][p] = T->s[j][p - 1], T->r[j][p] = T->r[j][p - 1];
        p--;
    }
    T->s[j][p] = s, T->r[j][p] = row;
}

static double recall10(const truth *T, const vr_hit *h, const size_t *cnt)
{
    size_t found = 0;
    for (size_t j = 0; j < NQ_RECALL; j++)
        for (size_t i = 0; i < cnt[j]; i++)
            for (int t = 0; t < TOPK; t++)
                found += h[j * TOPK + i].row == T->r[j][t];
    return (double)found / (NQ_RECALL * TOPK);
}

static double recall10_faiss(const truth *T, const int64_t *lab)
{
    size_t found = 0;
    for (size_t j = 0; j < NQ_RECALL; j++)
        for (int i = 0; i < TOPK; i++)
            for (int t = 0; t < TOPK; t++)
                found += lab[j * TOPK + i] == (int64_t)T->r[j][t];
    return (double)found / (NQ_RECALL * TOPK);
}

/* --------------------------------------------------------------- timing */
typedef struct run_ctx {
    const vr_index_view *v;
    const float *q;
    size_t dim, nq;
    vr_search_opts o;
    vr_pool *pool;
    vr_hit hits[NQ_RECALL * TOPK];
    size_t cnt[NQ_RECALL];
    bf_index *fx;
    float fd[NQ_RECALL * TOPK];
    int64_t fl[NQ_RECALL * TOPK];
    int failed;
} run_ctx;

static void ours_fn(void *ctx, int iter)
{
    run_ctx *c = ctx;
    size_t groups = NQ_RECALL / c->nq;
    const float *q = c->q + (size_t)iter % groups * c->nq * c->dim;
    char err[256];
    if (vr_index_search(c->v, q, c->nq, &c->o, c->pool, c->hits, c->cnt, err, sizeof err)) {
        if (!c->failed)
            fprintf(stderr, "vireo-bench index: %s\n", err);
        c->failed = 1;
    }
}

static void faiss_fn(void *ctx, int iter)
{
    run_ctx *c = ctx;
    size_t groups = NQ_RECALL / c->nq;
    const float *q = c->q + (size_t)iter % groups * c->nq * c->dim;
    char err[256];
    if (bf_search(c->fx, c->nq, q, TOPK, c->fd, c->fl, err, sizeof err)) {
        if (!c->failed)
            fprintf(stderr, "vireo-bench index: %s\n", err);
        c->failed = 1;
    }
}

/* ----------------------------------------------------------------- rows */
typedef struct kind_run {
    vk_code_kind kind;
    const char *codes;
    bf_kind peer;
    size_t shortlist;
} kind_run;

static void emit(const char *data, const kind_run *K, size_t n, size_t dim, int threads, size_t nq,
                 size_t row_bytes, double ms, double bms, double rec, double rec_norescore,
                 double brec, const char *check, const char *baseline_impl, double bw)
{
    double mv = ms > 0 ? (double)n / (ms * 1e3) : -1;
    double bmv = bms > 0 ? (double)n / (bms * 1e3) : -1;
    double gbs = ms > 0 ? (double)n * (double)row_bytes / (ms * 1e6) : -1;
    double bwf = gbs > 0 && bw > 0 ? gbs / bw : -1;
    if (g_opt.json) {
        printf("{\"op\":\"index\",\"data\":\"%s\",\"codes\":\"%s\",\"n\":%zu,\"dim\":%zu,"
               "\"threads\":%d,\"nq\":%zu,\"isa\":\"%s\"",
               data, K->codes, n, dim, threads, nq, vk_isa_name(bench_ops()->level));
        printf(",\"ms\":%.4g,\"mvec_per_s\":%.4g,\"mvq_per_s\":%.4g,\"gb_per_s\":%.4g", ms, mv,
               mv * (double)nq, gbs);
        printf(",\"bw_fraction\":%.3f,\"bw_gb_per_s\":%.2f,\"recall_at_10\":%.4f,"
               "\"recall_at_10_norescore\":%.4f,\"shortlist\":%zu",
               bwf, bw, rec, rec_norescore, K->shortlist);
        if (bms > 0)
            printf(",\"baseline\":\"%s\",\"baseline_impl\":\"%s\",\"baseline_ms\":%.4g,"
                   "\"baseline_mvec_per_s\":%.4g,\"baseline_mvq_per_s\":%.4g,"
                   "\"baseline_recall_at_10\":%.4f,\"ratio\":%.3f",
                   bf_name(K->peer), baseline_impl, bms, bmv, bmv * (double)nq, brec, bms / ms);
        printf(",\"clock\":\"%s\",\"runs\":%d,\"check\":\"%s\",\"loadavg\":%.2f}\n",
               bench_clock_name(threads), g_opt.runs, check, bench_loadavg());
    } else {
        printf("%-10s %-5s %8zu %5zu %3d %3zu %9.3f %8.2f %7.2f %5.2f %6.4f %6.4f | %-12s %8.2f "
               "%6.4f %6.2f %s\n",
               data, K->codes, n, dim, threads, nq, ms, mv, gbs, bwf, rec, rec_norescore,
               bms > 0 ? bf_name(K->peer) : "-", bmv, brec, bms > 0 ? bms / ms : -1, check);
    }
    fflush(stdout);
}

/* f32 check: each of our hits is in FAISS's top-10 or scores within rounding
 * (1e-5) of FAISS's 10th; and the counts agree. */
static int f32_agrees(const run_ctx *c)
{
    for (size_t j = 0; j < NQ_RECALL; j++) {
        if (c->cnt[j] != TOPK)
            return 0;
        for (size_t i = 0; i < TOPK; i++) {
            int in = 0;
            for (int t = 0; t < TOPK; t++)
                in |= c->fl[j * TOPK + t] == (int64_t)c->hits[j * TOPK + i].row;
            if (!in && c->hits[j * TOPK + i].score < c->fd[j * TOPK + TOPK - 1] - 1e-5f)
                return 0;
        }
    }
    return 1;
}

static void run_kind(const dataset *D, size_t n, const kind_run *K, const float *q,
                     const truth *T, const void *f16)
{
    size_t dim = D->dim, rb = vk_code_row_bytes(K->kind, dim);
    if (K->kind == VK_CODE_F32 && 2ull * n * rb > F32_MAX_BYTES) {
        fprintf(stderr, "vireo-bench index: %s n %zu dim %zu: f32 rows skipped (%.1f GB with "
                "FAISS's copy)\n", D->name, n, dim, 2.0 * n * rb / 1e9);
        return;
    }
    uint8_t *codes = bench_alloc(n * rb);
    float *a = bench_alloc(dim * 4), *b = bench_alloc(dim * 4);
    float *chunk = bench_alloc((size_t)CHUNK * dim * 4);
    bf_index *fx = NULL;
    char err[256];
    if (!X.no_faiss && !(fx = bf_create(K->peer, (int)dim, err, sizeof err)))
        fprintf(stderr, "vireo-bench index: %s\n", err);
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        size_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (size_t i = 0; i < m; i++)
            gen_row(D, i0 + i, chunk + i * dim);
        if (i0 == 0) /* both sides fit their per-dimension ranges on the first chunk */
            vk_code_fit(K->kind, chunk, m, dim, a, b);
        for (size_t i = 0; i < m; i++)
            vk_code_encode(K->kind, chunk + i * dim, dim, a, b, codes + (i0 + i) * rb);
        if (fx && bf_build(fx, m, chunk, err, sizeof err)) {
            fprintf(stderr, "vireo-bench index: %s\n", err);
            bf_free(fx), fx = NULL;
        }
    }
    bench_free(chunk);
    uint64_t *ids = bench_alloc(n * 8);
    for (size_t i = 0; i < n; i++)
        ids[i] = i;
    vr_index_view v = {n, dim, K->kind, rb, codes, a, b, K->kind == VK_CODE_F32 ? NULL : f16,
                       ids, NULL};
    for (int ti = 0; ti < g_opt.nthreads; ti++) {
        int t = g_opt.threads[ti];
        run_ctx *c = calloc(1, sizeof *c);
        *c = (run_ctx){.v = &v, .q = q, .dim = dim, .o = {TOPK, K->shortlist},
                       .pool = bench_pool(t), .fx = fx};
        /* recall: all NQ_RECALL queries in one call, untimed */
        c->nq = NQ_RECALL;
        ours_fn(c, 0);
        double rec = recall10(T, c->hits, c->cnt), rec0 = rec, brec = -1;
        if (K->shortlist) {
            c->o.shortlist = 0;
            ours_fn(c, 0);
            rec0 = recall10(T, c->hits, c->cnt);
            c->o.shortlist = K->shortlist;
            ours_fn(c, 0);
        }
        const char *check = "skipped";
        if (fx) {
            bf_set_threads(t);
            bf_set_blas_threshold(20);
            faiss_fn(c, 0);
            brec = recall10_faiss(T, c->fl);
            if (K->kind == VK_CODE_F32)
                check = f32_agrees(c) ? "ok" : "mismatch";
            else
                check = rec >= brec - 0.02 ? "ok" : "mismatch";
        }
        for (int bi = 0; bi < 2; bi++) {
            c->nq = bi ? BATCH : 1;
            /* FAISS's flat search takes its BLAS path from this many queries */
            bf_set_blas_threshold(bi && K->kind == VK_CODE_F32 ? BATCH : 20);
            double ms, bms = -1, plain, pf;
            bench_time_pair(t, ours_fn, c, fx ? faiss_fn : NULL, c, &ms, &bms);
            double bw = bandwidth_now(t, X.quick ? 1 : 3, &plain, &pf);
            const char *bimpl = K->kind != VK_CODE_F32 ? "IndexScalarQuantizer"
                                : bi                   ? "IndexFlatIP, BLAS sgemm"
                                                       : "IndexFlatIP, SIMD dot products";
            emit(D->name, K, n, dim, t, c->nq, rb, ms, fx ? bms : -1, rec, rec0, brec,
                 c->failed ? "failed" : check, bimpl, bw);
        }
        free(c);
    }
    bf_free(fx);
    bench_free(codes), bench_free(a), bench_free(b), bench_free(ids);
}

static void run_dataset(const dataset *D, size_t n, const float *held)
{
    size_t dim = D->dim;
    float *q = bench_alloc(NQ_RECALL * dim * 4);
    gen_queries(D, n, held, q);
    /* exact top-10 (our f32 scan kernel over generated chunks) and the f16
     * re-scoring copy of the quantized indexes */
    truth *T = calloc(1, sizeof *T);
    for (size_t j = 0; j < NQ_RECALL; j++)
        for (int t = 0; t < TOPK; t++)
            T->s[j][t] = -INFINITY;
    size_t fb = vk_code_row_bytes(VK_CODE_F16, dim), rb32 = vk_code_row_bytes(VK_CODE_F32, dim);
    uint8_t *f16 = bench_alloc(n * fb);
    float *chunk = bench_alloc((size_t)CHUNK * rb32);
    float *dots = bench_alloc((size_t)CHUNK * NQ_RECALL * 4);
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        size_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (size_t i = 0; i < m; i++) {
            gen_row(D, i0 + i, chunk + i * (rb32 / 4));
            vk_code_encode(VK_CODE_F16, chunk + i * (rb32 / 4), dim, NULL, NULL,
                           f16 + (i0 + i) * fb);
        }
        vk_scan_args sa = {(const uint8_t *)chunk, rb32, dim, q, dim, NULL, NQ_RECALL, dots,
                           NQ_RECALL};
        bench_ops()->scan_f32(&sa, 0, m);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < NQ_RECALL; j++)
                truth_offer(T, j, dots[i * NQ_RECALL + j], (uint32_t)(i0 + i));
    }
    bench_free(chunk), bench_free(dots);
    static const kind_run kinds[] = {{VK_CODE_F32, "f32", BF_FLAT_IP, 0},
                                     {VK_CODE_U8, "int8", BF_SQ8, 0},
                                     {VK_CODE_S8, "int8-sym", BF_SQ8, 0},
                                     {VK_CODE_U4, "int4", BF_SQ4, 0}};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        kind_run K = kinds[k];
        K.shortlist = K.kind == VK_CODE_U4 ? X.shortlist4 : K.kind != VK_CODE_F32 ? X.shortlist8 : 0;
        /* --filter int8 selects "int8" alone, not "int8-sym" too */
        if (g_opt.filter && !strcmp(g_opt.filter, "int8") && K.kind != VK_CODE_U8)
            continue;
        if (bench_selected("index", K.codes, D->name, ""))
            run_kind(D, n, &K, q, T, f16);
    }
    bench_free(f16), bench_free(q);
    free(T);
}

/* -------------------------------------------------------- real embeddings */
/* Class of a GroceryStore path: the directories between train|test|val and
 * the file name ("Fruit/Apple/Golden-Delicious"). split: 't' train, 'e' test,
 * 'v' val, 0 unknown. */
static void grocery_class(const char *path, char *cls, size_t len, char *split)
{
    const char *p = NULL, *s;
    *split = 0;
    if ((s = strstr(path, "train/")))
        p = s + 6, *split = 't';
    else if ((s = strstr(path, "test/")))
        p = s + 5, *split = 'e';
    else if ((s = strstr(path, "val/")))
        p = s + 4, *split = 'v';
    const char *slash = p ? strrchr(p, '/') : NULL;
    if (!p || !slash) {
        *split = 0;
        cls[0] = 0;
        return;
    }
    size_t l = (size_t)(slash - p) < len - 1 ? (size_t)(slash - p) : len - 1;
    memcpy(cls, p, l);
    cls[l] = 0;
}

typedef struct real_set {
    float *x;   /* m × dim, normalised */
    size_t m, dim;
    char (*cls)[96];
    char *split;
} real_set;

static int load_real(const char *path, size_t dim, real_set *R)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "vireo-bench index: cannot open %s\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len <= 0 || (size_t)len % (dim * 4)) {
        fprintf(stderr, "vireo-bench index: %s: %ld bytes is not a whole number of %zu-d f32 rows\n",
                path, len, dim);
        fclose(f);
        return -1;
    }
    R->m = (size_t)len / (dim * 4), R->dim = dim;
    R->x = bench_alloc((size_t)len);
    size_t got = fread(R->x, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len)
        return -1;
    for (size_t i = 0; i < R->m; i++)
        normalise(R->x + i * dim, dim);
    R->cls = calloc(R->m, sizeof *R->cls);
    R->split = calloc(R->m, 1);
    char pp[4096];
    snprintf(pp, sizeof pp, "%s.paths", path);
    FILE *pf = fopen(pp, "r");
    if (pf) {
        char line[4096];
        for (size_t i = 0; i < R->m && fgets(line, sizeof line, pf); i++) {
            line[strcspn(line, "\r\n")] = 0;
            grocery_class(line, R->cls[i], sizeof R->cls[i], &R->split[i]);
        }
        fclose(pf);
    }
    return 0;
}

/* GroceryStore protocol (b): gallery = train photos, queries = test photos,
 * Recall@1 = top-1 of the same fine class; and recall@10 of each code kind
 * against the f32 top-10 of the same queries (real rows as they are: no
 * tiling, so no near-duplicates, unlike the real-tiled rows). */
static void grocery_recall(const real_set *R)
{
    size_t ng = 0, nt = 0, dim = R->dim;
    for (size_t i = 0; i < R->m; i++)
        ng += R->split[i] == 't', nt += R->split[i] == 'e';
    if (!ng || !nt) {
        fprintf(stderr, "vireo-bench index: no train/test split in %s.paths: Recall@1 skipped\n",
                X.real);
        return;
    }
    float *g = bench_alloc(ng * dim * 4), *q = bench_alloc(nt * dim * 4);
    size_t *gi = calloc(ng, sizeof *gi), *qi = calloc(nt, sizeof *qi);
    for (size_t i = 0, a = 0, b = 0; i < R->m; i++) {
        if (R->split[i] == 't')
            memcpy(g + a * dim, R->x + i * dim, dim * 4), gi[a++] = i;
        else if (R->split[i] == 'e')
            memcpy(q + b * dim, R->x + i * dim, dim * 4), qi[b++] = i;
    }
    double r_f32 = -1;
    static const struct {
        vk_code_kind k;
        const char *name;
        int rescore;
    } kinds[] = {{VK_CODE_F32, "f32", 0},      {VK_CODE_U8, "int8", 0},
                 {VK_CODE_U8, "int8", 1},      {VK_CODE_S8, "int8-sym", 0},
                 {VK_CODE_S8, "int8-sym", 1},  {VK_CODE_U4, "int4", 0},
                 {VK_CODE_U4, "int4", 1}};
    vr_hit *hits = calloc(nt * TOPK, sizeof *hits);
    uint32_t *top_f32 = calloc(nt * TOPK, sizeof *top_f32);
    size_t *cnt = calloc(nt, sizeof *cnt);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        size_t rb = vk_code_row_bytes(kinds[k].k, dim), fb = vk_code_row_bytes(VK_CODE_F16, dim);
        uint8_t *codes = bench_alloc(ng * rb), *f16 = bench_alloc(ng * fb);
        float *a = bench_alloc(dim * 4), *b = bench_alloc(dim * 4);
        uint64_t *ids = bench_alloc(ng * 8);
        vk_code_fit(kinds[k].k, g, ng, dim, a, b); /* fitted on train only */
        for (size_t i = 0; i < ng; i++) {
            vk_code_encode(kinds[k].k, g + i * dim, dim, a, b, codes + i * rb);
            vk_code_encode(VK_CODE_F16, g + i * dim, dim, NULL, NULL, f16 + i * fb);
            ids[i] = i;
        }
        vr_index_view v = {ng, dim, kinds[k].k, rb, codes, a, b, f16, ids, NULL};
        vr_search_opts o = {TOPK, kinds[k].rescore ? 40 : 0};
        char err[256];
        int ok = 1;
        for (size_t j = 0; j < nt && ok; j += BATCH) {
            size_t m = nt - j < BATCH ? nt - j : BATCH;
            ok = !vr_index_search(&v, q + j * dim, m, &o, bench_pool(1), hits + j * TOPK, cnt + j,
                                  err, sizeof err);
        }
        size_t right = 0, found = 0, want = 0;
        for (size_t j = 0; ok && j < nt; j++) {
            right += cnt[j] && !strcmp(R->cls[gi[hits[j * TOPK].row]], R->cls[qi[j]]);
            for (size_t i = 0; i < cnt[j]; i++) {
                if (kinds[k].k == VK_CODE_F32)
                    top_f32[j * TOPK + i] = hits[j * TOPK + i].row;
                else
                    for (size_t t = 0; t < TOPK; t++)
                        found += hits[j * TOPK + i].row == top_f32[j * TOPK + t];
            }
            want += cnt[j];
        }
        double r1 = ok ? (double)right / (double)nt : -1;
        double rec10 = !ok ? -1 : kinds[k].k == VK_CODE_F32 ? 1.0 : (double)found / (double)want;
        if (kinds[k].k == VK_CODE_F32)
            r_f32 = r1;
        if (g_opt.json)
            printf("{\"op\":\"grocery\",\"protocol\":\"photo->photo (train gallery %zu, test "
                   "queries %zu)\",\"codes\":\"%s\",\"shortlist\":%d,\"recall_at_1\":%.4f,"
                   "\"f32_recall_at_1\":%.4f,\"delta_points\":%.2f,\"recall_at_10_vs_f32\":%.4f,"
                   "\"check\":\"%s\"}\n",
                   ng, nt, kinds[k].name, kinds[k].rescore ? 40 : 0, r1, r_f32,
                   100 * (r1 - r_f32), rec10, ok ? "ok" : "failed");
        else
            printf("grocery %-8s shortlist %2d  Recall@1 %.4f  (f32 %.4f, %+.2f points)  "
                   "recall@10 vs f32 %.4f\n",
                   kinds[k].name, kinds[k].rescore ? 40 : 0, r1, r_f32, 100 * (r1 - r_f32), rec10);
        bench_free(codes), bench_free(f16), bench_free(a), bench_free(b), bench_free(ids);
    }
    free(hits), free(cnt), free(top_f32), free(gi), free(qi);
    bench_free(g), bench_free(q);
}

/* ----------------------------------------------------------------- flags */
static int parse_list(const char *s, size_t *out, size_t max, size_t *n)
{
    *n = 0;
    while (*s && *n < max) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 1)
            return -1;
        if (*end == 'k' || *end == 'K')
            v *= 1e3, end++;
        else if (*end == 'M' || *end == 'm')
            v *= 1e6, end++;
        out[(*n)++] = (size_t)v;
        if (*end && *end != ',')
            return -1;
        s = *end ? end + 1 : end;
    }
    return *n ? 0 : -1;
}

static void usage_index(FILE *f)
{
    fprintf(f,
            "usage: vireo-bench index [FLAGS]\n"
            "  --json            one JSON object per line\n"
            "  --quick           10k and 100k rows of dim 512, one run (smoke test)\n"
            "  --threads LIST    thread counts (default 1,2)\n"
            "  --sizes LIST      rows, e.g. 10k,100k,1M,2M (default)\n"
            "  --dims LIST       dimensions (default 512,1024)\n"
            "  --runs N          timed runs, median reported (default 3)\n"
            "  --min-ms X        minimum duration of one run (default 30)\n"
            "  --shortlist8 N    int8 / int8-sym candidates re-scored with the f16 copy (default 20)\n"
            "  --shortlist4 N    int4 candidates re-scored (default 60)\n"
            "  --real FILE.f32   real embeddings (`vireo embed` output; FILE.f32.paths gives\n"
            "                    GroceryStore classes): tiled rows + Recall@1\n"
            "  --real-dim N      their dimension (default 1024)\n"
            "  --no-faiss        our rows only\n"
            "  --filter SUBSTR   codes (f32, int8, int8-sym, int4) or data (synthetic, real-tiled);\n"
            "                    int8 alone means the int8 rows only\n");
}

int cmd_index(int argc, char **argv)
{
    g_opt.runs = 3;
    g_opt.min_ms = 30;
    g_opt.threads[0] = 1, g_opt.threads[1] = 2, g_opt.nthreads = 2;
    X.real_dim = 1024;
    X.shortlist8 = 20, X.shortlist4 = 60;
    size_t def_sizes[] = {10000, 100000, 1000000, 2000000};
    memcpy(X.sizes, def_sizes, sizeof def_sizes), X.nsizes = 4;
    X.dims[0] = 512, X.dims[1] = 1024, X.ndims = 2;
    int sizes_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t tmp[BENCH_MAX_THREADS], nt;
        if (!strcmp(a, "--json"))
            g_opt.json = 1;
        else if (!strcmp(a, "--quick"))
            X.quick = 1;
        else if (!strcmp(a, "--no-faiss"))
            X.no_faiss = 1;
        else if (!strcmp(a, "--threads") && v && !parse_list(v, tmp, BENCH_MAX_THREADS, &nt) &&
                 tmp[0] <= BENCH_MAX_THREADS) {
            for (size_t k = 0; k < nt; k++)
                g_opt.threads[k] = tmp[k] > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : (int)tmp[k];
            g_opt.nthreads = (int)nt, i++;
        } else if (!strcmp(a, "--sizes") && v && !parse_list(v, X.sizes, 8, &X.nsizes))
            sizes_given = 1, i++;
        else if (!strcmp(a, "--dims") && v && !parse_list(v, X.dims, 4, &X.ndims))
            i++;
        else if (!strcmp(a, "--runs") && v && atoi(v) >= 1)
            g_opt.runs = atoi(v), i++;
        else if (!strcmp(a, "--min-ms") && v)
            g_opt.min_ms = atof(v), i++;
        else if (!strcmp(a, "--shortlist8") && v)
            X.shortlist8 = (size_t)atol(v), i++;
        else if (!strcmp(a, "--shortlist4") && v)
            X.shortlist4 = (size_t)atol(v), i++;
        else if (!strcmp(a, "--real") && v)
            X.real = v, i++;
        else if (!strcmp(a, "--real-dim") && v && atol(v) > 0)
            X.real_dim = (size_t)atol(v), i++;
        else if (!strcmp(a, "--filter") && v)
            g_opt.filter = v, i++;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_index(stdout);
            return 0;
        } else {
            fprintf(stderr, "vireo-bench index: bad flag '%s'\n", a);
            usage_index(stderr);
            return 2;
        }
    }
    if (X.quick) {
        if (!sizes_given)
            X.sizes[0] = 10000, X.sizes[1] = 100000, X.nsizes = 2;
        X.dims[0] = 512, X.ndims = 1;
        g_opt.runs = 1, g_opt.min_ms = 10;
    }
    char err[256];
    if (vk_ops_init(err, sizeof err) != 0) {
        fprintf(stderr, "vireo-bench: %s\n", err);
        return 1;
    }
    double t0 = bench_now();
    if (!X.no_faiss)
        fprintf(stderr, "vireo-bench index: FAISS %s; BLAS: %s\n", bf_faiss_info(), bf_blas_info());
    for (int i = 0; i < g_opt.nthreads; i++) {
        int t = g_opt.threads[i];
        /* the faster of the plain and the prefetching read loop is the
         * machine's bandwidth: bw_fraction is against the best we can read */
        double plain, pf;
        X.bw[t] = bandwidth_now(t, 7, &plain, &pf);
        if (g_opt.json)
            printf("{\"op\":\"bandwidth\",\"threads\":%d,\"gb_per_s\":%.2f,\"plain_gb_per_s\":%.2f,"
                   "\"prefetch_gb_per_s\":%.2f,\"buffer_mib\":1024}\n",
                   t, X.bw[t], plain, pf);
        else
            printf("read bandwidth, %d thread(s): %.2f GB/s (plain loop %.2f, with prefetch %.2f)\n",
                   t, X.bw[t], plain, pf);
    }
    if (!g_opt.json)
        printf("%-10s %-5s %8s %5s %3s %3s %9s %8s %7s %5s %6s %6s | %-12s %8s %6s %6s %s\n",
               "data", "codes", "n", "dim", "thr", "nq", "ms", "Mvec/s", "GB/s", "bw", "rec10",
               "norsc", "baseline", "Mvec/s", "rec10", "ratio", "check");
    for (size_t di = 0; di < X.ndims; di++) {
        dataset D = {"synthetic", X.dims[di], NULL, NULL, 0};
        D.centres = bench_alloc(256 * D.dim * 4);
        uint64_t s = 12345;
        for (size_t i = 0; i < 256 * D.dim; i++)
            D.centres[i] = unit(&s);
        for (size_t si = 0; si < X.nsizes; si++)
            run_dataset(&D, X.sizes[si], NULL);
        bench_free(D.centres);
    }
    if (X.real) {
        real_set R = {0};
        if (load_real(X.real, X.real_dim, &R) == 0 && R.m > NQ_RECALL + 1) {
            grocery_recall(&R);
            /* held-out queries: the last NQ_RECALL rows; the rest are tiled */
            dataset D = {"real-tiled", R.dim, NULL, R.x, R.m - NQ_RECALL};
            const float *held = R.x + (R.m - NQ_RECALL) * R.dim;
            for (size_t si = 0; si < X.nsizes; si++)
                run_dataset(&D, X.sizes[si], held);
        }
        bench_free(R.x), free(R.cls), free(R.split);
    }
    bench_free(X.bwbuf);
    X.bwbuf = NULL;
    fprintf(stderr, "vireo-bench: index done in %.1f s\n", bench_now() - t0);
    return 0;
}
