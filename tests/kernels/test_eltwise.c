/* Element-wise ops (act, add + fused act): the dispatched kernel against a
 * double oracle (bounds derived in act_bounds.h: RELU/RELU6/NONE exact, GELU
 * and QUICKGELU from the documented exp/erf accuracy) and against the
 * reference (twice the bound), over lengths around the 16-wide vectors and the
 * 64-element unroll, unaligned sub-ranges (nothing outside [i0, i1) written),
 * splits, in-place use and aliasing, and a ViT MLP-sized GELU.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "act_bounds.h"
#include "testutil.h"

static const vk_act g_acts[] = {VK_ACT_NONE, VK_ACT_RELU, VK_ACT_RELU6, VK_ACT_GELU,
                                VK_ACT_QUICKGELU};
static const char *const g_act_names[] = {"none", "relu", "relu6", "gelu", "quickgelu"};
static const size_t g_lens[] = {1, 2, 15, 16, 17, 63, 64, 65, 79, 80, 81, 1000};

/* Random values with the interesting points mixed in: ±0, the RELU6 knee,
 * values where QUICKGELU's exp overflows, tiny and large magnitudes. */
static void fill_act_input(tu_rng *r, float *x, size_t n)
{
    static const float special[] = {0.0f, -0.0f, 6.0f, 5.9999995f, 6.0000005f, -60.0f, 60.0f,
                                    -1e-30f, 1e-30f, 1e4f, -1e4f, -5.5f, 3.0f};
    tu_fill_f32(r, x, n, -8.0f, 8.0f);
    for (size_t i = 0; i < n; i += 7)
        x[i] = special[(i / 7) % (sizeof special / sizeof *special)];
}

static void fill_nan(float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = NAN;
}

static int check_outside(const char *what, const float *y, size_t n, size_t i0, size_t i1)
{
    for (size_t i = 0; i < n; i++)
        if ((i < i0 || i >= i1) && !isnan(y[i])) {
            tu_fail("%s: wrote element %zu outside [%zu, %zu)", what, i, i0, i1);
            return 1;
        }
    return 0;
}

/* s[i] is the activation input (x for act, fl(a + b) for add). */
static int check_values(const char *what, const float *s, const float *got, const float *ref,
                        size_t i0, size_t i1, vk_act act)
{
    for (size_t i = i0; i < i1; i++) {
        const double want = ab_act(s[i], act), tol = ab_act_tol(s[i], act);
        if (!(fabs(got[i] - want) <= tol)) {
            tu_fail("%s: x=%.9g element %zu: got %.9g want %.9g (tol %.3g)", what, s[i], i, got[i],
                    want, tol);
            return 1;
        }
        if (!(fabs(got[i] - ref[i]) <= 2.0 * tol)) {
            tu_fail("%s: x=%.9g element %zu: got %.9g reference %.9g (tol %.3g)", what, s[i], i,
                    got[i], ref[i], 2.0 * tol);
            return 1;
        }
    }
    return 0;
}

static void run_act(size_t n, size_t i0, size_t i1, int ai, uint64_t salt)
{
    const vk_act act = g_acts[ai];
    float *x = tu_alloc(sizeof(float) * n), *y = tu_alloc(sizeof(float) * n);
    float *yr = tu_alloc(sizeof(float) * n), *ys = tu_alloc(sizeof(float) * n);
    float *yi = tu_alloc(sizeof(float) * n);
    tu_rng r = tu_rng_make(salt);
    fill_act_input(&r, x, n);
    char what[96];
    snprintf(what, sizeof what, "act %s n=%zu [%zu,%zu)", g_act_names[ai], n, i0, i1);
    fill_nan(y, n), fill_nan(yr, n), fill_nan(ys, n);
    tu_ops()->act_f32(x, y, act, i0, i1);
    tu_ref()->act_f32(x, yr, act, i0, i1);
    const size_t m = i0 + (i1 - i0) / 3 + 1 < i1 ? i0 + (i1 - i0) / 3 + 1 : i1;
    tu_ops()->act_f32(x, ys, act, i0, m);
    tu_ops()->act_f32(x, ys, act, m, i1);
    memcpy(yi, x, sizeof(float) * n);
    tu_ops()->act_f32(yi, yi, act, i0, i1); /* in place */
    if (check_outside(what, y, n, i0, i1) || check_outside(what, yr, n, i0, i1) ||
        check_values(what, x, y, yr, i0, i1, act))
        goto out;
    if (memcmp(y + i0, ys + i0, sizeof(float) * (i1 - i0)) != 0)
        tu_fail("%s: split call differs", what);
    else if (memcmp(y + i0, yi + i0, sizeof(float) * (i1 - i0)) != 0)
        tu_fail("%s: in-place differs", what);
    else if (memcmp(yi, x, sizeof(float) * i0) != 0 ||
             memcmp(yi + i1, x + i1, sizeof(float) * (n - i1)) != 0)
        tu_fail("%s: in-place call wrote outside the range", what);
out:
    tu_free(x), tu_free(y), tu_free(yr), tu_free(ys), tu_free(yi);
}

