/* Row-wise ops (layernorm, softmax, l2norm): the dispatched kernel against a
 * double-precision oracle and against the reference, over edge widths (1, odd,
 * around the 16-wide vectors and the 32/64-element unrolls), model widths,
 * strided rows, sub-ranges of rows, splits, in-place use and hard inputs (a
 * large common offset for layernorm, logits spread far beyond exp's range for
 * softmax, huge/tiny/zero rows for l2norm). Tolerances are derived per element
 * beside each oracle; kernel vs reference uses twice the bound.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define U TU_U_F32
#define U53 (1.0 / 9007199254740992.0)

static const int g_widths[] = {1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 197, 768, 1000, 1024};
#define NW (int)(sizeof g_widths / sizeof *g_widths)

enum { OP_LN, OP_SM, OP_L2 };

typedef struct rows {
    int R, N;
    ptrdiff_t ldx, ldy;
    float *x, *gamma, *beta;
    float eps;
} rows;

/* ---- layernorm oracle -------------------------------------------------- *
 * The kernels use the corrected two-pass algorithm in f32 (kernels/ref/rowwise.c):
 *   m0 = fl(Σx/N); d_i = fl(x_i - m0); s1 = Σd_i, s2 = Σd_i²;
 *   c = s1/N, mean' = m0 + c, var' = s2/N - c²; rstd' = 1/sqrt(var' + eps).
 * With Δ0 = (γ_N + u)·Σ|x|/N >= |m0 - mean| and MADx = Σ|x - mean|/N + Δ0
 * >= Σ|x - m0|/N:
 *   c's error   E_c    <= γ_{N+1}·MADx       (rounding of d_i, the sum, /N)
 *   mean' error E_mean <= E_c + 2u·|mean|    (plus the rounding of m0 + c)
 *   Σd_i² = (N·var + N(mean - m0)²)(1 + γ_{N+3}), and c² misses (mean - m0)²
 *   by at most 2Δ0·E_c + E_c², so
 *   var' error  E_var  <= γ_{N+5}·(var + Δ0²) + 2Δ0·E_c + E_c²
 *   rstd' relative error ρ <= E_var / (2(var + eps)) + 3u   (sqrt halves it;
 *     the add, sqrt and division round once each)
 *   y error <= |g|·rstd·(E_mean + |x - mean|·(ρ + 4u)) + 2u·(|y| + |b|)
 *     (x - mean' rounds once, the products/fma twice, the final add once).
 * Times 1.01 for second-order terms. */
static void ln_oracle(const rows *p, int r, float *want, float *tol)
{
    const float *x = p->x + (ptrdiff_t)r * p->ldx;
    const int N = p->N;
    double s = 0.0, sa = 0.0;
    for (int i = 0; i < N; i++)
        s += x[i], sa += fabs(x[i]);
    const double mean = s / N;
    double v = 0.0, mad = 0.0;
    for (int i = 0; i < N; i++)
        v += (x[i] - mean) * (x[i] - mean), mad += fabs(x[i] - mean);
    const double var = v / N;
    const double d0 = (tu_gamma(N) + U) * sa / N;
    const double madx = mad / N + d0;
    const double ec = tu_gamma(N + 1) * madx;
    const double emean = ec + 2.0 * U * fabs(mean);
    const double evar = tu_gamma(N + 5) * (var + d0 * d0) + 2.0 * d0 * ec + ec * ec;
    const double rstd = 1.0 / sqrt(var + p->eps);
    const double rho = evar / (2.0 * (var + p->eps)) + 3.0 * U;
    for (int i = 0; i < N; i++) {
        const double g = p->gamma ? p->gamma[i] : 1.0, b = p->beta ? p->beta[i] : 0.0;
        const double y = (x[i] - mean) * rstd * g + b;
        want[i] = (float)y;
        tol[i] = (float)(1.01 * (fabs(g) * rstd * (emean + fabs(x[i] - mean) * (rho + 4.0 * U)) +
                                 2.0 * U * (fabs(y) + fabs(b))));
    }
}

/* ---- softmax oracle ----------------------------------------------------- *
 * ê_i = exp(fl(x_i - m))·(1 + ε), |ε| <= 2 ulp = 4u (libm expf and vk_exp512
 * alike); the subtraction's rounding perturbs the exponent by u·|x_i - m|. So
 * ê_i = e_i(1 + θ_i), |θ_i| <= T_i = 4u + u·|x_i - m|. The sum of N positive
 * terms adds γ_N relative, 1/S and the product 2u:
 *   |ŷ_i - y_i| <= y_i·(T_i + max_j T_j + γ_N + 2u)·1.01 + FLT_MIN
 * (the absolute term covers results in the subnormal range, where exp's
 * relative bound does not hold). -inf logits (masks) do not widen the bound:
 * their weight is 0 (or a subnormal residue). All-finite rows are assumed to
 * have a finite maximum. */
