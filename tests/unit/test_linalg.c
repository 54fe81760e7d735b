/* runtime/linalg.h: covariance and symmetric eigendecomposition.
 *
 * Checks: the defining identities (A u = λ u, UᵀU = I) over edge sizes and
 * structured matrices (diagonal, repeated and clustered eigenvalues, zero,
 * rank-deficient, Wilkinson's W21+), numpy's eigh and covariance on seeded
 * data (tests/unit/retrieval_reference.py), thread-count independence, and
 * clean errors for non-finite input.
 *
 * Tolerances. Householder tridiagonalisation and QL are backward stable: the
 * computed pairs are exact for A + E with ‖E‖₂ ≤ p(n)·ε·‖A‖₂, p(n) a modest
 * polynomial (Golub & Van Loan 8.3.6; in practice ~ √n … n). We allow
 * p(n) = 16·n with ε = 2⁻⁵². Then (Weyl) each eigenvalue is within ‖E‖₂ of
 * the exact one, the residual ‖A u − λ u‖ ≤ ‖E‖ (+ the rounding of forming
 * A u, n·ε·‖A‖), ‖UᵀU − I‖ ≤ 16·n·ε, and (Davis–Kahan) the angle between a
 * computed and an exact eigenvector is ≤ ‖E‖₂ / gap, gap the distance to the
 * nearest other eigenvalue. A bug (a wrong sign, a skipped rotation) gives
 * errors of order 1, far above these bounds.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retrieval_refio.h"
#include "runtime/linalg.h"
#include "testutil.h"

static double frob(const double *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n * n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

static double gauss(tu_rng *r)
{
    double u = tu_uniform(r, 1e-7f, 1.0f), v = tu_uniform(r, 0.0f, 1.0f);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Residual and orthogonality of (evals, evecs) for the symmetric a0. */
static void check_pairs(const char *what, const double *a0, size_t n, const double *ev,
                        const double *u)
{
    double na = frob(a0, n), tol = 16.0 * (double)n * DBL_EPSILON * (na > 0 ? na : 1);
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && ev[k] > ev[k - 1])
            tu_fail("%s n=%zu: eigenvalues not descending at %zu (%g > %g)", what, n, k, ev[k],
                    ev[k - 1]);
        double big = 0;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t j = 0; j < n; j++)
                s += a0[i * n + j] * u[k * n + j];
            s -= ev[k] * u[k * n + i];
            if (fabs(s) > tol)
                tu_fail("%s n=%zu: residual %g at pair %zu row %zu (tol %g)", what, n, s, k, i, tol);
            if (fabs(u[k * n + i]) > big)
                big = fabs(u[k * n + i]), at = i;
        }
        if (u[k * n + at] < 0)
            tu_fail("%s n=%zu: eigenvector %zu's largest component is negative", what, n, k);
    }
    double otol = 16.0 * (double)n * DBL_EPSILON;
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b <= a; b++) {
            double s = 0;
            for (size_t j = 0; j < n; j++)
                s += u[a * n + j] * u[b * n + j];
            if (fabs(s - (a == b)) > otol)
                tu_fail("%s n=%zu: <u%zu, u%zu> = %.17g (tol %g)", what, n, a, b, s, otol);
        }
}

/* Decomposes a copy of a0 and checks it. Returns evals/evecs (caller frees). */
static void eig_checked(const char *what, const double *a0, size_t n, vr_pool *pool, double **ev_out,
                        double **u_out)
{
    double *a = malloc(n * n * sizeof *a), *ev = malloc(n * sizeof *ev), *u = malloc(n * n * sizeof *u);
    memcpy(a, a0, n * n * sizeof *a);
    char err[256];
    if (vr_sym_eig(a, n, ev, u, pool, err, sizeof err) != 0)
        tu_fail("%s n=%zu: %s", what, n, err);
    check_pairs(what, a0, n, ev, u);
    free(a);
    if (ev_out)
        *ev_out = ev, *u_out = u;
    else
        free(ev), free(u);
}

static double *random_symmetric(tu_rng *r, size_t n)
{
    double *a = malloc(n * n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++)
            a[i * n + j] = a[j * n + i] = tu_uniform(r, -1, 1);
    return a;
}

