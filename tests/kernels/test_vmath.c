/* The documented accuracy of the vector math behind the activations and
 * softmax (kernels/avx512/vmath.h at the avx512 level; at the ref level the
 * scalar kernels/act.h over libm), checked densely against libm in double.
 *
 * vmath.h may only be compiled with AVX-512 flags, so it is reached through the
 * dispatched kernels that use it, and each building block is recovered from a
 * kernel output whose extra roundings are known exactly:
 *   exp(a), a in [-86, 0]: softmax of the row [0, a] gives y0 = 1·r and
 *     y1 = ê·r (r = 1/Σ, or a division by Σ: either way one rounding each, and
 *     exp(0) = 1 exactly), so y1/y0 = ê·(1 + δ), |δ| <= 2u.
 *     Bound: |y1/y0 - e^a| <= 2 ulp(e^a) + 2u·e^a.
 *   exp(a), a in [1, 88]: QUICKGELU q̂ = fl(x / fl(1 + ê)), a = fl(-1.702·x), so
 *     x/q̂ - 1 = ê + ε, |ε| <= 2u·(1 + ê) + u·(1 + ê) (the division, the sum).
 *     Bound: |x/q̂ - 1 - e^a| <= 2 ulp(e^a) + 3u·(1 + e^a).
 *   erf(z), z = fl(x·c): GELU ĝ = fl(0.5x · fl(1 + ê)), so 2ĝ/x - 1 = ê + ε,
 *     |ε| <= 2u·|1 + ê| (the sum and the product).
 *     Bound: |2ĝ/x - 1 - erf(z)| <= 5e-7 + 2u·(1 + erf(z)).
 *   gelu, quickgelu: the end-to-end bounds of act_bounds.h.
 * All bounds times 1.01 for second-order terms.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/act.h"
#include "act_bounds.h"
#include "testutil.h"

#define U TU_U_F32

static double ulp_of(double v)
{
    int e;
    frexp(v, &e); /* v = m·2^e, m in [0.5, 1) */
    return ldexp(1.0, e - 24);
}

/* n points spread over [lo, hi] (uniform grid plus random jitter). */
static float *sweep(double lo, double hi, size_t n, uint64_t salt)
{
    float *x = tu_alloc(sizeof(float) * n);
    tu_rng r = tu_rng_make(salt);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * ((double)i + tu_uniform(&r, 0.0f, 1.0f)) / (double)n);
    return x;
}

static void test_exp_negative(void **state)
{
    (void)state;
    const size_t n = 200000;
    float *a = sweep(-86.0, 0.0, n, 1);
    float *rows = tu_alloc(sizeof(float) * 2 * n), *y = tu_alloc(sizeof(float) * 2 * n);
    for (size_t i = 0; i < n; i++)
        rows[2 * i] = 0.0f, rows[2 * i + 1] = a[i];
    tu_ops()->softmax_f32(rows, 2, y, 2, 2, 0, (int)n);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double e = exp((double)a[i]), got = (double)y[2 * i + 1] / y[2 * i];
        const double err = fabs(got - e), tol = 1.01 * (2.0 * ulp_of(e) + 2.0 * U * e);
        worst = fmax(worst, err / ulp_of(e));
        if (!(err <= tol)) {
            tu_fail("exp(%.9g) via softmax: %.9g, want %.9g (%.2f ulp)", a[i], got, e,
                    err / ulp_of(e));
            break;
        }
    }
    fprintf(stderr, "[%s] exp on [-86, 0] via softmax: max %.2f ulp (incl. <= 2u of rounding)\n",
            tu_level(), worst);
    tu_free(a), tu_free(rows), tu_free(y);
}

static void test_exp_positive(void **state)
{
    (void)state;
    const size_t n = 200000;
    float *x = sweep(-51.7, -0.59, n, 2), *q = tu_alloc(sizeof(float) * n);
    tu_ops()->act_f32(x, q, VK_ACT_QUICKGELU, 0, n);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float a = -1.702f * x[i]; /* the kernels' f32 argument */
        const double e = exp((double)a), got = (double)x[i] / q[i] - 1.0;
        const double err = fabs(got - e), tol = 1.01 * (2.0 * ulp_of(e) + 3.0 * U * (1.0 + e));
        worst = fmax(worst, err / ulp_of(e));
        if (!(err <= tol)) {
            tu_fail("exp(%.9g) via quickgelu(%.9g): %.9g, want %.9g", a, x[i], got, e);
            break;
        }
    }
    fprintf(stderr, "[%s] exp on [1, 88] via quickgelu: max %.2f ulp (incl. <= 3u of rounding)\n",
            tu_level(), worst);
    tu_free(x), tu_free(q);
}

static void test_erf(void **state)
{
    (void)state;
    const size_t n = 400000;
    float *x = sweep(-6.0, 6.0, n, 3), *g = tu_alloc(sizeof(float) * n);
    tu_ops()->act_f32(x, g, VK_ACT_GELU, 0, n);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] == 0.0f)
            continue;
        const double z = ab_gelu_arg(x[i]), e = erf(z);
        const double got = 2.0 * g[i] / x[i] - 1.0, err = fabs(got - e);
        worst = fmax(worst, err);
        if (!(err <= 1.01 * (AB_ERF_ABS + 2.0 * U * (1.0 + e)))) {
            tu_fail("erf(%.9g) via gelu(%.9g): %.9g, want %.9g (|err| %.3g)", z, x[i], got, e, err);
            break;
        }
    }
    fprintf(stderr, "[%s] erf via gelu: max |err| %.3g (incl. <= 4u of rounding)\n", tu_level(),
            worst);
    tu_free(x), tu_free(g);
}

static void check_act_bound(vk_act act, const char *name, double lo, double hi, uint64_t salt)
{
    const size_t n = 400000;
    float *x = sweep(lo, hi, n, salt), *y = tu_alloc(sizeof(float) * n);
    tu_ops()->act_f32(x, y, act, 0, n);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double want = ab_act(x[i], act), tol = ab_act_tol(x[i], act);
        const double err = fabs(y[i] - want);
        worst = fmax(worst, tol > 0 ? err / tol : 0.0);
        if (!(err <= tol)) {
            tu_fail("%s(%.9g): got %.9g want %.9g (tol %.3g)", name, x[i], y[i], want, tol);
            break;
        }
        /* the scalar definitions themselves (what the reference runs) */
        const double s = act == VK_ACT_GELU ? vk_gelu(x[i]) : vk_quickgelu(x[i]);
        if (!(fabs(s - want) <= tol)) {
            tu_fail("act.h %s(%.9g): got %.9g want %.9g (tol %.3g)", name, x[i], s, want, tol);
            break;
        }
    }
    fprintf(stderr, "[%s] %s on [%g, %g]: max error %.3f of the bound\n", tu_level(), name, lo, hi,
            worst);
    tu_free(x), tu_free(y);
}

static void test_gelu(void **state)
{
    (void)state;
    check_act_bound(VK_ACT_GELU, "gelu", -12.0, 12.0, 4);
    check_act_bound(VK_ACT_GELU, "gelu", -1e-3, 1e-3, 5);
}

static void test_quickgelu(void **state)
{
    (void)state;
    check_act_bound(VK_ACT_QUICKGELU, "quickgelu", -100.0, 100.0, 6);
    check_act_bound(VK_ACT_QUICKGELU, "quickgelu", -1e-3, 1e-3, 7);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_negative), cmocka_unit_test(test_exp_positive),
        cmocka_unit_test(test_erf),          cmocka_unit_test(test_gelu),
        cmocka_unit_test(test_quickgelu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