static void sm_oracle(const rows *p, int r, float *want, float *tol)
{
    const float *x = p->x + (ptrdiff_t)r * p->ldx;
    const int N = p->N;
    double m = -INFINITY, lo = INFINITY;
    for (int i = 0; i < N; i++)
        if (isfinite(x[i]))
            m = x[i] > m ? x[i] : m, lo = x[i] < lo ? x[i] : lo;
    double s = 0.0;
    for (int i = 0; i < N; i++)
        s += exp(x[i] - m);
    const double tmax = 4.0 * U + U * (m - lo);
    for (int i = 0; i < N; i++) {
        const double y = exp(x[i] - m) / s;
        want[i] = (float)y;
        if (isinf(x[i])) { /* a masked logit: exactly 0 up to subnormal exp residue */
            tol[i] = FLT_MIN;
            continue;
        }
        tol[i] = (float)(1.01 * y * (4.0 * U + U * (m - x[i]) + tmax + tu_gamma(N) + 2.0 * U) +
                         FLT_MIN);
    }
}

/* ---- l2norm oracle ------------------------------------------------------ *
 * Both kernels sum the exact f32 squares in double (relative error
 * γ_N in double precision) and scale in double, rounding to f32 once:
 *   |ŷ - y| <= |y|·(u + (N + 3)·2^-53)·1.01 + 2^-149 (subnormal outputs). */
static void l2_oracle(const rows *p, int r, float *want, float *tol)
{
    const float *x = p->x + (ptrdiff_t)r * p->ldx;
    const int N = p->N;
    long double ss = 0.0L;
    for (int i = 0; i < N; i++)
        ss += (long double)x[i] * x[i];
    const double inv = ss > 0.0L ? (double)(1.0L / sqrtl(ss)) : 0.0;
    for (int i = 0; i < N; i++) {
        const double y = x[i] * inv;
        want[i] = (float)y;
        tol[i] = (float)(1.01 * fabs(y) * (U + (N + 3) * U53)) + FLT_TRUE_MIN;
    }
}

static void call(const vk_ops *o, int op, const rows *p, float *y, int r0, int r1)
{
    switch (op) {
    case OP_LN:
        o->layernorm_f32(p->x, p->ldx, y, p->ldy, p->N, p->gamma, p->beta, p->eps, r0, r1);
        break;
    case OP_SM: o->softmax_f32(p->x, p->ldx, y, p->ldy, p->N, r0, r1); break;
    default: o->l2norm_f32(p->x, p->ldx, y, p->ldy, p->N, r0, r1); break;
    }
}

static const char *op_name(int op) { return op == OP_LN ? "layernorm" : op == OP_SM ? "softmax" : "l2norm"; }

static void fill_nan(float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = NAN;
}

/* Rows [r0, r1) of y must hold values, every other element its NaN. */
static int check_untouched(const char *what, const rows *p, const float *y, int r0, int r1)
{
    for (int r = 0; r < p->R; r++)
        for (ptrdiff_t c = 0; c < p->ldy; c++) {
            const int inside = r >= r0 && r < r1 && c < p->N;
            if (!inside && !isnan(y[r * p->ldy + c])) {
                tu_fail("%s: wrote outside the range (row %d, column %td)", what, r, c);
                return 1;
            }
        }
    return 0;
}

/* Kernel and reference against the oracle on rows [r0, r1), kernel against
 * reference, untouched outside the range, and the same rows computed in
 * three pieces give the same bits. */
