/* Image decoding: see image.h. */
#include "formats/image.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include "errmsg.h"

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

vf_image_format vf_image_sniff(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return VF_IMG_JPEG;
    if (len >= 2 && p[0] == 'B' && p[1] == 'M')
        return VF_IMG_BMP;
    return VF_IMG_UNKNOWN;
}

void vf_image_free(vf_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

static uint64_t max_pixels(const vf_image_limits *lim)
{
    return lim && lim->max_pixels ? lim->max_pixels : VF_IMAGE_DEFAULT_MAX_PIXELS;
}

/* w, h ≥ 1 already; refuses w·h over the limit (no overflow: both < 2^31). */
static int check_dims(uint64_t w, uint64_t h, const vf_image_limits *lim, const char *what,
                      char *err, size_t errlen)
{
    uint64_t lim_px = max_pixels(lim);
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

/* ------------------------------------------------------------------ BMP --- */
/* BITMAPFILEHEADER (14 bytes) + BITMAPINFOHEADER or a later version (40, 52,
 * 56, 108, 124 bytes). Supported: 24-bit BI_RGB (BGR), 32-bit BI_RGB (BGRX)
 * and 32-bit BI_BITFIELDS with the standard masks. */
static int decode_bmp(const uint8_t *p, size_t len, const vf_image_limits *lim, vf_image *out,
                      char *err, size_t errlen)
{
    if (len < 14 + 40)
        return vf_fail(err, errlen, "bmp: %zu bytes, shorter than the 54-byte headers", len);
    uint32_t off = rd32(p + 10);
    uint32_t hsize = rd32(p + 14);
    if (hsize != 40 && hsize != 52 && hsize != 56 && hsize != 108 && hsize != 124)
        return vf_fail(err, errlen, "bmp: unsupported info header size %u (40, 52, 56, 108, 124)", hsize);
    if ((uint64_t)14 + hsize > len)
        return vf_fail(err, errlen, "bmp: info header (%u bytes) past the end of the %zu-byte file",
                    hsize, len);
    int32_t w = (int32_t)rd32(p + 18), h = (int32_t)rd32(p + 22);
    uint16_t planes = rd16(p + 26), bpp = rd16(p + 28);
    uint32_t comp = rd32(p + 30);
    if (planes != 1)
        return vf_fail(err, errlen, "bmp: planes %u, must be 1", planes);
    if (bpp != 24 && bpp != 32)
        return vf_fail(err, errlen, "bmp: unsupported bit depth %u (24 and 32 supported)", bpp);
    if (w <= 0)
        return vf_fail(err, errlen, "bmp: width %d, must be positive", w);
    if (h == 0 || h == INT32_MIN)
        return vf_fail(err, errlen, "bmp: height %d invalid", h);
    int top_down = h < 0;
    uint64_t uh = top_down ? (uint64_t)(-(int64_t)h) : (uint64_t)h, uw = (uint64_t)w;
    uint64_t hdr_end = 14 + (uint64_t)hsize;
    if (comp == 3) {
        if (bpp != 32)
            return vf_fail(err, errlen, "bmp: BI_BITFIELDS with %u bits per pixel unsupported", bpp);
        uint64_t moff = 54; /* masks: inside a v2+ header, or right after a 40-byte one */
        if (hsize == 40)
            hdr_end += 12;
        if (moff + 12 > len || hdr_end > len)
            return vf_fail(err, errlen, "bmp: colour masks past the end of the file");
        uint32_t rm = rd32(p + moff), gm = rd32(p + moff + 4), bm = rd32(p + moff + 8);
        if (rm != 0x00FF0000u || gm != 0x0000FF00u || bm != 0x000000FFu)
            return vf_fail(err, errlen,
                        "bmp: unsupported colour masks R %08x G %08x B %08x (only 8-bit BGR(X))",
                        rm, gm, bm);
    } else if (comp != 0) {
        return vf_fail(err, errlen, "bmp: unsupported compression %u (only uncompressed)", comp);
    }
    if (off < hdr_end || off > len)
        return vf_fail(err, errlen, "bmp: pixel data offset %u outside %llu … %zu", off,
                    (unsigned long long)hdr_end, len);
    if (check_dims(uw, uh, lim, "bmp", err, errlen))
        return -1;
    uint64_t bypp = bpp / 8;
    uint64_t row = uw * bypp;                            /* < 2^33 */
    uint64_t stride = (uw * bpp + 31) / 32 * 4;          /* < 2^34 */
    uint64_t avail = (uint64_t)(len - off);
    /* Rows 0 … h−2 take a full stride; the last needs only its pixels. */
    if (row > avail || (uh > 1 && stride > (avail - row) / (uh - 1)))
        return vf_fail(err, errlen, "bmp: %llux%llu at %u bits needs %llu-byte rows × %llu from "
                    "offset %u, the file has %zu bytes",
                    (unsigned long long)uw, (unsigned long long)uh, bpp,
                    (unsigned long long)stride, (unsigned long long)uh, off, len);
    uint8_t *rgb = malloc((size_t)(uw * uh * 3));
    if (!rgb)
        return vf_fail(err, errlen, "bmp: out of memory for %llux%llu", (unsigned long long)uw,
                    (unsigned long long)uh);
    for (uint64_t y = 0; y < uh; y++) {
        uint64_t src_row = top_down ? y : uh - 1 - y;
        const uint8_t *s = p + off + src_row * stride;
        uint8_t *d = rgb + y * uw * 3;
        for (uint64_t x = 0; x < uw; x++, s += bypp, d += 3) {
            d[0] = s[2];
            d[1] = s[1];
            d[2] = s[0];
        }
    }
    out->w = (int)uw;
    out->h = (int)uh;
    out->rgb = rgb;
    return 0;
}

/* ----------------------------------------------------------------- JPEG --- */
static int decode_jpeg(const uint8_t *p, size_t len, const vf_image_limits *lim, vf_image *out,
                       char *err, size_t errlen)
{
    if (len > ULONG_MAX)
        return vf_fail(err, errlen, "jpeg: %zu bytes is too large", len);
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return vf_fail(err, errlen, "jpeg: cannot create a decompressor: %s", tjGetErrorStr2(NULL));
    int w = 0, h = 0, sub = 0, cs = 0, rc = -1;
    uint8_t *rgb = NULL;
    if (tjDecompressHeader3(tj, p, (unsigned long)len, &w, &h, &sub, &cs)) {
        vf_fail(err, errlen, "jpeg: bad header: %s", tjGetErrorStr2(tj));
        goto out;
    }
    if (w <= 0 || h <= 0) {
        vf_fail(err, errlen, "jpeg: invalid size %dx%d", w, h);
        goto out;
    }
    if (check_dims((uint64_t)w, (uint64_t)h, lim, "jpeg", err, errlen))
        goto out;
    rgb = malloc((size_t)w * (size_t)h * 3);
    if (!rgb) {
        vf_fail(err, errlen, "jpeg: out of memory for %dx%d", w, h);
        goto out;
    }
    if (tjDecompress2(tj, p, (unsigned long)len, rgb, w, 0, h, TJPF_RGB, TJFLAG_ACCURATEDCT)) {
        int fatal = tjGetErrorCode(tj) != TJERR_WARNING;
        if (fatal || !(lim && lim->lenient_jpeg)) {
            vf_fail(err, errlen, "jpeg: %s%s", fatal ? "" : "(warning) ", tjGetErrorStr2(tj));
            goto out;
        }
    }
    out->w = w;
    out->h = h;
    out->rgb = rgb;
    rgb = NULL;
    rc = 0;
out:
    free(rgb);
    tjDestroy(tj);
    return rc;
}

int vf_image_decode(const void *buf, size_t len, const vf_image_limits *lim, vf_image *out,
                    char *err, size_t errlen)
{
    out->w = out->h = 0;
    out->rgb = NULL;
    if (!buf || len == 0)
        return vf_fail(err, errlen, "empty input (0 bytes)");
    switch (vf_image_sniff(buf, len)) {
    case VF_IMG_JPEG:
        return decode_jpeg(buf, len, lim, out, err, errlen);
    case VF_IMG_BMP:
        return decode_bmp(buf, len, lim, out, err, errlen);
    default:
        return vf_fail(err, errlen, "unsupported format (not a JPEG or BMP file)");
    }
}

int vf_image_decode_file(const char *path, const vf_image_limits *lim, vf_image *out, char *err,
                         size_t errlen)
{
    out->w = out->h = 0;
    out->rgb = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vf_fail(err, errlen, "%s: cannot open", path);
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
