/* runtime/metrics.h: per-query metrics worked by hand from their
 * definitions, the label-based evaluation against the numpy reference
 * (tests/unit/retrieval_reference.py) on seeded rankings with truncated lists,
 * queries without a relevant item and self-exclusion, UKBench-shaped cases,
 * and errors. Results are sums of at most a few thousand doubles: the C and
 * numpy sums differ by ≤ n·ε relative, tolerance 1e-12. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retrieval_refio.h"
#include "runtime/metrics.h"
#include "testutil.h"

static void test_by_hand(void **state)
{
    /* Ranks 2 and 4 relevant, 3 relevant in the gallery. */
    uint8_t rel[] = {0, 1, 0, 1, 0, 0};
    assert_int_equal(vr_hits_at(rel, 6, 1), 0);
    assert_int_equal(vr_hits_at(rel, 6, 4), 2);
    assert_int_equal(vr_hits_at(rel, 6, 100), 2);
    assert_int_equal(vr_recall_at(rel, 6, 1), 0);
    assert_int_equal(vr_recall_at(rel, 6, 2), 1);
    /* AP = (1/2 + 2/4) / 3 */
    assert_true(fabs(vr_average_precision(rel, 6, 3) - 1.0 / 3) < 1e-15);
    /* AR@10 = 2 / min(10, 3); AR@1 = 0 / 1; AR@2 = 1 / 2 */
    assert_true(fabs(vr_ar_at(rel, 6, 10, 3) - 2.0 / 3) < 1e-15);
    assert_true(vr_ar_at(rel, 6, 1, 3) == 0 && vr_ar_at(rel, 6, 2, 3) == 0.5);
    /* 20 relevant in the gallery, 2 in the top 10: AR@10 = 2/10. */
    assert_true(fabs(vr_ar_at(rel, 6, 10, 20) - 0.2) < 1e-15);
    assert_true(vr_ar_at(rel, 6, 10, 0) == 0 && vr_average_precision(rel, 6, 0) == 0);
    /* Empty list. */
    assert_int_equal(vr_hits_at(rel, 0, 10), 0);
    assert_true(vr_average_precision(rel, 0, 5) == 0);

    vr_eval e;
    vr_eval_init(&e);
    uint8_t all[] = {1, 1, 1, 1};
    assert_int_equal(vr_eval_add(&e, rel, 6, 3), 0);
    assert_int_equal(vr_eval_add(&e, all, 4, 4), 0);
    assert_int_equal(vr_eval_add(&e, rel, 6, 0), -1); /* more hits than relevant items */
    uint8_t none[] = {0, 0};
    assert_int_equal(vr_eval_add(&e, none, 2, 0), 0); /* nothing relevant: skipped */
    vr_eval_finish(&e);
    assert_int_equal(e.queries, 2);
    assert_int_equal(e.skipped, 1);
    assert_true(e.recall1 == 0.5 && e.recall5 == 1 && e.recall10 == 1);
    assert_true(fabs(e.map - (1.0 / 3 + 1) / 2) < 1e-15);
    assert_true(fabs(e.mar10 - (2.0 / 3 + 1) / 2) < 1e-15);
    assert_true(e.ns_score == 3); /* (2 + 4) / 2 */
}

/* UKBench: 250 objects × 4 views (here 25 × 4), every image a query against
 * all, itself included. */
