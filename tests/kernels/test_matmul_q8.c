/* matmul_q8: the dispatched kernel against a naive oracle and against the
 * reference kernel.
 *
 * The oracle works on the unpacked K×N weights (so the packer, its column sums
 * and the zero-point algebra of the optimised kernels are all checked):
 * acc = Σ (a - a_zero)(b + b_offset) in int64, plus bias, reduced modulo 2^32
 * (the int32 accumulator of kernels.h), then the output stage with
 * requant.h's vk_mbqm. Integer outputs (S32, U8, S8) must match EXACTLY, both
 * the oracle and the reference.
 *
 * F32 output, per element. Both kernels evaluate v = fl(fl(fl(acc)·fl(sa·sw)) + b):
 * three roundings in the product p = acc·sa·sw, one in the sum, so
 *     |v - (p + b)| <= γ_4·(|p| + |b|)              (Higham 3.1, u = 2^-24)
 * and the reference and the AVX-512 epilogue perform the same operations, so
 * before the activation they agree bit for bit: with no activation, ReLU or
 * ReLU6 the two must be EXACTLY equal. The activation multiplies the input
 * error by its Lipschitz constant L (1; GELU's slope peaks at 1.129,
 * QuickGELU's at 1.0998: L = 1.13) and adds its own evaluation error E(x):
 *   GELU = 0.5·x·(1 + erf(x/√2)): vmath's erf is within 5e-7 absolute (libm
 *     erff within 2 ulp, less); the rounding of x/√2 moves erf by at most
 *     (2/√π)·(|x|/√2)·2u <= 1.6u|x|; 1 + erf and the products add 3u|x|:
 *     E(x) = 0.5|x|·(5e-7 + 1.6u|x| + 4u) + u|x|;
 *   QuickGELU = x/(1 + exp(-1.702x)): exp within 2 ulp plus u·1.702|x| from
 *     the rounded argument, one rounding each for 1 + e, the division and
 *     the argument product: relative error (6 + 1.702|x|)·u of the result.
 *   vs oracle:    tol = L·γ_4·(|p| + |b|) + E(|x| + γ_4·(|p| + |b|))
 *   vs reference: twice that (both are within tol of the exact value).
 * With a residual r (F32 only) one more addition: v = fl(v + r), so
 *     |v - (p + b + r)| <= γ_5·(|p| + |b| + |r|)
 * and reference and AVX-512 still agree bit for bit before the activation.
 * The residual is a separate matrix (its own stride) or C itself (in place,
 * ldr = ldc: each element read before it is overwritten).
 * Outside the range [m0,m1)×[n0,n1) (and in the ldc padding) nothing may be
 * written; splitting a range into pieces must reproduce one call bit for bit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "kernels/requant.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

enum { SCALE_REAL, SCALE_BIG, SCALE_TINY, SCALE_MIXED, SCALE_RAW };
enum { CLAMP_FULL, CLAMP_RELU6, CLAMP_RANDOM, CLAMP_WIDE };
enum { DATA_RANDOM, DATA_FILL, DATA_SMALL };

typedef struct qcase {
    int M, N, K;
    int lda_pad, ldc_pad; /* lda = K + lda_pad (rounded up to 8), ldc = N + ldc_pad */
    int a_signed;
    int32_t a_zero, b_offset;
    int bias; /* 0: NULL, 1: random, 2: huge (int32 wrap-around) */
    vk_q8_out out;
    int per_channel, scale_kind, clamp_kind;
    int a_per_row, w_per_channel, bias_f32;
    int residual; /* F32: 0 none, 1 its own matrix, 2 in place (C) */
    vk_act act;
    int data;
    int a_fill, b_fill; /* DATA_FILL: every A / B element */
    int m0, m1, n0, n1; /* m1 == 0: the whole output */
} qcase;

static const char *out_name[] = {"s32", "u8", "s8", "f32"};

