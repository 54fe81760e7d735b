/* formats/image: decoding of the real test images (sizes checked against the
 * JPEG SOF marker / BMP header, read here independently of the decoder), exact
 * pixels of small synthetic BMPs in every supported layout, PNG round trips
 * (every colour type and bit depth, written by libspng, expected pixels
 * computed here; and PNGs written by Pillow, decoded by both), DCT-scaled JPEG
 * decoding, and a table of hostile inputs — truncations at many lengths,
 * bit-flipped headers, huge claimed sizes (a ~300-byte JPEG and a PNG claiming
 * 65535×65535), thousands of progressive scans, the memory limit, empty,
 * non-image and CMYK input, zero-length files, directories, missing files —
 * each refused with its message (run under ASan/UBSan in the sanitized build:
 * no crash, no overread). */
#include <ftw.h>
#include <math.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "formats/image.h"
#include "testutil.h"

/* Independent readers. */
/* Offset of the SOF marker's 0xFF (walking the segments), or 0. */
static size_t jpeg_sof_pos(const uint8_t *p, size_t n)
{
    size_t i = 2;
    while (i + 9 < n) {
        if (p[i] != 0xFF)
            return 0;
        uint8_t mk = p[i + 1];
        if (mk == 0xFF) {
            i++;
            continue;
        }
        if (mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC)
            return i;
        i += 2 + ((size_t)p[i + 2] << 8 | p[i + 3]);
    }
    return 0;
}

static int jpeg_sof_dims(const uint8_t *p, size_t n, int *w, int *h)
{
    size_t i = 2;
    while (i + 9 < n) {
        if (p[i] != 0xFF)
            return -1;
        uint8_t mk = p[i + 1];
        if (mk == 0xFF) {
            i++;
            continue;
        }
        size_t seg = (size_t)p[i + 2] << 8 | p[i + 3];
        if (mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC) {
            *h = p[i + 5] << 8 | p[i + 6];
            *w = p[i + 7] << 8 | p[i + 8];
            return 0;
        }
        i += 2 + seg;
    }
    return -1;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void check_file(const char *path, int is_bmp)
{
    size_t n = 0;
    uint8_t *b = tu_read_file(path, &n);
    if (!b || n == 0)
        tu_fail("%s: cannot read", path);
    int w = 0, h = 0;
    if (is_bmp) {
        w = (int32_t)le32(b + 18);
        h = (int32_t)le32(b + 22);
        h = h < 0 ? -h : h;
    } else if (jpeg_sof_dims(b, n, &w, &h)) {
        tu_fail("%s: no SOF marker found by the test's reader", path);
    }
    vf_image img;
    char err[512];
    if (vf_image_decode(b, n, NULL, &img, err, sizeof err))
        tu_fail("%s: %s", path, err);
    if (img.w != w || img.h != h)
        tu_fail("%s: decoded %dx%d, header says %dx%d", path, img.w, img.h, w, h);
    if (is_bmp) {
        /* bottom-up 24-bit: the top-left pixel is the first of the last row. */
        uint32_t off = le32(b + 10);
        size_t stride = ((size_t)w * 3 + 3) / 4 * 4;
        const uint8_t *s = b + off + (size_t)(h - 1) * stride;
        assert_int_equal(img.rgb[0], s[2]);
        assert_int_equal(img.rgb[1], s[1]);
        assert_int_equal(img.rgb[2], s[0]);
    }
    vf_image file_img;
    if (vf_image_decode_file(path, NULL, &file_img, err, sizeof err))
        tu_fail("%s (file): %s", path, err);
    assert_int_equal(file_img.w, w);
    assert_memory_equal(file_img.rgb, img.rgb, (size_t)w * h * 3);
    vf_image_free(&file_img);
    vf_image_free(&img);
    free(b);
}

static void test_coral_images(void **state)
{
    const char *shared = tu_require_shared();
    static const char *names[] = {"cat.bmp", "bird.bmp", "grace_hopper.bmp",
                                  "missvickie_potato_chips.bmp", "hot_dog.jpg", "parrot.jpg"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models/coral/%s", shared, names[i]);
        check_file(path, strstr(names[i], ".bmp") != NULL);
    }
}

static void test_dataset_jpegs(void **state)
{
    const char *shared = tu_require_shared();
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/data/grocery/test.txt", shared);
    FILE *f = fopen(path, "r");
    if (!f)
        skip();
    int done = 0, k = 0;
    while (done < 6 && fgets(line, sizeof line, f)) {
        if (k++ % 300) /* spread over the classes */
            continue;
        line[strcspn(line, ",\r\n")] = 0;
        snprintf(path, sizeof path, "%s/data/grocery/%s", shared, line);
        check_file(path, 0);
        done++;
    }
    fclose(f);
    assert_true(done >= 3);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/data/ukbench1000/images/ukbench%05d.jpg", shared, i * 333);
        FILE *g = fopen(path, "rb");
        if (!g)
            continue;
        fclose(g);
        check_file(path, 0);
    }
}

