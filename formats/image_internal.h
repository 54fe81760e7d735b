/* Shared by the image decoders (image.c, image_jpeg.c, image_png.c,
 * image_bmp.c): the limits in force and the per-format entry points. */
#ifndef VIREO_FORMATS_IMAGE_INTERNAL_H
#define VIREO_FORMATS_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "formats/image.h"

uint64_t vf_img_max_pixels(const vf_image_limits *lim);
uint64_t vf_img_max_memory(const vf_image_limits *lim);
unsigned vf_img_max_scans(const vf_image_limits *lim);

/* Refuses w·h over the pixel limit (w, h ≥ 1 and < 2^32, so no overflow), or
 * w·h·3 beyond size_t. what prefixes the message. */
int vf_img_check_dims(uint64_t w, uint64_t h, const vf_image_limits *lim, const char *what,
                      char *err, size_t errlen);
/* Refuses an estimated peak of bytes over the memory limit. */
int vf_img_check_memory(uint64_t bytes, const vf_image_limits *lim, const char *what, char *err,
                        size_t errlen);

/* Per format: out is zeroed by the caller; on failure nothing is left allocated. */
int vf_img_decode_jpeg(const uint8_t *p, size_t len, const vf_image_limits *lim, int scale_num,
                       vf_image *out, char *err, size_t errlen);
int vf_img_decode_png(const uint8_t *p, size_t len, const vf_image_limits *lim, vf_image *out,
                      char *err, size_t errlen);
int vf_img_decode_bmp(const uint8_t *p, size_t len, const vf_image_limits *lim, vf_image *out,
                      char *err, size_t errlen);

int vf_img_probe_jpeg(const uint8_t *p, size_t len, int *w, int *h, char *err, size_t errlen);
int vf_img_probe_png(const uint8_t *p, size_t len, int *w, int *h, char *err, size_t errlen);
int vf_img_probe_bmp(const uint8_t *p, size_t len, int *w, int *h, char *err, size_t errlen);

#endif