static void check(int op, const rows *p, int r0, int r1, const char *tag)
{
    const size_t ny = (size_t)p->R * p->ldy, N = (size_t)p->N;
    float *y = tu_alloc(sizeof(float) * ny), *yr = tu_alloc(sizeof(float) * ny);
    float *ys = tu_alloc(sizeof(float) * ny);
    float *want = tu_alloc(sizeof(float) * N), *tol = tu_alloc(sizeof(float) * N);
    float *tol2 = tu_alloc(sizeof(float) * N);
    char what[128];
    snprintf(what, sizeof what, "%s %s N=%d rows [%d,%d)", op_name(op), tag, p->N, r0, r1);
    fill_nan(y, ny), fill_nan(yr, ny), fill_nan(ys, ny);
    call(tu_ops(), op, p, y, r0, r1);
    call(tu_ref(), op, p, yr, r0, r1);
    const int rm = r0 + (r1 - r0) / 3, rn = r0 + 2 * (r1 - r0) / 3;
    call(tu_ops(), op, p, ys, r0, rm);
    call(tu_ops(), op, p, ys, rm, rn);
    call(tu_ops(), op, p, ys, rn, r1);
    if (check_untouched(what, p, y, r0, r1) || check_untouched(what, p, yr, r0, r1))
        goto out;
    if (memcmp(y, ys, sizeof(float) * ny) != 0 && (r1 > r0)) {
        for (size_t i = 0; i < ny; i++)
            if (!(isnan(y[i]) && isnan(ys[i])) && y[i] != ys[i]) {
                tu_fail("%s: split call differs at %zu", what, i);
                goto out;
            }
    }
    for (int r = r0; r < r1; r++) {
        if (op == OP_LN)
            ln_oracle(p, r, want, tol);
        else if (op == OP_SM)
            sm_oracle(p, r, want, tol);
        else
            l2_oracle(p, r, want, tol);
        for (size_t i = 0; i < N; i++)
            tol2[i] = 2.0f * tol[i];
        const float *got = y + r * p->ldy, *ref = yr + r * p->ldy;
        if (tu_check_f32(what, got, want, tol, 0, N) || tu_check_f32(what, ref, want, tol, 0, N) ||
            tu_check_f32(what, got, ref, tol2, 0, N))
            goto out;
    }
out:
    tu_free(y), tu_free(yr), tu_free(ys), tu_free(want), tu_free(tol), tu_free(tol2);
}

static rows make_rows(tu_rng *g, int R, int N, int pad, float lo, float hi)
{
    rows p = {R, N, N + pad, N + 2 * pad + 1, NULL, NULL, NULL, 1e-5f};
    p.x = tu_alloc(sizeof(float) * (size_t)R * p.ldx);
    tu_fill_f32(g, p.x, (size_t)R * p.ldx, lo, hi);
    return p;
}

static void free_rows(rows *p) { tu_free(p->x), tu_free(p->gamma), tu_free(p->beta); }

static void test_layernorm(void **state)
{
    (void)state;
    tu_rng g = tu_rng_make(1);
    for (int w = 0; w < NW; w++) {
        const int N = g_widths[w];
        rows p = make_rows(&g, 5, N, w % 3 * 4, -2.0f, 3.0f);
        p.gamma = tu_alloc(sizeof(float) * N), p.beta = tu_alloc(sizeof(float) * N);
        tu_fill_f32(&g, p.gamma, N, 0.5f, 1.5f), tu_fill_f32(&g, p.beta, N, -1.0f, 1.0f);
        check(OP_LN, &p, 0, 5, "affine");
        check(OP_LN, &p, 1, 4, "sub-range");
        tu_free(p.gamma), tu_free(p.beta);
        p.gamma = p.beta = NULL;
        check(OP_LN, &p, 0, 5, "no affine");
        free_rows(&p);
    }
}

/* Common offsets over unit noise: the one-pass E[x²] - E[x]² fails at 1000
 * (checked by mutation). The corrected two-pass's correction terms themselves
 * stay below the bound on random rows (a first-pass mean summed in several
 * accumulators errs by about u·|mean|, like the mean's own rounding), so
 * dropping them is not detectable here; 1e6 (f32 spacing 1/16, bound loosened
 * by the worst-case first-pass error) checks nothing breaks at extreme
 * offsets. A constant row has zero variance (rstd = 1/sqrt(eps)). */
static void test_layernorm_hard(void **state)
{
    (void)state;
    tu_rng g = tu_rng_make(2);
    const int Ns[] = {17, 768, 1024};
    for (int t = 0; t < 3; t++) {
        rows p = make_rows(&g, 4, Ns[t], 3, 999.0f, 1001.0f);
        check(OP_LN, &p, 0, 4, "offset 1000");
        rows p6 = make_rows(&g, 4, Ns[t], 3, 1e6f - 2.0f, 1e6f + 2.0f);
        check(OP_LN, &p6, 0, 4, "offset 1e6");
        free_rows(&p6);
        for (int i = 0; i < Ns[t]; i++)
            p.x[i] = 0.25f; /* row 0 constant */
        check(OP_LN, &p, 0, 1, "constant");
        free_rows(&p);
    }
    /* ViT-B/16 block input: 197 tokens x 768 */
    rows p = make_rows(&g, 197, 768, 0, -4.0f, 4.0f);
    p.gamma = tu_alloc(sizeof(float) * 768), p.beta = tu_alloc(sizeof(float) * 768);
    tu_fill_f32(&g, p.gamma, 768, -2.0f, 2.0f), tu_fill_f32(&g, p.beta, 768, -1.0f, 1.0f);
    check(OP_LN, &p, 0, 197, "vit-b16");
    free_rows(&p);
}

