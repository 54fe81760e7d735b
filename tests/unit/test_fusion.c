/* runtime/fusion.h: image + title fusion against a double-precision oracle
 * written from the formulas, and the index's text records (hostile values
 * refused with a message naming the key).
 *
 * Tolerance: every fused value is one f32 rounding of a double computation
 * (a norm over ≤ 2·d terms then a product), so |got − want| ≤ 4 u |want| +
 * d·u·max|want|; we allow 1e-6 absolute on unit-norm rows of d ≤ 67, about
 * 4× that bound at its largest. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/fusion.h"
#include "runtime/index.h"
#include "testutil.h"

#define TOL 1e-6f

static void unit_rows(tu_rng *r, float *x, size_t n, size_t d)
{
    tu_fill_f32(r, x, n * d, -1, 1);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++)
            s += (double)x[i * d + j] * x[i * d + j];
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = (float)(x[i * d + j] / sqrt(s));
    }
}

static void unit_d(double *x, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++)
        s += x[j] * x[j];
    if (s > 0)
        for (size_t j = 0; j < d; j++)
            x[j] /= sqrt(s);
}

/* Oracle: one row. img / txt NULL when absent; fill NULL for zeros. */
static void oracle(vr_fusion_mode mode, double W, double wq, const float *img, const float *txt,
                   const float *fill, size_t di, size_t dt, double *out)
{
    if (mode == VR_FUSION_SUM) {
        double a = img && txt ? 1 - wq : 1, b = img && txt ? wq : 1;
        for (size_t j = 0; j < di; j++)
            out[j] = (img ? a * img[j] : 0) + (txt ? b * txt[j] : 0);
        unit_d(out, di);
        return;
    }
    double a = img && txt ? sqrt(1 - wq) : sqrt(1 - W), b = img && txt ? sqrt(wq) : sqrt(W);
    for (size_t j = 0; j < di; j++)
        out[j] = img ? a * img[j] : fill ? fill[j] : 0;
    for (size_t j = 0; j < dt; j++)
        out[di + j] = txt ? b * txt[j] : fill ? fill[di + j] : 0;
    unit_d(out, di + dt);
}

static void compare(const char *what, const float *got, const double *want, size_t d)
{
    for (size_t j = 0; j < d; j++)
        if (!(fabs(got[j] - want[j]) <= TOL))
            tu_fail("%s: [%zu] %.9g, want %.9g", what, j, (double)got[j], want[j]);
}

/* Items and every kind of query, both modes, odd and block-edge sizes. */
static void test_fusion_math(void **state)
{
    (void)state;
    static const size_t dims[][2] = {{1, 1}, {3, 3}, {17, 17}, {32, 32}, {5, 1}, {1, 7}, {33, 31}};
    static const float ws[] = {0.0f, 0.3f, 0.5f, 1.0f};
    tu_rng r = tu_rng_make(61);
    enum { N = 5 };
    for (size_t k = 0; k < sizeof dims / sizeof *dims; k++) {
        size_t di = dims[k][0], dt = dims[k][1];
        float img[N * 33], txt[N * 33], fill[66], out[N * 66];
        double want[66];
        unit_rows(&r, img, N, di);
        unit_rows(&r, txt, N, dt);
        tu_fill_f32(&r, fill, di + dt, -0.5f, 0.5f);
        memset(img + (N - 1) * di, 0, di * sizeof *img); /* an unreadable image */
        for (int mode = VR_FUSION_SUM; mode <= VR_FUSION_CONCAT; mode++) {
            if (mode == VR_FUSION_SUM && di != dt)
                continue;
            for (size_t wi = 0; wi < sizeof ws / sizeof *ws; wi++) {
                vr_fusion f = {.mode = (vr_fusion_mode)mode, .w = ws[wi], .d_img = di, .d_txt = dt};
                char err[256], what[128];
                int valid = mode == VR_FUSION_SUM || (ws[wi] > 0 && ws[wi] < 1);
                if (!valid) {
                    assert_int_equal(vr_fusion_items(&f, img, txt, N, out, err, sizeof err), -1);
                    assert_non_null(strstr(err, "strictly between 0 and 1"));
                    continue;
                }
                size_t d = vr_fusion_dim(&f);
                assert_int_equal(d, mode == VR_FUSION_CONCAT ? di + dt : di);
                assert_int_equal(vr_fusion_items(&f, img, txt, N, out, err, sizeof err), 0);
                for (size_t i = 0; i < N; i++) {
                    snprintf(what, sizeof what, "%s items %zu+%zu W %g row %zu",
                             vr_fusion_mode_name(f.mode), di, dt, (double)f.w, i);
                    if (i == N - 1) {
                        for (size_t j = 0; j < d; j++)
                            if (out[i * d + j] != 0)
                                tu_fail("%s: a failed image must give a zero row", what);
                        continue;
                    }
                    oracle(f.mode, f.w, f.w, img + i * di, txt + i * dt, NULL, di, dt, want);
                    compare(what, out + i * d, want, d);
                }
                const float wq = 0.7f;
                for (int kind = 0; kind < 3; kind++) { /* image, text, both */
                    for (int use_fill = 0; use_fill < 2; use_fill++) {
                        const float *qi = kind != 1 ? img : NULL, *qt = kind != 0 ? txt : NULL;
                        const float *fl = use_fill && mode == VR_FUSION_CONCAT ? fill : NULL;
                        assert_int_equal(
                            vr_fusion_queries(&f, qi, qt, N - 1, wq, fl, out, err, sizeof err), 0);
                        for (size_t i = 0; i + 1 < N; i++) {
                            snprintf(what, sizeof what, "%s query kind %d fill %d %zu+%zu W %g row %zu",
                                     vr_fusion_mode_name(f.mode), kind, use_fill, di, dt,
                                     (double)f.w, i);
                            oracle(f.mode, f.w, wq, qi ? qi + i * di : NULL, qt ? qt + i * dt : NULL,
                                   fl, di, dt, want);
                            compare(what, out + i * d, want, d);
                        }
                    }
                }
            }
        }
    }
}

