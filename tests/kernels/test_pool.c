/* Average pooling (NHWC, TFLite: divisor = in-image taps) and global average
 * pooling: the dispatched kernel against a double oracle and against the
 * reference, over channel counts around the 16-wide vectors and the 64/128
 * channel chunks, SAME/VALID/explicit padding, strides, dilation, windows that
 * hang over (or miss) the image, channel slices (pixel strides > C), row
 * sub-ranges and splits, and the model shapes.
 *
 * Tolerance: both kernels sum the n in-image taps (pixels) in f32 and divide
 * by n, so |ŷ - y| <= γ_n·Σ|x|/n + u·|y| (sum, then one rounding of the
 * division), times 1.01; kernel vs reference twice that.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define U TU_U_F32

static void fill_nan(float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = NAN;
}

/* ---- avgpool ------------------------------------------------------------ */

static size_t in_size(const vk_conv_geom *g) { return (size_t)g->N * g->H * g->W * g->in_ld; }
static size_t out_size(const vk_conv_geom *g) { return (size_t)g->N * g->OH * g->OW * g->out_ld; }

static void avgpool_oracle(const vk_conv_geom *g, const float *in, int r, float *want, float *tol)
{
    const int n = r / g->OH, oh = r % g->OH;
    const int dh = g->dil_h > 0 ? g->dil_h : 1, dw = g->dil_w > 0 ? g->dil_w : 1;
    for (int ow = 0; ow < g->OW; ow++)
        for (int c = 0; c < g->C; c++) {
            double s = 0.0, sa = 0.0;
            int cnt = 0;
            for (int kh = 0; kh < g->KH; kh++)
                for (int kw = 0; kw < g->KW; kw++) {
                    const int ih = oh * g->stride_h - g->pad_t + kh * dh;
                    const int iw = ow * g->stride_w - g->pad_l + kw * dw;
                    if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
                        continue;
                    const float x = in[(((size_t)n * g->H + ih) * g->W + iw) * g->in_ld + c];
                    s += x, sa += fabs(x), cnt++;
                }
            const double y = cnt ? s / cnt : 0.0;
            want[ow * g->C + c] = (float)y;
            tol[ow * g->C + c] = cnt ? (float)(1.01 * (tu_gamma(cnt) * sa / cnt + U * fabs(y))) : 0.0f;
        }
}

static int check_avgpool(const vk_conv_geom *g, int r0, int r1, uint64_t salt, const char *tag)
{
    tu_rng rng = tu_rng_make(salt);
    const size_t ni = in_size(g), no = out_size(g), row = (size_t)g->OW * g->C;
    float *in = tu_alloc(sizeof(float) * ni);
    float *y = tu_alloc(sizeof(float) * no), *yr = tu_alloc(sizeof(float) * no);
    float *ys = tu_alloc(sizeof(float) * no);
    float *want = tu_alloc(sizeof(float) * row), *tol = tu_alloc(sizeof(float) * row);
    float *got = tu_alloc(sizeof(float) * row), *ref = tu_alloc(sizeof(float) * row);
    int bad = 1;
    tu_fill_f32(&rng, in, ni, -2.0f, 5.0f);
    fill_nan(y, no), fill_nan(yr, no), fill_nan(ys, no);
    char what[192];
    snprintf(what, sizeof what,
             "avgpool %s N=%d %dx%dx%d -> %dx%d k%dx%d s%d,%d pad %d,%d dil %d,%d ld %td/%td "
             "rows [%d,%d)",
             tag, g->N, g->H, g->W, g->C, g->OH, g->OW, g->KH, g->KW, g->stride_h, g->stride_w,
             g->pad_t, g->pad_l, g->dil_h, g->dil_w, g->in_ld, g->out_ld, r0, r1);
    tu_ops()->avgpool_f32(g, in, y, r0, r1);
    tu_ref()->avgpool_f32(g, in, yr, r0, r1);
    const int rm = r0 + (r1 - r0) / 2;
    tu_ops()->avgpool_f32(g, in, ys, r0, rm);
    tu_ops()->avgpool_f32(g, in, ys, rm, r1);
    for (int r = 0; r < g->N * g->OH; r++)
        for (int ow = 0; ow < g->OW; ow++)
            for (ptrdiff_t c = 0; c < g->out_ld; c++) {
                const size_t at = ((size_t)r * g->OW + ow) * g->out_ld + c;
                const int inside = r >= r0 && r < r1 && c < g->C;
                if (!inside && (!isnan(y[at]) || !isnan(yr[at]))) {
                    tu_fail("%s: wrote outside (row %d, col %d, channel %td)", what, r, ow, c);
                    goto out;
                }
            }
    if (memcmp(y, ys, sizeof(float) * no) != 0) {
        tu_fail("%s: split call differs", what);
        goto out;
    }
    for (int r = r0; r < r1; r++) {
        avgpool_oracle(g, in, r, want, tol);
        for (int ow = 0; ow < g->OW; ow++) {
            const size_t at = ((size_t)r * g->OW + ow) * g->out_ld;
            memcpy(got + (size_t)ow * g->C, y + at, sizeof(float) * g->C);
            memcpy(ref + (size_t)ow * g->C, yr + at, sizeof(float) * g->C);
        }
        if (tu_check_f32(what, got, want, tol, 0, row) || tu_check_f32(what, ref, want, tol, 0, row))
            goto out;
        for (size_t i = 0; i < row; i++)
            tol[i] *= 2.0f;
        if (tu_check_f32(what, got, ref, tol, 0, row))
            goto out;
    }
    bad = 0;
out:
    tu_free(in), tu_free(y), tu_free(yr), tu_free(ys), tu_free(want), tu_free(tol);
    tu_free(got), tu_free(ref);
    return bad;
}