static void describe(const qcase *c, char *buf, size_t len)
{
    snprintf(buf, len,
             "M%d N%d K%d lda+%d ldc+%d %s za=%d bo=%d bias%d out=%s pc%d scale%d clamp%d "
             "arow%d wpc%d bf%d res%d act%d data%d(%d,%d) rows[%d,%d) cols[%d,%d)",
             c->M, c->N, c->K, c->lda_pad, c->ldc_pad, c->a_signed ? "s8" : "u8", c->a_zero,
             c->b_offset, c->bias, out_name[c->out], c->per_channel, c->scale_kind,
             c->clamp_kind, c->a_per_row, c->w_per_channel, c->bias_f32, c->residual, c->act, c->data,
             c->a_fill, c->b_fill, c->m0, c->m1, c->n0, c->n1);
}

static double act_err(double ax, double y, vk_act act)
{
    const double u = TU_U_F32;
    if (act == VK_ACT_GELU)
        return 0.5 * ax * (5e-7 + 1.6 * u * ax + 4 * u) + u * ax;
    if (act == VK_ACT_QUICKGELU)
        return (6 + 1.702 * ax) * u * fabs(y) + 1e-37;
    return 0;
}

static size_t out_size(vk_q8_out o) { return o == VK_Q8_OUT_U8 || o == VK_Q8_OUT_S8 ? 1 : 4; }

/* A real multiplier of the requested kind, for accumulators of magnitude amax. */
static double pick_scale(tu_rng *r, int kind, double amax)
{
    if (kind == SCALE_MIXED)
        kind = (int)(tu_next(r) % 4) == 0 ? (int)(tu_next(r) % 3) : SCALE_REAL;
    switch (kind) {
    case SCALE_BIG: return ldexp(tu_uniform(r, 1.0f, 2.0f), (int)(tu_next(r) % 7)); /* shift 1..7 */
    case SCALE_TINY: return (tu_next(r) % 8) == 0 ? 0.0 : ldexp(tu_uniform(r, 0.5f, 1.0f), -20 - (int)(tu_next(r) % 12));
    default: return tu_uniform(r, 0.25f, 4.0f) * 100.0 / (amax > 1 ? amax : 1); /* some saturate */
    }
}

