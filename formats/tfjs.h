/* TF.js layers-model reader (docs/FORMATS.md, "TF.js layers model"):
 * model.json (a Keras model_config under "modelTopology" and a
 * "weightsManifest") plus its binary weight shards.
 *
 * Hostile input: model.json is parsed strictly (formats/json.h); shard paths
 * must be relative to model.json's directory without ".." components; every
 * shape product is overflow-checked; each group's shards, concatenated, must
 * be exactly as long as the weights the group lists. Every weight is handed
 * out as f32 (dequantized as tfjs-core does: uint8/uint16 q -> q * scale + min
 * computed in double then rounded to f32; float16 -> f32 exactly; int32 and
 * bool converted by value), in one 64-byte aligned arena owned by the model.
 *
 * Everything returned points into the model and is valid until tfjs_free.
 */
#ifndef VIREO_FORMATS_TFJS_H
#define VIREO_FORMATS_TFJS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define TFJS_MAX_JSON_BYTES ((size_t)64 << 20)
#define TFJS_MAX_VALUES ((uint64_t)1 << 30) /* f32 values over all weights (4 GiB) */
#define TFJS_MAX_DIMS 16

/* A reference to an output of another layer: [layer, node_index, tensor_index]. */
typedef struct tfjs_ref {
    const char *layer;
    int node_index;   /* which call of that layer produced it */
    int tensor_index; /* which output of that call */
    int call;         /* which call of the layer holding this ref (its inbound node) */
} tfjs_ref;

typedef struct tfjs_layer {
    const char *name;
    const char *class_name;   /* "Conv2D", "BatchNormalization", ... */
    const json_value *config; /* the layer's "config" object */
    int n_calls;              /* inbound nodes: how often the layer is called */
    size_t n_inbound;
    const tfjs_ref *inbound;  /* all inputs of all calls, in order (ref.call tells which) */
} tfjs_layer;

typedef enum tfjs_dtype { TFJS_FLOAT32, TFJS_INT32, TFJS_BOOL } tfjs_dtype;
typedef enum tfjs_quant { TFJS_Q_NONE, TFJS_Q_UINT8, TFJS_Q_UINT16, TFJS_Q_FLOAT16 } tfjs_quant;

typedef struct tfjs_weight {
    const char *name;      /* e.g. "Conv1/kernel" */
    tfjs_dtype dtype;      /* the manifest's dtype (what the values mean) */
    tfjs_quant quant;      /* how they were stored */
    double qmin, qscale;   /* uint8/uint16: value = q * qscale + qmin */
    int ndim;
    const int64_t *shape;  /* ndim entries (NULL for a scalar) */
    size_t count;          /* elements */
    int group;             /* manifest group */
    uint64_t offset;       /* bytes into the group's concatenated shards */
    uint64_t nbytes;       /* stored bytes */
    const float *data;     /* count values, 64-byte aligned */
} tfjs_weight;

typedef struct tfjs_model tfjs_model;

/* Loads path (model.json) and its shards. -1 with a message on failure. */
int tfjs_load(const char *path, tfjs_model **out, char *err, size_t errlen);
/* The same from model.json bytes already in memory; shards are read from dir. */
int tfjs_load_mem(const void *json, size_t len, const char *dir, tfjs_model **out, char *err,
                  size_t errlen);
void tfjs_free(tfjs_model *m); /* accepts NULL */

/* Keras model class: "Model", "Functional" or "Sequential". */
const char *tfjs_model_class(const tfjs_model *m);
/* model_config's "config" (name, layers, input_layers, output_layers, ...). */
const json_value *tfjs_model_config(const tfjs_model *m);
/* The whole model.json. */
const json_value *tfjs_json(const tfjs_model *m);

size_t tfjs_layer_count(const tfjs_model *m);
const tfjs_layer *tfjs_layer_at(const tfjs_model *m, size_t i); /* config order */
const tfjs_layer *tfjs_find_layer(const tfjs_model *m, const char *name);
/* The model's inputs and outputs (config "input_layers" / "output_layers";
 * for a Sequential model, its first and last layer). */
const tfjs_ref *tfjs_inputs(const tfjs_model *m, size_t *n);
const tfjs_ref *tfjs_outputs(const tfjs_model *m, size_t *n);

size_t tfjs_weight_count(const tfjs_model *m);
const tfjs_weight *tfjs_weight_at(const tfjs_model *m, size_t i); /* manifest order */
const tfjs_weight *tfjs_find_weight(const tfjs_model *m, const char *name);

const char *tfjs_dtype_name(tfjs_dtype t);
const char *tfjs_quant_name(tfjs_quant q);
/* IEEE binary16 -> binary32, exact (subnormals, infinities, NaN kept). */
float tfjs_half_to_float(uint16_t h);

#endif