/* A w×h BMP with pixel (x, y) = (x·40+y, y·50+x, 7·x+3·y), in one layout. */
static uint8_t *make_bmp(int w, int h, int bpp, int top_down, int hsize, int bitfields,
                         size_t *len)
{
    size_t masks = bitfields && hsize == 40 ? 12 : 0;
    size_t off = 14 + (size_t)hsize + masks;
    size_t stride = ((size_t)w * bpp + 31) / 32 * 4;
    *len = off + stride * (size_t)h;
    uint8_t *b = calloc(1, *len);
    b[0] = 'B', b[1] = 'M';
    put32(b + 2, (uint32_t)*len);
    put32(b + 10, (uint32_t)off);
    put32(b + 14, (uint32_t)hsize);
    put32(b + 18, (uint32_t)w);
    put32(b + 22, (uint32_t)(top_down ? -h : h));
    b[26] = 1, b[28] = (uint8_t)bpp;
    put32(b + 30, bitfields ? 3 : 0);
    if (bitfields) {
        put32(b + 54, 0x00FF0000u);
        put32(b + 58, 0x0000FF00u);
        put32(b + 62, 0x000000FFu);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = b + off + (size_t)(top_down ? y : h - 1 - y) * stride + (size_t)x * (bpp / 8);
            p[2] = (uint8_t)(x * 40 + y), p[1] = (uint8_t)(y * 50 + x), p[0] = (uint8_t)(7 * x + 3 * y);
            if (bpp == 32)
                p[3] = 0xAA;
        }
    return b;
}

static void test_bmp_layouts(void **state)
{
    static const struct { int bpp, top_down, hsize, bitfields; } cases[] = {
        {24, 0, 40, 0}, {24, 1, 40, 0}, {24, 0, 124, 0}, {32, 0, 40, 0},
        {32, 1, 108, 0}, {32, 0, 40, 1}, {32, 1, 124, 1}, {24, 1, 56, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int w = 1; w <= 5; w++) {
            int h = 3;
            size_t len;
            uint8_t *b = make_bmp(w, h, cases[c].bpp, cases[c].top_down, cases[c].hsize,
                                  cases[c].bitfields, &len);
            vf_image img;
            char err[256];
            if (vf_image_decode(b, len, NULL, &img, err, sizeof err))
                tu_fail("case %zu w %d: %s", c, w, err);
            assert_int_equal(img.w, w);
            assert_int_equal(img.h, h);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    const uint8_t *p = img.rgb + ((size_t)y * w + x) * 3;
                    if (p[0] != (uint8_t)(x * 40 + y) || p[1] != (uint8_t)(y * 50 + x) ||
                        p[2] != (uint8_t)(7 * x + 3 * y))
                        tu_fail("case %zu w %d: pixel (%d, %d) = %d %d %d", c, w, x, y, p[0],
                                p[1], p[2]);
                }
            vf_image_free(&img);
            free(b);
        }
}

/* Decoding must fail and the message contain want. */
static void expect_fail(const char *what, const void *buf, size_t len, const vf_image_limits *lim,
                        const char *want)
{
    vf_image img = {.w = 7, .h = 7, .rgb = (uint8_t *)1};
    char err[512] = "";
    /* copy to an exact-size heap block so ASan sees any overread */
    void *copy = malloc(len ? len : 1);
    if (len)
        memcpy(copy, buf, len);
    int rc = vf_image_decode(copy, len, lim, &img, err, sizeof err);
    free(copy);
    if (rc == 0) {
        int w = img.w, h = img.h;
        vf_image_free(&img);
        tu_fail("%s: decoded (%dx%d), expected an error containing '%s'", what, w, h, want);
    }
    if (img.rgb || img.w || img.h)
        tu_fail("%s: failure left a non-empty image", what);
    if (!strstr(err, want))
        tu_fail("%s: error '%s' does not contain '%s'", what, err, want);
}

/* Either outcome is fine, but no crash, and success means a sane image. */
static int try_decode(const void *buf, size_t len, const vf_image_limits *lim)
{
    void *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    vf_image img;
    char err[512] = "";
    int rc = vf_image_decode(copy, len, lim, &img, err, sizeof err);
    free(copy);
    if (rc == 0) {
        assert_true(img.w > 0 && img.h > 0 && img.rgb);
        vf_image_free(&img);
    } else {
        assert_true(err[0] != 0);
    }
    return rc;
}