static void test_ukbench_shape(void **state)
{
    size_t n = 100;
    int32_t *label = malloc(n * sizeof *label);
    uint32_t *ranked = malloc(n * n * sizeof *ranked);
    size_t *self = malloc(n * sizeof *self);
    for (size_t i = 0; i < n; i++)
        label[i] = (int32_t)(i / 4), self[i] = i;
    /* Perfect ranking: the query, its 3 siblings, then the rest. */
    for (size_t i = 0; i < n; i++) {
        size_t t = 0, obj = i / 4;
        ranked[i * n + t++] = (uint32_t)i;
        for (size_t j = obj * 4; j < obj * 4 + 4; j++)
            if (j != i)
                ranked[i * n + t++] = (uint32_t)j;
        for (size_t j = 0; j < n; j++)
            if (j / 4 != obj)
                ranked[i * n + t++] = (uint32_t)j;
    }
    vr_eval e;
    char err[256];
    assert_int_equal(vr_eval_by_labels(ranked, NULL, n, n, label, label, n, NULL, &e, err, sizeof err), 0);
    assert_true(e.ns_score == 4.0 && e.map == 1.0 && e.recall1 == 1.0);
    assert_int_equal(vr_eval_by_labels(ranked, NULL, n, n, label, label, n, self, &e, err, sizeof err), 0);
    assert_true(e.ns_score == 3.0 && e.map == 1.0 && e.recall1 == 1.0 && e.mar10 == 1.0);
    /* The query ranked 2nd behind a sibling, the other siblings last: kept,
     * the top 4 hold 2 relevant; dropped, 1 of 3 relevant at rank 1. */
    for (size_t i = 0; i < n; i++) {
        size_t obj = i / 4, sib = obj * 4 + (i % 4 == 0), t = 0;
        ranked[i * n + t++] = (uint32_t)sib;
        ranked[i * n + t++] = (uint32_t)i;
        for (size_t j = 0; j < n; j++)
            if (j / 4 != obj)
                ranked[i * n + t++] = (uint32_t)j;
        for (size_t j = obj * 4; j < obj * 4 + 4; j++)
            if (j != i && j != sib)
                ranked[i * n + t++] = (uint32_t)j;
    }
    assert_int_equal(vr_eval_by_labels(ranked, NULL, n, n, label, label, n, NULL, &e, err, sizeof err), 0);
    assert_true(e.ns_score == 2.0 && e.recall1 == 1.0);
    /* AP with self kept: relevant at ranks 1, 2, 99, 100 of 4. */
    double ap = (1.0 + 1.0 + 3.0 / 99 + 4.0 / 100) / 4;
    assert_true(fabs(e.map - ap) < 1e-12);
    assert_int_equal(vr_eval_by_labels(ranked, NULL, n, n, label, label, n, self, &e, err, sizeof err), 0);
    /* Self dropped: relevant at ranks 1, 98, 99 of 3. */
    ap = (1.0 + 2.0 / 98 + 3.0 / 99) / 3;
    assert_true(fabs(e.map - ap) < 1e-12 && e.ns_score == 1.0 && fabs(e.mar10 - 1.0 / 3) < 1e-15);
    free(label), free(ranked), free(self);
}