/* Ranking property the design rests on: a concat item scores (1 − W)·cos_img
 * + W·cos_txt against a query with both at w_q = W. */
static void test_concat_scores_are_weighted_cosines(void **state)
{
    (void)state;
    tu_rng r = tu_rng_make(62);
    enum { DI = 24, DT = 8 };
    float img[2 * DI], txt[2 * DT], item[DI + DT], q[DI + DT];
    unit_rows(&r, img, 2, DI);
    unit_rows(&r, txt, 2, DT);
    vr_fusion f = {.mode = VR_FUSION_CONCAT, .w = 0.25f, .d_img = DI, .d_txt = DT};
    char err[256];
    assert_int_equal(vr_fusion_items(&f, img, txt, 1, item, err, sizeof err), 0);
    assert_int_equal(vr_fusion_queries(&f, img + DI, txt + DT, 1, 0.25f, NULL, q, err, sizeof err), 0);
    double ci = 0, ct = 0, s = 0;
    for (int j = 0; j < DI; j++)
        ci += (double)img[j] * img[DI + j];
    for (int j = 0; j < DT; j++)
        ct += (double)txt[j] * txt[DT + j];
    for (int j = 0; j < DI + DT; j++)
        s += (double)item[j] * q[j];
    if (fabs(s - (0.75 * ci + 0.25 * ct)) > 1e-6)
        tu_fail("score %.9g, want %.9g", s, 0.75 * ci + 0.25 * ct);
}

static void test_fusion_refusals(void **state)
{
    (void)state;
    char err[256];
    float x[4] = {1, 0, 0, 0}, out[8];
    vr_fusion f = {.mode = VR_FUSION_SUM, .w = 0.5f, .d_img = 4, .d_txt = 3};
    assert_int_equal(vr_fusion_check(&f, err, sizeof err), -1);
    assert_non_null(strstr(err, "one space"));
    f = (vr_fusion){.mode = VR_FUSION_SUM, .w = 1.5f, .d_img = 4, .d_txt = 4};
    assert_int_equal(vr_fusion_check(&f, err, sizeof err), -1);
    f.w = NAN;
    assert_int_equal(vr_fusion_check(&f, err, sizeof err), -1);
    f.w = 0.5f;
    assert_int_equal(vr_fusion_queries(&f, NULL, NULL, 1, 0.5f, NULL, out, err, sizeof err), -1);
    assert_int_equal(vr_fusion_queries(&f, x, x, 1, 2.0f, NULL, out, err, sizeof err), -1);
    f = (vr_fusion){.mode = VR_FUSION_NONE, .d_img = 4};
    assert_int_equal(vr_fusion_queries(&f, NULL, x, 1, 0.5f, NULL, out, err, sizeof err), -1);
    assert_non_null(strstr(err, "no text model"));
    vr_fusion_mode m;
    assert_int_equal(vr_fusion_mode_parse("sum", &m), 0);
    assert_int_equal(m, VR_FUSION_SUM);
    assert_int_equal(vr_fusion_mode_parse("SUM", &m), -1);
    assert_int_equal(vr_fusion_mode_parse("", &m), -1);
}

