/* Fused attention: the dispatched kernel against a double-precision oracle and
 * against the reference, over edge and model shapes, causal masks, fused-QKV
 * strides, batches and work-item splits.
 *
 * Error bound (per output element O[i][d], derived for any implementation that
 * computes scores as f32 dot products, max-subtracted exponentials with an exp
 * of <= 2 ulp, possibly in an online form over nb key blocks, and f32 sums):
 *   scores: |ŝ_j - s_j| <= γ_{D+3}·A_j,  A_j = scale·Σ_d|q_d k_jd|
 *     (D-term dot product plus up to three roundings for the scaling: the sum
 *     times scale, or q times a rounded scale·log2(e) when the scores are
 *     kept in log2 units, whose own rounding scales every score alike);
 *   weights: p̂_j = exp(s_j - m)·(1 + θ_j) up to a factor common to all j, with
 *     |θ_j| <= Θ = 2·γ_{D+3}·Amax          score errors (relative to the max's)
 *                + u·4·Amax                 rounding of s - m and of the
 *                                           running-max differences, all <= 2·Amax
 *                + (4u + u)·(2·nb + 2)      one exp (2 ulp = 4u) and one
 *                                           rescaling product per block, twice;
 *   normalised weights w'_j = w_j·(1 + φ_j), |φ_j| <= 2Θ/(1-Θ), and since
 *     Σ w' = Σ w = 1, O' - O = Σ_j (w'_j - w_j)(v_j - O);
 *   the sums Σ p̂ v and Σ p̂ in f32 over at most K = Lk + 2·nb terms (block sums
 *     and the rescaled running sums) add γ_K·Σ w'|v| and γ_K·|O|, the final
 *     division (or reciprocal and multiply) 2u·|O|.
 * So |Ô - O| <= 2Θ/(1-Θ)·Σ_j w_j|v_j - O| + γ_K·(1 + 2Θ/(1-Θ))·Σ_j w_j|v_j|
 *             + (γ_K + 2u)·|O|,
 * times 1.01 for the second-order terms left out. Kernel vs reference: twice
 * that (both are within it of the exact value).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define U TU_U_F32

typedef struct shape {
    int B, H, Lq, Lk, D;
    int causal;
    int fused;   /* q, k, v inside one [B][L][3·H·D] buffer (needs Lq == Lk) */
    float amp;   /* q and k uniform in [-amp, amp] */
} shape;

typedef struct problem {
    vk_attention_f32_args a;
    float *qkv, *qb, *kb, *vb; /* owners */
    float *o;
    size_t o_size;
} problem;

static void problem_make(problem *p, const shape *s, uint64_t salt)
{
    memset(p, 0, sizeof *p);
    tu_rng r = tu_rng_make(salt);
    vk_attention_f32_args *a = &p->a;
    a->B = s->B, a->H = s->H, a->Lq = s->Lq, a->Lk = s->Lk, a->D = s->D;
    a->causal = s->causal;
    a->scale = 1.0f / sqrtf((float)s->D);
    const int HD = s->H * s->D;
    if (s->fused) {
        /* as a QKV projection writes it: [B][L][q | k | v], plus padding */
        const ptrdiff_t ld = 3 * HD + 5;
        p->qkv = tu_alloc(sizeof(float) * (size_t)s->B * s->Lq * ld);
        for (int b = 0; b < s->B; b++)
            for (int t = 0; t < s->Lq; t++) {
                float *row = p->qkv + ((ptrdiff_t)b * s->Lq + t) * ld;
                tu_fill_f32(&r, row, (size_t)2 * HD, -s->amp, s->amp);
                tu_fill_f32(&r, row + 2 * HD, (size_t)HD + 5, -1.0f, 1.0f);
            }
        a->q = p->qkv, a->k = p->qkv + HD, a->v = p->qkv + 2 * HD;
        a->q_ld = a->k_ld = a->v_ld = ld;
    } else {
        a->q_ld = HD + 3, a->k_ld = HD + 1, a->v_ld = HD + 7;
        size_t nq = (size_t)s->B * s->Lq * a->q_ld, nk = (size_t)s->B * s->Lk * a->k_ld;
        size_t nv = (size_t)s->B * s->Lk * a->v_ld;
        p->qb = tu_alloc(sizeof(float) * nq);
        p->kb = tu_alloc(sizeof(float) * nk);
        p->vb = tu_alloc(sizeof(float) * nv);
        tu_fill_f32(&r, p->qb, nq, -s->amp, s->amp);
        tu_fill_f32(&r, p->kb, nk, -s->amp, s->amp);
        tu_fill_f32(&r, p->vb, nv, -1.0f, 1.0f);
        a->q = p->qb, a->k = p->kb, a->v = p->vb;
    }
    a->o_ld = HD + 2; /* the padding must survive */
    p->o_size = (size_t)s->B * s->Lq * a->o_ld;
    p->o = tu_alloc(sizeof(float) * p->o_size);
    a->o = p->o;
}