static vk_conv_geom geom(int N, int H, int W, int C, int K, int s, int pad, int dil, int same)
{
    vk_conv_geom g = {0};
    g.N = N, g.H = H, g.W = W, g.C = g.OC = C;
    g.KH = g.KW = K;
    g.stride_h = g.stride_w = s;
    g.dil_h = g.dil_w = dil;
    const int ek = (K - 1) * dil + 1;
    if (same) { /* TFLite SAME: out = ceil(in / s), padding split low-first */
        g.OH = (H + s - 1) / s, g.OW = (W + s - 1) / s;
        const int ph = (g.OH - 1) * s + ek - H, pw = (g.OW - 1) * s + ek - W;
        g.pad_t = ph > 0 ? ph / 2 : 0, g.pad_l = pw > 0 ? pw / 2 : 0;
    } else { /* explicit symmetric padding (VALID when pad = 0) */
        g.pad_t = g.pad_l = pad;
        g.OH = (H + 2 * pad - ek) / s + 1, g.OW = (W + 2 * pad - ek) / s + 1;
    }
    g.in_ld = C, g.out_ld = C;
    return g;
}

static void test_avgpool_channels(void **state)
{
    (void)state;
    static const int Cs[] = {1, 3, 15, 16, 17, 63, 64, 65, 80, 129};
    for (size_t i = 0; i < sizeof Cs / sizeof *Cs; i++) {
        vk_conv_geom g = geom(2, 5, 7, Cs[i], 3, 1, 0, 1, 1);
        if (check_avgpool(&g, 0, g.N * g.OH, 10 + i, "3x3 s1 SAME"))
            return;
        g.in_ld = Cs[i] + 5, g.out_ld = Cs[i] + 3; /* channel slices of wider tensors */
        if (check_avgpool(&g, 1, g.N * g.OH - 1, 20 + i, "3x3 s1 SAME slices"))
            return;
    }
}

