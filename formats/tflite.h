/* TensorFlow Lite model reader: a .tflite FlatBuffer (TensorFlow's
 * tensorflow/lite/schema/schema.fbs, schema version 3 with its 3a-3c
 * extensions) turned into plain structures for the converter to map onto
 * vireo's graph.
 *
 * What is read: the model's version and description, its operator codes, the
 * number of subgraphs, and subgraph 0 entire: tensors (type, shape, shape
 * signature, buffer, quantization), inputs, outputs and operators with the
 * builtin options of the operators vireo runs decoded (tfl_op.opt). Buffers are
 * located, never copied. Other subgraphs, metadata and signature defs are
 * counted or ignored.
 *
 * Hostile input: every offset, table, vector and string is checked against the
 * buffer before it is read (formats/flatbuf.h); tensor, buffer and opcode
 * indices are checked against their counts; shapes, quantization arrays and
 * constant buffer sizes are checked against each other; memory is bounded by
 * a multiple of the buffer's length. Failures return -1 with a message that
 * names the object, the field and the values.
 *
 * Ownership: tfl_parse allocates the tfl_model and every array it points to;
 * tfl_free releases them. Strings (names, description, custom codes) and data
 * pointers (buffers, tensor data, custom options) point into the caller's
 * buffer, which must stay alive and unchanged until tfl_free. tfl_load maps a
 * file and the model owns that mapping. */
#ifndef VIREO_FORMATS_TFLITE_H
#define VIREO_FORMATS_TFLITE_H

#include <stddef.h>
#include <stdint.h>

#define TFL_SCHEMA_VERSION 3
#define TFL_MAX_DIMS 8

/* TensorType, with the schema's values. */
typedef enum tfl_type {
    TFL_FLOAT32 = 0,
    TFL_FLOAT16 = 1,
    TFL_INT32 = 2,
    TFL_UINT8 = 3,
    TFL_INT64 = 4,
    TFL_STRING = 5,
    TFL_BOOL = 6,
    TFL_INT16 = 7,
    TFL_COMPLEX64 = 8,
    TFL_INT8 = 9,
    TFL_FLOAT64 = 10,
    TFL_COMPLEX128 = 11,
    TFL_UINT64 = 12,
    TFL_RESOURCE = 13,
    TFL_VARIANT = 14,
    TFL_UINT32 = 15,
    TFL_UINT16 = 16,
    TFL_INT4 = 17,
    TFL_TYPE_COUNT
} tfl_type;

/* BuiltinOperator values of the operators vireo maps (the schema has ~200;
 * tfl_op_name names them all). */
enum {
    TFL_OP_ADD = 0,
    TFL_OP_AVERAGE_POOL_2D = 1,
    TFL_OP_CONCATENATION = 2,
    TFL_OP_CONV_2D = 3,
    TFL_OP_DEPTHWISE_CONV_2D = 4,
    TFL_OP_DEQUANTIZE = 6,
    TFL_OP_FULLY_CONNECTED = 9,
    TFL_OP_LOGISTIC = 14,
    TFL_OP_MAX_POOL_2D = 17,
    TFL_OP_MUL = 18,
    TFL_OP_RELU = 19,
    TFL_OP_RELU6 = 21,
    TFL_OP_RESHAPE = 22,
    TFL_OP_SOFTMAX = 25,
    TFL_OP_CUSTOM = 32,
    TFL_OP_PAD = 34,
    TFL_OP_MEAN = 40,
    TFL_OP_SQUEEZE = 43,
    TFL_OP_QUANTIZE = 114,
    TFL_OP_HARD_SWISH = 117,
    TFL_OP_PLACEHOLDER_FOR_GREATER_OP_CODES = 127,
};

typedef enum tfl_padding { TFL_PAD_SAME = 0, TFL_PAD_VALID = 1 } tfl_padding;

/* ActivationFunctionType. */
typedef enum tfl_act {
    TFL_ACT_NONE = 0,
    TFL_ACT_RELU = 1,
    TFL_ACT_RELU_N1_TO_1 = 2,
    TFL_ACT_RELU6 = 3,
    TFL_ACT_TANH = 4,
    TFL_ACT_SIGN_BIT = 5,
} tfl_act;

/* f = scale * (q - zero_point). n = 0: not quantized. n = 1: per tensor.
 * n > 1: per channel, n == shape[axis]. The arrays are copies (the file's
 * may be unaligned), owned by the model. */
typedef struct tfl_quant {
    int n;
    int axis; /* quantized_dimension */
    const float *scale;
    const int64_t *zero_point;
    /* QuantizationDetails present (CustomQuantization): the schema says
     * scale and zero_point are then to be ignored; n is 0. */
    int custom;
} tfl_quant;

