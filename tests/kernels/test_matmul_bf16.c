/* bf16 matmul: the dispatched kernel against a double-precision oracle and
 * against the reference kernel, over edge shapes (around every tile and block
 * size of the AVX-512 kernel: tiles of 14 rows × 32 columns, 6 × 64 for small
 * M, K in pairs, K blocks of 1024), all fused epilogues, bias and residual
 * variants, strided operands, sub-ranges, split-vs-single calls and the ViT
 * shapes; plus the f32 → bf16 conversion and the packer.
 *
 * Semantics (kernels.h): y = act(Σ_k r(a_k)·r(b_k) + bias + res), r = round
 * to bf16, nearest even. The oracle rounds with its own arithmetic (ldexp /
 * nearbyint, not the kernels' bit trick) and sums in double.
 *
 * Error bound, per output element. Let s be the exact pre-activation over the
 * rounded operands and S = Σ_k |r(a_k)·r(b_k)| + |bias| + |res|. Each product
 * of two bf16 values (8 significant bits each) is exact in f32, so an
 * implementation only rounds its K + 2 additions, in whatever order and
 * grouping (vdpbf16ps pairs, K blocks accumulated through C):
 * |ŝ - s| <= γ_{K+2}·S (Higham 3.1, u = 2^-24), plus (K + 2)·2^-126 because
 * vdpbf16ps flushes denormal results to zero (one flush per addition at
 * most). The activations add what the f32 matmul test derives (same vmath.h /
 * act.h code): NONE/RELU/RELU6 1-Lipschitz and exact; GELU 1.13·E +
 * 0.5·5e-7·|x| + 4u(|x| + |y|); QUICKGELU 1.10·E + 4u|x| + u|y|, with
 * |x| <= |s| + E. The double oracle is exact to ~1e-13·S (1e-12·S term) and
 * its rounding to float adds u·|y|. Dispatched vs reference: twice the bound.
 * Outside the requested range nothing may change, and since K blocks depend
 * on K alone, split calls must reproduce one call bit for bit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "testutil.h"

#define U TU_U_F32
#define FTZ_STEP 1.1754943508222875e-38 /* 2^-126 */

enum { RES_NONE = 0, RES_SEPARATE, RES_INPLACE };

typedef struct mcase {
    int M, N, K;
    int pad_a, pad_c, pad_r;
    vk_act act;
    int bias;
    int res;
    int m0, m1, n0, n1;
} mcase;

static const char *act_name(vk_act a)
{
    static const char *n[] = {"none", "relu", "relu6", "gelu", "quickgelu"};
    return (unsigned)a < 5 ? n[a] : "?";
}

/* Round to bf16 (8 significant bits), nearest even, by arithmetic: the test's
 * own definition, independent of vk_f32_to_bf16. Finite inputs only (the
 * matmul cases); the special values are checked in test_convert. */
static double bf16_round(float x)
{
    if (x == 0.0f || !isfinite(x))
        return x;
    int e;
    frexp(x, &e);                 /* x = m·2^e, 0.5 <= |m| < 1 */
    if (e < -125)                 /* bf16 subnormals: a fixed quantum of 2^-133 */
        e = -125;
    return ldexp(nearbyint(ldexp(x, 8 - e)), e - 8); /* default mode: ties to even */
}

static double elem_tol(double s, double S, int K, vk_act act)
{
    const double E = tu_gamma(K + 2) * S + 1e-12 * S + (K + 2) * FTZ_STEP;
    const double x = fabs(s) + E;
    const double y = fabs(tu_act_d(s, act)) + 1.13 * E;
    switch (act) {
    case VK_ACT_GELU: return 1.13 * E + 0.5 * 5e-7 * x + 4 * U * (x + y);
    case VK_ACT_QUICKGELU: return 1.10 * E + 4 * U * x + U * y;
    default: return E;
    }
}

typedef struct problem {
    mcase c;
    float *A, *B, *bias, *R, *C0;
    uint16_t *Bp;
    ptrdiff_t lda, ldc, ldr;
} problem;

#define SENTINEL 1234.5f