/* An index whose text records are hostile: each refused naming what is wrong. */
static void test_index_text_records(void **state)
{
    (void)state;
    static const struct {
        const char *fusion, *titles, *dim, *spec;
        size_t dim_in;
        const char *expect; /* NULL: accepted */
    } cases[] = {
        {"sum", "0.25", "16", "t.vwt", 16, NULL},
        {"concat", "0.25", "8", "t.vwt", 24, NULL},
        {NULL, NULL, NULL, NULL, 16, NULL},                               /* no text side */
        {"mean", "0.25", "16", "t.vwt", 16, "text.fusion is 'mean'"},
        {"none", "0.25", "16", "t.vwt", 16, "text.fusion is 'none'"},
        {"sum", NULL, "16", "t.vwt", 16, "text.titles is missing"},
        {"sum", "1.5", "16", "t.vwt", 16, "text.titles is '1.5'"},
        {"sum", "nan", "16", "t.vwt", 16, "text.titles is 'nan'"},
        {"sum", "0.2x", "16", "t.vwt", 16, "text.titles is '0.2x'"},
        {"sum", "-0", "16", "t.vwt", 16, NULL},                           /* −0 is 0 */
        {"sum", "0.25", NULL, "t.vwt", 16, "text.dim is missing"},
        {"sum", "0.25", "0", "t.vwt", 16, "text.dim is '0'"},
        {"sum", "0.25", "65537", "t.vwt", 16, "text.dim is '65537'"},
        {"sum", "0.25", "99999999999999999999", "t.vwt", 16, "text.dim is"},
        {"sum", "0.25", "-16", "t.vwt", 16, "text.dim is '-16'"},
        {"sum", "0.25", "16", "", 16, "text.spec"},
        {"sum", "0.25", "16", NULL, 16, "text.spec"},
        {"sum", "0.25", "8", "t.vwt", 16, "one space"},                   /* 16-d image, 8-d text */
        {"concat", "0", "8", "t.vwt", 24, "strictly between"},
        {"concat", "0.25", "8", "t.vwt", 16, "index's rows come from 16-d"},
        {NULL, "0.25", NULL, NULL, 16, "without text.fusion"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vr_index_kv kv[4];
        size_t nkv = 0;
        if (cases[i].fusion)
            kv[nkv++] = (vr_index_kv){"text.fusion", cases[i].fusion};
        if (cases[i].titles)
            kv[nkv++] = (vr_index_kv){"text.titles", cases[i].titles};
        if (cases[i].dim)
            kv[nkv++] = (vr_index_kv){"text.dim", cases[i].dim};
        if (cases[i].spec)
            kv[nkv++] = (vr_index_kv){"text.spec", cases[i].spec};
        vr_index_params p = {.kind = VK_CODE_F32, .dim_in = cases[i].dim_in, .dim = cases[i].dim_in,
                             .model = "m", .kv = nkv ? kv : NULL, .nkv = nkv};
        vr_index *ix;
        char err[512] = "";
        if (vr_index_create(&p, &ix, err, sizeof err))
            tu_fail("case %zu: create: %s", i, err);
        vr_fusion f;
        int rc = vr_fusion_from_index(ix, 16, &f, err, sizeof err);
        vr_index_close(ix);
        if (!cases[i].expect) {
            if (rc < 0)
                tu_fail("case %zu: refused: %s", i, err);
            assert_int_equal(rc, cases[i].fusion ? 1 : 0);
            continue;
        }
        if (rc != -1)
            tu_fail("case %zu: accepted, expected '%s'", i, cases[i].expect);
        if (!strstr(err, cases[i].expect))
            tu_fail("case %zu: message '%s' lacks '%s'", i, err, cases[i].expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fusion_math),
        cmocka_unit_test(test_concat_scores_are_weighted_cosines),
        cmocka_unit_test(test_fusion_refusals),
        cmocka_unit_test(test_index_text_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