static void test_edge_sizes_random(void **state)
{
    /* 1, odd, one below/above the 8-column panel and 32-reflector blocks. */
    size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 130};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        tu_rng r = tu_rng_make(100 + s);
        double *a = random_symmetric(&r, sizes[s]);
        eig_checked("random", a, sizes[s], NULL, NULL, NULL);
        free(a);
    }
}

static void test_known_small(void **state)
{
    double a1[] = {3.5}, ev[2], u[4], w[4];
    char err[256];
    assert_int_equal(vr_sym_eig(a1, 1, ev, u, NULL, err, sizeof err), 0);
    assert_true(ev[0] == 3.5 && u[0] == 1.0);
    /* [[2, 1], [1, 2]]: 3 with (1, 1)/√2, 1 with (1, −1)/√2 (the tie in
     * magnitude goes to the first component, made positive). */
    double a2[] = {2, 1, 1, 2};
    memcpy(w, a2, sizeof w);
    assert_int_equal(vr_sym_eig(w, 2, ev, u, NULL, err, sizeof err), 0);
    double tol = 8 * DBL_EPSILON * 3;
    assert_true(fabs(ev[0] - 3) < tol && fabs(ev[1] - 1) < tol);
    double h = sqrt(0.5);
    assert_true(fabs(u[0] - h) < tol && fabs(u[1] - h) < tol);
    assert_true(fabs(fabs(u[2]) - h) < tol && fabs(fabs(u[3]) - h) < tol && u[2] * u[3] < 0);
    check_pairs("2x2", a2, 2, ev, u);
}

static void test_diagonal_sorted_and_unit(void **state)
{
    size_t n = 9;
    double vals[] = {0.5, -2, 7, 0, 3, 3, -1e-9, 1e6, 2};
    double *a = calloc(n * n, sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i * n + i] = vals[i];
    double *ev, *u;
    eig_checked("diagonal", a, n, NULL, &ev, &u);
    double want[] = {1e6, 7, 3, 3, 2, 0.5, 0, -1e-9, -2};
    for (size_t i = 0; i < n; i++)
        if (ev[i] != want[i])
            tu_fail("diagonal: eigenvalue %zu is %.17g, want %g", i, ev[i], want[i]);
    /* Distinct values: eigenvectors are unit vectors e_j. */
    for (size_t i = 0; i < n; i++) {
        if (i == 2 || i == 3)
            continue;
        size_t j = 0;
        while (vals[j] != want[i])
            j++;
        assert_true(u[i * n + j] == 1.0);
    }
    free(a), free(ev), free(u);
}

static void test_repeated_zero_and_rank_deficient(void **state)
{
    size_t n = 33;
    double *a = calloc(n * n, sizeof *a);
    eig_checked("zero", a, n, NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        a[i * n + i] = 1;
    eig_checked("identity", a, n, NULL, NULL, NULL);
    /* All-ones: one eigenvalue n, the rest 0. */
    for (size_t i = 0; i < n * n; i++)
        a[i] = 1;
    double *ev, *u;
    eig_checked("ones", a, n, NULL, &ev, &u);
    assert_true(fabs(ev[0] - (double)n) < 16 * n * DBL_EPSILON * n);
    free(ev), free(u);
    /* XᵀX with X 5×33: rank 5. */
    tu_rng r = tu_rng_make(7);
    double x[5 * 33];
    for (size_t i = 0; i < 5 * n; i++)
        x[i] = gauss(&r);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t k = 0; k < 5; k++)
                s += x[k * n + i] * x[k * n + j];
            a[i * n + j] = s;
        }
    eig_checked("rank 5", a, n, NULL, &ev, &u);
    for (size_t k = 5; k < n; k++)
        if (fabs(ev[k]) > 16 * n * DBL_EPSILON * frob(a, n))
            tu_fail("rank 5: eigenvalue %zu is %g, want 0", k, ev[k]);
    free(ev), free(u), free(a);

    /* The whitening case that once failed to converge: the covariance of 12
     * rows in 300 dimensions (rank 11), so ~290 eigenvalues sit at rounding
     * level, where the relative deflation test alone never fires. */
    size_t m = 12, dm = 300;
    float *xr = malloc(m * dm * sizeof *xr);
    double *mu = malloc(dm * sizeof *mu), *cov = malloc(dm * dm * sizeof *cov);
    for (size_t i = 0; i < m * dm; i++)
        xr[i] = (float)(1e-2 * gauss(&r));
    char err[256];
    if (vr_covariance(xr, m, dm, mu, cov, NULL, err, sizeof err) != 0)
        tu_fail("covariance 12x300: %s", err);
    eig_checked("covariance of 12 rows in 300-d", cov, dm, NULL, &ev, &u);
    for (size_t k = m - 1; k < dm; k++)
        if (fabs(ev[k]) > 16 * dm * DBL_EPSILON * frob(cov, dm))
            tu_fail("12 rows: eigenvalue %zu is %g, want 0", k, ev[k]);
    if (!(ev[m - 2] > 1e-3 * ev[0]))
        tu_fail("12 rows: eigenvalue %zu is %g, want one of the 11 non-zero ones", m - 2, ev[m - 2]);
    free(ev), free(u), free(xr), free(mu), free(cov);
}

