/* f32 matmul: the dispatched kernel against a double-precision oracle and
 * against the reference kernel, over edge shapes (around every tile and block
 * size of the AVX-512 kernel), all fused epilogues, bias and residual
 * variants, strided operands, sub-ranges, split-vs-single calls and model
 * shapes.
 *
 * Error bound, per output element (i, j). Let s = Σ_k a_k·b_k + bias + res be
 * the exact pre-activation and S = Σ_k |a_k·b_k| + |bias| + |res|. Any
 * implementation that forms s in f32 as a sum of K rounded (or fused) products
 * and the two extra terms, in any order and grouping (K blocks accumulated
 * through C included), has |ŝ - s| <= E = γ_{K+2}·S (Higham 3.1: K+2 terms, at
 * most K+2 roundings on any path; γ_n = n·u/(1 - n·u), u = 2^-24).
 * The activation is then applied to ŝ:
 *   NONE, RELU, RELU6: exact on floats and 1-Lipschitz, so |ŷ - y| <= E;
 *   GELU: |gelu'| <= 1.129 everywhere, so evaluating exactly at ŝ is within
 *     1.13·E; the evaluation itself (vmath.h: |erf error| <= 5e-7 absolute,
 *     scaled by 0.5|x|; libm's erff is far tighter) adds 0.5·5e-7·|x| plus at
 *     most four f32 roundings (x/√2, 1 + erf, 0.5·x, the product), each
 *     bounded by u·(|x| + |y|) after propagation (erf' <= 2/√π, and
 *     0.5|x|·erf'(z)·|z| <= |x|);
 *   QUICKGELU: |d/dx x·σ(1.702x)| <= 1.10, so 1.10·E; evaluation: vmath.h
 *     bounds it by |x|·err(σ); with exp within 2 ulp (4u relative), the
 *     argument rounding (relative error of e^t at most |t|·u, times
 *     σ(1-σ) <= 1/4 gives σ(1-σ)|t|·u <= 0.23u) and the rounding of 1 + e and
 *     of the division, err(σ) <= σ(1-σ)·(4u + ...) + 2u <= 4u, so 4u·|x|, plus
 *     the final rounding u·|y|.
 * with |x| <= |s| + E. The oracle (double, K <= 3072) is exact to ~1e-13·S,
 * covered by a 1e-12·S term. Dispatched vs reference: twice the bound (both
 * are within it of the exact value). Elements outside the requested range
 * must be left bit-for-bit untouched, and, since the AVX-512 kernel blocks K
 * by K alone, a split call must reproduce a single call exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "testutil.h"

#define U TU_U_F32

enum { RES_NONE = 0, RES_SEPARATE, RES_INPLACE };

typedef struct mcase {
    int M, N, K;
    int pad_a, pad_c, pad_r; /* extra elements per row: lda = K + pad_a, ... */
    vk_act act;
    int bias;
    int res; /* RES_* */
    int m0, m1, n0, n1;
} mcase;

static const char *act_name(vk_act a)
{
    static const char *n[] = {"none", "relu", "relu6", "gelu", "quickgelu"};
    return (unsigned)a < 5 ? n[a] : "?";
}

/* The bound of the header comment for one element, from the exact s. */
static double elem_tol(double s, double S, int K, vk_act act)
{
    const double E = tu_gamma(K + 2) * S + 1e-12 * S;
    const double x = fabs(s) + E;
    const double y = fabs(tu_act_d(s, act)) + 1.13 * E;
    switch (act) {
    case VK_ACT_GELU: return 1.13 * E + 0.5 * 5e-7 * x + 4 * U * (x + y);
    case VK_ACT_QUICKGELU: return 1.10 * E + 4 * U * x + U * y;
    default: return E;
    }
}

/* The same without s, from an upper bound Sb >= S (hence >= |s|); |y| <= 1.13·x
 * for both GELUs. */