static void test_random_vs_numpy(void **state)
{
    rf_set in = {0}, out = {0};
    vr_eval got[4];
    int cases = 0;
    for (int variant = 0; variant < 4; variant++) {
        /* 0: full rankings; 1: truncated top-15 lists of varying length;
         * 2: queries are gallery items, self dropped; 3: as 2, self kept. */
        tu_rng r = tu_rng_make(70 + (uint64_t)variant);
        size_t nq = 40, ng = 120, stride = variant == 1 ? 15 : ng;
        int32_t *ql = malloc(nq * sizeof *ql), *gl = malloc(ng * sizeof *gl);
        uint32_t *ranked = malloc(nq * stride * sizeof *ranked), *perm = malloc(ng * sizeof *perm);
        size_t *count = malloc(nq * sizeof *count), *self = malloc(nq * sizeof *self);
        int32_t *ci = malloc(nq * sizeof *ci), *si = malloc(nq * sizeof *si);
        for (size_t g = 0; g < ng; g++)
            gl[g] = (int32_t)(tu_next(&r) % 13); /* uneven class sizes */
        for (size_t i = 0; i < nq; i++) {
            ql[i] = (int32_t)(tu_next(&r) % 15); /* labels 13, 14: no relevant item */
            if (i == 0)
                ql[i] = 14;
            self[i] = variant >= 2 ? (size_t)(tu_next(&r) % ng) : SIZE_MAX;
            if (variant >= 2)
                ql[i] = gl[self[i]];
            si[i] = self[i] == SIZE_MAX ? -1 : (int32_t)self[i];
            for (size_t g = 0; g < ng; g++)
                perm[g] = (uint32_t)g;
            for (size_t g = ng - 1; g > 0; g--) { /* Fisher–Yates */
                size_t k = tu_next(&r) % (g + 1);
                uint32_t t = perm[g];
                perm[g] = perm[k], perm[k] = t;
            }
            /* Bias towards relevant items near the top so metrics are not 0. */
            for (size_t g = 0; g + 1 < ng; g++)
                if (gl[perm[g + 1]] == ql[i] && tu_next(&r) % 3 == 0) {
                    uint32_t t = perm[g];
                    perm[g] = perm[g + 1], perm[g + 1] = t;
                }
            count[i] = variant == 1 ? 1 + tu_next(&r) % stride : stride;
            memcpy(ranked + i * stride, perm, stride * sizeof *ranked);
            ci[i] = (int32_t)count[i];
        }
        char err[256];
        int rc = vr_eval_by_labels(ranked, count, stride, nq, ql, gl, ng,
                                   variant == 2 ? self : NULL, &got[variant], err, sizeof err);
        if (rc != 0)
            tu_fail("variant %d: %s", variant, err);
        assert_true(got[variant].queries + got[variant].skipped == nq);
        rf_case(&in, cases++);
        rf_add_op(&in, "metrics");
        rf_add(&in, "ranked", RF_U32, ranked, nq, stride);
        rf_add(&in, "count", RF_I32, ci, nq, 0);
        rf_add(&in, "q_label", RF_I32, ql, nq, 0);
        rf_add(&in, "g_label", RF_I32, gl, ng, 0);
        if (variant == 2)
            rf_add(&in, "self", RF_I32, si, nq, 0);
        free(ql), free(gl), free(ranked), free(perm), free(count), free(self), free(ci), free(si);
    }
    /* Variant 0 and 1 have queries without relevant items (labels 13, 14). */
    assert_true(got[0].skipped > 0 && got[1].skipped > 0);
    rf_finish_cases(&in, cases);
    int rc = rf_run(&in, &out);
    rf_free(&in);
    if (rc == RF_SKIP)
        return;
    assert_int_equal(rc, RF_OK);
    for (int c = 0; c < cases; c++) {
        rf_case(&out, c);
        const vr_eval *e = &got[c];
        struct { const char *name; double v; } m[] = {
            {"recall1", e->recall1}, {"recall5", e->recall5}, {"recall10", e->recall10},
            {"mar10", e->mar10},     {"map", e->map},         {"ns", e->ns_score},
            {"queries", (double)e->queries}, {"skipped", (double)e->skipped},
        };
        for (size_t k = 0; k < sizeof m / sizeof *m; k++) {
            const rf_arr *a = rf_get(&out, m[k].name);
            assert_non_null(a);
            if (fabs(m[k].v - rf_at(a, 0)) > 1e-12)
                tu_fail("variant %d: %s %.17g, reference %.17g", c, m[k].name, m[k].v, rf_at(a, 0));
        }
    }
    rf_free(&out);
}

static void test_errors(void **state)
{
    int32_t ql[2] = {0, 1}, gl[3] = {0, 1, 0};
    uint32_t ranked[6] = {0, 1, 2, 2, 1, 0};
    size_t count[2] = {3, 3}, self[2] = {0, 5};
    vr_eval e;
    char err[256];
    assert_int_equal(vr_eval_by_labels(ranked, count, 3, 2, ql, gl, 3, NULL, &e, err, sizeof err), 0);
    assert_int_equal(e.queries, 2);
    ranked[1] = 3; /* out of range */
    assert_int_equal(vr_eval_by_labels(ranked, count, 3, 2, ql, gl, 3, NULL, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    ranked[1] = 0; /* repeated */
    assert_int_equal(vr_eval_by_labels(ranked, count, 3, 2, ql, gl, 3, NULL, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "repeated"));
    ranked[1] = 1;
    count[1] = 4; /* over the stride */
    assert_int_equal(vr_eval_by_labels(ranked, count, 3, 2, ql, gl, 3, NULL, &e, err, sizeof err), -1);
    count[1] = 3;
    assert_int_equal(vr_eval_by_labels(ranked, count, 3, 2, ql, gl, 3, self, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "gallery item 5"));
    self[1] = SIZE_MAX; /* not in the gallery */
    assert_int_equal(vr_eval_by_labels(ranked, count, 3, 2, ql, gl, 3, self, &e, err, sizeof err), 0);
    /* Query 0 (label 0) minus itself: one relevant (item 2) at rank 2 of 2. */
    assert_int_equal(e.queries, 2);
    assert_int_equal(vr_eval_by_labels(ranked, count, 3, 0, ql, gl, 3, NULL, &e, err, sizeof err), 0);
    assert_int_equal(e.queries, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_ukbench_shape),
        cmocka_unit_test(test_random_vs_numpy),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