static void problem_free(problem *p)
{
    tu_free(p->qkv), tu_free(p->qb), tu_free(p->kb), tu_free(p->vb), tu_free(p->o);
}

static void fill_sentinel(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
}

/* Exact (double) attention, and the bound above, for the H·D outputs of every
 * query, packed [B][Lq][H·D]. */
static void oracle(const vk_attention_f32_args *a, float *want, float *tol)
{
    const int D = a->D, HD = a->H * a->D;
    const int nb = (a->Lk + 15) / 16 + 1; /* key blocks of the kernels, generously */
    const int K = a->Lk + 2 * nb;
    double *sc = malloc(sizeof(double) * (size_t)a->Lk);
    double *ab = malloc(sizeof(double) * (size_t)a->Lk);
    double *od = malloc(sizeof(double) * (size_t)D * 3), *dv = od + D, *mg = od + 2 * D;
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int i = 0; i < a->Lq; i++) {
                const float *q = a->q + ((ptrdiff_t)b * a->Lq + i) * a->q_ld + h * D;
                const int nk = a->causal && i + 1 < a->Lk ? i + 1 : a->Lk;
                double m = -INFINITY, amax = 0.0;
                for (int j = 0; j < nk; j++) {
                    const float *k = a->k + ((ptrdiff_t)b * a->Lk + j) * a->k_ld + h * D;
                    double s = 0.0, sa = 0.0;
                    for (int d = 0; d < D; d++) {
                        s += (double)q[d] * k[d];
                        sa += fabs((double)q[d] * k[d]);
                    }
                    sc[j] = s * a->scale;
                    ab[j] = sa * a->scale;
                    m = sc[j] > m ? sc[j] : m;
                    amax = ab[j] > amax ? ab[j] : amax;
                }
                double l = 0.0;
                for (int j = 0; j < nk; j++) {
                    sc[j] = exp(sc[j] - m);
                    l += sc[j];
                }
                const double theta = 2.0 * tu_gamma(D + 3) * amax + 4.0 * U * amax +
                                     5.0 * U * (2.0 * nb + 2.0);
                const double phi = 2.0 * theta / (1.0 - theta);
                for (int d = 0; d < D; d++)
                    od[d] = dv[d] = mg[d] = 0.0;
                for (int j = 0; j < nk; j++) {
                    const float *v = a->v + ((ptrdiff_t)b * a->Lk + j) * a->v_ld + h * D;
                    for (int d = 0; d < D; d++)
                        od[d] += sc[j] / l * v[d];
                }
                for (int j = 0; j < nk; j++) {
                    const float *v = a->v + ((ptrdiff_t)b * a->Lk + j) * a->v_ld + h * D;
                    for (int d = 0; d < D; d++) {
                        dv[d] += sc[j] / l * fabs(v[d] - od[d]);
                        mg[d] += sc[j] / l * fabs(v[d]);
                    }
                }
                for (int d = 0; d < D; d++) {
                    const double o = od[d], dev = dv[d], mag = mg[d];
                    const size_t at = ((size_t)b * a->Lq + i) * HD + (size_t)h * D + d;
                    want[at] = (float)o;
                    tol[at] = (float)(1.01 * (phi * dev + tu_gamma(K) * (1.0 + phi) * mag +
                                              (tu_gamma(K) + 2.0 * U) * fabs(o)));
                }
            }
    free(sc);
    free(ab);
    free(od);
}