static void test_act(void **state)
{
    (void)state;
    for (int ai = 0; ai < 5; ai++)
        for (size_t l = 0; l < sizeof g_lens / sizeof *g_lens; l++) {
            const size_t len = g_lens[l];
            run_act(len, 0, len, ai, 10 * l + ai);         /* whole buffer */
            run_act(len + 8, 3, 3 + len, ai, 10 * l + ai); /* unaligned sub-range */
        }
    run_act(5, 2, 2, VK_ACT_GELU, 99); /* empty range */
}

/* GELU over a ViT-B MLP hidden activation: 197 tokens × 3072. */
static void test_act_model(void **state)
{
    (void)state;
    run_act((size_t)197 * 3072, 0, (size_t)197 * 3072, 3, 77);
}

/* mode: 0 separate output, 1 y == a, 2 y == b, 3 a == b == y. */
static void run_add(size_t n, size_t i0, size_t i1, int ai, int mode, uint64_t salt)
{
    const vk_act act = g_acts[ai];
    float *a = tu_alloc(sizeof(float) * n), *b = tu_alloc(sizeof(float) * n);
    float *s = tu_alloc(sizeof(float) * n), *y = tu_alloc(sizeof(float) * n);
    float *yr = tu_alloc(sizeof(float) * n), *ys = tu_alloc(sizeof(float) * n);
    tu_rng r = tu_rng_make(salt);
    fill_act_input(&r, a, n);
    tu_fill_f32(&r, b, n, -4.0f, 4.0f);
    if (mode == 3)
        memcpy(b, a, sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        s[i] = a[i] + b[i];
    char what[96];
    snprintf(what, sizeof what, "add %s n=%zu [%zu,%zu) alias %d", g_act_names[ai], n, i0, i1,
             mode);
    fill_nan(yr, n), fill_nan(ys, n);
    tu_ref()->add_f32(a, b, yr, act, i0, i1);
    const size_t m = i0 + (i1 - i0) / 2;
    tu_ops()->add_f32(a, b, ys, act, i0, m);
    tu_ops()->add_f32(a, b, ys, act, m, i1);
    if (mode == 0) {
        fill_nan(y, n);
        tu_ops()->add_f32(a, b, y, act, i0, i1);
        if (check_outside(what, y, n, i0, i1))
            goto out;
    } else {
        /* y starts as the aliased operand; outside the range it must stay so */
        const float *orig = mode == 2 ? b : a;
        memcpy(y, orig, sizeof(float) * n);
        tu_ops()->add_f32(mode == 2 ? a : y, mode == 1 ? b : y, y, act, i0, i1);
        if (memcmp(y, orig, sizeof(float) * i0) != 0 ||
            memcmp(y + i1, orig + i1, sizeof(float) * (n - i1)) != 0) {
            tu_fail("%s: wrote outside the range", what);
            goto out;
        }
    }
    if (check_outside(what, yr, n, i0, i1) || check_values(what, s, y, yr, i0, i1, act))
        goto out;
    if (memcmp(y + i0, ys + i0, sizeof(float) * (i1 - i0)) != 0)
        tu_fail("%s: split call differs", what);
out:
    tu_free(a), tu_free(b), tu_free(s), tu_free(y), tu_free(yr), tu_free(ys);
}

static void test_add(void **state)
{
    (void)state;
    for (int ai = 0; ai < 5; ai++)
        for (size_t l = 0; l < sizeof g_lens / sizeof *g_lens; l++)
            for (int mode = 0; mode < 4; mode++) {
                const size_t len = g_lens[l];
                run_add(len + 5, 5, 5 + len, ai, mode, 100 * l + 10 * ai + mode);
            }
    /* residual add of a ViT-B block output: 197 × 768 */
    run_add((size_t)197 * 768, 0, (size_t)197 * 768, 0, 1, 999);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act),
        cmocka_unit_test(test_act_model),
        cmocka_unit_test(test_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