static void test_softmax(void **state)
{
    (void)state;
    tu_rng g = tu_rng_make(3);
    for (int w = 0; w < NW; w++) {
        rows p = make_rows(&g, 4, g_widths[w], w % 3 * 5, -8.0f, 8.0f);
        check(OP_SM, &p, 0, 4, "uniform");
        check(OP_SM, &p, 2, 3, "sub-range");
        free_rows(&p);
    }
}

/* Logits far outside exp's range (a naive exp overflows to inf or flushes
 * everything to 0), a row of equal values, and -inf entries (masked logits). */
static void test_softmax_hard(void **state)
{
    (void)state;
    tu_rng g = tu_rng_make(4);
    const int Ns[] = {1, 17, 197, 1000};
    for (int t = 0; t < 4; t++) {
        rows p = make_rows(&g, 3, Ns[t], 1, -300.0f, 300.0f);
        check(OP_SM, &p, 0, 3, "+-300");
        for (int i = 0; i < Ns[t]; i++)
            p.x[i] = 1e4f, p.x[p.ldx + i] = i % 3 ? -INFINITY : -1e4f + i;
        check(OP_SM, &p, 0, 2, "equal / masked");
        free_rows(&p);
    }
}

static void test_l2norm(void **state)
{
    (void)state;
    tu_rng g = tu_rng_make(5);
    for (int w = 0; w < NW; w++) {
        rows p = make_rows(&g, 4, g_widths[w], w % 3 * 2, -1.0f, 1.0f);
        check(OP_L2, &p, 0, 4, "uniform");
        check(OP_L2, &p, 3, 4, "sub-range");
        free_rows(&p);
    }
}

/* Rows whose squares overflow f32 (1e30), underflow it (1e-30, subnormals),
 * and a zero row (-> zeros). */
static void test_l2norm_hard(void **state)
{
    (void)state;
    tu_rng g = tu_rng_make(6);
    const int Ns[] = {1, 33, 512, 768};
    for (int t = 0; t < 4; t++) {
        rows p = make_rows(&g, 4, Ns[t], 2, -1.0f, 1.0f);
        for (int i = 0; i < Ns[t]; i++) {
            p.x[i] *= 1e30f;
            p.x[p.ldx + i] *= 1e-30f;
            p.x[2 * p.ldx + i] = 0.0f;
            p.x[3 * p.ldx + i] *= 1e-40f;
        }
        check(OP_L2, &p, 0, 4, "extreme");
        free_rows(&p);
    }
}

/* y == x (in place), ld shared. */
static void test_inplace(void **state)
{
    (void)state;
    tu_rng g = tu_rng_make(7);
    const int N = 197, R = 3;
    const ptrdiff_t ld = 200;
    float *x = tu_alloc(sizeof(float) * R * ld), *a = tu_alloc(sizeof(float) * R * ld);
    float *b = tu_alloc(sizeof(float) * R * ld);
    for (int op = 0; op < 3; op++) {
        tu_fill_f32(&g, x, (size_t)R * ld, -3.0f, 3.0f);
        memcpy(a, x, sizeof(float) * R * ld);
        memcpy(b, x, sizeof(float) * R * ld);
        rows p = {R, N, ld, ld, a, NULL, NULL, 1e-6f};
        call(tu_ops(), op, &p, a, 0, R); /* in place */
        p.x = x;
        call(tu_ops(), op, &p, b, 0, R); /* out of place */
        if (memcmp(a, b, sizeof(float) * R * ld) != 0)
            tu_fail("%s: in-place result differs from out-of-place", op_name(op));
    }
    tu_free(x), tu_free(a), tu_free(b);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm), cmocka_unit_test(test_layernorm_hard),
        cmocka_unit_test(test_softmax),   cmocka_unit_test(test_softmax_hard),
        cmocka_unit_test(test_l2norm),    cmocka_unit_test(test_l2norm_hard),
        cmocka_unit_test(test_inplace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
