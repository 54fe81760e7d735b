/* Activation ranges of a float model over calibration inputs
 * (runtime/calibrate.h). */
#include "runtime/calibrate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"
#include "formats/image.h"
#include "runtime/filelist.h"
#include "runtime/preprocess.h"

#define FAIL(...) return vf_fail(err, errlen, __VA_ARGS__)

#define HIST_BINS 2048
#define DEFAULT_METHOD VR_CALIB_MSE

const char *vr_calib_method_name(vr_calib_method m)
{
    switch (m == VR_CALIB_DEFAULT ? DEFAULT_METHOD : m) {
    case VR_CALIB_MINMAX: return "minmax";
    case VR_CALIB_MEAN_MINMAX: return "mean";
    case VR_CALIB_PERCENTILE: return "percentile";
    case VR_CALIB_MSE: return "mse";
    default: return "?";
    }
}

int vr_calib_method_parse(const char *s, vr_calib_method *m, double *percentile)
{
    *percentile = 0;
    if (!strcmp(s, "minmax"))
        *m = VR_CALIB_MINMAX;
    else if (!strcmp(s, "mean"))
        *m = VR_CALIB_MEAN_MINMAX;
    else if (!strcmp(s, "percentile"))
        *m = VR_CALIB_PERCENTILE;
    else if (!strcmp(s, "mse"))
        *m = VR_CALIB_MSE;
    else if (!strncmp(s, "percentile:", 11)) {
        char *end;
        double p = strtod(s + 11, &end);
        if (end == s + 11 || *end || !(p > 50 && p <= 100))
            return -1;
        *m = VR_CALIB_PERCENTILE;
        *percentile = p;
    } else
        return -1;
    return 0;
}

/* Per value: the pass-1 statistics, and in pass 2 a histogram over [mn, mx]. */
typedef struct {
    double mn, mx;           /* over everything */
    double sum_mn, sum_mx;   /* of the per-image extremes */
    uint64_t *hist;          /* HIST_BINS, pass 2 */
    uint64_t count;
    int nan;                 /* a NaN was seen (min / max comparisons skip it) */
} vstat;

typedef struct {
    const vr_graph *g;
    vstat *st;
    int batch;
    int pass;
} observer;

static void observe_value(observer *o, const void *base, size_t pix_ld, size_t img_stride, int v)
{
    const vr_value *val = vr_graph_value(o->g, v);
    vstat *s = &o->st[v];
    size_t pix = (size_t)val->h * val->w;
    for (int b = 0; b < o->batch; b++) {
        const float *img = (const float *)base + (size_t)b * img_stride;
        if (o->pass == 1) {
            float mn = INFINITY, mx = -INFINITY;
            for (size_t q = 0; q < pix; q++) {
                const float *x = img + q * pix_ld;
                for (int c = 0; c < val->c; c++) {
                    mn = x[c] < mn ? x[c] : mn;
                    mx = x[c] > mx ? x[c] : mx;
                    s->nan |= x[c] != x[c];
                }
            }
            s->mn = mn < s->mn ? mn : s->mn;
            s->mx = mx > s->mx ? mx : s->mx;
            s->sum_mn += mn;
            s->sum_mx += mx;
        } else {
            double lo = s->mn, w = s->mx - s->mn;
            double inv = w > 0 ? HIST_BINS / w : 0;
            for (size_t q = 0; q < pix; q++) {
                const float *x = img + q * pix_ld;
                for (int c = 0; c < val->c; c++) {
                    double t = (x[c] - lo) * inv;
                    int bin = t < 0 ? 0 : t >= HIST_BINS ? HIST_BINS - 1 : (int)t;
                    s->hist[bin]++;
                }
            }
            s->count += pix * (size_t)val->c;
        }
    }
}

static void observe(void *ctx, const vr_plan *p, int node)
{
    observer *o = ctx;
    int v = vr_graph_node(o->g, node)->out;
    size_t pix_ld, img_stride;
    const void *base = vr_plan_value(p, v, &pix_ld, &img_stride);
    if (base)
        observe_value(o, base, pix_ld, img_stride, v);
}

/* The value below which a fraction q of the histogram's mass lies
 * (interpolated inside its bin). */
static double hist_quantile(const vstat *s, double q)
{
    double target = q * (double)s->count, acc = 0, w = (s->mx - s->mn) / HIST_BINS;
    for (int i = 0; i < HIST_BINS; i++) {
        double h = (double)s->hist[i];
        if (acc + h >= target && h > 0)
            return s->mn + w * (i + (target - acc) / h);
        acc += h;
    }
    return s->mx;
}

/* The MSE method (calibrate.h): prefix sums over the bins make each
 * candidate's error O(1); a bin counts at its centre. */
