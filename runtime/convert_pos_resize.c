/* Resizing a ViT's grid of position embeddings (runtime/convert_transformer.h,
 * vr_pos_resize): torch.nn.functional.interpolate(mode="bicubic") on the
 * [1, D, G, G] grid, as the three libraries whose checkpoints vireo converts
 * call it, computed separably in double precision.
 *
 * Without antialias (ATen UpSampleKernel / upsample_bicubic2d): output index
 * o reads source coordinate
 *   align_corners:  x = o·(G − 1)/(NG − 1)        (0 when NG = 1)
 *   half-pixel:     x = (o + 0.5)·G/NG − 0.5
 * i = floor(x), t = x − i, taps i−1 … i+2 clamped to 0 … G−1, weights Keys'
 * cubic convolution with A = −0.75:
 *   W(s) = ((A+2)s − (A+3))s² + 1 (s ≤ 1),  ((As − 5A)s + 8A)s − 4A (1 < s < 2)
 * at s = t+1, t, 1−t, 2−t.
 *
 * With antialias (ATen _upsample_bicubic2d_aa, half-pixel; what Pillow does):
 * scale = G/NG, support = 2·max(scale, 1), centre = scale·(o + 0.5), taps j
 * from max(trunc(centre − support + 0.5), 0) to min(trunc(centre + support +
 * 0.5), G) − 1, weight W((j − centre + 0.5)/max(scale, 1)) with Keys' a = −0.5,
 * divided by their sum (so the borders are renormalised, not clamped). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convert_transformer.h"

static double keys(double s, double a)
{
    s = fabs(s);
    if (s < 1)
        return ((a + 2) * s - (a + 3)) * s * s + 1;
    if (s < 2)
        return ((a * s - 5 * a) * s + 8 * a) * s - 4 * a;
    return 0;
}

/* Taps of output o: up to TAPS source indices and weights; returns how many. */
#define TAPS 1040 /* 2·support + 2 for G/NG up to 256 */
static int taps_for(int G, int NG, int o, vr_pos_resize_mode mode, int *idx, double *w)
{
    if (mode == VR_POS_BICUBIC_AA) {
        double scale = (double)G / NG, sup = scale >= 1 ? 2 * scale : 2;
        double inv = scale >= 1 ? 1 / scale : 1, centre = scale * (o + 0.5), sum = 0;
        long lo = (long)(centre - sup + 0.5), hi = (long)(centre + sup + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > G)
            hi = G;
        int n = 0;
        for (long j = lo; j < hi && n < TAPS; j++, n++) {
            idx[n] = (int)j;
            sum += w[n] = keys((j - centre + 0.5) * inv, -0.5);
        }
        for (int k = 0; k < n && sum != 0; k++)
            w[k] /= sum;
        return n;
    }
    double x = mode == VR_POS_BICUBIC_ALIGNED ? (NG > 1 ? (double)o * (G - 1) / (NG - 1) : 0)
                                              : (o + 0.5) * G / NG - 0.5;
    double i0 = floor(x), t = x - i0;
    for (int k = 0; k < 4; k++) {
        long j = (long)i0 - 1 + k;
        idx[k] = j < 0 ? 0 : j > G - 1 ? G - 1 : (int)j;
        w[k] = keys(t + 1 - k, -0.75);
    }
    return 4;
}

int vr_pos_resize(const float *src, int G, int D, int NG, vr_pos_resize_mode mode, float *dst)
{
    if (G < 1 || NG < 1 || D < 1 || G > 256 || NG > 256)
        return -1;
    /* weights per output index, once for both axes */
    int *n = malloc((size_t)NG * sizeof *n), *idx = malloc((size_t)NG * TAPS * sizeof *idx);
    double *w = malloc((size_t)NG * TAPS * sizeof *w), *acc = malloc((size_t)D * sizeof *acc);
    double *rows = malloc((size_t)G * NG * D * sizeof *rows); /* [G][NG][D]: x resized */
    int rc = -1;
    if (!n || !idx || !w || !acc || !rows)
        goto out;
    for (int o = 0; o < NG; o++)
        n[o] = taps_for(G, NG, o, mode, idx + (size_t)o * TAPS, w + (size_t)o * TAPS);
    for (int y = 0; y < G; y++)
        for (int ox = 0; ox < NG; ox++) {
            double *r = rows + ((size_t)y * NG + ox) * D;
            memset(r, 0, (size_t)D * sizeof *r);
            for (int k = 0; k < n[ox]; k++) {
                const float *s = src + ((size_t)y * G + idx[(size_t)ox * TAPS + k]) * D;
                double wk = w[(size_t)ox * TAPS + k];
                for (int d = 0; d < D; d++)
                    r[d] += wk * s[d];
            }
        }
    for (int oy = 0; oy < NG; oy++)
        for (int ox = 0; ox < NG; ox++) {
            memset(acc, 0, (size_t)D * sizeof *acc);
            for (int k = 0; k < n[oy]; k++) {
                const double *r = rows + ((size_t)idx[(size_t)oy * TAPS + k] * NG + ox) * D;
                double wk = w[(size_t)oy * TAPS + k];
                for (int d = 0; d < D; d++)
                    acc[d] += wk * r[d];
            }
            float *o = dst + ((size_t)oy * NG + ox) * D;
            for (int d = 0; d < D; d++)
                o[d] = (float)acc[d];
        }
    rc = 0;
out:
    free(n), free(idx), free(w), free(acc), free(rows);
    return rc;
}
