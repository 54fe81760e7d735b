/* Converters: real model files in, vireo weight files (packed weights +
 * graph + preprocessing metadata) out. */
#ifndef VIREO_RUNTIME_CONVERT_H
#define VIREO_RUNTIME_CONVERT_H

#include <stddef.h>

typedef struct vr_convert_opts {
    const char *labels_path; /* optional: class labels, one per line, stored as `labels` */
} vr_convert_opts;

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

#endif