static double elem_tol_bound(double Sb, int K, vk_act act)
{
    const double E = tu_gamma(K + 2) * Sb + 1e-12 * Sb;
    const double x = Sb + E;
    const double y = 1.13 * x;
    switch (act) {
    case VK_ACT_GELU: return 1.13 * E + 0.5 * 5e-7 * x + 4 * U * (x + y);
    case VK_ACT_QUICKGELU: return 1.10 * E + 4 * U * x + U * y;
    default: return E;
    }
}

typedef struct problem {
    mcase c;
    float *A, *B, *Bp, *bias, *R, *C0; /* C0: C before the call (sentinels or residual) */
    ptrdiff_t lda, ldc, ldr;
} problem;

/* Values outside the range must survive the call unchanged. */
#define SENTINEL 1234.5f

static void problem_make(problem *p, const mcase *c, uint64_t salt)
{
    memset(p, 0, sizeof *p);
    p->c = *c;
    tu_rng r = tu_rng_make(salt);
    const int M = c->M, N = c->N, K = c->K;
    p->lda = K + c->pad_a;
    p->ldc = N + c->pad_c;
    /* in place: residual and C are the same buffer, so share the stride */
    p->ldr = c->res == RES_INPLACE ? p->ldc : N + c->pad_r;
    p->A = tu_alloc(sizeof(float) * ((size_t)M * p->lda + 1));
    p->B = tu_alloc(sizeof(float) * ((size_t)K * N + 1));
    p->Bp = tu_alloc(sizeof(float) * vk_pack_f32_b_size(K, N));
    p->bias = tu_alloc(sizeof(float) * (size_t)N);
    p->R = tu_alloc(sizeof(float) * ((size_t)M * p->ldr + 1));
    p->C0 = tu_alloc(sizeof(float) * ((size_t)M * p->ldc + 1));
    tu_fill_f32(&r, p->A, (size_t)M * p->lda, -1.0f, 1.0f);
    tu_fill_f32(&r, p->B, (size_t)K * N, -1.0f, 1.0f);
    tu_fill_f32(&r, p->bias, (size_t)N, -1.0f, 1.0f);
    tu_fill_f32(&r, p->R, (size_t)M * p->ldr, -2.0f, 2.0f);
    vk_pack_f32_b(K, N, p->B, N, p->Bp);
    if (c->res == RES_INPLACE)
        memcpy(p->C0, p->R, sizeof(float) * (size_t)M * p->ldc);
    else
        for (size_t i = 0; i < (size_t)M * p->ldc; i++)
            p->C0[i] = SENTINEL;
}

static void problem_free(problem *p)
{
    tu_free(p->A);
    tu_free(p->B);
    tu_free(p->Bp);
    tu_free(p->bias);
    tu_free(p->R);
    tu_free(p->C0);
}

/* Runs fn on a fresh copy of C0 over the case's range; returns the output
 * buffer (caller frees). */
static float *run(const problem *p, vk_matmul_f32_fn fn, int m0, int m1, int n0, int n1)
{
    const mcase *c = &p->c;
    float *C = tu_alloc(sizeof(float) * ((size_t)c->M * p->ldc + 1));
    memcpy(C, p->C0, sizeof(float) * (size_t)c->M * p->ldc);
    vk_matmul_f32_args a = {
        .M = c->M, .N = c->N, .K = c->K, .A = p->A, .lda = p->lda, .Bp = p->Bp,
        .bias = c->bias ? p->bias : NULL,
        .residual = c->res == RES_NONE ? NULL : c->res == RES_INPLACE ? C : p->R,
        .ldr = p->ldr, .C = C, .ldc = p->ldc, .act = c->act,
    };
    fn(&a, m0, m1, n0, n1);
    return C;
}

/* Checks one case: dispatched vs oracle, dispatched vs reference, untouched
 * elements outside the range. Oracle rows: all, or every `row_step`-th row
 * (and the last) for the big model shapes. Returns nonzero on failure. */