/* Runs one case; returns nonzero on failure. */
static int run_case(const qcase *c0, uint64_t salt)
{
    qcase c = *c0;
    char desc[512];
    tu_rng r = tu_rng_make(salt);
    const vk_ops *ops = tu_ops(), *ref = tu_ref();
    const int M = c.M, N = c.N, K = c.K;
    if (c.m1 == 0) {
        c.m0 = 0, c.m1 = M, c.n0 = 0, c.n1 = N;
    }
    describe(&c, desc, sizeof desc);
    const ptrdiff_t lda = (ptrdiff_t)vk_round_up((size_t)(K + c.lda_pad), 8);
    const ptrdiff_t ldc = N + c.ldc_pad;
    const size_t osz = out_size(c.out);
    if (c.out != VK_Q8_OUT_F32)
        c.residual = 0;
    const ptrdiff_t ldr = c.residual == 2 ? ldc : N + 2 * c.ldc_pad + 1;

    /* A: exactly M·lda bytes (malloc, not rounded up) and, under ASan, the
     * bytes past K in every row poisoned: a kernel reading past a row faults. */
    uint8_t *A = malloc((size_t)M * lda);
    int8_t *B = malloc((size_t)K * N + 1);
    int8_t *Bp = tu_alloc(vk_pack_s8_b_size(K, N));
    int32_t *colsum = tu_alloc(vk_round_up((size_t)N, VK_Q8_NR) * 4);
    int32_t *bias = c.bias ? malloc((size_t)N * 4) : NULL;
    int32_t *mult = malloc((size_t)N * 4);
    int8_t *shift = malloc((size_t)N);
    float *a_scale = malloc((size_t)M * 4), *w_scale = malloc((size_t)N * 4);
    float *bias_f = c.bias_f32 ? malloc((size_t)N * 4) : NULL;
    int32_t *acc = malloc((size_t)M * N * 4);
    float *res = c.residual ? malloc((size_t)M * ldr * 4) : NULL;
    unsigned char *Cg = malloc((size_t)M * ldc * osz), *Cr = malloc((size_t)M * ldc * osz);
    const int amin = c.a_signed ? -128 : 0;
    for (ptrdiff_t i = 0; i < M * lda; i++) {
        int v = c.data == DATA_FILL    ? c.a_fill
                : c.data == DATA_SMALL ? c.a_zero + (int)(tu_next(&r) % 5) - 2
                                       : amin + (int)(tu_next(&r) % 256);
        v = v < amin ? amin : v > amin + 255 ? amin + 255 : v;
        A[i] = (uint8_t)v;
    }
    for (size_t i = 0; i < (size_t)K * N; i++) {
        /* DATA_SMALL: b + b_offset small, within what s8 B can reach */
        int v = c.data == DATA_FILL    ? c.b_fill
                : c.data == DATA_SMALL ? (int)(tu_next(&r) % 5) - 2 - c.b_offset
                                       : (int)(tu_next(&r) % 256) - 128;
        B[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    }
    for (int n = 0; n < N && bias; n++)
        bias[n] = c.bias == 2 ? (int32_t)(0x7fffff00u + (uint32_t)(tu_next(&r) % 512))
                              : (int32_t)(tu_next(&r) % 200001) - 100000;
    vk_pack_s8_b(K, N, B, N, Bp, colsum);

    /* Oracle accumulators. */
    double amax = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int64_t s = 0;
            for (int k = 0; k < K; k++) {
                const int64_t av = c.a_signed ? (int8_t)A[m * lda + k] : A[m * lda + k];
                s += (av - c.a_zero) * ((int64_t)B[(size_t)k * N + n] + c.b_offset);
            }
            s += bias ? bias[n] : 0;
            acc[(size_t)m * N + n] = (int32_t)(uint32_t)(uint64_t)s;
            amax = fmax(amax, fabs((double)acc[(size_t)m * N + n]));
        }
    for (int m = 0; m < M; m++)
        POISON(A + m * lda + K, (size_t)(lda - K));

    /* Output stage parameters, sized from the accumulators. */
    const int is_u8 = c.out == VK_Q8_OUT_U8;
    const int tlo = is_u8 ? 0 : -128, thi = is_u8 ? 255 : 127;
    vk_requant rq = {.mult = mult, .shift = shift, .per_channel = c.per_channel};
    for (int n = 0; n < (c.per_channel ? N : 1); n++) {
        if (c.scale_kind == SCALE_RAW) { /* any Q31 multiplier, any int8 shift */
            mult[n] = (int32_t)((1u << 30) + (uint32_t)(tu_next(&r) % (1u << 30)));
            shift[n] = (int8_t)(uint8_t)tu_next(&r);
        } else {
            vk_quantize_multiplier(pick_scale(&r, c.scale_kind, amax), &mult[n], &shift[n]);
        }
    }
    rq.out_zero = tlo + (int32_t)(tu_next(&r) % 256);
    switch (c.clamp_kind) {
    case CLAMP_RELU6:
        rq.out_min = rq.out_zero;
        rq.out_max = rq.out_zero + 60 > thi ? thi : rq.out_zero + 60;
        break;
    case CLAMP_RANDOM: {
        int x = tlo + (int)(tu_next(&r) % 256), y = tlo + (int)(tu_next(&r) % 256);
        rq.out_min = x < y ? x : y;
        rq.out_max = x < y ? y : x;
        break;
    }
    case CLAMP_WIDE: rq.out_min = -100000, rq.out_max = 100000; break;
    default: rq.out_min = tlo, rq.out_max = thi;
    }
    const double fscale = 6.0 / (amax > 1 ? amax : 1);
    for (int m = 0; m < M; m++)
        a_scale[m] = tu_uniform(&r, 0.5f, 2.0f) * (float)sqrt(fscale);
    for (int n = 0; n < N; n++) {
        w_scale[n] = tu_uniform(&r, 0.5f, 2.0f) * (float)sqrt(fscale);
        if (bias_f)
            bias_f[n] = tu_uniform(&r, -3.0f, 3.0f);
    }
    for (ptrdiff_t i = 0; res && i < M * ldr; i++)
        res[i] = tu_uniform(&r, -4.0f, 4.0f);

    vk_matmul_q8_args a = {
        .M = M, .N = N, .K = K, .A = A, .lda = lda, .a_signed = c.a_signed,
        .a_zero = c.a_zero, .Bp = Bp, .b_colsum = colsum, .b_offset = c.b_offset,
        .bias = bias, .out = c.out, .ldc = ldc, .rq = rq, .a_scale = a_scale,
        .a_scale_per_row = c.a_per_row, .w_scale = w_scale,
        .w_scale_per_channel = c.w_per_channel, .bias_f32 = bias_f, .act = c.act,
        .residual = c.residual == 1 ? res : NULL, .ldr = ldr,
    };
    memset(Cg, 0xA5, (size_t)M * ldc * osz);
    memset(Cr, 0xA5, (size_t)M * ldc * osz);
    /* In place: C holds the residual inside the range, the pattern outside. */
#define FILL_IN_PLACE(buf)                                               \
    for (int m = c.m0; c.residual == 2 && m < c.m1; m++)                 \
        memcpy((float *)(buf) + (ptrdiff_t)m * ldc + c.n0, res + (ptrdiff_t)m * ldr + c.n0, \
               (size_t)(c.n1 - c.n0) * 4)
    FILL_IN_PLACE(Cg);
    FILL_IN_PLACE(Cr);
    a.C = Cg;
    if (c.residual == 2)
        a.residual = (const float *)Cg;
    ops->matmul_q8(&a, c.m0, c.m1, c.n0, c.n1);
    a.C = Cr;
    if (c.residual == 2)
        a.residual = (const float *)Cr;
    ref->matmul_q8(&a, c.m0, c.m1, c.n0, c.n1);

    int bad = 0;
    for (int m = 0; m < M && !bad; m++)
        for (int n = 0; n < ldc && !bad; n++) {
            const size_t o = ((size_t)m * ldc + n) * osz;
            const int in = m >= c.m0 && m < c.m1 && n >= c.n0 && n < c.n1;
            if (!in) {
                for (size_t b = 0; b < osz; b++)
                    if (Cg[o + b] != 0xA5 || Cr[o + b] != 0xA5) {
                        tu_fail("%s: wrote outside the range at (%d,%d) (got %d ref %d)", desc, m,
                                n, Cg[o + b] != 0xA5, Cr[o + b] != 0xA5);
                        bad = 1;
                    }
                continue;
            }
            const int32_t s = acc[(size_t)m * N + n];
            if (c.out == VK_Q8_OUT_F32) {
                float g, f;
                memcpy(&g, Cg + o, 4);
                memcpy(&f, Cr + o, 4);
                const double p = (double)s * a_scale[c.a_per_row ? m : 0] *
                                 w_scale[c.w_per_channel ? n : 0];
                const double b = bias_f ? bias_f[n] : 0, rv = res ? res[(ptrdiff_t)m * ldr + n] : 0;
                const double x = p + b + rv;
                const double ein = tu_gamma(res ? 5 : 4) * (fabs(p) + fabs(b) + fabs(rv));
                const double y = tu_act_d(x, c.act);
                const double tol = 1.13 * ein + act_err(fabs(x) + ein, fabs(y) + ein, c.act);
                const int exact = c.act == VK_ACT_NONE || c.act == VK_ACT_RELU || c.act == VK_ACT_RELU6;
                if (!(fabs(g - y) <= tol) || !(fabs(f - y) <= tol) ||
                    (exact ? memcmp(&g, &f, 4) != 0 : !(fabs(g - f) <= 2 * tol))) {
                    tu_fail("%s: (%d,%d): got %.9g ref %.9g oracle %.9g (tol %.3g)", desc, m, n,
                            g, f, y, tol);
                    bad = 1;
                }
                continue;
            }
            int32_t want, got, rgot;
            if (c.out == VK_Q8_OUT_S32) {
                want = s;
                memcpy(&got, Cg + o, 4);
                memcpy(&rgot, Cr + o, 4);
            } else {
                const int ch = c.per_channel ? n : 0;
                int64_t v = (int64_t)vk_mbqm(s, mult[ch], shift[ch]) + rq.out_zero;
                v = v < rq.out_min ? rq.out_min : v > rq.out_max ? rq.out_max : v;
                want = (int32_t)(v < tlo ? tlo : v > thi ? thi : v);
                got = is_u8 ? Cg[o] : (int8_t)Cg[o];
                rgot = is_u8 ? Cr[o] : (int8_t)Cr[o];
            }
            if (got != want || rgot != want) {
                tu_fail("%s: (%d,%d): got %d ref %d oracle %d (acc %d)", desc, m, n, got, rgot,
                        want, s);
                bad = 1;
            }
        }

    /* The same range in pieces: rows split unevenly, columns at multiples of
     * VK_Q8_NR, each piece its own call. Must reproduce the single call. */
    if (!bad && c.m1 - c.m0 > 1) {
        unsigned char *Cs = malloc((size_t)M * ldc * osz);
        memset(Cs, 0xA5, (size_t)M * ldc * osz);
        FILL_IN_PLACE(Cs);
        a.C = Cs;
        if (c.residual == 2)
            a.residual = (const float *)Cs;
        const int mcut = c.m0 + 1 + (int)(tu_next(&r) % (unsigned)(c.m1 - c.m0 - 1));
        int ncut = c.n0 + VK_Q8_NR * (1 + (int)(tu_next(&r) % 3));
        ncut = ncut < c.n1 ? ncut : c.n1;
        ops->matmul_q8(&a, c.m0, mcut, c.n0, ncut);
        ops->matmul_q8(&a, mcut, c.m1, c.n0, ncut);
        if (ncut < c.n1) /* an empty range: nothing to do (n0 = N breaks the contract) */
            ops->matmul_q8(&a, c.m0, c.m1, ncut, c.n1);
        if (memcmp(Cs, Cg, (size_t)M * ldc * osz) != 0) {
            tu_fail("%s: split at row %d, column %d differs from one call", desc, mcut, ncut);
            bad = 1;
        }
        free(Cs);
    }

    for (int m = 0; m < M; m++)
        UNPOISON(A + m * lda + K, (size_t)(lda - K));
    free(A), free(B), tu_free(Bp), tu_free(colsum), free(bias), free(mult), free(shift);
    free(a_scale), free(w_scale), free(bias_f), free(acc), free(Cg), free(Cr), free(res);
    return bad;
#undef FILL_IN_PLACE
}