typedef struct tfl_buffer {
    const uint8_t *data; /* NULL when empty */
    size_t size;
    int external; /* stored by offset/size beyond the FlatBuffer (files > 2 GB) */
} tfl_buffer;

typedef struct tfl_tensor {
    const char *name; /* "" when absent */
    tfl_type type;
    int ndim;
    int32_t shape[TFL_MAX_DIMS]; /* each >= 0 */
    int has_signature;           /* shape_signature given: same rank, -1 = unknown */
    int32_t signature[TFL_MAX_DIMS];
    int has_rank; /* the schema's has_rank (distinguishes scalars from unknown rank) */
    uint32_t buffer;  /* index into tfl_model.buffers; 0 = the empty sentinel */
    const void *data; /* that buffer's bytes: NULL for activations */
    size_t size;
    tfl_quant q;
    int is_variable;
    int is_sparse; /* sparsity parameters present: data is compressed (not decoded) */
} tfl_tensor;

typedef struct tfl_opcode {
    int builtin; /* max(deprecated_builtin_code, builtin_code), as TFLite resolves it */
    int version;
    const char *custom_code; /* for TFL_OP_CUSTOM; NULL otherwise */
} tfl_opcode;

/* Conv2DOptions and DepthwiseConv2DOptions. */
typedef struct tfl_conv_opts {
    tfl_padding padding;
    int stride_w, stride_h;
    int dilation_w, dilation_h;
    tfl_act act;
    int depth_multiplier; /* depthwise only; TF >= 2.1 writers leave it redundant */
} tfl_conv_opts;

typedef struct tfl_pool_opts {
    tfl_padding padding;
    int stride_w, stride_h;
    int filter_w, filter_h;
    tfl_act act;
} tfl_pool_opts;

typedef struct tfl_fc_opts {
    tfl_act act;
    int weights_format; /* 0 DEFAULT, 1 SHUFFLED4x16INT8 */
    int keep_num_dims;
    int asymmetric_quantize_inputs;
} tfl_fc_opts;

typedef struct tfl_op {
    uint32_t opcode_index;
    int builtin; /* from the opcode */
    int ninputs, noutputs;
    const int32_t *inputs;  /* tensor indices; -1 = optional input absent */
    const int32_t *outputs; /* tensor indices */
    int options_type;       /* BuiltinOptions union type as stored; 0 none */
    int has_options;        /* options decoded from the file (else schema defaults) */
    union {
        tfl_conv_opts conv;  /* CONV_2D, DEPTHWISE_CONV_2D */
        tfl_pool_opts pool;  /* AVERAGE_POOL_2D, MAX_POOL_2D */
        tfl_fc_opts fc;      /* FULLY_CONNECTED */
        struct {
            float beta; /* schema default 0 when absent */
        } softmax;
        struct {
            int axis;
            tfl_act act;
        } concat;
        struct {
            tfl_act act;
            int pot_scale_int16; /* ADD only; default 1 */
        } arith;                 /* ADD, MUL */
        struct {
            int n; /* -1: no new_shape (the second input gives it) */
            int32_t new_shape[TFL_MAX_DIMS];
        } reshape;
        struct {
            int keep_dims;
        } reducer; /* MEAN */
        struct {
            int n;
            int32_t dims[TFL_MAX_DIMS];
        } squeeze;
    } opt;
    const uint8_t *custom_options; /* into the caller's buffer; NULL if none */
    size_t custom_options_size;
} tfl_op;

typedef struct tfl_model {
    uint32_t version;
    const char *description; /* NULL if absent */
    size_t nopcodes;
    tfl_opcode *opcodes;
    size_t nsubgraphs; /* >= 1; only subgraph 0 is read */
    const char *subgraph_name; /* NULL if absent */
    size_t ntensors;
    tfl_tensor *tensors;
    size_t ninputs, noutputs;
    int32_t *inputs, *outputs;
    size_t nops;
    tfl_op *ops;
    size_t nbuffers;
    tfl_buffer *buffers;
    struct tfl_priv *priv; /* allocations and mapping */
} tfl_model;

int tfl_parse(const void *buf, size_t len, tfl_model **out, char *err, size_t errlen);
/* Maps the file read-only and parses it; the model owns the mapping. */
int tfl_load(const char *path, tfl_model **out, char *err, size_t errlen);
void tfl_free(tfl_model *m); /* accepts NULL */

/* Names from the schema; "UNKNOWN" outside it. */
const char *tfl_op_name(int builtin_code);
const char *tfl_type_name(int type);
const char *tfl_act_name(int act);
/* Bytes per element; 0 for types without a fixed size (STRING, RESOURCE,
 * VARIANT) and for INT4 (two per byte). */
size_t tfl_type_size(int type);

#endif
