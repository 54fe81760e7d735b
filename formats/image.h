/* Still images in, RGB8 pixels out: JPEG (libjpeg-turbo's TurboJPEG API),
 * PNG (libspng) and uncompressed BMP (24/32-bit). Anything else is refused
 * with "unsupported format". Input is hostile:
 *   - the size is read from the header and checked against max_pixels, and
 *     the decoder's peak memory (estimated from the header: the pixels out,
 *     libjpeg's whole-image coefficient buffer for progressive / multi-scan
 *     files, libspng's row and chunk buffers) against max_memory, before
 *     anything large is allocated: a 258-byte file claiming 65535×65535 costs
 *     nothing;
 *   - JPEG: the scans (SOS markers) are counted by walking the markers before
 *     decoding and refused over max_scans (the progressive-JPEG CPU bomb:
 *     thousands of tiny scans, each a pass over the whole coefficient buffer);
 *     libjpeg's corrupt-data warnings (truncated data, bad Huffman codes, …)
 *     stop the decode as errors unless lenient_jpeg;
 *   - PNG: read to IEND, so every chunk CRC and the zlib Adler-32 are
 *     checked (libspng alone stops after the last row, and a flipped bit
 *     behind it went unnoticed); ancillary chunks cached up to a bound;
 *   - BMP: every header field checked against the buffer with overflow-safe
 *     arithmetic.
 * Errors come back as messages ("jpeg: …", "png: …", "bmp: …"), never as a
 * crash.
 *
 * Pixel conventions, chosen to match Pillow (Image.open(f).convert("RGB")),
 * which the torchvision references use:
 *   - JPEG: accurate integer IDCT (JDCT_ISLOW) and fancy upsampling — Pillow's
 *     defaults with the same libjpeg-turbo, so full-size decodes are equal
 *     byte for byte. Grey JPEGs come out as R = G = B. CMYK / YCCK JPEGs are
 *     refused (TurboJPEG cannot convert them to RGB). EXIF orientation is
 *     ignored, as Pillow and torchvision ignore it.
 *   - PNG: every colour type and bit depth; 16-bit samples keep their high
 *     byte; alpha is dropped (not composited); palette expanded; gamma, sRGB
 *     and ICC chunks ignored (no colour management). Pillow differs only for
 *     16-bit grey ("I;16" → "RGB" clips at 255 instead of taking the high byte).
 *
 * DCT-scaled decoding (vf_image_decode_scaled): a JPEG can be decoded at
 * n/8 of its size (n = 1 … 8) for a fraction of the work, by libjpeg's scaled
 * IDCTs. The result is not a resampled full-size decode: each output pixel is
 * the low-frequency reconstruction of its 8/n × 8/n source area, close to an
 * area average. Other formats always decode at full size. */
#ifndef VIREO_FORMATS_IMAGE_H
#define VIREO_FORMATS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define VF_IMAGE_DEFAULT_MAX_PIXELS (64u * 1024u * 1024u) /* 64 MP */
#define VF_IMAGE_DEFAULT_MAX_MEMORY ((uint64_t)1 << 30)   /* 1 GiB */
#define VF_IMAGE_DEFAULT_MAX_SCANS 100u /* real progressive files have ~10 */

typedef struct vf_image_limits {
    uint64_t max_pixels;  /* width · height of the file ≤ this; 0: the default */
    int lenient_jpeg;     /* accept JPEGs libjpeg decodes with a warning (e.g.
                             truncated data, filled with grey); default refuse */
    uint64_t max_memory;  /* estimated peak bytes of one decode; 0: the default */
    unsigned max_scans;   /* JPEG scans (SOS markers) per file; 0: the default */
} vf_image_limits;

typedef struct vf_image {
    int w, h;        /* ≥ 1 */
    uint8_t *rgb;    /* w·h·3 bytes, RGB interleaved, rows top to bottom, no padding */
    /* The file's own size and the factor it was decoded at: w = ⌈full_w · num / 8⌉
     * (libjpeg's rounding), likewise h. num = 8 (or 0 in an image not made by
     * a decoder) means full size. */
    int full_w, full_h;
    int scale_num;   /* n of n/8 */
} vf_image;

typedef enum vf_image_format { VF_IMG_UNKNOWN = 0, VF_IMG_JPEG, VF_IMG_BMP, VF_IMG_PNG } vf_image_format;

/* By magic bytes: JPEG = FF D8 FF, BMP = "BM", PNG = 89 "PNG" 0D 0A 1A 0A. */
vf_image_format vf_image_sniff(const void *buf, size_t len);

/* Format and size from the header alone (no pixel decoding, no limit checks
 * beyond a well-formed header). Returns 0, or -1 with a message. */
int vf_image_probe(const void *buf, size_t len, vf_image_format *fmt, int *w, int *h, char *err,
                   size_t errlen);

/* Decodes buf at full size (lim may be NULL: defaults). On success fills *out
 * (caller frees with vf_image_free) and returns 0; on failure returns -1,
 * leaves *out empty and writes a message to err. */
int vf_image_decode(const void *buf, size_t len, const vf_image_limits *lim, vf_image *out,
                    char *err, size_t errlen);

/* The same, a JPEG decoded at scale_num/8 (1 … 8; libjpeg's DCT scaling).
 * Other formats ignore scale_num and decode at full size (scale_num = 8 in
 * *out). Limits apply to the full-size image. */
int vf_image_decode_scaled(const void *buf, size_t len, const vf_image_limits *lim, int scale_num,
                           vf_image *out, char *err, size_t errlen);

/* vf_image_decode on a file (read whole; messages start with the path). */
int vf_image_decode_file(const char *path, const vf_image_limits *lim, vf_image *out, char *err,
                         size_t errlen);
void vf_image_free(vf_image *img); /* accepts an empty or zeroed image */

#endif