/* A case with every parameter drawn from the stream (the shape given). */
static qcase random_case(tu_rng *r, int M, int N, int K, int idx)
{
    qcase c = {.M = M, .N = N, .K = K};
    c.out = (vk_q8_out)(idx % 4);
    c.a_signed = (idx / 4) % 2;
    const int zk = (int)(tu_next(r) % 3);
    c.a_zero = zk == 0 ? 0 : zk == 1 ? (c.a_signed ? -128 : 128) : (c.a_signed ? -128 : 0) + (int)(tu_next(r) % 256);
    c.b_offset = (tu_next(r) % 2) ? 0 : 128 - (int)(tu_next(r) % 256);
    c.bias = (int)(tu_next(r) % 2);
    c.lda_pad = (int)(tu_next(r) % 3) * 5;
    c.ldc_pad = (int)(tu_next(r) % 2) * 3;
    c.per_channel = (int)(tu_next(r) % 2);
    c.scale_kind = c.per_channel ? SCALE_MIXED : (int)(tu_next(r) % 5 == 0 ? 1 + tu_next(r) % 2 : 0);
    c.clamp_kind = (int)(tu_next(r) % 4);
    c.a_per_row = (int)(tu_next(r) % 2);
    c.w_per_channel = (int)(tu_next(r) % 2);
    c.bias_f32 = (int)(tu_next(r) % 2);
    c.act = (vk_act)(tu_next(r) % 5);
    c.data = (tu_next(r) % 6) == 0 ? DATA_SMALL : DATA_RANDOM;
    c.residual = (idx / 4) % 3; /* used by F32 outputs only */
    return c;
}

