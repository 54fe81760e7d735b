/* Pieces every converter uses. Internal to runtime/convert_*.c. */
#ifndef VIREO_RUNTIME_CONVERT_UTIL_H
#define VIREO_RUNTIME_CONVERT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors.h"
#include "formats/weights.h"
#include "runtime/convert.h"

/* Stores a class-labels file (one per line; at most 1 MB of text, no NUL
 * bytes) as the `labels` key. -1 with a message naming the path otherwise. */
int vr_convert_labels(vw_writer *w, const char *path, char *err, size_t errlen);

/* torchvision's eval preprocessing for an S×S input: Resize(S·256/224) with
 * PIL bilinear (antialiased), CenterCrop(S), RGB in [0, 1] normalised with the
 * ImageNet mean / std, NHWC f32 (the preproc.* keys). */
void vr_torchvision_preproc_meta(vw_writer *w, int S);

/* "d0,d1,..." into buf (at most 8 dims shown). */
void vr_dims_str(char *buf, size_t len, const int64_t *dims, int n);

/* The safetensors tensor `name`, checked to be F32 of exactly the given
 * shape; NULL with a message ("tensor 'x' is missing", "... is BF16 [2,3],
 * expected F32 [3,2]") otherwise. */
const st_tensor *vr_st_find_f32(const st_file *f, const char *name, int ndim, const int64_t *shape,
                                char *err, size_t errlen);

/* The converter for a transformer state dict, by its tensor names:
 * vr_convert_vit for torchvision ViTs (conv_proj.weight + encoder.
 * pos_embedding), vr_convert_clip for the CLIP family (OpenAI / open_clip
 * visual.* or conv1.* or token_embedding.weight; Hugging Face vision_model.*
 * or text_model.*); NULL for anything else. */
vr_convert_fn vr_st_transformer_converter(const st_file *f);

#endif