/* Q diag(λ) Qᵀ with a random orthogonal Q (Gram–Schmidt of Gaussian rows). */
static double *with_spectrum(tu_rng *r, const double *lam, size_t n)
{
    double *q = malloc(n * n * sizeof *q), *a = calloc(n * n, sizeof *a);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++)
            q[i * n + j] = gauss(r);
        for (int pass = 0; pass < 2; pass++)
            for (size_t p = 0; p < i; p++) {
                double s = 0;
                for (size_t j = 0; j < n; j++)
                    s += q[i * n + j] * q[p * n + j];
                for (size_t j = 0; j < n; j++)
                    q[i * n + j] -= s * q[p * n + j];
            }
        double s = 0;
        for (size_t j = 0; j < n; j++)
            s += q[i * n + j] * q[i * n + j];
        for (size_t j = 0; j < n; j++)
            q[i * n + j] /= sqrt(s);
    }
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                a[i * n + j] += lam[k] * q[k * n + i] * q[k * n + j];
    for (size_t i = 0; i < n; i++) /* exact symmetry */
        for (size_t j = 0; j < i; j++)
            a[j * n + i] = a[i * n + j];
    free(q);
    return a;
}

static void test_clustered_and_graded(void **state)
{
    size_t n = 40;
    double lam[40];
    tu_rng r = tu_rng_make(11);
    for (size_t i = 0; i < n; i++) /* three tight clusters and a graded tail */
        lam[i] = i < 10 ? 1 + 1e-13 * i : i < 20 ? 1e-8 * (1 + 1e-12 * i) : i < 30 ? -0.5 : pow(10, -(double)(i - 30));
    double *a = with_spectrum(&r, lam, n);
    eig_checked("clustered", a, n, NULL, NULL, NULL);
    free(a);
    /* Wilkinson's W21+ (diagonal |10 − i|, off-diagonal 1): pairs of
     * eigenvalues agreeing to ~1e-14. Oracle: Sturm-sequence bisection in
     * long double on the tridiagonal itself. */
    size_t m = 21;
    double *w = calloc(m * m, sizeof *w);
    for (size_t i = 0; i < m; i++) {
        w[i * m + i] = fabs(10.0 - (double)i);
        if (i + 1 < m)
            w[i * m + i + 1] = w[(i + 1) * m + i] = 1;
    }
    double *ev, *u;
    eig_checked("W21+", w, m, NULL, &ev, &u);
    for (size_t k = 0; k < m; k++) {
        /* the (k+1)-th largest: the x where #{λ > x} goes from k to k+1 */
        long double lo = -20, hi = 20;
        for (int it = 0; it < 200; it++) {
            long double x = (lo + hi) / 2, q = 1;
            size_t below = 0;
            for (size_t i = 0; i < m; i++) {
                q = (long double)w[i * m + i] - x - (i ? 1.0L / q : 0);
                if (q == 0)
                    q = 1e-300L;
                below += q < 0;
            }
            if (m - below > k) /* more than k eigenvalues above x */
                lo = x;
            else
                hi = x;
        }
        if (fabsl(ev[k] - lo) > 16 * m * DBL_EPSILON * frob(w, m))
            tu_fail("W21+: eigenvalue %zu is %.17g, bisection says %.17Lg", k, ev[k], lo);
    }
    free(w), free(ev), free(u);
}