#define MSE_GRID 128
static void mse_range(const vstat *s, double *lo_out, double *hi_out)
{
    double w = (s->mx - s->mn) / HIST_BINS;
    double *p0 = calloc(3 * (HIST_BINS + 1), sizeof *p0), *p1 = p0 + HIST_BINS + 1,
           *p2 = p1 + HIST_BINS + 1;
    *lo_out = s->mn < 0 ? s->mn : 0;
    *hi_out = s->mx > 0 ? s->mx : 0;
    if (!p0 || !(w > 0)) {
        free(p0);
        return;
    }
    for (int i = 0; i < HIST_BINS; i++) {
        double c = s->mn + w * (i + 0.5), n = (double)s->hist[i];
        p0[i + 1] = p0[i] + n;
        p1[i + 1] = p1[i] + n * c;
        p2[i + 1] = p2[i] + n * c * c;
    }
    double best = INFINITY, lo0 = *lo_out, hi0 = *hi_out;
    for (int u = lo0 < 0 ? 1 : MSE_GRID; u <= MSE_GRID; u++)
        for (int t = hi0 > 0 ? 1 : MSE_GRID; t <= MSE_GRID; t++) {
            double lo = lo0 * u / MSE_GRID, hi = hi0 * t / MSE_GRID;
            /* bins [0, a) lie below lo, [b, BINS) above hi (by their centres) */
            double fa = (lo - s->mn) / w - 0.5, fb = (hi - s->mn) / w - 0.5;
            int a = fa < 0 ? 0 : (int)ceil(fa), b = fb < 0 ? 0 : (int)floor(fb) + 1;
            a = a > HIST_BINS ? HIST_BINS : a;
            b = b > HIST_BINS ? HIST_BINS : b < a ? a : b;
            double step = (hi - lo) / 255;
            double below = lo * lo * p0[a] - 2 * lo * p1[a] + p2[a];
            double t0 = p0[HIST_BINS] - p0[b], t1 = p1[HIST_BINS] - p1[b], t2 = p2[HIST_BINS] - p2[b];
            double above = t2 - 2 * hi * t1 + hi * hi * t0;
            double err = (p0[b] - p0[a]) * step * step / 12 + below + above;
            if (err < best) {
                best = err;
                *lo_out = lo, *hi_out = hi;
            }
        }
    free(p0);
}

static int run_pass(const vr_graph *g, vr_plan *plan, vr_pool *pool, const float *inputs, int n,
                    int batch, observer *o, void *out)
{
    const vr_value *iv = vr_graph_value(g, vr_graph_input(g));
    size_t per = (size_t)iv->h * iv->w * iv->c;
    for (int i = 0; i < n; i += batch) {
        const float *in = inputs + (size_t)i * per;
        observe_value(o, in, (size_t)iv->c, per, vr_graph_input(g));
        if (vr_plan_run_observed(plan, pool, in, out, observe, o))
            return -1;
    }
    return 0;
}