static int check_case(const mcase *c, uint64_t salt, int row_step)
{
    problem p;
    problem_make(&p, c, salt);
    const int M = c->M, N = c->N, K = c->K;
    float *got = run(&p, tu_ops()->matmul_f32, c->m0, c->m1, c->n0, c->n1);
    float *ref = run(&p, tu_ref()->matmul_f32, c->m0, c->m1, c->n0, c->n1);
    char what[256];
    snprintf(what, sizeof what,
             "M=%d N=%d K=%d lda=%td ldc=%td ldr=%td act=%s bias=%d res=%d range=[%d,%d)x[%d,%d)",
             M, N, K, p.lda, p.ldc, p.ldr, act_name(c->act), c->bias, c->res, c->m0, c->m1,
             c->n0, c->n1);
    int bad = 0;
    const int W = c->n1 - c->n0;
    const size_t w1 = (size_t)(W > 0 ? W : 1);
    float *want = malloc(sizeof(float) * w1), *tol = malloc(sizeof(float) * w1);
    double *sd = malloc(sizeof(double) * w1), *Sd = malloc(sizeof(double) * w1);
    double *colmax = calloc(w1, sizeof(double));
    for (int k = 0; k < K; k++)
        for (int j = c->n0; j < c->n1; j++) {
            const double b = fabs(p.B[(size_t)k * N + j]);
            colmax[j - c->n0] = b > colmax[j - c->n0] ? b : colmax[j - c->n0];
        }
    for (int i = 0; i < M && !bad; i++) {
        const float *g = got + (ptrdiff_t)i * p.ldc;
        const float *rf = ref + (ptrdiff_t)i * p.ldc;
        const float *c0 = p.C0 + (ptrdiff_t)i * p.ldc;
        const int in_rows = i >= c->m0 && i < c->m1;
        /* outside the range (and the row padding): untouched */
        for (int j = 0; j < p.ldc && !bad; j++) {
            if (in_rows && j >= c->n0 && j < c->n1)
                continue;
            if (memcmp(&g[j], &c0[j], sizeof(float)) != 0) {
                tu_fail("%s: element (%d,%d) outside the range was written (%g, was %g)", what,
                        i, j, g[j], c0[j]);
                bad = 1;
            }
        }
        if (!in_rows || W <= 0 || bad)
            continue;
        const float *Ai = p.A + (ptrdiff_t)i * p.lda;
        const float *Ri = p.R + (ptrdiff_t)i * p.ldr; /* in place: C0 holds the same values */
        double extra[2] = {0, 0};
        char w2[400];
        if ((i - c->m0) % row_step == 0 || i == c->m1 - 1) {
            /* oracle row: exact s and S, row-major over B */
            for (int j = 0; j < W; j++)
                sd[j] = Sd[j] = 0;
            for (int k = 0; k < K; k++) {
                const double ak = Ai[k];
                const float *Bk = p.B + (size_t)k * N + c->n0;
                for (int j = 0; j < W; j++) {
                    const double t = ak * Bk[j];
                    sd[j] += t;
                    Sd[j] += fabs(t);
                }
            }
            for (int j = 0; j < W; j++) {
                extra[0] = c->bias ? p.bias[c->n0 + j] : 0;
                extra[1] = c->res != RES_NONE ? Ri[c->n0 + j] : 0;
                const double s_ = sd[j] + extra[0] + extra[1];
                const double S_ = Sd[j] + fabs(extra[0]) + fabs(extra[1]);
                const double y = tu_act_d(s_, c->act);
                want[j] = (float)y;
                /* plus the oracle's own rounding to float, half an ulp */
                tol[j] = (float)(elem_tol(s_, S_, K, c->act) + U * fabs(y));
            }
            snprintf(w2, sizeof w2, "%s row %d vs oracle", what, i);
            bad |= tu_check_f32(w2, g + c->n0, want, tol, 0, (size_t)W);
            for (int j = 0; j < W; j++)
                tol[j] *= 2;
        } else {
            /* sampled out of the oracle: S <= Σ|a_k|·max_k|b_kj| + |bias| + |res| */
            double asum = 0;
            for (int k = 0; k < K; k++)
                asum += fabs(Ai[k]);
            for (int j = 0; j < W; j++) {
                double Sb = asum * colmax[j];
                Sb += c->bias ? fabs(p.bias[c->n0 + j]) : 0;
                Sb += c->res != RES_NONE ? fabs(Ri[c->n0 + j]) : 0;
                tol[j] = (float)(2 * elem_tol_bound(Sb, K, c->act));
            }
        }
        if (!bad) {
            snprintf(w2, sizeof w2, "%s row %d vs reference", what, i);
            bad |= tu_check_f32(w2, g + c->n0, rf + c->n0, tol, 0, (size_t)W);
        }
    }
    free(sd);
    free(Sd);
    free(colmax);
    free(want);
    free(tol);
    tu_free(got);
    tu_free(ref);
    problem_free(&p);
    return bad;
}