/* Gathers the H·D outputs of each query; checks the padding kept its NaN. */
static int gather(const problem *p, float *dst)
{
    const vk_attention_f32_args *a = &p->a;
    const int HD = a->H * a->D;
    for (int t = 0; t < a->B * a->Lq; t++) {
        memcpy(dst + (size_t)t * HD, p->o + t * a->o_ld, sizeof(float) * HD);
        for (ptrdiff_t c = HD; c < a->o_ld; c++)
            if (!isnan(p->o[t * a->o_ld + c])) {
                tu_fail("output padding written at token %d column %td", t, c);
                return 1;
            }
    }
    return 0;
}

static void run_split(vk_attention_f32_fn fn, const vk_attention_f32_args *a, int pieces)
{
    const int n = vk_attention_items(a);
    for (int t = 0; t < pieces; t++)
        fn(a, (int)((long)n * t / pieces), (int)((long)n * (t + 1) / pieces));
}

static void check_shape(const shape *s, uint64_t salt)
{
    problem p;
    problem_make(&p, s, salt);
    const vk_attention_f32_args *a = &p.a;
    const size_t n = (size_t)s->B * s->Lq * s->H * s->D;
    float *want = tu_alloc(sizeof(float) * n), *tol = tu_alloc(sizeof(float) * n);
    float *got = tu_alloc(sizeof(float) * n), *ref = tu_alloc(sizeof(float) * n);
    float *split = tu_alloc(sizeof(float) * n);
    oracle(a, want, tol);
    char what[160];
    snprintf(what, sizeof what, "attention B=%d H=%d Lq=%d Lk=%d D=%d causal=%d fused=%d amp=%g",
             s->B, s->H, s->Lq, s->Lk, s->D, s->causal, s->fused, s->amp);

    fill_sentinel(p.o, p.o_size);
    run_split(tu_ops()->attention_f32, a, 1);
    if (gather(&p, got))
        goto out;
    if (tu_check_f32(what, got, want, tol, 0, n))
        goto out;

    fill_sentinel(p.o, p.o_size);
    run_split(tu_ref()->attention_f32, a, 1);
    if (gather(&p, ref))
        goto out;
    if (tu_check_f32(what, ref, want, tol, 0, n))
        goto out;
    for (size_t i = 0; i < n; i++)
        tol[i] *= 2.0f;
    if (tu_check_f32(what, got, ref, tol, 0, n))
        goto out;

    /* ranges tile the output: one call per work item gives the single call's
     * bits (and covers every other split) */
    const int items = vk_attention_items(a);
    fill_sentinel(p.o, p.o_size);
    run_split(tu_ops()->attention_f32, a, items);
    if (gather(&p, split))
        goto out;
    if (memcmp(split, got, sizeof(float) * n) != 0)
        tu_fail("%s: one call per work item differs from one call", what);
out:
    tu_free(want), tu_free(tol), tu_free(got), tu_free(ref), tu_free(split);
    problem_free(&p);
}

static void test_items(void **state)
{
    (void)state;
    vk_attention_f32_args a = {.B = 2, .H = 3, .Lq = 33, .Lk = 5, .D = 8};
    assert_int_equal(vk_attention_items(&a), 2 * 3 * ((33 + VK_ATTN_QBLOCK - 1) / VK_ATTN_QBLOCK));
    a.Lq = 0;
    assert_int_equal(vk_attention_items(&a), 0);
}