int vr_calibrate(const vr_graph *g, const float *inputs, int n, const vr_calib_opts *o,
                 vr_range *ranges, char *err, size_t errlen)
{
    vr_calib_opts opt = o ? *o : (vr_calib_opts){0};
    if (opt.method == VR_CALIB_DEFAULT)
        opt.method = DEFAULT_METHOD;
    if (opt.percentile == 0)
        opt.percentile = VR_CALIB_DEFAULT_PERCENTILE;
    if (opt.method < VR_CALIB_MINMAX || opt.method > VR_CALIB_MSE ||
        !(opt.percentile > 50 && opt.percentile <= 100))
        FAIL("calibration: unknown method %d or percentile %g", opt.method, opt.percentile);
    int nv = vr_graph_value_count(g);
    for (int v = 0; v < nv; v++)
        if (vr_graph_value(g, v)->dtype != VR_F32)
            FAIL("calibration: value %d is not f32 (the source must be a float model)", v);
    if (n < 1)
        FAIL("calibration: no inputs");
    /* The batch must divide n so every pass sees whole batches. */
    int batch = opt.batch > 0 ? opt.batch : 4;
    while (n % batch)
        batch--;
    vr_pool *own = opt.pool ? NULL : vr_pool_create(0);
    vr_pool *pool = opt.pool ? opt.pool : own;
    vstat *st = calloc((size_t)nv, sizeof *st);
    const vr_value *ov = vr_graph_value(g, vr_graph_output(g));
    void *out = malloc((size_t)batch * ov->h * ov->w * ov->c * sizeof(float));
    char sub[256];
    vr_plan *plan = NULL;
    int rc = -1;
    if (!pool || !st || !out) {
        vf_fail(err, errlen, "out of memory");
        goto done;
    }
    if (!(plan = vr_plan_create_ex(g, batch, vk_ops_get(), VR_PLAN_OBSERVABLE, sub, sizeof sub))) {
        vf_fail(err, errlen, "calibration: %s", sub);
        goto done;
    }
    for (int v = 0; v < nv; v++)
        st[v].mn = INFINITY, st[v].mx = -INFINITY;
    observer ob = {.g = g, .st = st, .batch = batch, .pass = 1};
    if (run_pass(g, plan, pool, inputs, n, batch, &ob, out)) {
        vf_fail(err, errlen, "calibration: the plan did not run");
        goto done;
    }
    for (int v = 0; v < nv; v++)
        if (st[v].nan || !isfinite(st[v].mn) || !isfinite(st[v].mx)) {
            vf_fail(err, errlen, "calibration: value %d was %s (range %g .. %g)", v,
                    st[v].nan ? "NaN" : "not seen or infinite", st[v].mn, st[v].mx);
            goto done;
        }
    if (opt.method == VR_CALIB_PERCENTILE || opt.method == VR_CALIB_MSE) {
        for (int v = 0; v < nv; v++)
            if (!(st[v].hist = calloc(HIST_BINS, sizeof *st[v].hist))) {
                vf_fail(err, errlen, "out of memory");
                goto done;
            }
        ob.pass = 2;
        if (run_pass(g, plan, pool, inputs, n, batch, &ob, out)) {
            vf_fail(err, errlen, "calibration: the plan did not run");
            goto done;
        }
    }
    for (int v = 0; v < nv; v++) {
        const vstat *s = &st[v];
        double lo = s->mn, hi = s->mx;
        if (opt.method == VR_CALIB_MEAN_MINMAX) {
            lo = s->sum_mn / n;
            hi = s->sum_mx / n;
        } else if (opt.method == VR_CALIB_PERCENTILE && s->count) {
            double q = opt.percentile / 100;
            lo = hist_quantile(s, 1 - q);
            hi = hist_quantile(s, q);
        } else if (opt.method == VR_CALIB_MSE && s->count) {
            mse_range(s, &lo, &hi);
        }
        ranges[v].lo = (float)(lo < 0 ? lo : 0);
        ranges[v].hi = (float)(hi > 0 ? hi : 0);
    }
    rc = 0;
done:
    if (st)
        for (int v = 0; v < nv; v++)
            free(st[v].hist);
    free(st);
    free(out);
    vr_plan_free(plan);
    vr_pool_destroy(own);
    return rc;
}

int vr_calib_load_images(const vr_model *m, const char *spec, int n, float **inputs, char *err,
                         size_t errlen)
{
    *inputs = NULL;
    if (n < 1 || n > 100000)
        FAIL("calibration: %d images requested (1 .. 100000)", n);
    if (!spec)
        FAIL("calibration: no images given");
    vr_preproc pp;
    char sub[400];
    if (vr_preproc_from_model(m, &pp, sub, sizeof sub))
        FAIL("calibration: model preprocessing: %s", sub);
    if (pp.dtype != VR_F32)
        FAIL("calibration: the model's input is not f32 (already quantized?)");
    vr_filelist fl = {0};
    if (vr_filelist_add_spec(&fl, spec, sub, sizeof sub))
        FAIL("calibration images: %s", sub);
    if (fl.n < (size_t)n) {
        size_t have = fl.n;
        vr_filelist_free(&fl);
        FAIL("calibration: %zu images in %s, %d requested", have, spec, n);
    }
    size_t per = vr_preproc_bytes(&pp);
    float *buf = malloc(per * (size_t)n);
    if (!buf) {
        vr_filelist_free(&fl);
        FAIL("out of memory for %d calibration images", n);
    }
    /* Image i starts at position i·len/n; failures move on to the next file
     * but never into the next image's share (so the spread stays even). */
    int got = 0;
    size_t bad = 0;
    for (int i = 0; i < n; i++) {
        size_t from = (size_t)i * fl.n / (size_t)n, to = (size_t)(i + 1) * fl.n / (size_t)n;
        for (size_t k = from; k < to && k < fl.n; k++) {
            vf_image img;
            if (vf_image_decode_file(fl.paths[k], NULL, &img, sub, sizeof sub)) {
                if (bad++ < 3)
                    fprintf(stderr, "calibration: skipping %s\n", sub);
                continue;
            }
            int ok = vr_preprocess(&pp, &img, (char *)buf + per * (size_t)got, sub, sizeof sub) == 0;
            vf_image_free(&img);
            if (ok) {
                got++;
                break;
            }
            if (bad++ < 3)
                fprintf(stderr, "calibration: skipping %s: %s\n", fl.paths[k], sub);
        }
    }
    size_t total = fl.n;
    vr_filelist_free(&fl);
    if (got < n) {
        free(buf);
        FAIL("calibration: %d usable images of the %d requested (%zu files in %s)", got, n, total,
             spec);
    }
    *inputs = buf;
    return 0;
}
