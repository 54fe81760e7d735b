/* Converters: real model files in, vireo weight files (packed weights +
 * graph + preprocessing metadata) out. */
#ifndef VIREO_RUNTIME_CONVERT_H
#define VIREO_RUNTIME_CONVERT_H

#include <stddef.h>

/* How a float source's weights are stored (docs/QUANTIZATION.md). */
typedef enum vr_convert_dtype {
    VR_CONVERT_F32 = 0, /* as the source: f32 */
    VR_CONVERT_BF16,    /* weights rounded to bf16, activations f32 */
    VR_CONVERT_INT8,    /* CNNs: static post-training quantization (an int8 graph);
                         * transformers: dynamic int8 linear layers */
} vr_convert_dtype;

typedef struct vr_convert_opts {
    const char *labels_path; /* optional: class labels, one per line, stored as `labels` */
    vr_convert_dtype dtype;
    /* VR_CONVERT_INT8 only (runtime/calibrate.h): */
    const char *calib;       /* calibration images: a directory or @LIST (required) */
    int calib_n;             /* images used; 0: 64 */
    int calib_method;        /* vr_calib_method; 0: the default */
    double calib_percentile; /* VR_CALIB_PERCENTILE; 0: the default */
    int verbose;             /* progress and the chosen ranges on stderr */
    /* Transformer towers (runtime/convert_clip*.c, convert_hf_clip.c, convert_vit.c): */
    const char *tower;       /* "image" or "text": which tower of a two-tower CLIP file; NULL: the only one */
    const char *act;         /* "gelu" or "quick_gelu" when the file's __metadata__ hidden_act does not say;
                              * NULL: quick_gelu (OpenAI's CLIP and HF's conversions of it) */
    int image_size;          /* ViT towers: input size S, position embeddings resized to (S/P)²; 0: the file's */
    /* f32 storage: 1 keeps every conv direct; 0 (default) gives eligible 3×3
     * convs Winograd weights (vr_convert_wino_file). */
    int no_winograd;
} vr_convert_opts;

/* Whether a converter given o writes the model itself (f32, no Winograd
 * pass) rather than handing over to vr_convert_as (NULL o: the defaults,
 * which include the Winograd pass). */
static inline int vr_convert_is_raw(const vr_convert_opts *o)
{
    return o && o->dtype == VR_CONVERT_F32 && o->no_winograd;
}

typedef int (*vr_convert_fn)(const char *src, const char *dst, const vr_convert_opts *o,
                             char *err, size_t errlen);

/* The converter for a source file, by its name: `.tflite` → vr_convert_tflite,
 * `model.json` → vr_convert_tfjs, `.safetensors` → vr_convert_safetensors;
 * NULL for anything else. */
vr_convert_fn vr_convert_for_source(const char *src);

/* Runs `convert` (one of the converters below) storing o->dtype: f32 as the
 * converter writes it, then (unless o->no_winograd) its eligible convs given
 * Winograd weights in place (vr_convert_wino_file); otherwise by converting to
 * a temporary f32 model with direct convs and rewriting it
 * (docs/QUANTIZATION.md):
 *   int8, a graph with LINEAR nodes (ViT / CLIP towers): vr_convert_dynq_file;
 *     o->calib is not used;
 *   int8, any other graph (CNNs): static post-training quantization,
 *     calibrated on o->calib (runtime/convert_quant.h);
 *   bf16: vr_convert_bf16_file.
 * A quantized source (TFLite uint8 / int8) is refused for int8 and bf16: it
 * is already quantized. */
int vr_convert_as(vr_convert_fn convert, const char *src, const char *dst,
                  const vr_convert_opts *o, char *err, size_t errlen);

/* Dynamic int8 (graph.h VR_W_S8): the f32 model at f32_path with every
 * LINEAR's weights stored s8, symmetric per output channel (scale
 * max|w| / 127, codes round(w / scale)), with column sums and scales; its
 * input rows are quantized at run time. CONV weights (a ViT's patch
 * embedding) become bf16; everything else is kept. Writes dst; 0 or -1 with
 * a message. */
int vr_convert_dynq_file(const char *f32_path, const char *dst, char *err, size_t errlen);