static void test_pack_layout(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(1);
    const int shapes[][2] = {{1, 1}, {3, 17}, {4, 16}, {5, 33}, {67, 47}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int K = shapes[s][0], N = shapes[s][1], ldb = N + 3, K4 = (K + 3) / 4;
        const int Np = (int)vk_round_up((size_t)N, VK_Q8_NR);
        int8_t *B = malloc((size_t)K * ldb);
        tu_fill_s8(&r, B, (size_t)K * ldb);
        const size_t sz = vk_pack_s8_b_size(K, N);
        assert_int_equal(sz, (size_t)Np * K4 * 4);
        int8_t *Bp = malloc(sz);
        int32_t *cs = malloc((size_t)Np * 4);
        memset(Bp, 0x55, sz);
        memset(cs, 0x55, (size_t)Np * 4);
        vk_pack_s8_b(K, N, B, ldb, Bp, cs);
        for (int n = 0; n < Np; n++) {
            int32_t sum = 0;
            for (int k = 0; k < 4 * K4; k++) {
                const int p = n / VK_Q8_NR, j = n % VK_Q8_NR, g = k / 4, t = k % 4;
                const int want = k < K && n < N ? B[k * ldb + n] : 0;
                sum += want;
                if (Bp[((p * K4 + g) * VK_Q8_NR + j) * 4 + t] != want) {
                    tu_fail("pack K%d N%d: (%d,%d)", K, N, k, n);
                    goto out;
                }
            }
            if (cs[n] != sum) {
                tu_fail("pack K%d N%d: colsum[%d] %d want %d", K, N, n, cs[n], sum);
                goto out;
            }
        }
    out:
        free(B), free(Bp), free(cs);
    }
}

