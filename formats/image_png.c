/* PNG through libspng: every colour type and bit depth out as RGB8 (16-bit
 * samples keep their high byte, alpha dropped, palette expanded, no gamma).
 * Limits: the pixel limit on IHDR's size before decoding; the memory limit
 * on the output plus libspng's buffers (rows, the zlib state, the ancillary
 * chunk cache, whose size libspng caps for us); chunk and CRC / Adler-32
 * checks are libspng's. */
#include <spng.h>
#include <stdlib.h>

#include "formats/errmsg.h"
#include "formats/image_internal.h"

/* Ancillary chunks libspng keeps (text, ICC profile, EXIF, …): bounded so a
 * file of huge text chunks cannot take memory the image limit does not see —
 * 8 MiB, or an eighth of a smaller memory limit. */
static size_t chunk_cache_bytes(const vf_image_limits *lim)
{
    uint64_t c = vf_img_max_memory(lim) / 8, cap = (uint64_t)8 << 20;
    return (size_t)(c < cap ? c : cap);
}

static spng_ctx *open_ctx(const uint8_t *p, size_t len, size_t cache, struct spng_ihdr *ihdr,
                          char *err, size_t errlen)
{
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) {
        vf_fail(err, errlen, "png: cannot create a decoder (out of memory)");
        return NULL;
    }
    /* One chunk other than IDAT (which libspng streams, never holds) may not
     * exceed the cache either (libspng requires chunk limit ≤ cache limit). */
    int r = spng_set_chunk_limits(ctx, cache, cache);
    if (!r)
        r = spng_set_png_buffer(ctx, p, len);
    if (!r)
        r = spng_get_ihdr(ctx, ihdr);
    if (r) {
        vf_fail(err, errlen, "png: bad header: %s", spng_strerror(r));
        spng_ctx_free(ctx);
        return NULL;
    }
    if (ihdr->width == 0 || ihdr->height == 0 || ihdr->width > INT32_MAX ||
        ihdr->height > INT32_MAX) { /* libspng refuses these already: belt and braces */
        vf_fail(err, errlen, "png: invalid size %ux%u", ihdr->width, ihdr->height);
        spng_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

int vf_img_probe_png(const uint8_t *p, size_t len, int *w, int *h, char *err, size_t errlen)
{
    struct spng_ihdr ihdr;
    spng_ctx *ctx = open_ctx(p, len, chunk_cache_bytes(NULL), &ihdr, err, errlen);
    if (!ctx)
        return -1;
    *w = (int)ihdr.width;
    *h = (int)ihdr.height;
    spng_ctx_free(ctx);
    return 0;
}

int vf_img_decode_png(const uint8_t *p, size_t len, const vf_image_limits *lim, vf_image *out,
                      char *err, size_t errlen)
{
    struct spng_ihdr ihdr;
    size_t cache = chunk_cache_bytes(lim);
    spng_ctx *ctx = open_ctx(p, len, cache, &ihdr, err, errlen);
    if (!ctx)
        return -1;
    uint64_t w = ihdr.width, h = ihdr.height;
    uint8_t *rgb = NULL;
    int rc = -1;
    if (vf_img_check_dims(w, h, lim, "png", err, errlen))
        goto out;
    /* Rows: libspng holds about four scanlines of up to 8 bytes per pixel
     * (16-bit RGBA) plus the filter byte; zlib's state is under 64 KiB. */
    uint64_t need = w * h * 3 + 4 * (w * 8 + 1) + cache + ((uint64_t)64 << 10);
    if (vf_img_check_memory(need, lim, "png", err, errlen))
        goto out;
    size_t n = 0;
    int r = spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &n);
    if (r || n != (size_t)(w * h * 3)) {
        vf_fail(err, errlen, "png: cannot decode %llux%llu (colour type %u, %u-bit) to RGB: %s",
                (unsigned long long)w, (unsigned long long)h, ihdr.color_type, ihdr.bit_depth,
                r ? spng_strerror(r) : "unexpected size");
        goto out;
    }
    rgb = malloc(n);
    if (!rgb) {
        vf_fail(err, errlen, "png: out of memory for %llux%llu", (unsigned long long)w,
                (unsigned long long)h);
        goto out;
    }
    r = spng_decode_image(ctx, rgb, n, SPNG_FMT_RGB8, 0);
    /* libspng stops once the last row is out; reading on to IEND checks what
     * it skipped: the rest of the zlib stream, the last IDAT's CRC. Without
     * this, a flipped bit there gives wrong pixels and no error. */
    if (!r)
        r = spng_decode_chunks(ctx);
    if (r) {
        vf_fail(err, errlen, "png: %s", spng_strerror(r));
        goto out;
    }
    out->w = out->full_w = (int)w;
    out->h = out->full_h = (int)h;
    out->scale_num = 8;
    out->rgb = rgb;
    rgb = NULL;
    rc = 0;
out:
    free(rgb);
    spng_ctx_free(ctx);
    return rc;
}