static mcase full(int M, int N, int K, vk_act act, int bias, int res)
{
    mcase c = {M, N, K, 0, 0, 0, act, bias, res, 0, M, 0, N};
    return c;
}

/* Sizes around the AVX-512 kernel's blocks: tile rows 8 (small-M tiles of
 * 1..7 rows, 6/7 switching from 4 to 3 panels), tile columns 32 (64 for
 * small M), panels of 16, K steps of 4 inside chunks of 16. Epilogue, bias,
 * residual mode and strides rotate with the case index so every combination
 * of each appears many times. */
static void test_edges(void **state)
{
    (void)state;
    static const int Ms[] = {1, 2, 3, 5, 6, 7, 8, 9, 13, 16, 17, 25};
    static const int Ns[] = {1, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 81};
    static const int Ks[] = {1, 2, 3, 4, 5, 15, 16, 17, 33};
    int idx = 0;
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
        for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++, idx++) {
                mcase c = full(Ms[a], Ns[b], Ks[k], (vk_act)(idx % 5), (idx / 5) % 2,
                               (idx / 10) % 3);
                c.pad_a = idx % 3 == 0 ? 0 : 1 + idx % 7;
                c.pad_c = idx % 4 == 0 ? 0 : 1 + idx % 5;
                c.pad_r = idx % 2 ? 3 : 0;
                if (check_case(&c, 1000 + idx, 1))
                    return;
            }
}

/* Every epilogue with every bias/residual combination, on a shape with full
 * and partial tiles in both dimensions and a K not a multiple of 16. */
static void test_epilogues(void **state)
{
    (void)state;
    static const int shapes[][3] = {{23, 81, 40}, {5, 70, 50}, {50, 100, 200}};
    int idx = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int act = 0; act < 5; act++)
            for (int bias = 0; bias < 2; bias++)
                for (int res = 0; res < 3; res++, idx++) {
                    mcase c = full(shapes[s][0], shapes[s][1], shapes[s][2], (vk_act)act, bias,
                                   res);
                    c.pad_a = 2, c.pad_c = 5, c.pad_r = 1;
                    if (check_case(&c, 2000 + idx, 1))
                        return;
                }
}

/* K around the K block (768, in blocks rounded to 16), several blocks, and
 * N around the column block (128 columns at kc = 768; 224 at K = 769 whose
 * two blocks are 400 and 369 long). */
static void test_kblocks(void **state)
{
    (void)state;
    static const int cases[][3] = {
        {9, 33, 767},  {8, 129, 768}, {5, 161, 769},  {9, 257, 769},  {3, 40, 1535},
        {17, 33, 1536}, {7, 50, 1537}, {10, 130, 2048}, {1, 17, 3072}, {11, 129, 3072},
    };
    for (size_t s = 0; s < sizeof cases / sizeof *cases; s++) {
        mcase c = full(cases[s][0], cases[s][1], cases[s][2], (vk_act)(s % 5), s % 2,
                       (int)(s % 3));
        c.pad_a = (int)s, c.pad_c = 3, c.pad_r = 2;
        if (check_case(&c, 3000 + s, 1))
            return;
    }
}