/* Every combination of edge sizes: M around the 12-row register tile and the
 * 16-row half tile (and balanced tiles of 6/7 rows), N around the 16-column
 * panel and the 32-column tile (17, 24, 32 + 24, 64 + 17: half tiles, whose
 * second vector two rows share, odd and even row counts), K around the groups
 * of 4 and the vpdpbusd accumulator interleave.
 * The other parameters cycle through output modes and signedness. */
static void test_edge_shapes(void **state)
{
    (void)state;
    static const int Ms[] = {1, 2, 5, 11, 12, 13, 16, 17, 25, 37};
    static const int Ns[] = {1, 15, 16, 17, 24, 31, 33, 47, 56, 81};
    static const int Ks[] = {1, 2, 3, 4, 5, 7, 8, 63, 64, 65};
    tu_rng r = tu_rng_make(2);
    int idx = 0, fails = 0;
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof Ns / sizeof *Ns; j++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks && fails < 3; k++, idx++) {
                qcase c = random_case(&r, Ms[i], Ns[j], Ks[k], idx);
                fails += run_case(&c, 1000 + (uint64_t)idx);
            }
}

/* Every output mode × activation signedness × zero point (0, 128, random)
 * × b_offset (0, not) × bias (NULL, set) × per-tensor/per-channel, on a shape
 * with partial tiles in every dimension. */
static void test_param_sweep(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(3);
    int idx = 0, fails = 0;
    for (int out = 0; out < 4; out++)
        for (int sg = 0; sg < 2; sg++)
            for (int zk = 0; zk < 3; zk++)
                for (int bo = 0; bo < 2; bo++)
                    for (int bias = 0; bias < 2; bias++)
                        for (int pc = 0; pc < 2 && fails < 3; pc++, idx++) {
                            qcase c = random_case(&r, 27, 49, 133, 0);
                            c.out = (vk_q8_out)out;
                            c.a_signed = sg;
                            c.a_zero = zk == 0 ? 0 : zk == 1 ? (sg ? -128 : 128)
                                                   : (sg ? -128 : 0) + (int)(tu_next(&r) % 256);
                            c.b_offset = bo ? 1 + (int)(tu_next(&r) % 128) * (idx % 3 ? 1 : -1) : 0;
                            c.bias = bias;
                            c.per_channel = pc;
                            c.w_per_channel = pc;
                            c.a_per_row = bias;
                            c.act = (vk_act)(idx % 5);
                            c.residual = idx % 3;
                            fails += run_case(&c, 2000 + (uint64_t)idx);
                        }
}

/* Requantization corner cases: multipliers with shift > 0 (left shift,
 * saturating), tiny ones (right shifts up to 31, multiplier 0), mixed per
 * channel, raw Q31 multipliers with any int8 shift (requant.h clamps shifts to
 * [-31, 30]); small data around the zero points so outputs are not all
 * clamped; ReLU6-style, random and wider-than-type clamps. */
