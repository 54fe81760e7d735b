/* Image decoding: format dispatch, limits, files. See image.h; the codecs are
 * in image_jpeg.c, image_png.c, image_bmp.c. */
#include "formats/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/errmsg.h"
#include "formats/image_internal.h"

vf_image_format vf_image_sniff(const void *buf, size_t len)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    const uint8_t *p = buf;
    if (!p)
        return VF_IMG_UNKNOWN;
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return VF_IMG_JPEG;
    if (len >= 8 && !memcmp(p, png_sig, 8))
        return VF_IMG_PNG;
    if (len >= 2 && p[0] == 'B' && p[1] == 'M')
        return VF_IMG_BMP;
    return VF_IMG_UNKNOWN;
}

void vf_image_free(vf_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

uint64_t vf_img_max_pixels(const vf_image_limits *lim)
{
    return lim && lim->max_pixels ? lim->max_pixels : VF_IMAGE_DEFAULT_MAX_PIXELS;
}

uint64_t vf_img_max_memory(const vf_image_limits *lim)
{
    return lim && lim->max_memory ? lim->max_memory : VF_IMAGE_DEFAULT_MAX_MEMORY;
}

unsigned vf_img_max_scans(const vf_image_limits *lim)
{
    return lim && lim->max_scans ? lim->max_scans : VF_IMAGE_DEFAULT_MAX_SCANS;
}

int vf_img_check_dims(uint64_t w, uint64_t h, const vf_image_limits *lim, const char *what,
                      char *err, size_t errlen)
{
    uint64_t lim_px = vf_img_max_pixels(lim);
    if (w * h > lim_px)
        return vf_fail(err, errlen, "%s: %llux%llu is %llu pixels, over the limit of %llu", what,
                       (unsigned long long)w, (unsigned long long)h,
                       (unsigned long long)(w * h), (unsigned long long)lim_px);
    /* w·h·3 must fit in size_t (only matters on 32-bit hosts with a huge limit). */
    if (w * h > SIZE_MAX / 3)
        return vf_fail(err, errlen, "%s: %llux%llu does not fit in memory", what,
                       (unsigned long long)w, (unsigned long long)h);
    return 0;
}

int vf_img_check_memory(uint64_t bytes, const vf_image_limits *lim, const char *what, char *err,
                        size_t errlen)
{
    uint64_t cap = vf_img_max_memory(lim);
    if (bytes > cap)
        return vf_fail(err, errlen, "%s: decoding needs about %llu bytes, over the memory limit of %llu",
                       what, (unsigned long long)bytes, (unsigned long long)cap);
    return 0;
}

int vf_image_probe(const void *buf, size_t len, vf_image_format *fmt, int *w, int *h, char *err,
                   size_t errlen)
{
    *fmt = VF_IMG_UNKNOWN;
    *w = *h = 0;
    if (!buf || len == 0)
        return vf_fail(err, errlen, "empty input (0 bytes)");
    vf_image_format f = vf_image_sniff(buf, len);
    int rc;
    switch (f) {
    case VF_IMG_JPEG: rc = vf_img_probe_jpeg(buf, len, w, h, err, errlen); break;
    case VF_IMG_PNG: rc = vf_img_probe_png(buf, len, w, h, err, errlen); break;
    case VF_IMG_BMP: rc = vf_img_probe_bmp(buf, len, w, h, err, errlen); break;
    default: return vf_fail(err, errlen, "unsupported format (not a JPEG, PNG or BMP file)");
    }
    if (rc) {
        *w = *h = 0;
        return -1;
    }
    *fmt = f;
    return 0;
}

int vf_image_decode_scaled(const void *buf, size_t len, const vf_image_limits *lim, int scale_num,
                           vf_image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!buf || len == 0)
        return vf_fail(err, errlen, "empty input (0 bytes)");
    if (scale_num < 1 || scale_num > 8)
        return vf_fail(err, errlen, "scale %d/8 outside 1/8 … 8/8", scale_num);
    int rc;
    switch (vf_image_sniff(buf, len)) {
    case VF_IMG_JPEG: rc = vf_img_decode_jpeg(buf, len, lim, scale_num, out, err, errlen); break;
    case VF_IMG_PNG: rc = vf_img_decode_png(buf, len, lim, out, err, errlen); break;
    case VF_IMG_BMP: rc = vf_img_decode_bmp(buf, len, lim, out, err, errlen); break;
    default: return vf_fail(err, errlen, "unsupported format (not a JPEG, PNG or BMP file)");
    }
    if (rc)
        vf_image_free(out);
    return rc;
}

int vf_image_decode(const void *buf, size_t len, const vf_image_limits *lim, vf_image *out,
                    char *err, size_t errlen)
{
    return vf_image_decode_scaled(buf, len, lim, 8, out, err, errlen);
}

int vf_image_decode_file(const char *path, const vf_image_limits *lim, vf_image *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return vf_fail(err, errlen, "%s: cannot open", path);
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return vf_fail(err, errlen, "%s: is a directory", path);
    }
    /* Read in chunks: no trust in a reported size (pipes, growing files), and
     * a cap well above any image the pixel limit admits. */
    size_t cap = 0, n = 0, maxlen = (size_t)1 << 31;
    uint8_t *buf = NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= maxlen) {
                free(buf);
                fclose(f);
                return vf_fail(err, errlen, "%s: larger than %zu bytes", path, maxlen);
            }
            size_t ncap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return vf_fail(err, errlen, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return vf_fail(err, errlen, "%s: read error", path);
    }
    char sub[448];
    int rc = vf_image_decode(buf, n, lim, out, sub, sizeof sub);
    free(buf);
    if (rc)
        return vf_fail(err, errlen, "%s: %s", path, sub);
    return 0;
}