static void problem_make(problem *p, const mcase *c, uint64_t salt)
{
    memset(p, 0, sizeof *p);
    p->c = *c;
    tu_rng r = tu_rng_make(salt);
    const int M = c->M, N = c->N, K = c->K;
    p->lda = K + c->pad_a;
    p->ldc = N + c->pad_c;
    p->ldr = c->res == RES_INPLACE ? p->ldc : N + c->pad_r;
    p->A = tu_alloc(sizeof(float) * ((size_t)M * p->lda + 1));
    p->B = tu_alloc(sizeof(float) * ((size_t)K * N + 1));
    p->Bp = tu_alloc(sizeof(uint16_t) * vk_pack_bf16_b_size(K, N));
    p->bias = tu_alloc(sizeof(float) * (size_t)N);
    p->R = tu_alloc(sizeof(float) * ((size_t)M * p->ldr + 1));
    p->C0 = tu_alloc(sizeof(float) * ((size_t)M * p->ldc + 1));
    tu_fill_f32(&r, p->A, (size_t)M * p->lda, -1.0f, 1.0f);
    tu_fill_f32(&r, p->B, (size_t)K * N, -1.0f, 1.0f);
    tu_fill_f32(&r, p->bias, (size_t)N, -1.0f, 1.0f);
    tu_fill_f32(&r, p->R, (size_t)M * p->ldr, -2.0f, 2.0f);
    /* NaN in A's row padding: a kernel that multiplies past K shows it */
    for (int i = 0; i < M; i++)
        for (int k = K; k < p->lda; k++)
            p->A[(ptrdiff_t)i * p->lda + k] = NAN;
    vk_pack_bf16_b(K, N, p->B, N, p->Bp);
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

static vk_matmul_bf16_args args_for(const problem *p, float *C)
{
    const mcase *c = &p->c;
    vk_matmul_bf16_args a = {
        .M = c->M, .N = c->N, .K = c->K, .A = p->A, .lda = p->lda, .Bp = p->Bp,
        .bias = c->bias ? p->bias : NULL,
        .residual = c->res == RES_NONE ? NULL : c->res == RES_INPLACE ? C : p->R,
        .ldr = p->ldr, .C = C, .ldc = p->ldc, .act = c->act,
    };
    return a;
}

static float *run(const problem *p, vk_matmul_bf16_fn fn, int m0, int m1, int n0, int n1)
{
    float *C = tu_alloc(sizeof(float) * ((size_t)p->c.M * p->ldc + 1));
    memcpy(C, p->C0, sizeof(float) * (size_t)p->c.M * p->ldc);
    vk_matmul_bf16_args a = args_for(p, C);
    fn(&a, m0, m1, n0, n1);
    return C;
}

/* Dispatched vs oracle (every row_step-th row and the last) and vs the
 * reference (every row); untouched outside the range. */
static int check_case(const mcase *c, uint64_t salt, int row_step)
{
    problem p;
    problem_make(&p, c, salt);
    const int M = c->M, N = c->N, K = c->K;
    float *got = run(&p, tu_ops()->matmul_bf16, c->m0, c->m1, c->n0, c->n1);
    float *ref = run(&p, tu_ref()->matmul_bf16, c->m0, c->m1, c->n0, c->n1);
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
    double *Br = malloc(sizeof(double) * ((size_t)K * N + 1));
    for (size_t i = 0; i < (size_t)K * N; i++)
        Br[i] = bf16_round(p.B[i]);
    for (int i = 0; i < M && !bad; i++) {
        const float *g = got + (ptrdiff_t)i * p.ldc;
        const float *rf = ref + (ptrdiff_t)i * p.ldc;
        const float *c0 = p.C0 + (ptrdiff_t)i * p.ldc;
        const int in_rows = i >= c->m0 && i < c->m1;
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
        const float *Ri = p.R + (ptrdiff_t)i * p.ldr;
        char w2[400];
        for (int j = 0; j < W; j++)
            sd[j] = Sd[j] = 0;
        for (int k = 0; k < K; k++) {
            const double ak = bf16_round(Ai[k]);
            const double *Bk = Br + (size_t)k * N + c->n0;
            for (int j = 0; j < W; j++) {
                const double t = ak * Bk[j];
                sd[j] += t;
                Sd[j] += fabs(t);
            }
        }
        for (int j = 0; j < W; j++) {
            const double e0 = c->bias ? p.bias[c->n0 + j] : 0;
            const double e1 = c->res != RES_NONE ? Ri[c->n0 + j] : 0;
            const double s_ = sd[j] + e0 + e1, S_ = Sd[j] + fabs(e0) + fabs(e1);
            const double y = tu_act_d(s_, c->act);
            want[j] = (float)y;
            tol[j] = (float)(elem_tol(s_, S_, K, c->act) + U * fabs(y));
        }
        if ((i - c->m0) % row_step == 0 || i == c->m1 - 1) {
            snprintf(w2, sizeof w2, "%s row %d vs oracle", what, i);
            bad |= tu_check_f32(w2, g + c->n0, want, tol, 0, (size_t)W);
        }
        for (int j = 0; j < W; j++)
            tol[j] *= 2;
        if (!bad) {
            snprintf(w2, sizeof w2, "%s row %d vs reference", what, i);
            bad |= tu_check_f32(w2, g + c->n0, rf + c->n0, tol, 0, (size_t)W);
        }
    }
    free(Br);
    free(sd);
    free(Sd);
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

/* Rows around the tiles (1..6 small-M rows on 4 panels, 7..14 and balanced
 * splits of 14-row tiles), columns around panels of 16 and tiles of 32 / 64,
 * K odd and even around pairs and the 16-pair unroll. Epilogue, bias,
 * residual mode and strides rotate with the case index. */
static void test_edges(void **state)
{
    (void)state;
    static const int Ms[] = {1, 2, 3, 5, 6, 7, 8, 13, 14, 15, 27, 28, 29};
    static const int Ns[] = {1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 81};
    static const int Ks[] = {1, 2, 3, 4, 5, 31, 32, 33, 63};
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

static void test_epilogues(void **state)
{
    (void)state;
    static const int shapes[][3] = {{23, 81, 41}, {5, 70, 50}, {50, 100, 200}};
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

/* K around the K block (1024) and several blocks; N across column blocks. */
static void test_kblocks(void **state)
{
    (void)state;
    static const int cases[][3] = {
        {9, 33, 1023}, {15, 129, 1024}, {5, 161, 1025}, {16, 257, 1025}, {3, 40, 2047},
        {17, 33, 2048}, {7, 50, 2049},  {10, 130, 3072}, {1, 17, 3072},  {29, 600, 1100},
    };
    const size_t n = getenv("VIREO_TEST_QUICK") ? 4 : sizeof cases / sizeof *cases; /* qemu */
    for (size_t s = 0; s < n; s++) {
        mcase c = full(cases[s][0], cases[s][1], cases[s][2], (vk_act)(s % 5), s % 2,
                       (int)(s % 3));
        c.pad_a = (int)s, c.pad_c = 3, c.pad_r = 2;
        if (check_case(&c, 3000 + s, 1))
            return;
    }
}

static void test_ranges(void **state)
{
    (void)state;
    static const int rng[][4] = {
        {0, 1, 0, 16},   {3, 4, 16, 32},  {5, 13, 32, 77},  {0, 50, 48, 64}, {7, 50, 0, 77},
        {10, 11, 64, 77}, {1, 49, 16, 64}, {20, 29, 0, 32}, {44, 50, 32, 48}, {0, 6, 0, 77},
    };
    for (size_t s = 0; s < sizeof rng / sizeof *rng; s++) {
        mcase c = full(50, 77, 71, (vk_act)(s % 5), (s / 2) % 2, (int)(s % 3));
        c.m0 = rng[s][0], c.m1 = rng[s][1], c.n0 = rng[s][2], c.n1 = rng[s][3];
        c.pad_a = 1, c.pad_c = 2, c.pad_r = 3;
        if (check_case(&c, 4000 + s, 1))
            return;
    }
    mcase e = full(9, 40, 8, VK_ACT_RELU, 1, RES_SEPARATE);
    e.m0 = 4, e.m1 = 4, e.n0 = 0, e.n1 = 40;
    check_case(&e, 4100, 1);
    e.m0 = 0, e.m1 = 9, e.n0 = 16, e.n1 = 16;
    check_case(&e, 4101, 1);
}

static void test_split(void **state)
{
    (void)state;
    static const int shapes[][3] = {{50, 100, 70}, {37, 161, 1500}, {197, 48, 17}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int res = 0; res < 3; res++) {
            mcase c = full(shapes[s][0], shapes[s][1], shapes[s][2],
                           (vk_act)((s + (size_t)res) % 5), 1, res);
            c.pad_a = 1, c.pad_c = 3, c.pad_r = 2;
            problem p;
            problem_make(&p, &c, 5000 + s * 3 + (size_t)res);
            const vk_matmul_bf16_fn fn = tu_ops()->matmul_bf16;
            float *one = run(&p, fn, 0, c.M, 0, c.N);
            float *pieces = tu_alloc(sizeof(float) * ((size_t)c.M * p.ldc + 1));
            memcpy(pieces, p.C0, sizeof(float) * (size_t)c.M * p.ldc);
            vk_matmul_bf16_args a = args_for(&p, pieces);
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

/* ViT-B/16 and B/32 (batch 1) and CLIP text (77 tokens) shapes; the oracle
 * samples rows of the big ones, the reference checks every row. Under
 * VIREO_TEST_QUICK (qemu) only the small ones. */
static void test_models(void **state)
{
    (void)state;
    static const int shapes[][5] = {
        /* M, N, K, act, oracle row step */
        {197, 768, 768, VK_ACT_NONE, 16}, {50, 3072, 768, VK_ACT_GELU, 7},
        {50, 768, 3072, VK_ACT_NONE, 7},  {77, 2048, 512, VK_ACT_QUICKGELU, 11},
        {1, 2304, 768, VK_ACT_NONE, 1},   {8, 768, 768, VK_ACT_QUICKGELU, 1},
        {3, 256, 1024, VK_ACT_RELU6, 1},
    };
    const int quick = getenv("VIREO_TEST_QUICK") != NULL;
    for (size_t s = quick ? 4 : 0; s < sizeof shapes / sizeof *shapes; s++) {
        mcase c = full(shapes[s][0], shapes[s][1], shapes[s][2], (vk_act)shapes[s][3], 1,
                       s % 2 ? RES_INPLACE : RES_NONE);
        if (check_case(&c, 6000 + s, shapes[s][4]))
            return;
    }
}

/* f32 → bf16: round to nearest even against the arithmetic definition over
 * a sweep of bit patterns (every exponent, mantissas near the rounding
 * boundaries), and the special values. */
static void test_convert(void **state)
{
    (void)state;
    static const struct { uint32_t in; uint16_t out; const char *what; } special[] = {
        {0x00000000u, 0x0000, "+0"},          {0x80000000u, 0x8000, "-0"},
        {0x7f800000u, 0x7f80, "+inf"},        {0xff800000u, 0xff80, "-inf"},
        {0x7f7fffffu, 0x7f80, "FLT_MAX rounds to inf"},
        {0x7f7f7fffu, 0x7f7f, "just below the halfway to inf"},
        {0x7f7f8000u, 0x7f80, "halfway to inf, odd: up"},
        {0x3f808000u, 0x3f80, "tie, even: down"}, {0x3f818000u, 0x3f82, "tie, odd: up"},
        {0x3f808001u, 0x3f81, "above the tie"},   {0x00000001u, 0x0000, "smallest subnormal"},
        {0x00008000u, 0x0000, "subnormal tie to even 0"}, {0x00018000u, 0x0002, "subnormal tie up"},
        {0x807fffffu, 0x8080, "largest negative subnormal rounds to -FLT_MIN"},
        {0x7fc00000u, 0x7fc0, "quiet NaN"},   {0xffc00001u, 0xffc0, "negative quiet NaN"},
        {0x7f800001u, 0x7fc0, "signalling NaN, low payload: quieted, not inf"},
        {0x7fff0000u, 0x7fff, "NaN, all-ones top payload"},
        {0xff810000u, 0xffc1, "negative signalling NaN keeps its payload"},
    };
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) {
        float f;
        memcpy(&f, &special[i].in, 4);
        const uint16_t got = vk_f32_to_bf16(f);
        if (got != special[i].out) {
            tu_fail("vk_f32_to_bf16(0x%08x) (%s) = 0x%04x, want 0x%04x", special[i].in,
                    special[i].what, got, special[i].out);
            return;
        }
    }
    tu_rng r = tu_rng_make(42);
    for (uint32_t e = 0; e < 255; e++)
        for (int t = 0; t < 512; t++) {
            /* low 16 bits near 0x8000 (the ties) half the time */
            uint32_t lo = (uint32_t)tu_next(&r) & 0xffffu;
            if (t & 1)
                lo = (0x8000u + (uint32_t)(t % 5) - 2u) & 0xffffu;
            const uint32_t bits = (uint32_t)(tu_next(&r) & 1) << 31 | e << 23 |
                                  ((uint32_t)tu_next(&r) & 0x7f0000u) | lo;
            float f;
            memcpy(&f, &bits, 4);
            const uint16_t got = vk_f32_to_bf16(f);
            const double want = bf16_round(f);
            const double back = vk_bf16_to_f32(got);
            /* bf16_round returns values past the bf16 range unrounded to inf */
            const double want_c = fabs(want) > 3.3895313892515355e38 ? copysign(INFINITY, want) : want;
            if (back != want_c || (f == 0.0f && signbit(back) != signbit(f))) {
                tu_fail("vk_f32_to_bf16(0x%08x = %.9g) = 0x%04x (%.9g), want %.9g", bits, f, got,
                        back, want_c);
                return;
            }
        }
    /* the array helpers agree with the scalar ones */
    float x[37], y[37];
    uint16_t h[37];
    tu_fill_f32(&r, x, 37, -1e3f, 1e3f);
    vk_f32_to_bf16_n(x, h, 37);
    vk_bf16_to_f32_n(h, y, 37);
    for (int i = 0; i < 37; i++)
        assert_true(h[i] == vk_f32_to_bf16(x[i]) && y[i] == vk_bf16_to_f32(h[i]));
}

/* Packing: layout of kernels.h, zero padding past K and N. */
static void test_pack(void **state)
{
    (void)state;
    static const int shapes[][2] = {{1, 1}, {3, 15}, {5, 16}, {7, 17}, {2, 50}, {4, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int K = shapes[s][0], N = shapes[s][1];
        const ptrdiff_t ldb = N + 2;
        tu_rng r = tu_rng_make(7000 + s);
        float *B = tu_alloc(sizeof(float) * (size_t)K * ldb);
        tu_fill_f32(&r, B, (size_t)K * ldb, -1.0f, 1.0f);
        const size_t n = vk_pack_bf16_b_size(K, N);
        assert_int_equal(n, (size_t)((K + 1) / 2 * 2) * ((N + 15) / 16 * 16));
        uint16_t *Bp = tu_alloc(sizeof(uint16_t) * n);
        memset(Bp, 0xff, sizeof(uint16_t) * n);
        vk_pack_bf16_b(K, N, B, ldb, Bp);
        const int K2 = (K + 1) / 2;
        for (int p = 0; p * 16 < N; p++)
            for (int k = 0; k < 2 * K2; k++)
                for (int j = 0; j < 16; j++) {
                    const int col = p * 16 + j;
                    const double want = k < K && col < N ? bf16_round(B[(ptrdiff_t)k * ldb + col]) : 0.0;
                    const uint16_t got = Bp[(((size_t)p * K2 + k / 2) * 16 + j) * 2 + k % 2];
                    if (vk_bf16_to_f32(got) != want || (want == 0.0 && got != 0)) {
                        tu_fail("pack K=%d N=%d: panel %d k %d j %d: got 0x%04x want %g", K, N,
                                p, k, j, got, want);
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
        cmocka_unit_test(test_convert),  cmocka_unit_test(test_pack),
        cmocka_unit_test(test_edges),    cmocka_unit_test(test_epilogues),
        cmocka_unit_test(test_kblocks),  cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_split),    cmocka_unit_test(test_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