static void test_requant(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(4);
    int idx = 0, fails = 0;
    for (int sk = 0; sk <= SCALE_RAW; sk++)
        for (int ck = 0; ck < 4; ck++)
            for (int data = 0; data < 3; data += 2)
                for (int o = VK_Q8_OUT_U8; o <= VK_Q8_OUT_S8 && fails < 3; o++, idx++) {
                    qcase c = random_case(&r, 14, 40, 1 + (int)(tu_next(&r) % 40), 0);
                    c.out = (vk_q8_out)o;
                    c.a_signed = idx % 2;
                    c.a_zero = (c.a_signed ? -128 : 0) + (int)(tu_next(&r) % 256);
                    c.scale_kind = sk;
                    c.per_channel = sk == SCALE_MIXED || sk == SCALE_RAW || (idx % 3 == 0);
                    c.clamp_kind = ck;
                    c.data = data;
                    fails += run_case(&c, 3000 + (uint64_t)idx);
                }
    /* Accumulators near ±2^31 (a bias that wraps), where shifts beyond the
     * clamped range would still show. */
    for (int o = VK_Q8_OUT_U8; o <= VK_Q8_OUT_S8 && fails < 3; o++, idx++) {
        qcase c = random_case(&r, 5, 40, 7, 0);
        c.out = (vk_q8_out)o;
        c.bias = 2;
        c.scale_kind = SCALE_RAW;
        c.per_channel = 1;
        c.clamp_kind = CLAMP_FULL;
        fails += run_case(&c, 3000 + (uint64_t)idx);
    }
}

/* Extreme values, K = 4096: |a - za| = 255 and |b + bo| = 255 in every sign
 * combination (|acc| = 4096·255² ≈ 2^28), and the s8 corners; int32 wrap of a
 * huge bias. No intermediate of the zero-point expansion may overflow in a way
 * the exact sum does not. */
static void test_extremes(void **state)
{
    (void)state;
    struct { int sg, za, bo, af, bf; } x[] = {
        {0, 0, 0, 255, -128},     {0, 0, 128, 255, 127},   {0, 255, 128, 0, 127},
        {0, 0, -127, 255, -128},  {0, 255, -127, 0, -128}, {1, -128, 128, 127, 127},
        {1, 127, -127, -128, -128}, {1, 0, 0, -128, -128}, {1, -128, 0, 127, -128},
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof x / sizeof *x && fails < 3; i++)
        for (int o = 0; o < 4; o++) {
            qcase c = {.M = 13, .N = 17, .K = 4096, .a_signed = x[i].sg,
                       .a_zero = x[i].za, .b_offset = x[i].bo, .out = (vk_q8_out)o,
                       .data = DATA_FILL, .a_fill = x[i].af, .b_fill = x[i].bf,
                       .bias = o == 0 ? 2 : 1, .per_channel = (int)(i % 2),
                       .scale_kind = (int)(i % 3), .clamp_kind = CLAMP_FULL,
                       .a_per_row = 1, .w_per_channel = 1};
            fails += run_case(&c, 4000 + i * 4 + (uint64_t)o);
        }
    /* Random data with the extreme zero point and offset. */
    qcase c = {.M = 13, .N = 47, .K = 4095, .a_signed = 0, .a_zero = 255, .b_offset = -127,
               .out = VK_Q8_OUT_S32};
    fails += run_case(&c, 4100);
}

/* Row blocks: the AVX-512 kernel walks A in blocks of at most 640 KB (and
 * 480 rows), balanced; these shapes cross one (K = 4096: 160 rows; K = 96 and
 * K = 1: 480 rows). Long K with tails after many groups, every output mode. */
static void test_row_blocks(void **state)
{
    (void)state;
    static const int s[][3] = {{161, 17, 4096}, {483, 24, 96}, {481, 33, 1},
                               {13, 33, 769},   {7, 17, 1537}, {3, 16, 2305}};
    tu_rng r = tu_rng_make(7);
    int fails = 0;
    for (size_t i = 0; i < sizeof s / sizeof *s && fails < 2; i++)
        for (int o = 0; o < 4 && fails < 2; o += i == 0 ? 3 : 1) { /* the big one: s32, f32 */
            qcase c = random_case(&r, s[i][0], s[i][1], s[i][2], o + 4 * (int)(i % 2));
            fails += run_case(&c, 7000 + 4 * (uint64_t)i + (uint64_t)o);
        }
}

