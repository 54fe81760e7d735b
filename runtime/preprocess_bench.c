/* vr_preproc_bench_run: see preprocess.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/errmsg.h"
#include "runtime/preprocess_internal.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One image one way: decode (timed apart) then preprocess. */
static int one(const vr_preproc *pp, const void *buf, size_t len, int scaled, void *out,
               double *dec_s, double *all_s)
{
    double t0 = cpu_now();
    int n = 8;
    if (scaled && vf_image_sniff(buf, len) == VF_IMG_JPEG) {
        vf_image_format fmt;
        int W, H;
        if (vf_image_probe(buf, len, &fmt, &W, &H, NULL, 0))
            return -1;
        n = vr_preproc_decode_scale(pp, W, H);
    }
    vf_image img;
    if (vf_image_decode_scaled(buf, len, NULL, n, &img, NULL, 0))
        return -1;
    double t1 = cpu_now();
    int rc = vr_preprocess(pp, &img, out, NULL, 0);
    vf_image_free(&img);
    double t2 = cpu_now();
    *dec_s += t1 - t0;
    *all_s += t2 - t0;
    return rc;
}

int vr_preproc_bench_run(const vr_preproc *pp, const void *const *bufs, const size_t *lens,
                         size_t n, int runs, vr_preproc_bench *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (runs < 1)
        runs = 1;
    size_t bytes = vr_preproc_bytes(pp);
    vr_preproc pu = *pp; /* accuracy on the 8-bit resized image */
    pu.dtype = VR_U8, pu.have_norm = 0, pu.nchw = 0, pu.in_scale = 1, pu.in_zero = 0;
    size_t ub = vr_preproc_bytes(&pu);
    void *out = malloc(bytes);
    uint8_t *a = malloc(ub), *b = malloc(ub);
    double *t = malloc(sizeof(double) * 4 * (size_t)runs);
    char *ok = calloc(n ? n : 1, 1);
    if (!out || !a || !b || !t || !ok) {
        free(out), free(a), free(b), free(t), free(ok);
        return vf_fail(err, errlen, "out of memory");
    }
    /* accuracy, and which images decode */
    size_t samples = 0, within = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d0 = 0, d1 = 0;
        if (one(&pu, bufs[i], lens[i], 0, a, &d0, &d1) || one(&pu, bufs[i], lens[i], 1, b, &d0, &d1))
            continue;
        ok[i] = 1;
        res->images++;
        for (size_t j = 0; j < ub; j++) {
            int d = abs((int)a[j] - (int)b[j]);
            sum += d;
            within += d <= 1;
            res->max_diff = d > res->max_diff ? d : res->max_diff;
        }
        samples += ub;
    }
    res->mean_abs_diff = samples ? sum / (double)samples : 0;
    res->within1 = samples ? (double)within / (double)samples : 0;
    for (int r = 0; r < runs; r++) {
        double fd = 0, fa = 0, sd = 0, sa = 0;
        for (size_t i = 0; i < n; i++) {
            if (!ok[i])
                continue;
            one(pp, bufs[i], lens[i], 0, out, &fd, &fa);
            one(pp, bufs[i], lens[i], 1, out, &sd, &sa);
        }
        t[r] = fa, t[runs + r] = sa, t[2 * runs + r] = fd, t[3 * runs + r] = sd;
    }
    res->full_s = median(t, runs);
    res->scaled_s = median(t + runs, runs);
    res->full_decode_s = median(t + 2 * runs, runs);
    res->scaled_decode_s = median(t + 3 * runs, runs);
    free(out), free(a), free(b), free(t), free(ok);
    return 0;
}
