/* runtime/resize (Pillow's antialiased resize) and the Pillow / torchvision
 * preprocessing modes of runtime/preprocess:
 *   - against an in-test double-precision oracle of the resampling filter on
 *     random images of edge sizes (1, 2, odd, powers of two ± 1), up and down,
 *     with a per-sample tolerance derived below;
 *   - crops of the output and fractional boxes;
 *   - against Pillow itself (Debian's python3-pil, run by
 *     tests/unit/pil_reference.py, which writes the references at test time):
 *     the same synthetic grid, and real photos (GroceryStore + UKBench):
 *     decode, resize down and up, torchvision Resize + CenterCrop;
 *   - the effect of DCT-scaled decoding on those photos (measured, printed);
 *   - the metadata keys (preproc.resize pil_*, resize_shorter), layouts, bgr,
 *     normalisation.
 * Without /usr/bin/python3 + Pillow + numpy the Pillow comparisons skip. */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/image.h"
#include "formats/weights.h"
#include "runtime/graph.h"
#include "runtime/model.h"
#include "runtime/preprocess.h"
#include "runtime/resize.h"
#include "testutil.h"

static int quick(void)
{
    const char *q = getenv("VIREO_TEST_QUICK");
    return q && *q && strcmp(q, "0");
}

/* ------------------------------------------------------------ helpers --- */
static char g_tmp[64];

static void make_tmp(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vireo_resize_XXXXXX");
    if (!mkdtemp(g_tmp))
        tu_fail("mkdtemp failed");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tmp(void)
{
    if (g_tmp[0])
        nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_tmp[0] = 0;
}

/* Runs the Pillow reference script on a job file: 0, or 77 when Python,
 * Pillow or numpy is missing (the caller skips). */
static int run_pil(const char *jobs)
{
    if (access("/usr/bin/python3", X_OK))
        return 77;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/unit/pil_reference.py %s > %s/pil.log 2>&1",
             VIREO_SOURCE_DIR, jobs, g_tmp);
    int st = system(cmd);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2)
        return 77;
    if (st != 0) {
        char log[512];
        snprintf(log, sizeof log, "%s/pil.log", g_tmp);
        size_t n = 0;
        char *t = tu_read_file(log, &n);
        tu_fail("pil_reference.py failed (status %d): %.*s", st, (int)(t ? n : 0), t ? t : "");
    }
    return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n)
        tu_fail("cannot write %s", path);
    fclose(f);
}

typedef struct stats {
    size_t n, eq, one;
    int maxd;
} stats;

static void stats_add(stats *s, const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        s->n++;
        s->eq += d == 0;
        s->one += d <= 1;
        s->maxd = d > s->maxd ? d : s->maxd;
    }
}

static void stats_print(const char *what, const stats *s)
{
    printf("%-44s %9zu samples: %.5f %% equal, %.5f %% within ±1, max |diff| %d\n", what, s->n,
           100.0 * (double)s->eq / (double)(s->n ? s->n : 1),
           100.0 * (double)s->one / (double)(s->n ? s->n : 1), s->maxd);
}

static uint8_t *random_image(tu_rng *r, int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    /* half the cases smooth (gradients + noise), half white noise: noise
     * drives bicubic's overshoot into the clipping */
    int smooth = tu_next(r) & 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                size_t i = ((size_t)y * w + x) * 3 + c;
                int v = smooth ? (x * 37 + y * 23 + c * 50) % 200 + (int)(tu_next(r) % 56)
                               : (int)(tu_next(r) % 256);
                p[i] = (uint8_t)v;
            }
    return p;
}

static int resize(const uint8_t *src, int sw, int sh, int ow, int oh, vr_filter f, uint8_t *dst)
{
    vr_resize_args a = {.src = src, .src_w = sw, .src_h = sh, .src_stride = (size_t)sw * 3,
                        .out_w = ow, .out_h = oh, .filter = f, .dst = dst,
                        .dst_stride = (size_t)ow * 3};
    vr_resize_args_whole(&a);
    char err[256];
    if (vr_resize_pil(&a, err, sizeof err))
        tu_fail("resize %dx%d → %dx%d: %s", sw, sh, ow, oh, err);
    return 0;
}

/* ------------------------------------------------------------- oracle --- */
/* The resampling filter in double precision, written from its definition
 * (not from Pillow's loop): output o of an axis with box [in0, in1) reads
 * every pixel x with weight filter((x + 0.5 − c) / fs), c = in0 + (o + 0.5)·s,
 * s = (in1 − in0)/out, fs = max(s, 1), normalised to sum 1. */
static double filt(int bicubic, double t)
{
    t = fabs(t);
    if (!bicubic)
        return t < 1 ? 1 - t : 0;
    const double a = -0.5;
    if (t < 1)
        return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2)
        return a * (((t - 5) * t + 8) * t - 4);
    return 0;
}

