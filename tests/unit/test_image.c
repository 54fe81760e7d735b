/* formats/image: decoding of the real test images (sizes checked against the
 * JPEG SOF marker / BMP header, read here independently of the decoder), exact
 * pixels of small synthetic BMPs in every supported layout, and a table of
 * hostile inputs — truncations at many lengths, bit-flipped headers, huge
 * claimed sizes, empty and non-image input — each refused with its message
 * (run under ASan/UBSan in the sanitized build: no crash, no overread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    vf_image img = {7, 7, (uint8_t *)1};
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
    vf_image_limits big = {(uint64_t)1 << 40, 0};
    expect_fail("bmp 65535x65535, big limit", m, len, &big, "needs");
    /* a caller limit below the image */
    vf_image_limits tiny = {19, 0};
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
    expect_fail("png", png, sizeof png, NULL, "unsupported format");
    static const uint8_t gif[] = "GIF89a\x01\x00\x01\x00";
    expect_fail("gif", gif, sizeof gif, NULL, "unsupported format");
    static const uint8_t soi[] = {0xFF, 0xD8, 0xFF};
    expect_fail("jpeg SOI only", soi, sizeof soi, NULL, "jpeg:");
    vf_image img;
    char err[512];
    assert_int_equal(vf_image_decode_file("/nonexistent/vireo.jpg", NULL, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_null(img.rgb);
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
    vf_image_limits tiny = {512 * 384 - 1, 0};
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
        vf_image_limits lenient = {0, 1};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coral_images),  cmocka_unit_test(test_dataset_jpegs),
        cmocka_unit_test(test_bmp_layouts),   cmocka_unit_test(test_hostile_bmp),
        cmocka_unit_test(test_hostile_misc),  cmocka_unit_test(test_hostile_jpeg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
