/* Exact activations (double) and the error bounds every implementation of
 * kernels/act.h's definitions must meet; shared by test_eltwise.c and
 * test_vmath.c.
 *
 * Documented accuracy of the building blocks (kernels/avx512/vmath.h; libm's
 * expf/erff are well within it):
 *   exp: relative error <= 2 ulp (<= 4u, u = 2^-24) on [-87, 88];
 *   erf: absolute error <= 5e-7.
 */
#ifndef VIREO_TESTS_ACT_BOUNDS_H
#define VIREO_TESTS_ACT_BOUNDS_H

#include <float.h>
#include <math.h>

#include "kernels/kernels.h"

#define AB_U (1.0 / 16777216.0)
#define AB_ERF_ABS 5e-7
#define AB_EXP_ULP 2.0

/* The f32 argument of erf inside gelu, rounded exactly as act.h and vmath.h
 * compute it (a plain f32 multiply). */
static inline float ab_gelu_arg(float x) { return x * 0.70710678118654752f; }

static inline double ab_act(double x, vk_act act)
{
    switch (act) {
    case VK_ACT_RELU: return x > 0.0 ? x : 0.0;
    case VK_ACT_RELU6: return x < 0.0 ? 0.0 : x > 6.0 ? 6.0 : x;
    case VK_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case VK_ACT_QUICKGELU: return x / (1.0 + exp(-1.702 * x));
    default: return x;
    }
}

/* Bound on |act̂(x) - act(x)| for an f32 input x.
 * RELU, RELU6, NONE: exact.
 * GELU = 0.5·x·(1 + erf(x·c)): the f32 product x·c moves erf's argument by
 *   u·|xc|, hence erf by at most (2/√π)·max(z·e^{-z²})·u = 0.484u; erf itself
 *   errs by E_erf; 1 + erf rounds by u·|1 + erf| <= 2u; the final product by
 *   u·|g|. So |ĝ - g| <= 0.5|x|·(E_erf + 0.484u + 2u) + u|g|.
 * QUICKGELU = x / (1 + e), e = exp(a), a = -1.702x: the f32 constant and
 *   product move a by 2u·|a|, so ê = e(1 + T), T = 4u + 2u|a|; 1 + ê then has
 *   relative error T·e/(1 + e) + u, the division adds u:
 *   |q̂ - q| <= |q|·(T·e/(1 + e) + 2u). When e overflows f32 (a > 88.7) the
 *   result flushes towards 0 while |q| < |x|·e^{-a} < |x|·FLT_MIN: an absolute
 *   |x|·FLT_MIN covers that and subnormal results.
 * Times 1.01 for second-order terms. */
static inline double ab_act_tol(float x, vk_act act)
{
    const double u = AB_U;
    switch (act) {
    case VK_ACT_GELU: {
        const double g = ab_act(x, act);
        return 1.01 * (0.5 * fabs(x) * (AB_ERF_ABS + 2.484 * u) + u * fabs(g));
    }
    case VK_ACT_QUICKGELU: {
        const double a = -1.702 * x, q = ab_act(x, act);
        const double t = 2.0 * AB_EXP_ULP * u + 2.0 * u * fabs(a);
        const double ef = a > 700.0 ? 1.0 : exp(a) / (1.0 + exp(a));
        return 1.01 * fabs(q) * (t * ef + 2.0 * u) + fabs(x) * FLT_MIN;
    }
    default: return 0.0;
    }
}

#endif