static void oracle_weights(int in_n, double in0, double in1, int out_n, int o, int bicubic,
                           double *w, double *sum_abs)
{
    double s = (in1 - in0) / out_n, fs = s < 1 ? 1 : s, c = in0 + (o + 0.5) * s, sum = 0;
    for (int x = 0; x < in_n; x++)
        sum += w[x] = filt(bicubic, (x + 0.5 - c) / fs);
    *sum_abs = 0;
    for (int x = 0; x < in_n; x++) {
        if (sum != 0)
            w[x] /= sum;
        *sum_abs += fabs(w[x]);
    }
}

static double clamp255(double v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* Checks got (ow×oh, from the box) against the oracle. Tolerance per sample,
 * derived: Pillow's integer coefficients are the weights rounded to 2^-22
 * (error ≤ 2^-23 each, so a pass over ≤ K taps of 8-bit data is off by at
 * most e = 255·K·2^-23); the horizontal pass rounds to 8 bits (≤ 0.5 + e from
 * the clamped exact value — clamping to 0 … 255 is 1-Lipschitz and both
 * clamp); the vertical pass carries that through its weights (× Σ|w_y|) and
 * adds its own e and the final rounding 0.5:
 *   |got − clamp(exact)| ≤ 0.5 + Σ|w_y|·(0.5 + e_x) + e_y.
 * (Bilinear: Σ|w| = 1, so got is within ±1 of the rounded exact value;
 * bicubic's negative lobes make Σ|w| up to 1.25.) */
static void check_oracle(const uint8_t *src, int sw, int sh, const float box[4], int ow, int oh,
                         int bicubic, const uint8_t *got, const char *what)
{
    double *wx = malloc(sizeof(double) * (size_t)sw * ow), *wy = malloc(sizeof(double) * (size_t)sh);
    double *tmp = malloc(sizeof(double) * (size_t)sh * ow * 3), sa;
    int kx = 0, ky = 0;
    for (int o = 0; o < ow; o++) {
        oracle_weights(sw, box[0], box[2], ow, o, bicubic, wx + (size_t)o * sw, &sa);
        int k = 0;
        for (int x = 0; x < sw; x++)
            k += wx[(size_t)o * sw + x] != 0;
        kx = k > kx ? k : kx;
    }
    for (int y = 0; y < sh; y++)
        for (int o = 0; o < ow; o++)
            for (int c = 0; c < 3; c++) {
                double v = 0;
                for (int x = 0; x < sw; x++)
                    v += wx[(size_t)o * sw + x] * src[((size_t)y * sw + x) * 3 + c];
                tmp[((size_t)y * ow + o) * 3 + c] = clamp255(v);
            }
    double ex = 255.0 * (kx + 1) / 8388608.0;
    for (int oy = 0; oy < oh; oy++) {
        oracle_weights(sh, box[1], box[3], oh, oy, bicubic, wy, &sa);
        int k = 0;
        for (int y = 0; y < sh; y++)
            k += wy[y] != 0;
        ky = k;
        double ey = 255.0 * (ky + 1) / 8388608.0, tol = 0.5 + sa * (0.5 + ex) + ey;
        for (int ox = 0; ox < ow; ox++)
            for (int c = 0; c < 3; c++) {
                double v = 0;
                for (int y = 0; y < sh; y++)
                    v += wy[y] * tmp[((size_t)y * ow + ox) * 3 + c];
                v = clamp255(v);
                int g = got[((size_t)oy * ow + ox) * 3 + c];
                if (fabs(g - v) > tol)
                    tu_fail("%s: (%d, %d) channel %d = %d, oracle %.4f, tolerance %.4f", what, ox,
                            oy, c, g, v, tol);
            }
    }
    free(wx), free(wy), free(tmp);
}

static const int k_sizes[] = {1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 33, 64};
#define NSIZES ((int)(sizeof k_sizes / sizeof *k_sizes))

static void test_oracle(void **state)
{
    tu_rng r = tu_rng_make(0x4e51);
    char what[128];
    int cases = 0;
    for (int i = 0; i < NSIZES; i++)
        for (int j = 0; j < NSIZES; j++) {
            /* width: k_sizes[i] → k_sizes[j]; height: the pair shifted, so
             * every size meets up-, down- and same-size scaling on both axes */
            int sw = k_sizes[i], ow = k_sizes[j];
            int sh = k_sizes[(i + 5) % NSIZES], oh = k_sizes[(j + 3) % NSIZES];
            for (int bicubic = 0; bicubic < 2; bicubic++) {
                uint8_t *src = random_image(&r, sw, sh);
                uint8_t *got = malloc((size_t)ow * oh * 3);
                resize(src, sw, sh, ow, oh, bicubic ? VR_FILTER_BICUBIC : VR_FILTER_BILINEAR, got);
                float box[4] = {0, 0, (float)sw, (float)sh};
                snprintf(what, sizeof what, "%s %dx%d → %dx%d", bicubic ? "bicubic" : "bilinear", sw,
                         sh, ow, oh);
                check_oracle(src, sw, sh, box, ow, oh, bicubic, got, what);
                if (sw == ow && sh == oh)
                    assert_memory_equal(src, got, (size_t)ow * oh * 3); /* Pillow: a copy */
                free(src), free(got);
                cases++;
            }
        }
    /* larger factors: 8× down, 7× up */
    static const int big[][4] = {{200, 120, 25, 15}, {13, 11, 91, 77}, {640, 3, 80, 1}, {3, 480, 1, 60}};
    for (size_t t = 0; t < sizeof big / sizeof *big; t++)
        for (int bicubic = 0; bicubic < 2; bicubic++) {
            uint8_t *src = random_image(&r, big[t][0], big[t][1]);
            uint8_t *got = malloc((size_t)big[t][2] * big[t][3] * 3);
            resize(src, big[t][0], big[t][1], big[t][2], big[t][3],
                   bicubic ? VR_FILTER_BICUBIC : VR_FILTER_BILINEAR, got);
            float box[4] = {0, 0, (float)big[t][0], (float)big[t][1]};
            snprintf(what, sizeof what, "large %zu %s", t, bicubic ? "bicubic" : "bilinear");
            check_oracle(src, big[t][0], big[t][1], box, big[t][2], big[t][3], bicubic, got, what);
            free(src), free(got);
            cases++;
        }
    printf("oracle: %d cases within the derived tolerance\n", cases);
}

/* A crop of the output equals that part of the whole output; fractional
 * boxes follow the oracle. */
static void test_crop_and_box(void **state)
{
    tu_rng r = tu_rng_make(0xc409);
    char err[256], what[128];
    for (int t = 0; t < 40; t++) {
        int sw = 1 + (int)(tu_next(&r) % 90), sh = 1 + (int)(tu_next(&r) % 90);
        int ow = 1 + (int)(tu_next(&r) % 70), oh = 1 + (int)(tu_next(&r) % 70);
        vr_filter f = t & 1 ? VR_FILTER_BICUBIC : VR_FILTER_BILINEAR;
        uint8_t *src = random_image(&r, sw, sh), *full = malloc((size_t)ow * oh * 3);
        resize(src, sw, sh, ow, oh, f, full);
        int cx = (int)(tu_next(&r) % (unsigned)ow), cy = (int)(tu_next(&r) % (unsigned)oh);
        int cw = 1 + (int)(tu_next(&r) % (unsigned)(ow - cx)), ch = 1 + (int)(tu_next(&r) % (unsigned)(oh - cy));
        uint8_t *part = malloc((size_t)cw * ch * 3);
        vr_resize_args a = {.src = src, .src_w = sw, .src_h = sh, .src_stride = (size_t)sw * 3,
                            .out_w = ow, .out_h = oh, .filter = f, .dst = part,
                            .dst_stride = (size_t)cw * 3};
        vr_resize_args_whole(&a);
        a.crop_x = cx, a.crop_y = cy, a.crop_w = cw, a.crop_h = ch;
        if (vr_resize_pil(&a, err, sizeof err))
            tu_fail("crop: %s", err);
        for (int y = 0; y < ch; y++)
            if (memcmp(part + (size_t)y * cw * 3, full + ((size_t)(cy + y) * ow + cx) * 3, (size_t)cw * 3))
                tu_fail("case %d: crop %dx%d at (%d, %d) of %dx%d → %dx%d differs in row %d", t, cw,
                        ch, cx, cy, sw, sh, ow, oh, y);
        /* a fractional box inside the source */
        float box[4];
        box[0] = (float)(tu_next(&r) % 1000) / 1000.0f * (float)sw * 0.5f;
        box[1] = (float)(tu_next(&r) % 1000) / 1000.0f * (float)sh * 0.5f;
        box[2] = box[0] + (0.1f + 0.9f * (float)(tu_next(&r) % 1000) / 1000.0f) * ((float)sw - box[0]);
        box[3] = box[1] + (0.1f + 0.9f * (float)(tu_next(&r) % 1000) / 1000.0f) * ((float)sh - box[1]);
        a.dst = full, a.dst_stride = (size_t)ow * 3;
        a.crop_x = a.crop_y = 0, a.crop_w = ow, a.crop_h = oh;
        memcpy(a.box, box, sizeof box);
        if (vr_resize_pil(&a, err, sizeof err))
            tu_fail("box: %s", err);
        snprintf(what, sizeof what, "box case %d (%g %g %g %g)", t, box[0], box[1], box[2], box[3]);
        check_oracle(src, sw, sh, box, ow, oh, f == VR_FILTER_BICUBIC, full, what);
        free(src), free(full), free(part);
    }
    /* invalid arguments are refused, not read */
    uint8_t px[12] = {0}, out[12];
    vr_resize_args a = {.src = px, .src_w = 2, .src_h = 2, .src_stride = 6, .out_w = 2, .out_h = 2,
                        .filter = VR_FILTER_BILINEAR, .dst = out, .dst_stride = 6};
    vr_resize_args_whole(&a);
    a.box[2] = 2.5f;
    assert_int_equal(vr_resize_pil(&a, err, sizeof err), -1);
    assert_non_null(strstr(err, "box"));
    vr_resize_args_whole(&a);
    a.crop_w = 3;
    assert_int_equal(vr_resize_pil(&a, err, sizeof err), -1);
    assert_non_null(strstr(err, "crop"));
    vr_resize_args_whole(&a);
    a.filter = (vr_filter)9;
    assert_int_equal(vr_resize_pil(&a, err, sizeof err), -1);
    a.filter = VR_FILTER_BILINEAR;
    a.src_stride = 5;
    assert_int_equal(vr_resize_pil(&a, err, sizeof err), -1);
}

/* ------------------------------------------------------- against Pillow --- */
/* The oracle grid again, now against Pillow: must be equal, byte for byte. */
static void test_pil_synthetic(void **state)
{
    make_tmp();
    char jobs[128], path[256], line[512];
    snprintf(jobs, sizeof jobs, "%s/jobs.txt", g_tmp);
    FILE *jf = fopen(jobs, "w");
    assert_non_null(jf);
    tu_rng r = tu_rng_make(0x9111);
    typedef struct job { int sw, sh, ow, oh, bicubic; float box[4]; uint8_t *src; } job;
    job *J = calloc(NSIZES * NSIZES * 2 + 64, sizeof *J);
    int nj = 0;
    for (int i = 0; i < NSIZES; i++)
        for (int j = 0; j < NSIZES; j++)
            for (int bicubic = 0; bicubic < 2; bicubic++) {
                job *b = &J[nj];
                b->sw = k_sizes[i], b->ow = k_sizes[j];
                b->sh = k_sizes[(i + 7) % NSIZES], b->oh = k_sizes[(j + 2) % NSIZES];
                b->bicubic = bicubic;
                b->box[2] = (float)b->sw, b->box[3] = (float)b->sh;
                nj++;
            }
    for (int t = 0; t < 40; t++) { /* fractional boxes, larger images */
        job *b = &J[nj++];
        b->sw = 20 + (int)(tu_next(&r) % 300), b->sh = 20 + (int)(tu_next(&r) % 300);
        b->ow = 1 + (int)(tu_next(&r) % 260), b->oh = 1 + (int)(tu_next(&r) % 260);
        b->bicubic = t & 1;
        /* quarters: exact in float and in Pillow's float box */
        b->box[0] = (float)(tu_next(&r) % (unsigned)(b->sw * 2)) / 4.0f;
        b->box[1] = (float)(tu_next(&r) % (unsigned)(b->sh * 2)) / 4.0f;
        b->box[2] = (float)b->sw - (float)(tu_next(&r) % (unsigned)(b->sw * 2)) / 4.0f;
        b->box[3] = (float)b->sh - (float)(tu_next(&r) % (unsigned)(b->sh * 2)) / 4.0f;
    }
    for (int k = 0; k < nj; k++) {
        job *b = &J[k];
        b->src = random_image(&r, b->sw, b->sh);
        snprintf(path, sizeof path, "%s/s%d.raw", g_tmp, k);
        write_file(path, b->src, (size_t)b->sw * b->sh * 3);
        fprintf(jf, "box %s/o%d.raw raw:%s:%d:%d %s %d %d %.2f %.2f %.2f %.2f\n", g_tmp, k, path,
                b->sw, b->sh, b->bicubic ? "bicubic" : "bilinear", b->ow, b->oh, b->box[0],
                b->box[1], b->box[2], b->box[3]);
    }
    fclose(jf);
    int rc = run_pil(jobs);
    if (rc == 77) {
        for (int k = 0; k < nj; k++)
            free(J[k].src);
        free(J);
        rm_tmp();
        skip();
    }
    stats s[2] = {{0}};
    char err[256];
    for (int k = 0; k < nj; k++) {
        job *b = &J[k];
        size_t n = (size_t)b->ow * b->oh * 3, got_len = 0;
        snprintf(path, sizeof path, "%s/o%d.raw", g_tmp, k);
        uint8_t *want = tu_read_file(path, &got_len);
        if (!want || got_len != n)
            tu_fail("job %d: Pillow output missing or %zu bytes, want %zu", k, got_len, n);
        uint8_t *got = malloc(n);
        vr_resize_args a = {.src = b->src, .src_w = b->sw, .src_h = b->sh,
                            .src_stride = (size_t)b->sw * 3, .out_w = b->ow, .out_h = b->oh,
                            .filter = b->bicubic ? VR_FILTER_BICUBIC : VR_FILTER_BILINEAR,
                            .dst = got, .dst_stride = (size_t)b->ow * 3};
        vr_resize_args_whole(&a);
        memcpy(a.box, b->box, sizeof a.box);
        if (vr_resize_pil(&a, err, sizeof err))
            tu_fail("job %d: %s", k, err);
        stats one = {0};
        stats_add(&one, got, want, n);
        stats_add(&s[b->bicubic], got, want, n);
        if (one.maxd) {
            snprintf(line, sizeof line, "job %d %s %dx%d box (%g %g %g %g) → %dx%d", k,
                     b->bicubic ? "bicubic" : "bilinear", b->sw, b->sh, b->box[0], b->box[1],
                     b->box[2], b->box[3], b->ow, b->oh);
            stats_print(line, &one);
        }
        free(want), free(got), free(b->src);
    }
    stats_print("synthetic vs Pillow, bilinear", &s[0]);
    stats_print("synthetic vs Pillow, bicubic", &s[1]);
    free(J);
    rm_tmp();
    /* bit-exact is the claim (resize.h): any difference fails */
    assert_int_equal(s[0].maxd, 0);
    assert_int_equal(s[1].maxd, 0);
}

/* Real photos: decode (Pillow's JPEG decode), resize down and up, and the
 * torchvision transform through vr_preprocess, against Pillow. Also measures
 * what DCT-scaled decoding changes in the torchvision transform. */
static void test_pil_dataset(void **state)
{
    const char *shared = tu_require_shared();
    int want_grocery = quick() ? 16 : 160, want_uk = quick() ? 8 : 60;
    char path[4096], line[1024], jobs[128];
    char **files = calloc((size_t)(want_grocery + want_uk), sizeof *files);
    int nf = 0;
    snprintf(path, sizeof path, "%s/data/grocery/test.txt", shared);
    FILE *f = fopen(path, "r");
    if (!f)
        skip();
    for (int k = 0; nf < want_grocery && fgets(line, sizeof line, f); k++) {
        if (k % 15) /* spread over the 81 classes */
            continue;
        line[strcspn(line, ",\r\n")] = 0;
        snprintf(path, sizeof path, "%s/data/grocery/%s", shared, line);
        files[nf++] = strdup(path);
    }
    fclose(f);
    for (int k = 0; k < want_uk; k++) {
        snprintf(path, sizeof path, "%s/data/ukbench1000/images/ukbench%05d.jpg", shared, k * 16 + 3);
        if (access(path, R_OK) == 0)
            files[nf++] = strdup(path);
    }
    assert_true(nf >= (quick() ? 10 : 200));
    make_tmp();
    snprintf(jobs, sizeof jobs, "%s/jobs.txt", g_tmp);
    FILE *jf = fopen(jobs, "w");
    /* per image: one downscale and one torchvision transform, for every
     * second image an upscale, for every third the plain decode; sizes and
     * filters rotate over the images */
    static const int down[][2] = {{224, 224}, {100, 75}, {37, 129}, {160, 120}, {299, 299}};
    static const int up[][2] = {{384, 384}, {401, 333}, {352, 480}, {353, 410}};
    static const int tv[][3] = {{256, 224, 224}, {232, 224, 224}, {160, 128, 128}, {342, 299, 299},
                                {224, 224, 224}};
    for (int i = 0; i < nf; i++) {
        const char *fl = i & 1 ? "bicubic" : "bilinear";
        if (i % 3 == 0)
            fprintf(jf, "decode %s/d%d.raw %s\n", g_tmp, i, files[i]);
        fprintf(jf, "resize %s/a%d.raw %s %s %d %d\n", g_tmp, i, files[i], fl, down[i % 5][0], down[i % 5][1]);
        if (i % 2 == 0)
            fprintf(jf, "resize %s/b%d.raw %s %s %d %d\n", g_tmp, i, files[i], fl, up[i % 4][0], up[i % 4][1]);
        fprintf(jf, "tv %s/t%d.raw %s %s %d %d %d\n", g_tmp, i, files[i], (i / 2) & 1 ? "bicubic" : "bilinear",
                tv[i % 5][0], tv[i % 5][1], tv[i % 5][2]);
    }
    fclose(jf);
    if (run_pil(jobs) == 77) {
        for (int i = 0; i < nf; i++)
            free(files[i]);
        free(files);
        rm_tmp();
        skip();
    }
    stats sd = {0}, sdown = {0}, sup = {0}, stv = {0}, sscaled = {0};
    double scaled_abs = 0;
    int scaled_images = 0;
    char err[512];
    for (int i = 0; i < nf; i++) {
        size_t blen = 0, rlen = 0;
        uint8_t *buf = tu_read_file(files[i], &blen);
        assert_non_null(buf);
        vf_image img;
        if (vf_image_decode(buf, blen, NULL, &img, err, sizeof err))
            tu_fail("%s: %s", files[i], err);
        uint8_t *ref;
        if (i % 3 == 0) {
            snprintf(path, sizeof path, "%s/d%d.raw", g_tmp, i);
            ref = tu_read_file(path, &rlen);
            if (!ref || rlen != (size_t)img.w * img.h * 3)
                tu_fail("%s: Pillow decoded %zu bytes, we %dx%d", files[i], rlen, img.w, img.h);
            stats_add(&sd, img.rgb, ref, rlen);
            free(ref);
        }
        vr_filter fl = i & 1 ? VR_FILTER_BICUBIC : VR_FILTER_BILINEAR;
        const int *sz[2] = {down[i % 5], up[i % 4]};
        for (int k = 0; k < 1 + (i % 2 == 0); k++) {
            size_t n = (size_t)sz[k][0] * sz[k][1] * 3;
            uint8_t *got = malloc(n);
            resize(img.rgb, img.w, img.h, sz[k][0], sz[k][1], fl, got);
            snprintf(path, sizeof path, "%s/%c%d.raw", g_tmp, k ? 'b' : 'a', i);
            ref = tu_read_file(path, &rlen);
            if (!ref || rlen != n)
                tu_fail("%s: Pillow resize output missing", files[i]);
            stats_add(k ? &sup : &sdown, got, ref, n);
            free(ref), free(got);
        }
        /* torchvision through the preprocessing (u8 without mean/std: v itself) */
        vr_preproc pp = {.width = tv[i % 5][1], .height = tv[i % 5][2], .dtype = VR_U8,
                         .in_scale = 1, .resize_shorter = tv[i % 5][0],
                         .resize = (i / 2) & 1 ? VR_RESIZE_PIL_BICUBIC : VR_RESIZE_PIL_BILINEAR};
        size_t n = vr_preproc_bytes(&pp);
        uint8_t *got = malloc(n);
        if (vr_preprocess(&pp, &img, got, err, sizeof err))
            tu_fail("%s: %s", files[i], err);
        snprintf(path, sizeof path, "%s/t%d.raw", g_tmp, i);
        ref = tu_read_file(path, &rlen);
        if (!ref || rlen != n)
            tu_fail("%s: torchvision output missing", files[i]);
        stats_add(&stv, got, ref, n);
        /* the same from the encoded bytes, full-size decode: identical */
        uint8_t *enc = malloc(n);
        if (vr_preprocess_encoded(&pp, buf, blen, NULL, enc, err, sizeof err))
            tu_fail("%s: %s", files[i], err);
        assert_memory_equal(enc, got, n);
        /* DCT-scaled decode: measured against torchvision */
        pp.scaled_decode = 1;
        if (vr_preproc_decode_scale(&pp, img.w, img.h) < 8) {
            if (vr_preprocess_encoded(&pp, buf, blen, NULL, enc, err, sizeof err))
                tu_fail("%s (scaled): %s", files[i], err);
            stats_add(&sscaled, enc, ref, n);
            for (size_t j = 0; j < n; j++)
                scaled_abs += abs((int)enc[j] - (int)ref[j]);
            scaled_images++;
        }
        free(enc), free(ref), free(got), free(buf);
        vf_image_free(&img);
    }
    printf("%d images (%d GroceryStore, %d UKBench)\n", nf, nf - want_uk, want_uk);
    stats_print("decode vs Pillow", &sd);
    stats_print("decode + resize down vs Pillow", &sdown);
    stats_print("decode + resize up vs Pillow", &sup);
    stats_print("decode + torchvision Resize+CenterCrop", &stv);
    stats_print("DCT-scaled decode + torchvision transform", &sscaled);
    printf("DCT-scaled: %d images decoded scaled, mean |diff| %.3f levels\n", scaled_images,
           scaled_abs / (double)(sscaled.n ? sscaled.n : 1));
    for (int i = 0; i < nf; i++)
        free(files[i]);
    free(files);
    rm_tmp();
    assert_int_equal(sd.maxd, 0);
    assert_int_equal(sdown.maxd, 0);
    assert_int_equal(sup.maxd, 0);
    assert_int_equal(stv.maxd, 0);
    /* Scaled decoding shows the same region, slightly softer: a geometry error
     * (a crop or box off by pixels) would move every edge. Observed 1.44
     * levels mean (the 1/2-scaled images of the 160/128 transform); a box
     * edge moved by one decoded pixel gives 5.0. */
    if (scaled_images)
        assert_true(scaled_abs / (double)sscaled.n < 2.5);
}

/* ------------------------------------------------------------ metadata --- */
typedef struct kv { const char *key, *s; double num; int is_num; } kv;

/* A model with a 224×224×3 (dtype) input and the given preproc.* keys;
 * returns vr_preproc_from_model's result. */
static int from_keys(const kv *keys, int n, vr_dtype dt, vr_preproc *pp, char *err, size_t errlen)
{
    vw_writer *w = vw_writer_new();
    for (int i = 0; i < n; i++) {
        if (keys[i].is_num)
            vw_writer_kv_f64(w, keys[i].key, keys[i].num);
        else
            vw_writer_kv_str(w, keys[i].key, keys[i].s);
    }
    void *buf;
    size_t len;
    assert_int_equal(vw_writer_serialize(w, &buf, &len), 0);
    vw_file *f;
    if (vw_open_mem(buf, len, &f, err, errlen))
        tu_fail("vw_open_mem: %s", err);
    vr_graph *g = vr_graph_new();
    vr_value in = {.dtype = dt, .h = 224, .w = 224, .c = 3, .scale = 0.5f, .zero = 3};
    vr_value outv = {.dtype = dt, .h = 1, .w = 1, .c = 3, .scale = 0.5f, .zero = 3};
    vr_graph_add_value(g, &in);
    vr_graph_add_value(g, &outv);
    vr_graph_set_io(g, 0, 1);
    vr_model m = {.file = f, .graph = g};
    int rc = vr_preproc_from_model(&m, pp, err, errlen);
    vr_graph_free(g);
    vw_close(f);
    free(buf);
    vw_writer_free(w);
    return rc;
}

#define S(k, v) {k, v, 0, 0}
#define N(k, v) {k, NULL, v, 1}

static void test_metadata(void **state)
{
    vr_preproc pp;
    char err[256];
    const kv tvk[] = {S("preproc.resize", "pil_bicubic"), N("preproc.resize_shorter", 256),
                      S("preproc.crop", "center")};
    assert_int_equal(from_keys(tvk, 3, VR_F32, &pp, err, sizeof err), 0);
    assert_int_equal(pp.resize, VR_RESIZE_PIL_BICUBIC);
    assert_int_equal(pp.resize_shorter, 256);
    assert_int_equal(pp.crop_center, 0);
    assert_int_equal(pp.scaled_decode, 0);
    assert_int_equal(pp.nchw, 0);
    const kv bil[] = {S("preproc.resize", "pil_bilinear")};
    assert_int_equal(from_keys(bil, 1, VR_U8, &pp, err, sizeof err), 0);
    assert_int_equal(pp.resize, VR_RESIZE_PIL_BILINEAR);
    assert_int_equal(pp.resize_shorter, 0);
    const kv tf[] = {S("preproc.resize", "bilinear")};
    assert_int_equal(from_keys(tf, 1, VR_U8, &pp, err, sizeof err), 0);
    assert_int_equal(pp.resize, VR_RESIZE_TF_BILINEAR);
    static const struct { kv k[3]; int n; const char *want; } bad[] = {
        {{S("preproc.resize", "lanczos")}, 1, "not supported"},
        {{S("preproc.resize", "pil_bilinear"), N("preproc.resize_shorter", 200)}, 2, "below the input size"},
        {{S("preproc.resize", "pil_bilinear"), N("preproc.resize_shorter", 256.5)}, 2, "integer"},
        {{S("preproc.resize", "pil_bilinear"), N("preproc.resize_shorter", -1)}, 2, "integer"},
        {{S("preproc.resize", "pil_bilinear"), N("preproc.resize_shorter", 1e12)}, 2, "integer"},
        {{S("preproc.resize", "pil_bilinear"), S("preproc.resize_shorter", "256")}, 2, "integer"},
        {{S("preproc.resize", "bilinear"), N("preproc.resize_shorter", 256)}, 2, "needs preproc.resize"},
        {{N("preproc.resize_shorter", 256)}, 1, "needs preproc.resize"},
        {{S("preproc.resize", "pil_bicubic"), N("preproc.resize_shorter", 256), S("preproc.crop", "none")},
         3, "contradicts"},
        {{S("preproc.resize", "pil_bicubic"), N("preproc.resize_shorter", 256), N("preproc.crop_fraction", 0.5)},
         3, "crop_fraction has no meaning"},
        {{S("preproc.layout", "nchw")}, 1, "nhwc only"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        if (from_keys(bad[i].k, bad[i].n, VR_F32, &pp, err, sizeof err) == 0)
            tu_fail("bad metadata %zu accepted", i);
        if (!strstr(err, bad[i].want))
            tu_fail("bad metadata %zu: '%s' lacks '%s'", i, err, bad[i].want);
    }
}

/* Layouts, bgr and normalisation in the Pillow modes, on a random image. */
static void test_store_modes(void **state)
{
    tu_rng r = tu_rng_make(0x5707);
    int W = 301, H = 203;
    vf_image img = {.w = W, .h = H, .rgb = random_image(&r, W, H)};
    char err[256];
    vr_preproc base = {.width = 64, .height = 48, .dtype = VR_U8, .in_scale = 1,
                       .resize = VR_RESIZE_PIL_BICUBIC, .resize_shorter = 70};
    size_t np = 64 * 48;
    uint8_t *u = malloc(np * 3), *u2 = malloc(np * 3);
    assert_int_equal(vr_preprocess(&base, &img, u, err, sizeof err), 0);
    /* the u8 output is Pillow's resize + crop: resize_shorter 70 on 301×203 →
     * 103×70 (int(70·301/203) = 103), crop 64×48 at (20, 11) (round(19.5) = 20,
     * halves to even; round(11.0)) */
    uint8_t *full = malloc(103 * 70 * 3);
    resize(img.rgb, W, H, 103, 70, VR_FILTER_BICUBIC, full);
    for (int y = 0; y < 48; y++)
        assert_memory_equal(u + (size_t)y * 64 * 3, full + ((size_t)(11 + y) * 103 + 20) * 3, 64 * 3);
    /* nchw: planes of the same values */
    vr_preproc pp = base;
    pp.nchw = 1;
    assert_int_equal(vr_preprocess(&pp, &img, u2, err, sizeof err), 0);
    for (size_t p = 0; p < np; p++)
        for (int c = 0; c < 3; c++)
            assert_int_equal(u2[(size_t)c * np + p], u[p * 3 + c]);
    /* bgr */
    pp = base;
    pp.bgr = 1;
    assert_int_equal(vr_preprocess(&pp, &img, u2, err, sizeof err), 0);
    for (size_t p = 0; p < np; p++)
        for (int c = 0; c < 3; c++)
            assert_int_equal(u2[p * 3 + (size_t)(2 - c)], u[p * 3 + c]);
    /* f32 with torchvision's mean / std (0 … 1 scale, as the converter
     * writes them; vr_preproc holds them × 255). Reference: torchvision's
     * (v/255 − m)/s in double. Tolerance: ours is fl(fl(v − M)/S) with M, S
     * the float32 products m·255, s·255 — relative errors 2^-24 in M, S and
     * each operation give |err| ≤ 2^-24·(M/S + 3|r|) ≤ 2^-22·(255/S + |r|). */
    static const double m[3] = {0.485, 0.456, 0.406}, s[3] = {0.229, 0.224, 0.225};
    pp = base;
    pp.dtype = VR_F32;
    pp.have_norm = 1;
    for (int c = 0; c < 3; c++)
        pp.mean[c] = (float)m[c] * 255.0f, pp.std[c] = (float)s[c] * 255.0f;
    float *x = malloc(np * 3 * sizeof(float));
    assert_int_equal(vr_preprocess(&pp, &img, x, err, sizeof err), 0);
    for (size_t p = 0; p < np; p++)
        for (int c = 0; c < 3; c++) {
            double ref = ((double)u[p * 3 + c] / 255.0 - (double)(float)m[c]) / (double)(float)s[c];
            double tol = ldexp(255.0 / pp.std[c] + fabs(ref), -22);
            if (fabs(x[p * 3 + c] - ref) > tol)
                tu_fail("normalised (%zu, %d) = %.9g, want %.9g ± %.3g", p, c, x[p * 3 + c], ref, tol);
        }
    /* resize_shorter below the output is refused, not padded */
    pp = base;
    pp.resize_shorter = 40;
    assert_int_equal(vr_preprocess(&pp, &img, u2, err, sizeof err), -1);
    free(x), free(u), free(u2), free(full);
    vf_image_free(&img);
}

/* The DCT scale chosen: the smallest of 1/8, 1/4, 1/2 that still covers the
 * output, else full size. */
static void test_decode_scale(void **state)
{
    vr_preproc pp = {.width = 224, .height = 224, .dtype = VR_U8, .in_scale = 1};
    /* TF mode, no crop: 2784·n ≥ 8·224 → n = 1 (348 ≥ 224); 1000: n = 2 (250) */
    assert_int_equal(vr_preproc_decode_scale(&pp, 2784, 2784), 1);
    assert_int_equal(vr_preproc_decode_scale(&pp, 1000, 2784), 2);
    assert_int_equal(vr_preproc_decode_scale(&pp, 224, 4000), 8);
    assert_int_equal(vr_preproc_decode_scale(&pp, 100, 100), 8);
    /* with the 0.875 center crop: 1024 keeps 896 (x0 = 64): 896·n ≥ 1792 → 2 */
    pp.crop_center = 1, pp.crop_fraction = 0.875f;
    assert_int_equal(vr_preproc_decode_scale(&pp, 1024, 1024), 2);
    assert_int_equal(vr_preproc_decode_scale(&pp, 1023, 1023), 2); /* x0 = 63: 897 kept */
    assert_int_equal(vr_preproc_decode_scale(&pp, 1020, 1020), 4); /* 894 kept: 3/8 would do */
    /* torchvision: shorter side ≥ 256 — 348·n ≥ 2048 needs 6/8: full size */
    pp.crop_center = 0;
    pp.resize = VR_RESIZE_PIL_BILINEAR, pp.resize_shorter = 256;
    assert_int_equal(vr_preproc_decode_scale(&pp, 348, 464), 8);
    assert_int_equal(vr_preproc_decode_scale(&pp, 1024, 768), 4); /* 384 */
    assert_int_equal(vr_preproc_decode_scale(&pp, 4032, 3024), 1); /* 378 */
    assert_int_equal(vr_preproc_decode_scale(&pp, 3024, 2000), 2);  /* 500 */
    assert_int_equal(vr_preproc_decode_scale(&pp, 2047, 3000), 2);  /* 255.9 < 256 */
    assert_int_equal(vr_preproc_decode_scale(&pp, 0, 10), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle),        cmocka_unit_test(test_crop_and_box),
        cmocka_unit_test(test_pil_synthetic), cmocka_unit_test(test_pil_dataset),
        cmocka_unit_test(test_metadata),      cmocka_unit_test(test_store_modes),
        cmocka_unit_test(test_decode_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