/* Sub-ranges: m0/m1 anywhere, n0 a multiple of 16, n1 a multiple of 16 or N. */
static void test_ranges(void **state)
{
    (void)state;
    static const int rng[][4] = {
        {0, 1, 0, 16},   {3, 4, 16, 32},  {5, 13, 32, 77},  {0, 50, 48, 64}, {7, 50, 0, 77},
        {10, 11, 64, 77}, {1, 49, 16, 64}, {20, 29, 0, 32}, {44, 50, 32, 48}, {0, 6, 0, 77},
    };
    for (size_t s = 0; s < sizeof rng / sizeof *rng; s++) {
        mcase c = full(50, 77, 70, (vk_act)(s % 5), (s / 2) % 2, (int)(s % 3));
        c.m0 = rng[s][0], c.m1 = rng[s][1], c.n0 = rng[s][2], c.n1 = rng[s][3];
        c.pad_a = 1, c.pad_c = 2, c.pad_r = 3;
        if (check_case(&c, 4000 + s, 1))
            return;
    }
    /* column ranges not starting at 0 across column blocks (224 columns at
     * K = 800: blocks of 400) */
    static const int rng2[][4] = {{3, 17, 16, 300}, {0, 20, 48, 272}, {19, 20, 224, 300}};
    for (size_t s = 0; s < sizeof rng2 / sizeof *rng2; s++) {
        mcase c = full(20, 300, 800, (vk_act)((s + 1) % 5), 1, (int)(s % 3));
        c.m0 = rng2[s][0], c.m1 = rng2[s][1], c.n0 = rng2[s][2], c.n1 = rng2[s][3];
        c.pad_a = 3, c.pad_c = 1, c.pad_r = 2;
        if (check_case(&c, 4050 + s, 1))
            return;
    }
    /* empty ranges write nothing */
    mcase e = full(9, 40, 8, VK_ACT_RELU, 1, RES_SEPARATE);
    e.m0 = 4, e.m1 = 4, e.n0 = 0, e.n1 = 40;
    check_case(&e, 4100, 1);
    e.m0 = 0, e.m1 = 9, e.n0 = 16, e.n1 = 16;
    check_case(&e, 4101, 1);
}

/* Ranges that tile the output reproduce a single call exactly (the runtime
 * splits rows and columns across threads; results must not depend on it). */
static void test_split(void **state)
{
    (void)state;
    static const int shapes[][3] = {{50, 100, 70}, {37, 161, 1000}, {197, 48, 17}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int res = 0; res < 3; res++) {
            mcase c = full(shapes[s][0], shapes[s][1], shapes[s][2],
                           (vk_act)((s + (size_t)res) % 5), 1, res);
            c.pad_a = 1, c.pad_c = 3, c.pad_r = 2;
            problem p;
            problem_make(&p, &c, 5000 + s * 3 + (size_t)res);
            const vk_matmul_f32_fn fn = tu_ops()->matmul_f32;
            float *one = run(&p, fn, 0, c.M, 0, c.N);
            /* pieces: uneven row cuts (including tiny ones) × column cuts at
             * multiples of 16, in place on one buffer, as threads would */
            float *pieces = tu_alloc(sizeof(float) * ((size_t)c.M * p.ldc + 1));
            memcpy(pieces, p.C0, sizeof(float) * (size_t)c.M * p.ldc);
            vk_matmul_f32_args a = {
                .M = c.M, .N = c.N, .K = c.K, .A = p.A, .lda = p.lda, .Bp = p.Bp,
                .bias = p.bias,
                .residual = res == RES_NONE ? NULL : res == RES_INPLACE ? pieces : p.R,
                .ldr = p.ldr, .C = pieces, .ldc = p.ldc, .act = c.act,
            };
            const int rows[] = {0, 1, 3, 10, 11, c.M / 2, c.M - 2, c.M};
            const int ncut = ((c.N / 3) / 16) * 16, ncut2 = ((2 * c.N / 3) / 16) * 16;
            const int cols[] = {0, ncut, ncut2 > ncut ? ncut2 : ncut, c.N};
            for (int ri = 0; ri + 1 < 8; ri++)
                for (int ci = 0; ci + 1 < 4; ci++) {
                    int r0 = rows[ri] < c.M ? rows[ri] : c.M, r1 = rows[ri + 1];
                    if (r0 > r1)
                        r0 = r1;
                    fn(&a, r0, r1, cols[ci], cols[ci + 1]);
                }
            char what[128];
            snprintf(what, sizeof what, "split vs single, M=%d N=%d K=%d res=%d", c.M, c.N, c.K,
                     res);
            const int bad = tu_check_f32(what, pieces, one, NULL, 0, (size_t)c.M * p.ldc);
            tu_free(one);
            tu_free(pieces);
            problem_free(&p);
            if (bad)
                return;
        }
}