static void test_hostile_bmp(void **state)
{
    size_t len;
    uint8_t *b = make_bmp(5, 4, 24, 0, 40, 0, &len);
    uint8_t *m = malloc(len);
    char what[128];
    /* truncated at every length; the last row's padding byte (5·3 = 15 of a
     * 16-byte stride) is not required, so len − 1 still decodes */
    assert_int_equal(try_decode(b, len - 1, NULL), 0);
    for (size_t n = 0; n < len - 1; n++) {
        snprintf(what, sizeof what, "bmp truncated to %zu of %zu", n, len);
        expect_fail(what, b, n, NULL,
                    n == 0 ? "empty" : n < 2 ? "unsupported format" : n < 54 ? "shorter than" : "needs");
    }
    static const struct { size_t off; int bytes; uint32_t v; const char *want; } edits[] = {
        {14, 4, 12, "unsupported info header size 12"},
        {14, 4, 0xFFFFFFF0u, "unsupported info header size"},
        {14, 4, 124, "past the end"},
        {18, 4, 0, "width 0"},
        {18, 4, 0x80000000u, "width -2147483648"},
        {22, 4, 0, "height 0"},
        {22, 4, 0x80000000u, "height -2147483648"},
        {26, 2, 2, "planes 2"},
        {28, 2, 8, "unsupported bit depth 8"},
        {28, 2, 16, "unsupported bit depth 16"},
        {30, 4, 1, "unsupported compression 1"},
        {30, 4, 3, "BI_BITFIELDS with 24"},
        {10, 4, 0xFFFFFFFFu, "pixel data offset"},
        {10, 4, 20, "pixel data offset"},
        {18, 4, 6, "needs"},
        {22, 4, 5, "needs"},
        {22, 4, 0xFFFFFFFBu, "needs"}, /* top-down, 5 rows */
        {18, 4, 65535, "over the limit"},
    };
    for (size_t e = 0; e < sizeof edits / sizeof *edits; e++) {
        memcpy(m, b, len);
        if (edits[e].bytes == 4)
            put32(m + edits[e].off, edits[e].v);
        else
            m[edits[e].off] = (uint8_t)edits[e].v, m[edits[e].off + 1] = (uint8_t)(edits[e].v >> 8);
        if (edits[e].off == 18 && edits[e].v == 65535)
            put32(m + 22, 65535);
        snprintf(what, sizeof what, "bmp edit %zu (offset %zu = %u)", e, edits[e].off, edits[e].v);
        expect_fail(what, m, len, NULL, edits[e].want);
    }
    /* 65535×65535 with only the header: refused by the pixel limit before any allocation */
    memcpy(m, b, len);
    put32(m + 18, 65535);
    put32(m + 22, 65535);
    expect_fail("bmp 65535x65535", m, 54, NULL, "65535x65535 is 4294836225 pixels, over the limit");
    /* the same with a limit high enough: refused by the length check */
    vf_image_limits big = {.max_pixels = (uint64_t)1 << 40, .max_memory = (uint64_t)1 << 42};
    expect_fail("bmp 65535x65535, big limit", m, len, &big, "needs");
    /* a caller limit below the image */
    vf_image_limits tiny = {.max_pixels = 19};
    expect_fail("bmp over a caller limit", b, len, &tiny, "20 pixels, over the limit of 19");
    /* 32-bit bitfields with other masks */
    size_t l32;
    uint8_t *b32 = make_bmp(3, 2, 32, 0, 40, 1, &l32);
    put32(b32 + 54, 0xFF000000u);
    expect_fail("bmp rgba masks", b32, l32, NULL, "unsupported colour masks");
    expect_fail("bmp bitfields masks truncated", b32, 60, NULL, "masks past the end");
    free(b32);
    /* every single-bit flip of the headers: any outcome but a crash */
    int ok = 0, bad = 0;
    for (size_t i = 0; i < 54; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(m, b, len);
            m[i] ^= (uint8_t)(1u << bit);
            if (try_decode(m, len, NULL))
                bad++;
            else
                ok++;
        }
    printf("bmp header bit flips: %d decoded, %d refused\n", ok, bad);
    assert_true(bad > 0 && ok > 0);
    free(m);
    free(b);
}

