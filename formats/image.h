/* Still images in, RGB8 pixels out: JPEG (libjpeg-turbo's TurboJPEG API) and
 * uncompressed BMP (24/32-bit, bottom-up or top-down). Anything else is
 * refused with "unsupported format". Input is hostile: the dimensions are
 * checked against a pixel limit before anything is allocated, every BMP
 * header field is checked against the buffer length with overflow-safe
 * arithmetic, and libjpeg errors come back as messages, never as a crash.
 *
 * The simple decoder the runtime needs until the image pipeline (io_uring,
 * DCT-domain scaling) lands: always full-size decode, one image at a time. */
#ifndef VIREO_FORMATS_IMAGE_H
#define VIREO_FORMATS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define VF_IMAGE_DEFAULT_MAX_PIXELS (64u * 1024u * 1024u) /* 64 MP */

typedef struct vf_image_limits {
    uint64_t max_pixels;  /* width · height ≤ this; 0 means the default (64 MP) */
    int lenient_jpeg;     /* accept JPEGs libjpeg decodes with a warning (e.g.
                             truncated data, filled with grey); default refuse */
} vf_image_limits;

typedef struct vf_image {
    int w, h;        /* ≥ 1 */
    uint8_t *rgb;    /* w·h·3 bytes, RGB interleaved, rows top to bottom, no padding */
} vf_image;

typedef enum vf_image_format { VF_IMG_UNKNOWN = 0, VF_IMG_JPEG, VF_IMG_BMP } vf_image_format;

/* By magic bytes: JPEG = FF D8 FF, BMP = "BM". */
vf_image_format vf_image_sniff(const void *buf, size_t len);

/* Decodes buf (lim may be NULL: defaults). On success fills *out (caller
 * frees with vf_image_free) and returns 0; on failure returns -1, leaves
 * *out empty and writes a message to err. */
int vf_image_decode(const void *buf, size_t len, const vf_image_limits *lim, vf_image *out,
                    char *err, size_t errlen);
/* The same on a file (read whole; messages start with the path). */
int vf_image_decode_file(const char *path, const vf_image_limits *lim, vf_image *out, char *err,
                         size_t errlen);
void vf_image_free(vf_image *img); /* accepts an empty or zeroed image */

#endif