/* Model shapes (ViT-B/16, B/32 at batch 1, ResNet-50 1x1 convs, small M);
 * the oracle checks a sample of rows of the largest ones. */
static void test_models(void **state)
{
    (void)state;
    static const int shapes[][5] = {
        /* M, N, K, act, oracle row step */
        {197, 768, 768, VK_ACT_NONE, 4},  {50, 3072, 768, VK_ACT_GELU, 7},
        {50, 768, 3072, VK_ACT_NONE, 7},  {196, 64, 64, VK_ACT_RELU, 1},
        {49, 512, 2048, VK_ACT_RELU, 4},  {1, 2304, 768, VK_ACT_NONE, 1},
        {8, 768, 768, VK_ACT_QUICKGELU, 1}, {3, 256, 1024, VK_ACT_RELU6, 1},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        mcase c = full(shapes[s][0], shapes[s][1], shapes[s][2], (vk_act)shapes[s][3], 1,
                       s % 2 ? RES_INPLACE : RES_NONE);
        if (check_case(&c, 6000 + s, shapes[s][4]))
            return;
    }
}

/* Packing: layout of kernels.h, zero padding past N. */
static void test_pack(void **state)
{
    (void)state;
    static const int shapes[][2] = {{1, 1}, {3, 15}, {5, 16}, {7, 17}, {2, 50}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int K = shapes[s][0], N = shapes[s][1];
        const ptrdiff_t ldb = N + 2;
        tu_rng r = tu_rng_make(7000 + s);
        float *B = tu_alloc(sizeof(float) * (size_t)K * ldb);
        tu_fill_f32(&r, B, (size_t)K * ldb, -1.0f, 1.0f);
        const size_t n = vk_pack_f32_b_size(K, N);
        assert_int_equal(n, (size_t)K * ((N + 15) / 16 * 16));
        float *Bp = tu_alloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++)
            Bp[i] = NAN;
        vk_pack_f32_b(K, N, B, ldb, Bp);
        for (int p = 0; p * 16 < N; p++)
            for (int k = 0; k < K; k++)
                for (int j = 0; j < 16; j++) {
                    const float want = p * 16 + j < N ? B[(ptrdiff_t)k * ldb + p * 16 + j] : 0.0f;
                    const float got = Bp[((size_t)p * K + k) * 16 + j];
                    if (memcmp(&got, &want, sizeof got) != 0) {
                        tu_fail("pack K=%d N=%d: panel %d k %d j %d: got %g want %g", K, N, p, k,
                                j, got, want);
                        return;
                    }
                }
        tu_free(B);
        tu_free(Bp);
    }
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack),   cmocka_unit_test(test_edges),
        cmocka_unit_test(test_epilogues), cmocka_unit_test(test_kblocks),
        cmocka_unit_test(test_ranges), cmocka_unit_test(test_split),
        cmocka_unit_test(test_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