static void test_hostile_misc(void **state)
{
    expect_fail("zero-length", "", 0, NULL, "empty input");
    expect_fail("NULL", NULL, 0, NULL, "empty input");
    const char *text = "hello, this is not an image\n";
    expect_fail("text", text, strlen(text), NULL, "unsupported format");
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13};
    expect_fail("png signature only", png, sizeof png, NULL, "png: bad header");
    static const uint8_t tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0};
    expect_fail("tiff", tiff, sizeof tiff, NULL, "unsupported format");
    static const uint8_t webp[] = "RIFF\x10\x00\x00\x00WEBPVP8 ";
    expect_fail("webp", webp, sizeof webp, NULL, "unsupported format");
    static const uint8_t gif[] = "GIF89a\x01\x00\x01\x00";
    expect_fail("gif", gif, sizeof gif, NULL, "unsupported format");
    static const uint8_t soi[] = {0xFF, 0xD8, 0xFF};
    expect_fail("jpeg SOI only", soi, sizeof soi, NULL, "jpeg:");
    vf_image img;
    char err[512];
    assert_int_equal(vf_image_decode_file("/nonexistent/vireo.jpg", NULL, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/vireo.jpg: cannot open"));
    assert_null(img.rgb);
    /* a directory, a zero-length file */
    char dir[] = "/tmp/vireo_img_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(vf_image_decode_file(dir, NULL, &img, err, sizeof err), -1);
    if (!strstr(err, "is a directory") && !strstr(err, "cannot open"))
        tu_fail("directory: '%s'", err);
    snprintf(path, sizeof path, "%s/empty.jpg", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(vf_image_decode_file(path, NULL, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty.jpg: empty input (0 bytes)"));
    remove(path);
    rmdir(dir);
    /* probe: format and size without decoding, errors alike */
    vf_image_format fmt;
    int w, h;
    assert_int_equal(vf_image_probe(text, strlen(text), &fmt, &w, &h, err, sizeof err), -1);
    assert_non_null(strstr(err, "unsupported format"));
    assert_int_equal(vf_image_probe(soi, sizeof soi, &fmt, &w, &h, err, sizeof err), -1);
    assert_int_equal(vf_image_probe(NULL, 0, &fmt, &w, &h, err, sizeof err), -1);
    assert_int_equal(vf_image_decode_scaled(soi, sizeof soi, NULL, 0, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "scale 0/8"));
    assert_int_equal(vf_image_decode_scaled(soi, sizeof soi, NULL, 9, &img, err, sizeof err), -1);
    vf_image_free(NULL);
}

static void test_hostile_jpeg(void **state)
{
    const char *shared = tu_require_shared();
    char path[4096], what[128];
    snprintf(path, sizeof path, "%s/models/coral/hot_dog.jpg", shared);
    size_t len = 0;
    uint8_t *b = tu_read_file(path, &len);
    assert_non_null(b);
    assert_true(len > 1000);
    /* a caller limit below 512×384 */
    vf_image_limits tiny = {.max_pixels = 512 * 384 - 1};
    expect_fail("jpeg over a caller limit", b, len, &tiny, "over the limit");
    /* truncated at many lengths: refused (strict) — libjpeg's message included */
    size_t steps[64], ns = 0;
    for (size_t n = 3; n < 700 && ns < 40; n += 17)
        steps[ns++] = n;
    for (int k = 1; k < 20; k++)
        steps[ns++] = len * (size_t)k / 20;
    steps[ns++] = len - 2; /* without EOI */
    int lenient_ok = 0;
    for (size_t i = 0; i < ns; i++) {
        snprintf(what, sizeof what, "jpeg truncated to %zu of %zu", steps[i], len);
        expect_fail(what, b, steps[i], NULL, "jpeg:");
        vf_image_limits lenient = {.lenient_jpeg = 1};
        lenient_ok += try_decode(b, steps[i], &lenient) == 0;
    }
    printf("jpeg truncations: %zu refused strictly; %d decoded (grey-filled) when lenient\n", ns,
           lenient_ok);
    /* a SOF claiming 65535×65535 */
    uint8_t *m = malloc(len);
    memcpy(m, b, len);
    int w = 0, h = 0;
    assert_int_equal(jpeg_sof_dims(m, len, &w, &h), 0);
    size_t sof = jpeg_sof_pos(m, len);
    assert_true(sof > 0);
    m[sof + 5] = m[sof + 6] = m[sof + 7] = m[sof + 8] = 0xFF; /* libjpeg's own cap: 65500 */
    expect_fail("jpeg 65535x65535", m, len, NULL, "bad header: Maximum supported image dimension");
    m[sof + 5] = m[sof + 7] = 0xFD, m[sof + 6] = m[sof + 8] = 0xE8; /* 65000×65000 */
    expect_fail("jpeg 65000x65000", m, len, NULL, "65000x65000 is 4225000000 pixels, over the limit");
    /* zero width */
    memcpy(m, b, len);
    m[sof + 7] = m[sof + 8] = 0;
    expect_fail("jpeg width 0", m, len, NULL, "jpeg:");
    /* seeded random bit flips in the first 2 KB (headers, tables, first scan): no crash */
    tu_rng r = tu_rng_make(0x1a6e);
    int ok = 0, bad = 0;
    for (int t = 0; t < 300; t++) {
        memcpy(m, b, len);
        for (int f = 0; f < 1 + t % 4; f++) {
            size_t pos = 2 + tu_next(&r) % 2046;
            m[pos] ^= (uint8_t)(1u << (tu_next(&r) % 8));
        }
        if (try_decode(m, len, NULL))
            bad++;
        else
            ok++;
    }
    printf("jpeg bit flips: %d decoded, %d refused\n", ok, bad);
    free(m);
    free(b);
}

/* Under qemu (VIREO_TEST_QUICK=1) the long loops take a sample. */
static int quick(void)
{
    const char *q = getenv("VIREO_TEST_QUICK");
    return q && *q && strcmp(q, "0");
}

/* ------------------------------------------------- synthetic encoders --- */
/* A smooth colourful w×h pattern with some texture. */
static uint8_t *pattern(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(128 + 100 * sin(x / 9.0) * cos(y / 13.0));
            q[1] = (uint8_t)((x * 255) / (w > 1 ? w - 1 : 1));
            q[2] = (uint8_t)(128 + 60 * sin((x + 2 * y) / 5.0));
        }
    return p;
}

static uint8_t *tj_encode(const uint8_t *px, int w, int h, int pf, int subsamp, int quality,
                          int flags, size_t *len)
{
    tjhandle tj = tjInitCompress();
    assert_non_null(tj);
    unsigned char *jpeg = NULL;
    unsigned long jl = 0;
    if (tjCompress2(tj, px, w, 0, h, pf, &jpeg, &jl, subsamp, quality, flags))
        tu_fail("tjCompress2: %s", tjGetErrorStr2(tj));
    uint8_t *out = malloc(jl);
    memcpy(out, jpeg, jl);
    *len = jl;
    tjFree(jpeg);
    tjDestroy(tj);
    return out;
}

/* Offsets of the SOS markers (FF DA cannot occur inside entropy-coded data,
 * where FF is always followed by 00 or a restart marker). */
static int jpeg_sos_offsets(const uint8_t *p, size_t n, size_t *off, int max)
{
    int k = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == 0xFF && p[i + 1] == 0xDA && k < max)
            off[k++] = i;
    return k;
}

static void test_jpeg_scaled(void **state)
{
    int W = 203, H = 157;
    uint8_t *px = pattern(W, H);
    size_t len;
    uint8_t *jpg = tj_encode(px, W, H, TJPF_RGB, TJSAMP_420, 95, 0, &len);
    vf_image full, img;
    char err[256];
    if (vf_image_decode(jpg, len, NULL, &full, err, sizeof err))
        tu_fail("%s", err);
    assert_int_equal(full.scale_num, 8);
    assert_int_equal(full.full_w, W);
    for (int n = 1; n <= 8; n++) {
        if (vf_image_decode_scaled(jpg, len, NULL, n, &img, err, sizeof err))
            tu_fail("scale %d/8: %s", n, err);
        /* libjpeg's rounding: ⌈W·n/8⌉ */
        assert_int_equal(img.w, (W * n + 7) / 8);
        assert_int_equal(img.h, (H * n + 7) / 8);
        assert_int_equal(img.full_w, W);
        assert_int_equal(img.full_h, H);
        assert_int_equal(img.scale_num, n);
        /* Close to the full decode averaged over each output pixel's
         * 8/n × 8/n area (pixel centres inside it): the scaled IDCT keeps the
         * low frequencies of exactly that area. Not equal (different
         * filters): a bound on the mean that a transposed, shifted or
         * garbage image would exceed many times over. */
        double sum = 0;
        size_t cnt = 0;
        for (int y = 0; y < img.h; y++)
            for (int x = 0; x < img.w; x++) {
                double a0 = x * 8.0 / n, a1 = (x + 1) * 8.0 / n, b0 = y * 8.0 / n, b1 = (y + 1) * 8.0 / n;
                double acc[3] = {0}, k = 0;
                for (int sy = (int)b0; sy < H && sy + 0.5 < b1; sy++)
                    for (int sx = (int)a0; sx < W && sx + 0.5 < a1; sx++) {
                        if (sx + 0.5 < a0 || sy + 0.5 < b0)
                            continue;
                        for (int c = 0; c < 3; c++)
                            acc[c] += full.rgb[((size_t)sy * W + sx) * 3 + c];
                        k++;
                    }
                if (k == 0)
                    continue;
                for (int c = 0; c < 3; c++)
                    sum += fabs(img.rgb[((size_t)y * img.w + x) * 3 + c] - acc[c] / k);
                cnt += 3;
            }
        double mean = sum / (double)cnt;
        printf("scaled %d/8: %dx%d, mean |scaled − area average of full| %.2f\n", n, img.w, img.h, mean);
        assert_true(mean < 4.0);
        if (n == 8)
            assert_memory_equal(img.rgb, full.rgb, (size_t)W * H * 3);
        vf_image_free(&img);
    }
    /* other formats ignore the scale */
    size_t blen;
    uint8_t *bmp = make_bmp(5, 4, 24, 0, 40, 0, &blen);
    if (vf_image_decode_scaled(bmp, blen, NULL, 1, &img, err, sizeof err))
        tu_fail("%s", err);
    assert_int_equal(img.w, 5);
    assert_int_equal(img.scale_num, 8);
    vf_image_free(&img);
    free(bmp);
    /* probe agrees with the decoder */
    vf_image_format fmt;
    int pw, ph;
    assert_int_equal(vf_image_probe(jpg, len, &fmt, &pw, &ph, err, sizeof err), 0);
    assert_int_equal(fmt, VF_IMG_JPEG);
    assert_int_equal(pw, W);
    assert_int_equal(ph, H);
    vf_image_free(&full);
    free(jpg);
    free(px);
}

/* The progressive-JPEG scan bomb, the memory limit, a tiny file claiming a
 * huge image, CMYK. */
static void test_hostile_jpeg_limits(void **state)
{
    char what[128], err[512];
    int W = 48, H = 40;
    uint8_t *px = pattern(W, H);
    size_t plen;
    uint8_t *prog = tj_encode(px, W, H, TJPF_RGB, TJSAMP_420, 90, TJFLAG_PROGRESSIVE, &plen);
    size_t sos[64];
    int ns = jpeg_sos_offsets(prog, plen, sos, 64);
    assert_true(ns >= 3);
    vf_image img;
    if (vf_image_decode(prog, plen, NULL, &img, err, sizeof err))
        tu_fail("progressive: %s", err);
    vf_image_free(&img);
    vf_image_limits lim = {.max_scans = (unsigned)ns};
    assert_int_equal(try_decode(prog, plen, &lim), 0);
    lim.max_scans = (unsigned)ns - 1;
    snprintf(what, sizeof what, "more than %d scans", ns - 1);
    expect_fail("progressive over a caller scan limit", prog, plen, &lim, what);
    /* The bomb: the last scan (an AC refinement, its tables already defined)
     * repeated 3000 times before EOI. */
    size_t last = sos[ns - 1], eoi = plen - 2, chunk = eoi - last, reps = quick() ? 1100 : 3000;
    size_t blen = eoi + reps * chunk + 2;
    uint8_t *bomb = malloc(blen);
    memcpy(bomb, prog, eoi);
    for (size_t r = 0; r < reps; r++)
        memcpy(bomb + eoi + r * chunk, prog + last, chunk);
    bomb[blen - 2] = 0xFF, bomb[blen - 1] = 0xD9;
    printf("scan bomb: %zu bytes, %zu scans\n", blen, (size_t)ns + reps);
    expect_fail("scan bomb, default limits", bomb, blen, NULL, "more than 100 scans");
    vf_image_limits many = {.max_scans = 1000};
    expect_fail("scan bomb, limit 1000", bomb, blen, &many, "more than 1000 scans");
    /* With the limit lifted, libjpeg warns about the repeated scans: strict
     * refuses at the first warning, lenient decodes all of them. */
    vf_image_limits lifted = {.max_scans = 100000};
    expect_fail("scan bomb, no scan limit, strict", bomb, blen, &lifted, "(warning)");
    lifted.lenient_jpeg = 1;
    printf("scan bomb, no scan limit, lenient: %s\n",
           try_decode(bomb, blen, &lifted) ? "refused" : "decoded");
    /* truncated progressive files: every cut refused */
    for (size_t n = 3; n < plen; n += 1 + n / 8) {
        snprintf(what, sizeof what, "progressive truncated to %zu of %zu", n, plen);
        expect_fail(what, prog, n, NULL, "jpeg:");
    }
    free(bomb);
    free(prog);
    free(px);

    /* The memory limit sees libjpeg's whole-image coefficient buffer: a
     * progressive 1024×768 4:2:0 file needs 1.5 · 1024 · 768 · 2 bytes of
     * coefficients on top of its 2.4 MB of pixels; the baseline file not. */
    W = 1024, H = 768;
    px = pattern(W, H);
    size_t bl;
    uint8_t *base = tj_encode(px, W, H, TJPF_RGB, TJSAMP_420, 75, 0, &bl);
    prog = tj_encode(px, W, H, TJPF_RGB, TJSAMP_420, 75, TJFLAG_PROGRESSIVE, &plen);
    vf_image_limits mem = {.max_memory = 4u << 20};
    assert_int_equal(try_decode(base, bl, &mem), 0);
    expect_fail("progressive over the memory limit", prog, plen, &mem, "over the memory limit of 4194304");
    mem.max_memory = 8u << 20;
    assert_int_equal(try_decode(prog, plen, &mem), 0);
    mem.max_memory = 1u << 20;
    expect_fail("baseline over the memory limit", base, bl, &mem, "over the memory limit");
    free(base);
    free(prog);
    free(px);

    /* A tiny file claiming a huge image: an 8×8 grey JPEG without its JFIF
     * segment, the SOF patched. */
    uint8_t grey[64];
    for (int i = 0; i < 64; i++)
        grey[i] = (uint8_t)(i * 4);
    size_t tl;
    uint8_t *tiny = tj_encode(grey, 8, 8, TJPF_GRAY, TJSAMP_GRAY, 50, 0, &tl);
    if (tiny[2] == 0xFF && tiny[3] == 0xE0) { /* drop APP0 */
        size_t seg = 2 + ((size_t)tiny[4] << 8 | tiny[5]);
        memmove(tiny + 2, tiny + 2 + seg, tl - 2 - seg);
        tl -= seg;
    }
    assert_int_equal(try_decode(tiny, tl, NULL), 0);
    size_t sof = jpeg_sof_pos(tiny, tl);
    assert_true(sof > 0);
    tiny[sof + 5] = tiny[sof + 6] = tiny[sof + 7] = tiny[sof + 8] = 0xFF;
    printf("bomb: %zu bytes claiming 65535x65535\n", tl);
    expect_fail("tiny 65535x65535", tiny, tl, NULL, "Maximum supported image dimension is 65500");
    tiny[sof + 5] = tiny[sof + 7] = 0xFF, tiny[sof + 6] = tiny[sof + 8] = 0xDC; /* 65500 */
    expect_fail("tiny 65500x65500", tiny, tl, NULL, "65500x65500 is 4290250000 pixels, over the limit");
    vf_image_limits px_ok = {.max_pixels = (uint64_t)1 << 40};
    expect_fail("tiny 65500x65500, pixel limit lifted", tiny, tl, &px_ok, "over the memory limit");
    free(tiny);

    /* CMYK input makes TurboJPEG write a YCCK JPEG: refused by name */
    uint8_t cmyk[16 * 16 * 4];
    for (size_t i = 0; i < sizeof cmyk; i++)
        cmyk[i] = (uint8_t)(i * 7);
    size_t cl;
    uint8_t *cj = tj_encode(cmyk, 16, 16, TJPF_CMYK, TJSAMP_444, 90, 0, &cl);
    expect_fail("ycck", cj, cl, NULL, "colour space unsupported");
    free(cj);
}

/* ---------------------------------------------------------------- PNG --- */
static uint8_t *spng_write(const uint8_t *raw, size_t rawlen, int w, int h, int ct, int depth,
                           int interlace, const struct spng_plte *plte, size_t *len)
{
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    assert_non_null(ctx);
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    struct spng_ihdr ih = {.width = (uint32_t)w, .height = (uint32_t)h, .bit_depth = (uint8_t)depth,
                           .color_type = (uint8_t)ct, .interlace_method = (uint8_t)interlace};
    int r = spng_set_ihdr(ctx, &ih);
    if (!r && plte)
        r = spng_set_plte(ctx, (struct spng_plte *)plte);
    if (!r)
        r = spng_encode_image(ctx, raw, rawlen, SPNG_FMT_RAW, SPNG_ENCODE_FINALIZE); /* big-endian rows */
    if (r)
        tu_fail("spng encode (type %d, %d-bit, interlace %d): %s", ct, depth, interlace, spng_strerror(r));
    int e = 0;
    uint8_t *png = spng_get_png_buffer(ctx, len, &e);
    if (!png || e)
        tu_fail("spng_get_png_buffer: %s", spng_strerror(e));
    spng_ctx_free(ctx);
    return png;
}

/* Sample i of a PNG row of depth d (packed big-endian, MSB first). */
static unsigned png_sample(const uint8_t *row, size_t i, int d)
{
    if (d == 16)
        return (unsigned)row[2 * i] << 8 | row[2 * i + 1];
    if (d == 8)
        return row[i];
    size_t bit = i * (size_t)d;
    return (row[bit / 8] >> (8 - d - bit % 8)) & ((1u << d) - 1);
}

/* Every colour type and bit depth PNG allows, interlaced and not, at edge
 * sizes: written by libspng's encoder from random samples, decoded, compared
 * with the conversion computed here (grey below 8 bits scaled by
 * 255/(2^d − 1), 16-bit to the high byte, alpha dropped, palette looked up). */
static void test_png_roundtrip(void **state)
{
    static const struct { int ct, depth; } types[] = {
        {0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16}, {2, 8}, {2, 16}, {3, 1}, {3, 2}, {3, 4}, {3, 8},
        {4, 8}, {4, 16}, {6, 8}, {6, 16},
    };
    static const int sizes[][2] = {{1, 1}, {7, 3}, {33, 17}, {2, 9}};
    tu_rng r = tu_rng_make(0x9e9);
    char err[256];
    int cases = 0;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
            for (int il = 0; il < 2; il++) {
                int ct = types[t].ct, d = types[t].depth, w = sizes[s][0], h = sizes[s][1];
                int ch = ct == 0 ? 1 : ct == 2 ? 3 : ct == 3 ? 1 : ct == 4 ? 2 : 4;
                size_t rowb = ((size_t)w * ch * d + 7) / 8, rawlen = rowb * h;
                uint8_t *raw = malloc(rawlen);
                tu_fill_u8(&r, raw, rawlen);
                struct spng_plte plte = {0};
                if (ct == 3) {
                    plte.n_entries = 1u << d;
                    for (uint32_t i = 0; i < plte.n_entries; i++) {
                        plte.entries[i].red = (uint8_t)tu_next(&r);
                        plte.entries[i].green = (uint8_t)tu_next(&r);
                        plte.entries[i].blue = (uint8_t)tu_next(&r);
                    }
                }
                size_t len;
                uint8_t *png = spng_write(raw, rawlen, w, h, ct, d, il, ct == 3 ? &plte : NULL, &len);
                vf_image img;
                if (vf_image_decode(png, len, NULL, &img, err, sizeof err))
                    tu_fail("type %d %d-bit %dx%d interlace %d: %s", ct, d, w, h, il, err);
                assert_int_equal(img.w, w);
                assert_int_equal(img.h, h);
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        const uint8_t *row = raw + (size_t)y * rowb;
                        unsigned v[3];
                        for (int c = 0; c < 3; c++) {
                            int sc = ch >= 3 ? c : 0;
                            unsigned smp = png_sample(row, (size_t)x * ch + sc, d);
                            if (ct == 3)
                                v[c] = c == 0 ? plte.entries[smp].red : c == 1 ? plte.entries[smp].green
                                                                             : plte.entries[smp].blue;
                            else
                                v[c] = d == 16 ? smp >> 8 : d == 8 ? smp : smp * 255 / ((1u << d) - 1);
                        }
                        const uint8_t *g = img.rgb + ((size_t)y * w + x) * 3;
                        if (g[0] != v[0] || g[1] != v[1] || g[2] != v[2])
                            tu_fail("type %d %d-bit %dx%d interlace %d: (%d, %d) = %d %d %d, want %u %u %u",
                                    ct, d, w, h, il, x, y, g[0], g[1], g[2], v[0], v[1], v[2]);
                    }
                vf_image_free(&img);
                free(png);
                free(raw);
                cases++;
            }
    printf("png round trips: %d\n", cases);
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void test_hostile_png(void **state)
{
    int W = 37, H = 23;
    uint8_t *px = pattern(W, H);
    size_t len;
    uint8_t *png = spng_write(px, (size_t)W * H * 3, W, H, 2, 8, 0, NULL, &len);
    char what[128];
    assert_int_equal(try_decode(png, len, NULL), 0);
    /* truncated anywhere before the end of the image data (the last IDAT's
     * CRC and IEND follow it): refused — the header, the zlib stream or its
     * Adler-32 ends early */
    for (size_t n = 1; n < len - 16; n++) {
        snprintf(what, sizeof what, "png truncated to %zu of %zu", n, len);
        expect_fail(what, png, n, NULL, n < 8 ? "unsupported format" : "png:");
    }
    /* every pixel there, the IDAT CRC or IEND cut: libspng decodes without
     * reading them; either way, no crash */
    for (size_t n = len - 16; n < len; n++)
        try_decode(png, n, NULL);
    /* every single-bit flip after the signature: the chunk CRCs (or the
     * lengths, types, zlib stream they guard) catch each one that matters —
     * libspng stops reading once the last row is out, so a flip in what
     * follows it (the end of the zlib stream, the last CRC, IEND) may pass,
     * but only with the original pixels */
    uint8_t *m = malloc(len);
    vf_image orig, img;
    char err[256];
    assert_int_equal(vf_image_decode(png, len, NULL, &orig, err, sizeof err), 0);
    int refused = 0, total = 0;
    size_t first_passed = len;
    for (size_t i = 8; i < len; i += quick() ? 5 : 1)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(m, png, len);
            m[i] ^= (uint8_t)(1u << bit);
            total++;
            if (vf_image_decode(m, len, NULL, &img, err, sizeof err)) {
                refused++;
                continue;
            }
            if (img.w != W || img.h != H || memcmp(img.rgb, orig.rgb, (size_t)W * H * 3))
                tu_fail("png bit flip at byte %zu bit %d: decoded different pixels", i, bit);
            first_passed = i < first_passed ? i : first_passed;
            vf_image_free(&img);
        }
    if (refused == total)
        printf("png bit flips: all %d refused\n", total);
    else
        printf("png bit flips: %d of %d refused, the rest decode the original pixels (the first "
               "at byte %zu of %zu)\n", refused, total, first_passed, len);
    vf_image_free(&orig);
    /* IHDR claiming 65535×65535 (CRC fixed): refused before decoding */
    memcpy(m, png, len);
    put_be32(m + 16, 65535);
    put_be32(m + 20, 65535);
    put_be32(m + 29, crc32_png(m + 12, 17));
    expect_fail("png 65535x65535", m, len, NULL, "65535x65535 is 4294836225 pixels, over the limit");
    vf_image_limits px_ok = {.max_pixels = (uint64_t)1 << 40};
    expect_fail("png 65535x65535, pixel limit lifted", m, len, &px_ok, "over the memory limit");
    put_be32(m + 16, 0);
    put_be32(m + 29, crc32_png(m + 12, 17));
    expect_fail("png width 0", m, len, NULL, "png: bad header");
    memcpy(m, png, len);
    m[24] = 3; /* RGB at 3 bits */
    put_be32(m + 29, crc32_png(m + 12, 17));
    expect_fail("png bad bit depth", m, len, NULL, "png: bad header");
    /* the memory limit */
    vf_image_limits mem = {.max_memory = 4096};
    expect_fail("png over the memory limit", png, len, &mem, "over the memory limit of 4096");
    /* a 3 MB text chunk before the image, over the chunk cache (an eighth of
     * a 16 MB memory limit): refused or skipped, never kept */
    size_t tlen = 3u << 20, big = len + 12 + tlen;
    uint8_t *t = malloc(big);
    memcpy(t, png, 33); /* signature + IHDR */
    put_be32(t + 33, (uint32_t)tlen);
    memcpy(t + 37, "tEXt", 4);
    memset(t + 41, 'a', tlen);
    memcpy(t + 41, "Comment", 8);
    put_be32(t + 41 + tlen, crc32_png(t + 37, tlen + 4));
    memcpy(t + 45 + tlen, png + 33, len - 33);
    vf_image_limits m16 = {.max_memory = 16u << 20};
    printf("png with a 3 MB text chunk, 2 MB cache: %s\n",
           try_decode(t, big, &m16) ? "refused" : "decoded (chunk dropped)");
    assert_int_equal(try_decode(t, big, NULL), 0); /* 8 MB cache: fine */
    free(t);
    free(m);
    free(png);
    free(px);
}

/* PNGs written by Pillow in its modes, decoded by Pillow and by us. */
static char g_tmp[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void test_png_vs_pil(void **state)
{
    if (access("/usr/bin/python3", X_OK))
        skip();
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vireo_png_XXXXXX");
    assert_non_null(mkdtemp(g_tmp));
    static const char *modes[] = {"RGB", "RGBA", "L", "LA", "P", "1", "I;16"};
    int nm = (int)(sizeof modes / sizeof *modes), W = 61, H = 29;
    uint8_t *px = pattern(W, H);
    char path[256], jobs[128], cmd[512];
    snprintf(path, sizeof path, "%s/src.raw", g_tmp);
    FILE *f = fopen(path, "wb");
    fwrite(px, 1, (size_t)W * H * 3, f);
    fclose(f);
    snprintf(jobs, sizeof jobs, "%s/png_jobs.txt", g_tmp);
    f = fopen(jobs, "w");
    for (int i = 0; i < nm; i++)
        fprintf(f, "png %s/m%d.png %s %d %d %s\n", g_tmp, i, path, W, H, modes[i]);
    fclose(f);
    snprintf(jobs, sizeof jobs, "%s/dec_jobs.txt", g_tmp);
    f = fopen(jobs, "w");
    for (int i = 0; i < nm; i++)
        fprintf(f, "decode %s/m%d.raw %s/m%d.png\n", g_tmp, i, g_tmp, i);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/unit/pil_reference.py %s/png_jobs.txt >/dev/null && "
             "/usr/bin/python3 %s/tests/unit/pil_reference.py %s/dec_jobs.txt >/dev/null",
             VIREO_SOURCE_DIR, g_tmp, VIREO_SOURCE_DIR, g_tmp);
    int st = system(cmd);
    if (st != 0) {
        nftw(g_tmp, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        free(px);
        if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2)
            skip();
        tu_fail("pil_reference.py failed (%d)", st);
    }
    char err[256];
    for (int i = 0; i < nm; i++) {
        size_t pl, rl;
        snprintf(path, sizeof path, "%s/m%d.png", g_tmp, i);
        uint8_t *png = tu_read_file(path, &pl);
        snprintf(path, sizeof path, "%s/m%d.raw", g_tmp, i);
        uint8_t *ref = tu_read_file(path, &rl);
        assert_non_null(png);
        assert_non_null(ref);
        vf_image img;
        if (vf_image_decode(png, pl, NULL, &img, err, sizeof err))
            tu_fail("Pillow PNG mode %s: %s", modes[i], err);
        assert_int_equal(rl, (size_t)img.w * img.h * 3);
        size_t diff = 0;
        int maxd = 0;
        for (size_t j = 0; j < rl; j++) {
            int d = abs((int)img.rgb[j] - (int)ref[j]);
            diff += d != 0;
            maxd = d > maxd ? d : maxd;
        }
        printf("png written by Pillow, mode %-4s: %zu of %zu samples differ from Pillow's decode (max %d)\n",
               modes[i], diff, rl, maxd);
        /* 16-bit grey: Pillow converts I;16 → RGB by clipping at 255, we keep
         * the high byte (image.h); everything else must be equal */
        if (strcmp(modes[i], "I;16"))
            assert_int_equal(diff, 0);
        vf_image_free(&img);
        free(png);
        free(ref);
    }
    nftw(g_tmp, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coral_images),  cmocka_unit_test(test_dataset_jpegs),
        cmocka_unit_test(test_bmp_layouts),   cmocka_unit_test(test_hostile_bmp),
        cmocka_unit_test(test_hostile_misc),  cmocka_unit_test(test_hostile_jpeg),
        cmocka_unit_test(test_jpeg_scaled),   cmocka_unit_test(test_hostile_jpeg_limits),
        cmocka_unit_test(test_png_roundtrip), cmocka_unit_test(test_hostile_png),
        cmocka_unit_test(test_png_vs_pil),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