static void test_matches_numpy(void **state)
{
    size_t sizes[] = {6, 33, 96};
    for (size_t s = 0; s < 3; s++) {
        size_t n = sizes[s];
        tu_rng r = tu_rng_make(300 + s);
        double *a = random_symmetric(&r, n), *ev, *u;
        eig_checked("vs numpy", a, n, NULL, &ev, &u);
        rf_set in = {0}, out = {0};
        rf_add_op(&in, "eig");
        rf_add(&in, "a", RF_F64, a, n, n);
        int rc = rf_run(&in, &out);
        rf_free(&in);
        if (rc == RF_SKIP) {
            free(a), free(ev), free(u);
            return;
        }
        assert_int_equal(rc, RF_OK);
        const rf_arr *pev = rf_get(&out, "evals"), *pu = rf_get(&out, "evecs");
        assert_non_null(pev);
        assert_non_null(pu);
        double e2 = 16.0 * (double)n * DBL_EPSILON * frob(a, n); /* ‖E‖₂ ≤ ‖E‖_F bound */
        for (size_t k = 0; k < n; k++) {
            double want = rf_at(pev, k);
            if (fabs(ev[k] - want) > 2 * e2)
                tu_fail("vs numpy n=%zu: eigenvalue %zu %.17g vs %.17g", n, k, ev[k], want);
            double gap = INFINITY;
            if (k > 0)
                gap = fmin(gap, rf_at(pev, k - 1) - want);
            if (k + 1 < n)
                gap = fmin(gap, want - rf_at(pev, k + 1));
            double c = 0;
            for (size_t j = 0; j < n; j++)
                c += u[k * n + j] * rf_at(pu, k * n + j);
            /* sin θ ≤ ‖E‖/gap for each of the two, so 1 − |cos θ| ≤ sin² of
             * the sum; plus the rounding of the dot product and of the two
             * norms (each 1 within 16·n·ε, the orthogonality bound above). */
            double sin_t = fmin(1.0, 2 * 2 * e2 / gap);
            if (1 - fabs(c) > sin_t * sin_t + 32.0 * (double)n * DBL_EPSILON)
                tu_fail("vs numpy n=%zu: eigenvector %zu |cos| = %.17g (gap %g)", n, k, fabs(c), gap);
        }
        rf_free(&out);
        free(a), free(ev), free(u);
    }
}

static void test_threads_do_not_change_results(void **state)
{
    /* Big enough that the pool is used (trailing blocks above 362 rows). The
     * code is plain C with no per-architecture path, so under qemu
     * (VIREO_TEST_QUICK) this slow case adds nothing: skip it there. */
    const char *quick = getenv("VIREO_TEST_QUICK");
    if (quick && *quick && strcmp(quick, "0") != 0)
        skip();
    size_t n = 400;
    tu_rng r = tu_rng_make(42);
    double *a = random_symmetric(&r, n), *b = malloc(n * n * sizeof *b);
    double *ev1 = malloc(n * sizeof *ev1), *ev2 = malloc(n * sizeof *ev2);
    double *u1 = malloc(n * n * sizeof *u1), *u2 = malloc(n * n * sizeof *u2);
    char err[256];
    memcpy(b, a, n * n * sizeof *b);
    assert_int_equal(vr_sym_eig(b, n, ev1, u1, NULL, err, sizeof err), 0);
    vr_pool *p = vr_pool_create(3);
    memcpy(b, a, n * n * sizeof *b);
    assert_int_equal(vr_sym_eig(b, n, ev2, u2, p, err, sizeof err), 0);
    vr_pool_destroy(p);
    assert_memory_equal(ev1, ev2, n * sizeof *ev1);
    assert_memory_equal(u1, u2, n * n * sizeof *u1);
    check_pairs("n=400", a, n, ev1, u1);
    free(a), free(b), free(ev1), free(ev2), free(u1), free(u2);
}