/* Sub-ranges with strides: rows and columns not covering the output. */
static void test_subranges(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(5);
    int fails = 0;
    for (int i = 0; i < 24 && fails < 3; i++) {
        qcase c = random_case(&r, 31, 83, 70 + i, i);
        c.lda_pad = 9;
        c.ldc_pad = 5;
        c.m0 = (int)(tu_next(&r) % 12);
        c.m1 = c.m0 + 1 + (int)(tu_next(&r) % (unsigned)(c.M - c.m0));
        c.n0 = VK_Q8_NR * (int)(tu_next(&r) % 4);
        c.n1 = i % 2 ? c.N : c.n0 + VK_Q8_NR * (1 + (int)(tu_next(&r) % 2));
        fails += run_case(&c, 5000 + (uint64_t)i);
    }
}

/* Model shapes (ViT-B/32 and B/16 projections, MobileNet pointwise, batch 1
 * vectors), each once. */
static void test_model_shapes(void **state)
{
    (void)state;
    /* M, N, K */
    static const int s[][3] = {{50, 768, 768},  {197, 96, 768},  {5, 3072, 768},
                               {3136, 24, 96},  {49, 1280, 320}, {1, 768, 768},
                               {196, 144, 24}, {8, 2304, 768}};
    tu_rng r = tu_rng_make(6);
    int fails = 0;
    for (size_t i = 0; i < sizeof s / sizeof *s && fails < 2; i++) {
        qcase c = random_case(&r, s[i][0], s[i][1], s[i][2], (int)i);
        c.lda_pad = c.ldc_pad = 0;
        fails += run_case(&c, 6000 + (uint64_t)i);
    }
}

/* The NEON tile (4 rows × 16 columns, K in 16-byte chunks): every row count
 * 1..9 (tiles of 4 and the 1..3-row tails) against K tails inside a chunk
 * (9, 12, 13, 15: copied when the row is shorter than 16 bytes; 17, 20, 31,
 * 33, 47: shifted down from the last 16 bytes of the row) and whole chunks
 * (16, 32), a full and a partial panel. */
static void test_k_tails(void **state)
{
    (void)state;
    static const int Ks[] = {9, 12, 13, 15, 16, 17, 20, 31, 32, 33, 47};
    static const int Ns[] = {16, 19};
    tu_rng r = tu_rng_make(8);
    int idx = 0, fails = 0;
    for (int M = 1; M <= 9; M++)
        for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
            for (size_t n = 0; n < 2 && fails < 3; n++, idx++) {
                qcase c = random_case(&r, M, Ns[n], Ks[k], idx);
                fails += run_case(&c, 8000 + (uint64_t)idx);
            }
}

/* The dynamic-int8 linear's form (tests/models/test_dynq.c runs it in
 * models): u8 codes with zero point 128 (symmetric s8 + 128), per-row
 * activation scales, per-channel weight scales, f32 bias, a residual of its
 * own or in place, every activation, over partial tiles in every dimension
 * (half tiles of 17-24 columns included) and K tails. */
static void test_dynamic_linear(void **state)
{
    (void)state;
    static const int Ms[] = {1, 7, 12, 13, 25, 50};
    static const int Ns[] = {1, 16, 17, 24, 33, 48};
    static const int Ks[] = {1, 4, 7, 64, 65, 129};
    tu_rng r = tu_rng_make(9);
    int idx = 0, fails = 0;
    for (size_t i = 0; i < sizeof Ms / sizeof *Ms; i++)
        for (size_t j = 0; j < sizeof Ns / sizeof *Ns; j++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks && fails < 3; k++, idx++) {
                qcase c = random_case(&r, Ms[i], Ns[j], Ks[k], 0);
                c.out = VK_Q8_OUT_F32;
                c.a_signed = 0;
                c.a_zero = 128;
                c.b_offset = 0;
                c.bias = 0;
                c.a_per_row = 1;
                c.w_per_channel = 1;
                c.bias_f32 = idx % 4 != 0;
                c.residual = idx % 3;
                c.act = (vk_act)(idx % 5);
                fails += run_case(&c, 9000 + (uint64_t)idx);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_k_tails),
        cmocka_unit_test(test_pack_layout),  cmocka_unit_test(test_edge_shapes),
        cmocka_unit_test(test_param_sweep),  cmocka_unit_test(test_requant),
        cmocka_unit_test(test_extremes),     cmocka_unit_test(test_row_blocks),
        cmocka_unit_test(test_subranges),
        cmocka_unit_test(test_model_shapes),
        cmocka_unit_test(test_dynamic_linear),
    };
    tu_ops();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