/* Every edge length against every head dim (one below / at / above the
 * 16-query and 16-key blocks and the 16-wide d chunks, 1, odd). */
static void test_edges(void **state)
{
    (void)state;
    static const int Ls[] = {1, 2, 15, 16, 17, 33};
    static const int Ds[] = {1, 3, 16, 17, 64, 80};
    for (size_t i = 0; i < sizeof Ls / sizeof *Ls; i++)
        for (size_t j = 0; j < sizeof Ds / sizeof *Ds; j++)
            for (int causal = 0; causal < 2; causal++) {
                shape s = {1, 2, Ls[i], Ls[i], Ds[j], causal, 0, 1.0f};
                check_shape(&s, 100 + i * 16 + j * 2 + causal);
            }
}

/* Model sequence lengths (ViT-B/32 50, CLIP text 77 causal, ViT-B/16 197,
 * 256 patches + class token 257) with head dims 64 and 80. */
static void test_model_lengths(void **state)
{
    (void)state;
    static const int Ls[] = {50, 77, 197, 257};
    for (size_t i = 0; i < 4; i++)
        for (int D = 64; D <= 80; D += 16) {
            shape s = {1, 1, Ls[i], Ls[i], D, Ls[i] == 77, 0, 1.0f};
            check_shape(&s, 200 + i * 2 + (D == 80));
        }
}

static void test_cross(void **state)
{
    (void)state;
    static const int LL[][2] = {{17, 50}, {50, 17}, {1, 257}, {33, 2}, {16, 1}, {2, 33}};
    for (size_t i = 0; i < sizeof LL / sizeof *LL; i++)
        for (int causal = 0; causal < 2; causal++) {
            /* causal with Lq != Lk: key j visible to query i iff j <= i */
            shape s = {1, 2, LL[i][0], LL[i][1], 17 + 47 * (int)(i & 1), causal, 0, 1.0f};
            check_shape(&s, 300 + i * 2 + causal);
        }
}

/* The kernels' internal block boundaries: query blocks of 6 / 7 queries (the
 * AVX-512 online path runs blocks of at most 6 one query at a time), key tails of
 * 4, 8 and 9 keys (its score rows are computed in groups of 4, 8 or 16). */
static void test_block_edges(void **state)
{
    (void)state;
    static const int LL[][2] = {{22, 22}, {23, 23}, {38, 20}, {38, 24}, {39, 25}, {7, 40}};
    for (size_t i = 0; i < sizeof LL / sizeof *LL; i++)
        for (int causal = 0; causal < 2; causal++) {
            shape s = {1, 1, LL[i][0], LL[i][1], i & 1 ? 64 : 17, causal, 0, 1.0f};
            check_shape(&s, 350 + i * 2 + causal);
        }
}

/* q, k, v as column slices of one fused QKV buffer, several batches and heads. */
static void test_fused_qkv(void **state)
{
    (void)state;
    shape s1 = {2, 3, 33, 33, 64, 0, 1, 1.0f};
    check_shape(&s1, 400);
    shape s2 = {3, 2, 17, 17, 80, 1, 1, 1.0f};
    check_shape(&s2, 401);
    shape s3 = {2, 2, 50, 50, 3, 0, 1, 1.0f};
    check_shape(&s3, 402);
}

/* Real model layers, all heads: ViT-B/16 (12 heads × 64, 197 tokens) and the
 * CLIP ViT-B text encoder (8 heads × 64, 77 tokens, causal). Single heads of
 * the 257-token and D = 80 shapes are in test_model_lengths. */
static void test_models(void **state)
{
    (void)state;
    shape vit = {1, 12, 197, 197, 64, 0, 1, 1.0f};
    check_shape(&vit, 500);
    shape clip = {1, 8, 77, 77, 64, 1, 1, 1.0f};
    check_shape(&clip, 501);
}

/* Scores far beyond ±88 (where exp overflows f32 without the max
 * subtraction): |q|, |k| <= 12 with D = 64 gives scale·q·k up to ±~150. */