static void test_covariance(void **state)
{
    struct { size_t n, d; } cases[] = {{1, 1}, {1, 5}, {7, 1}, {3, 9}, {65, 17}, {130, 33}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t n = cases[c].n, d = cases[c].d;
        tu_rng r = tu_rng_make(500 + c);
        float *x = malloc(n * d * sizeof *x);
        for (size_t i = 0; i < n * d; i++)
            x[i] = tu_uniform(&r, -1, 1) + (float)(i % d); /* offsets: the mean matters */
        double *mu = malloc(d * sizeof *mu), *cov = malloc(d * d * sizeof *cov);
        char err[256];
        vr_pool *p = vr_pool_create(2);
        if (vr_covariance(x, n, d, mu, cov, p, err, sizeof err) != 0)
            tu_fail("covariance %zux%zu: %s", n, d, err);
        vr_pool_destroy(p);
        /* Direct two-pass oracle in long double. Each centred value is
         * rounded to double once and sums of n products differ by
         * ≤ 2·γ_n·Σ|y_i y_j| (Higham 3.1). */
        for (size_t j = 0; j < d; j++) {
            long double m = 0;
            for (size_t s = 0; s < n; s++)
                m += x[s * d + j];
            m /= n;
            if (fabsl(mu[j] - m) > 4 * n * DBL_EPSILON * (fabsl(m) + 1))
                tu_fail("covariance: mean %zu %.17g vs %.17Lg", j, mu[j], m);
        }
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < d; j++) {
                long double s = 0, sa = 0;
                for (size_t t = 0; t < n; t++) {
                    long double yi = x[t * d + i] - (long double)mu[i], yj = x[t * d + j] - (long double)mu[j];
                    s += yi * yj;
                    sa += fabsl(yi * yj);
                }
                s /= n;
                double tol = 4 * (n + 2) * DBL_EPSILON * (double)(sa / n) + 1e-300;
                if (fabsl(cov[i * d + j] - s) > tol || cov[i * d + j] != cov[j * d + i])
                    tu_fail("covariance %zux%zu: (%zu,%zu) %.17g vs %.17Lg", n, d, i, j, cov[i * d + j], s);
            }
        if (n >= 2) { /* and numpy */
            rf_set in = {0}, out = {0};
            rf_add_op(&in, "covariance");
            rf_add(&in, "x", RF_F32, x, n, d);
            int rc = rf_run(&in, &out);
            rf_free(&in);
            if (rc != RF_SKIP) {
                assert_int_equal(rc, RF_OK);
                const rf_arr *pc = rf_get(&out, "cov");
                assert_non_null(pc);
                for (size_t i = 0; i < d * d; i++)
                    if (fabs(cov[i] - rf_at(pc, i)) > 8 * (n + 2) * DBL_EPSILON * (fabs(rf_at(pc, i)) + 1))
                        tu_fail("covariance vs numpy %zux%zu: entry %zu %.17g vs %.17g", n, d, i, cov[i], rf_at(pc, i));
                rf_free(&out);
            }
        }
        free(x), free(mu), free(cov);
    }
}

static void test_errors(void **state)
{
    char err[256] = "";
    double a[4] = {1, 0, NAN, 1}, ev[2], u[4];
    assert_int_equal(vr_sym_eig(a, 2, ev, u, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "not finite"));
    a[2] = INFINITY;
    assert_int_equal(vr_sym_eig(a, 2, ev, u, NULL, err, sizeof err), -1);
    assert_int_equal(vr_sym_eig(a, 0, ev, u, NULL, err, sizeof err), -1);
    /* The upper triangle is not read: NaN there is fine. */
    double b[4] = {1, NAN, 0.5, 1};
    assert_int_equal(vr_sym_eig(b, 2, ev, u, NULL, err, sizeof err), 0);
    assert_true(fabs(ev[0] - 1.5) < 1e-15 && fabs(ev[1] - 0.5) < 1e-15);
    float x[6] = {1, 2, 3, 4, NAN, 6};
    double mu[3], cov[9];
    assert_int_equal(vr_covariance(x, 2, 3, mu, cov, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "column 1"));
    assert_int_equal(vr_covariance(x, 0, 3, mu, cov, NULL, err, sizeof err), -1);
    assert_int_equal(vr_covariance(x, 2, 0, mu, cov, NULL, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_small),
        cmocka_unit_test(test_edge_sizes_random),
        cmocka_unit_test(test_diagonal_sorted_and_unit),
        cmocka_unit_test(test_repeated_zero_and_rank_deficient),
        cmocka_unit_test(test_clustered_and_graded),
        cmocka_unit_test(test_matches_numpy),
        cmocka_unit_test(test_threads_do_not_change_results),
        cmocka_unit_test(test_covariance),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