static void test_avgpool_geometry(void **state)
{
    (void)state;
    struct {
        int H, W, K, s, pad, dil, same;
        const char *tag;
    } cases[] = {
        {7, 7, 3, 2, 0, 1, 1, "3x3 s2 SAME"},  {8, 6, 3, 2, 0, 1, 0, "3x3 s2 VALID"},
        {6, 6, 2, 2, 0, 1, 0, "2x2 s2 VALID"}, {7, 7, 7, 1, 0, 1, 0, "7x7 VALID (global)"},
        {4, 5, 5, 1, 2, 1, 0, "5x5 over 4x5"}, {9, 9, 3, 1, 0, 2, 1, "3x3 dil 2 SAME"},
        {3, 3, 3, 1, 1, 1, 0, "3x3 pad 1"},    {1, 1, 3, 1, 1, 1, 0, "1x1 image"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vk_conv_geom g = geom(2, cases[i].H, cases[i].W, 33, cases[i].K, cases[i].s, cases[i].pad,
                              cases[i].dil, cases[i].same);
        if (check_avgpool(&g, 0, g.N * g.OH, 30 + i, cases[i].tag))
            return;
    }
    /* windows that miss the image entirely (count 0 -> output 0) */
    vk_conv_geom g = geom(1, 2, 2, 17, 1, 1, 0, 1, 0);
    g.pad_t = g.pad_l = 2, g.OH = g.OW = 5;
    check_avgpool(&g, 0, 5, 40, "windows outside");
}

/* Inception-v3 mixed block (3x3 s1 SAME on 35x35x192) and MobileNet's final
 * 7x7 VALID average pool on 7x7x1024. */
static void test_avgpool_models(void **state)
{
    (void)state;
    vk_conv_geom g = geom(1, 35, 35, 192, 3, 1, 0, 1, 1);
    if (check_avgpool(&g, 0, 35, 50, "inception-v3 mixed"))
        return;
    g = geom(1, 7, 7, 1024, 7, 1, 0, 1, 0);
    check_avgpool(&g, 0, 1, 51, "mobilenet head");
}

/* ---- gap ---------------------------------------------------------------- */

static int check_gap(int N, int HW, int C, ptrdiff_t ld, int n0, int n1, uint64_t salt)
{
    tu_rng rng = tu_rng_make(salt);
    const size_t ni = (size_t)N * HW * ld, no = (size_t)N * C;
    float *in = tu_alloc(sizeof(float) * ni);
    float *y = tu_alloc(sizeof(float) * no), *yr = tu_alloc(sizeof(float) * no);
    float *ys = tu_alloc(sizeof(float) * no);
    float *want = tu_alloc(sizeof(float) * no), *tol = tu_alloc(sizeof(float) * no);
    int bad = 1;
    tu_fill_f32(&rng, in, ni, -1.0f, 4.0f);
    fill_nan(y, no), fill_nan(yr, no), fill_nan(ys, no);
    char what[96];
    snprintf(what, sizeof what, "gap N=%d HW=%d C=%d ld=%td n [%d,%d)", N, HW, C, ld, n0, n1);
    tu_ops()->gap_f32(in, ld, HW, C, y, n0, n1);
    tu_ref()->gap_f32(in, ld, HW, C, yr, n0, n1);
    for (int n = n0; n < n1; n++)
        tu_ops()->gap_f32(in, ld, HW, C, ys, n, n + 1);
    for (size_t i = 0; i < no; i++) {
        const int n = (int)(i / C);
        if ((n < n0 || n >= n1) && (!isnan(y[i]) || !isnan(yr[i]))) {
            tu_fail("%s: wrote outside the range (element %zu)", what, i);
            goto out;
        }
    }
    if (memcmp(y, ys, sizeof(float) * no) != 0) {
        tu_fail("%s: split call differs", what);
        goto out;
    }
    for (int n = n0; n < n1; n++)
        for (int c = 0; c < C; c++) {
            double s = 0.0, sa = 0.0;
            for (int p = 0; p < HW; p++) {
                const float x = in[((size_t)n * HW + p) * ld + c];
                s += x, sa += fabs(x);
            }
            const double m = s / HW;
            want[(size_t)n * C + c] = (float)m;
            tol[(size_t)n * C + c] = (float)(1.01 * (tu_gamma(HW) * sa / HW + U * fabs(m)));
        }
    const size_t off = (size_t)n0 * C, cnt = (size_t)(n1 - n0) * C;
    if (tu_check_f32(what, y + off, want + off, tol + off, 0, cnt) ||
        tu_check_f32(what, yr + off, want + off, tol + off, 0, cnt))
        goto out;
    for (size_t i = 0; i < no; i++)
        tol[i] *= 2.0f;
    if (tu_check_f32(what, y + off, yr + off, tol + off, 0, cnt))
        goto out;
    bad = 0;
out:
    tu_free(in), tu_free(y), tu_free(yr), tu_free(ys), tu_free(want), tu_free(tol);
    return bad;
}

static void test_gap(void **state)
{
    (void)state;
    static const int Cs[] = {1, 15, 16, 17, 127, 128, 129, 200};
    static const int HWs[] = {1, 2, 49, 64};
    for (size_t i = 0; i < sizeof Cs / sizeof *Cs; i++)
        for (size_t j = 0; j < sizeof HWs / sizeof *HWs; j++) {
            if (check_gap(3, HWs[j], Cs[i], Cs[i], 0, 3, 60 + 4 * i + j))
                return;
            if (check_gap(3, HWs[j], Cs[i], Cs[i] + 7, 1, 2, 90 + 4 * i + j))
                return;
        }
}

/* EfficientNet/MobileNetV2 head 7x7x1280, ResNet-50 head 7x7x2048. */
static void test_gap_models(void **state)
{
    (void)state;
    if (check_gap(2, 49, 1280, 1280, 0, 2, 120))
        return;
    check_gap(1, 49, 2048, 2048, 0, 1, 121);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avgpool_channels), cmocka_unit_test(test_avgpool_geometry),
        cmocka_unit_test(test_avgpool_models),   cmocka_unit_test(test_gap),
        cmocka_unit_test(test_gap_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