static void test_extreme_logits(void **state)
{
    (void)state;
    shape s1 = {1, 2, 33, 40, 64, 0, 0, 12.0f};
    check_shape(&s1, 600);
    shape s2 = {1, 1, 77, 77, 64, 1, 1, 12.0f};
    check_shape(&s2, 601);
    shape s3 = {1, 1, 17, 17, 17, 0, 0, 40.0f};
    check_shape(&s3, 602);
}

/* The AVX-512 whole-row path (non-causal, round16(Lk)·round16(D) <= 24576):
 * lengths one below / at / above 16-multiples up to the ViT lengths and past
 * them (1, 2, 3, 4, 8, 9, 13, 17 and 19 key panels: its score loop takes 3
 * panels at a time and ends on 1, 2 or 2 + 2), every last-block size 1..15
 * (its score loop takes 8 rows at a time, P·V 6 or, at 5 d chunks, 4; odd
 * counts padded to even), d-chunk counts 1..5 and 8 (P·V over 4 chunks, then
 * 1 at a time; 5 at once for D 80), full blocks on its lane path (16 queries
 * per vector, taken when round16(Lk) pads Lk by more than 1/8: 17, 33, 50
 * here), batches and heads (K and V packed once per head and reused by the
 * head's later blocks, the next head's rows prefetched meanwhile). The causal
 * twins and the shapes past its workspace (L 400 at D 64, L 600) run the
 * online path and check the dispatch boundary. */
static void test_whole_rows(void **state)
{
    (void)state;
    static const int Ls[] = {1, 15, 16, 17, 31, 33, 127, 128, 129, 197, 257, 300, 50, 64};
    static const int Ds[] = {64, 80, 33};
    for (size_t i = 0; i < sizeof Ls / sizeof *Ls; i++)
        for (size_t j = 0; j < sizeof Ds / sizeof *Ds; j++)
            for (int causal = 0; causal < 2; causal++) {
                shape s = {2, 2, Ls[i], Ls[i], Ds[j], causal, (int)(i & 1), 1.0f};
                check_shape(&s, 800 + i * 8 + j * 2 + causal);
            }
    static const int Dt[] = {7, 17, 33, 64, 80, 117, 128}; /* 1, 2, 3, 4, 5, 8, 8 chunks */
    for (int tail = 1; tail <= 15; tail++)
        for (size_t j = 0; j < sizeof Dt / sizeof *Dt; j++) {
            shape s = {1, 2, 32 + tail, 45 + tail, Dt[j], 0, 0, 1.0f};
            check_shape(&s, 900 + tail * 8 + j); /* seeds 908..1026 */
        }
    shape d128 = {1, 1, 70, 150, 128, 0, 0, 1.0f};
    check_shape(&d128, 1090);
    shape past[] = {{1, 1, 37, 400, 64, 0, 0, 1.0f}, {1, 1, 21, 600, 16, 0, 0, 1.0f},
                    {1, 1, 19, 385, 64, 0, 0, 1.0f}, {1, 1, 19, 384, 64, 0, 0, 1.0f}};
    for (size_t i = 0; i < sizeof past / sizeof *past; i++)
        check_shape(&past[i], 1095 + i);
}

/* Head dims beyond what the SIMD kernels keep on the stack. */
static void test_large_head(void **state)
{
    (void)state;
    shape s = {1, 1, 17, 19, 300, 1, 0, 0.5f};
    check_shape(&s, 700);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items),          cmocka_unit_test(test_edges),
        cmocka_unit_test(test_model_lengths),  cmocka_unit_test(test_cross),
        cmocka_unit_test(test_block_edges),    cmocka_unit_test(test_fused_qkv),
        cmocka_unit_test(test_models),         cmocka_unit_test(test_extreme_logits),
        cmocka_unit_test(test_large_head),     cmocka_unit_test(test_whole_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
