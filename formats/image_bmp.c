/* BMP: BITMAPFILEHEADER (14 bytes) + BITMAPINFOHEADER or a later version (40,
 * 52, 56, 108, 124 bytes). Supported: 24-bit BI_RGB (BGR), 32-bit BI_RGB
 * (BGRX) and 32-bit BI_BITFIELDS with the standard masks — what the Coral
 * test images and common writers produce. */
#include <stdint.h>
#include <stdlib.h>

#include "formats/errmsg.h"
#include "formats/image_internal.h"
#include "formats/le.h"

typedef struct bmp_header {
    uint64_t w, h;
    int top_down;
    unsigned bpp;
    uint32_t off;
} bmp_header;

static int parse_header(const uint8_t *p, size_t len, bmp_header *b, char *err, size_t errlen)
{
    if (len < 14 + 40)
        return vf_fail(err, errlen, "bmp: %zu bytes, shorter than the 54-byte headers", len);
    uint32_t off = le32(p + 10);
    uint32_t hsize = le32(p + 14);
    if (hsize != 40 && hsize != 52 && hsize != 56 && hsize != 108 && hsize != 124)
        return vf_fail(err, errlen, "bmp: unsupported info header size %u (40, 52, 56, 108, 124)", hsize);
    if ((uint64_t)14 + hsize > len)
        return vf_fail(err, errlen, "bmp: info header (%u bytes) past the end of the %zu-byte file",
                       hsize, len);
    int32_t w = (int32_t)le32(p + 18), h = (int32_t)le32(p + 22);
    uint16_t planes = le16(p + 26), bpp = le16(p + 28);
    uint32_t comp = le32(p + 30);
    if (planes != 1)
        return vf_fail(err, errlen, "bmp: planes %u, must be 1", planes);
    if (bpp != 24 && bpp != 32)
        return vf_fail(err, errlen, "bmp: unsupported bit depth %u (24 and 32 supported)", bpp);
    if (w <= 0)
        return vf_fail(err, errlen, "bmp: width %d, must be positive", w);
    if (h == 0 || h == INT32_MIN)
        return vf_fail(err, errlen, "bmp: height %d invalid", h);
    uint64_t hdr_end = 14 + (uint64_t)hsize;
    if (comp == 3) {
        if (bpp != 32)
            return vf_fail(err, errlen, "bmp: BI_BITFIELDS with %u bits per pixel unsupported", bpp);
        uint64_t moff = 54; /* masks: inside a v2+ header, or right after a 40-byte one */
        if (hsize == 40)
            hdr_end += 12;
        if (moff + 12 > len || hdr_end > len)
            return vf_fail(err, errlen, "bmp: colour masks past the end of the file");
        uint32_t rm = le32(p + moff), gm = le32(p + moff + 4), bm = le32(p + moff + 8);
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
    b->top_down = h < 0;
    b->h = b->top_down ? (uint64_t)(-(int64_t)h) : (uint64_t)h;
    b->w = (uint64_t)w;
    b->bpp = bpp;
    b->off = off;
    return 0;
}

int vf_img_probe_bmp(const uint8_t *p, size_t len, int *w, int *h, char *err, size_t errlen)
{
    bmp_header b;
    if (parse_header(p, len, &b, err, errlen))
        return -1;
    *w = (int)b.w;
    *h = (int)b.h;
    return 0;
}

int vf_img_decode_bmp(const uint8_t *p, size_t len, const vf_image_limits *lim, vf_image *out,
                      char *err, size_t errlen)
{
    bmp_header b;
    if (parse_header(p, len, &b, err, errlen))
        return -1;
    uint64_t uw = b.w, uh = b.h;
    if (vf_img_check_dims(uw, uh, lim, "bmp", err, errlen) ||
        vf_img_check_memory(uw * uh * 3, lim, "bmp", err, errlen))
        return -1;
    uint64_t bypp = b.bpp / 8;
    uint64_t row = uw * bypp;                      /* < 2^33 */
    uint64_t stride = (uw * b.bpp + 31) / 32 * 4;  /* < 2^34 */
    uint64_t avail = (uint64_t)(len - b.off);
    /* Rows 0 … h−2 take a full stride; the last needs only its pixels. */
    if (row > avail || (uh > 1 && stride > (avail - row) / (uh - 1)))
        return vf_fail(err, errlen, "bmp: %llux%llu at %u bits needs %llu-byte rows × %llu from "
                       "offset %u, the file has %zu bytes",
                       (unsigned long long)uw, (unsigned long long)uh, b.bpp,
                       (unsigned long long)stride, (unsigned long long)uh, b.off, len);
    uint8_t *rgb = malloc((size_t)(uw * uh * 3));
    if (!rgb)
        return vf_fail(err, errlen, "bmp: out of memory for %llux%llu", (unsigned long long)uw,
                       (unsigned long long)uh);
    for (uint64_t y = 0; y < uh; y++) {
        uint64_t src_row = b.top_down ? y : uh - 1 - y;
        const uint8_t *s = p + b.off + src_row * stride;
        uint8_t *d = rgb + y * uw * 3;
        for (uint64_t x = 0; x < uw; x++, s += bypp, d += 3) {
            d[0] = s[2];
            d[1] = s[1];
            d[2] = s[0];
        }
    }
    out->w = out->full_w = (int)uw;
    out->h = out->full_h = (int)uh;
    out->scale_num = 8;
    out->rgb = rgb;
    return 0;
}