/* Winograd convs (graph.h VR_W_WINO, runtime/convert_wino.c): the f32 model
 * at f32_path with the weights of every conv vr_wino_eligible accepts
 * (runtime/convert_rewrite.h) transformed for conv_wino_f32; everything else
 * kept. dst may be f32_path: it is replaced crash-safely, and left untouched
 * when no conv is eligible. *converted (may be NULL): convs rewritten. 0 or
 * -1 with a message. */
int vr_convert_wino_file(const char *f32_path, const char *dst, int *converted, char *err,
                         size_t errlen);

/* bf16 weights (graph.h VR_W_BF16): the f32 model with the weights of every
 * CONV, DWCONV, FC and LINEAR rounded to bf16 (RNE) in the bf16 kernels'
 * layouts; biases and activations f32. Writes dst; 0 or -1 with a message. */
int vr_convert_bf16_file(const char *f32_path, const char *dst, char *err, size_t errlen);

/* TFLite flatbuffers with uint8-asymmetric (per-tensor) or int8 (per-channel)
 * quantization: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD,
 * AVERAGE/MAX_POOL_2D, MEAN over H and W, CONCATENATION (channels),
 * RESHAPE/SQUEEZE, SOFTMAX. Anything else is refused, naming the op. */
int vr_convert_tflite(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                      size_t errlen);

/* TF.js layers models (Keras functional or sequential: model.json + weight
 * shards), stored f32: InputLayer, Conv2D, DepthwiseConv2D (multiplier 1),
 * Dense, BatchNormalization (folded into the conv / depthwise / dense before
 * it), ReLU / Activation relu, relu6, softmax, linear (fused where possible),
 * ZeroPadding2D (merged into the next conv's padding), Add, Concatenate
 * (channels), Max/AveragePooling2D, GlobalAverage/MaxPooling2D, Flatten,
 * Reshape to [C], Dropout-like layers (identity), Softmax. Anything else is
 * refused, naming the layer and its class. Preprocessing metadata assumes
 * RGB/255 input; nsfwjs models get their class labels unless o->labels_path
 * is given. */
int vr_convert_tfjs(const char *model_json, const char *dst, const vr_convert_opts *o, char *err,
                    size_t errlen);

/* torchvision state dicts in safetensors (tools/export_safetensors.py),
 * stored f32: mobilenet_v2 or resnet50, told apart by the tensor names; the
 * graph is torchvision's architecture, built in code, with every tensor's
 * shape checked against it and BatchNorm folded into the convs. Preprocessing
 * metadata: 224×224 bilinear, RGB in [0, 1], ImageNet mean / std, NHWC f32.
 * Labels only from o->labels_path. */
int vr_convert_safetensors(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                           size_t errlen);

/* torchvision Vision Transformer state dicts (vit_b_16, vit_b_32, vit_l_*,
 * vit_h_14 and other widths / depths with __metadata__ num_heads), stored f32
 * (runtime/convert_vit.c). vr_convert_safetensors calls it for files with
 * conv_proj.weight and encoder.pos_embedding. */
int vr_convert_vit(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                   size_t errlen);

/* OpenAI CLIP's text tower (token_embedding, positional_embedding,
 * transformer.resblocks.*, ln_final, text_projection), stored f32
 * (runtime/convert_clip.c): input the s32 token ids of one context row,
 * output the text embedding. vr_convert_safetensors calls it for files with
 * token_embedding.weight and text_projection. */
int vr_convert_clip_text(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                         size_t errlen);

/* The CLIP family (runtime/convert_clip.c picks one of the below by the
 * tensor names and o->tower; docs/FORMATS.md "Transformer naming schemes"):
 * OpenAI / open_clip full files (visual.* + the top-level text tower), their
 * towers alone (visual.* or with the prefix stripped), Hugging Face CLIPModel,
 * CLIPVisionModel[WithProjection], CLIPTextModel[WithProjection]. A file with
 * both towers and no o->tower is refused, naming the choices. */
int vr_convert_clip(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                    size_t errlen);
/* OpenAI / open_clip image tower (runtime/convert_clip_visual.c). */
int vr_convert_clip_visual(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                           size_t errlen);
/* Hugging Face CLIP towers (runtime/convert_hf_clip.c). */
int vr_convert_hf_clip_vision(const char *src, const char *dst, const vr_convert_opts *o,
                              char *err, size_t errlen);
int vr_convert_hf_clip_text(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                            size_t errlen);

#endif
