/* Pillow-exact resampling: see resize.h for the formulas. */
#include "runtime/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/errmsg.h"

#define PRECISION_BITS 22

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return 1.0 - x;
    return 0.0;
}

static double bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Taps of outputs o0 … o0+n−1 of one axis. */
typedef struct axis {
    int n, ksize;
    int *first, *count; /* n each */
    int32_t *k;         /* n · ksize */
} axis;

static void axis_free(axis *a)
{
    free(a->first);
    free(a->k);
    memset(a, 0, sizeof *a);
}

static int axis_init(axis *a, int in_n, float in0, float in1, int out_n, int o0, int n, vr_filter f,
                     char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    double (*filter)(double) = f == VR_FILTER_BICUBIC ? bicubic_filter : bilinear_filter;
    double fsupport = f == VR_FILTER_BICUBIC ? 2.0 : 1.0;
    double scale = (double)(in1 - in0) / out_n, filterscale = scale;
    if (filterscale < 1.0)
        filterscale = 1.0;
    double support = fsupport * filterscale;
    /* support ≤ 2·in_n (box within the image, out ≥ 1): ksize fits easily */
    int ksize = (int)ceil(support) * 2 + 1;
    a->n = n;
    a->ksize = ksize;
    a->first = malloc(sizeof(int) * 2 * (size_t)n);
    a->k = malloc(sizeof(int32_t) * (size_t)n * (size_t)ksize);
    double *w = malloc(sizeof(double) * (size_t)ksize);
    if (!a->first || !a->k || !w) {
        free(w);
        axis_free(a);
        return vf_fail(err, errlen, "resize: out of memory for %d×%d coefficients", n, ksize);
    }
    a->count = a->first + n;
    for (int i = 0; i < n; i++) {
        int xx = o0 + i;
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_n)
            xmax = in_n;
        xmax -= xmin;
        if (xmax < 0)
            xmax = 0;
        if (xmax > ksize) /* cannot happen (the taps span < 2·support + 1) */
            xmax = ksize;
        for (int x = 0; x < xmax; x++) {
            w[x] = filter((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = a->k + (size_t)i * (size_t)ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        for (int x = xmax; x < ksize; x++)
            k[x] = 0;
        a->first[i] = xmin;
        a->count[i] = xmax;
    }
    free(w);
    return 0;
}

static inline uint8_t clip8(int32_t s)
{
    if (s < 0)
        return 0;
    s >>= PRECISION_BITS;
    return (uint8_t)(s > 255 ? 255 : s);
}

/* Horizontal pass over one row: n output pixels. */
static void resample_row(const uint8_t *src, const axis *ax, uint8_t *dst)
{
    for (int i = 0; i < ax->n; i++) {
        const uint8_t *s = src + (size_t)ax->first[i] * 3;
        const int32_t *k = ax->k + (size_t)i * (size_t)ax->ksize;
        int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
        for (int x = 0; x < ax->count[i]; x++, s += 3) {
            s0 += s[0] * k[x];
            s1 += s[1] * k[x];
            s2 += s[2] * k[x];
        }
        dst[3 * i + 0] = clip8(s0);
        dst[3 * i + 1] = clip8(s1);
        dst[3 * i + 2] = clip8(s2);
    }
}

/* Vertical pass for one output row: the same taps for every sample of it. */
static void resample_column(const uint8_t *rows, size_t stride, const int32_t *k, int count,
                            int32_t *acc, size_t m, uint8_t *dst)
{
    for (size_t j = 0; j < m; j++)
        acc[j] = 1 << (PRECISION_BITS - 1);
    for (int t = 0; t < count; t++) {
        const uint8_t *r = rows + (size_t)t * stride;
        int32_t kt = k[t];
        for (size_t j = 0; j < m; j++)
            acc[j] += r[j] * kt;
    }
    for (size_t j = 0; j < m; j++)
        dst[j] = clip8(acc[j]);
}

void vr_resize_args_whole(vr_resize_args *a)
{
    a->box[0] = 0;
    a->box[1] = 0;
    a->box[2] = (float)a->src_w;
    a->box[3] = (float)a->src_h;
    a->crop_x = a->crop_y = 0;
    a->crop_w = a->out_w;
    a->crop_h = a->out_h;
}

int vr_resize_pil(const vr_resize_args *a, char *err, size_t errlen)
{
    if (!a->src || !a->dst || a->src_w < 1 || a->src_h < 1 || a->out_w < 1 || a->out_h < 1 ||
        a->src_stride < (size_t)a->src_w * 3)
        return vf_fail(err, errlen, "resize: invalid arguments (%dx%d → %dx%d)", a->src_w,
                       a->src_h, a->out_w, a->out_h);
    if (!(a->box[0] >= 0 && a->box[0] < a->box[2] && a->box[2] <= (float)a->src_w &&
          a->box[1] >= 0 && a->box[1] < a->box[3] && a->box[3] <= (float)a->src_h))
        return vf_fail(err, errlen, "resize: box (%g, %g, %g, %g) not inside %dx%d", a->box[0],
                       a->box[1], a->box[2], a->box[3], a->src_w, a->src_h);
    if (a->crop_x < 0 || a->crop_y < 0 || a->crop_w < 1 || a->crop_h < 1 ||
        a->crop_w > a->out_w - a->crop_x || a->crop_h > a->out_h - a->crop_y)
        return vf_fail(err, errlen, "resize: crop %dx%d at (%d, %d) not inside %dx%d", a->crop_w,
                       a->crop_h, a->crop_x, a->crop_y, a->out_w, a->out_h);
    if (a->dst_stride < (size_t)a->crop_w * 3)
        return vf_fail(err, errlen, "resize: output stride %zu below %d pixels", a->dst_stride,
                       a->crop_w);
    if (a->filter != VR_FILTER_BILINEAR && a->filter != VR_FILTER_BICUBIC)
        return vf_fail(err, errlen, "resize: unknown filter %d", (int)a->filter);
    int need_h = a->out_w != a->src_w || a->box[0] != 0 || a->box[2] != (float)a->out_w;
    int need_v = a->out_h != a->src_h || a->box[1] != 0 || a->box[3] != (float)a->out_h;
    axis ax = {0}, ay = {0};
    uint8_t *tmp = NULL;
    int32_t *acc = NULL;
    int rc = -1;
    if (axis_init(&ax, a->src_w, a->box[0], a->box[2], a->out_w, a->crop_x, a->crop_w, a->filter,
                  err, errlen) ||
        axis_init(&ay, a->src_h, a->box[1], a->box[3], a->out_h, a->crop_y, a->crop_h, a->filter,
                  err, errlen))
        goto out;
    if (!need_h) { /* the identity taps: columns crop_x … of the source */
        for (int i = 0; i < ax.n; i++)
            ax.first[i] = a->crop_x + i, ax.count[i] = 1, ax.k[(size_t)i * (size_t)ax.ksize] = 1 << PRECISION_BITS;
    }
    if (!need_v) {
        for (int i = 0; i < ay.n; i++)
            ay.first[i] = a->crop_y + i, ay.count[i] = 1, ay.k[(size_t)i * (size_t)ay.ksize] = 1 << PRECISION_BITS;
    }
    /* Source rows the vertical taps read. */
    int y0 = a->src_h, y1 = 0;
    for (int i = 0; i < ay.n; i++) {
        if (ay.count[i] <= 0)
            continue;
        y0 = ay.first[i] < y0 ? ay.first[i] : y0;
        y1 = ay.first[i] + ay.count[i] > y1 ? ay.first[i] + ay.count[i] : y1;
    }
    if (y1 <= y0)
        y0 = y1 = 0;
    size_t m = (size_t)a->crop_w * 3;
    tmp = malloc(m * (size_t)(y1 - y0 > 0 ? y1 - y0 : 1));
    acc = malloc(sizeof(int32_t) * m);
    if (!tmp || !acc) {
        vf_fail(err, errlen, "resize: out of memory");
        goto out;
    }
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = a->src + (size_t)y * a->src_stride;
        uint8_t *t = tmp + (size_t)(y - y0) * m;
        if (need_h)
            resample_row(row, &ax, t);
        else
            memcpy(t, row + (size_t)a->crop_x * 3, m);
    }
    for (int i = 0; i < ay.n; i++) {
        uint8_t *d = a->dst + (size_t)i * a->dst_stride;
        if (ay.count[i] <= 0) { /* no taps (impossible for a valid box): Pillow gives 0 */
            memset(d, 0, m);
            continue;
        }
        const uint8_t *rows = tmp + (size_t)(ay.first[i] - y0) * m;
        if (need_v)
            resample_column(rows, m, ay.k + (size_t)i * (size_t)ay.ksize, ay.count[i], acc, m, d);
        else
            memcpy(d, rows, m);
    }
    rc = 0;
out:
    free(tmp);
    free(acc);
    axis_free(&ax);
    axis_free(&ay);
    return rc;
}
