/* TFLite model reader (tflite.h). Field ids are the positions of the fields
 * in schema.fbs (a union takes two: its type, then its value). */
#include "tflite.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flatbuf.h"

/* Tables of the schema: field ids. */
enum { MODEL_VERSION = 0, MODEL_OPCODES = 1, MODEL_SUBGRAPHS = 2, MODEL_DESCRIPTION = 3,
       MODEL_BUFFERS = 4 };
enum { OPCODE_DEPRECATED = 0, OPCODE_CUSTOM = 1, OPCODE_VERSION = 2, OPCODE_BUILTIN = 3 };
enum { SG_TENSORS = 0, SG_INPUTS = 1, SG_OUTPUTS = 2, SG_OPERATORS = 3, SG_NAME = 4 };
enum { BUF_DATA = 0, BUF_OFFSET = 1, BUF_SIZE = 2 };
enum { T_SHAPE = 0, T_TYPE = 1, T_BUFFER = 2, T_NAME = 3, T_QUANT = 4, T_VARIABLE = 5,
       T_SPARSITY = 6, T_SIGNATURE = 7, T_HAS_RANK = 8 };
enum { Q_SCALE = 2, Q_ZERO = 3, Q_DETAILS_TYPE = 4, Q_AXIS = 6 };
enum { OP_OPCODE = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTS_TYPE = 3, OP_OPTS = 4,
       OP_CUSTOM = 5, OP_LARGE_CUSTOM_OFFSET = 9, OP_LARGE_CUSTOM_SIZE = 10 };

/* BuiltinOptions union members vireo decodes, and the last one the schema has
 * (the union is frozen; newer options go into BuiltinOptions2). */
enum {
    OPT_NONE = 0,
    OPT_CONV2D = 1,
    OPT_DEPTHWISE = 2,
    OPT_POOL2D = 5,
    OPT_FULLY_CONNECTED = 8,
    OPT_SOFTMAX = 9,
    OPT_CONCATENATION = 10,
    OPT_ADD = 11,
    OPT_RESHAPE = 17,
    OPT_MUL = 21,
    OPT_PAD = 22,
    OPT_REDUCER = 27,
    OPT_SQUEEZE = 30,
    OPT_DEQUANTIZE = 38,
    OPT_QUANTIZE = 89,
    OPT_HARD_SWISH = 91,
    OPT_LAST = 126,
};

static const char *opt_name(int t)
{
    switch (t) {
    case OPT_NONE: return "NONE";
    case OPT_CONV2D: return "Conv2DOptions";
    case OPT_DEPTHWISE: return "DepthwiseConv2DOptions";
    case OPT_POOL2D: return "Pool2DOptions";
    case OPT_FULLY_CONNECTED: return "FullyConnectedOptions";
    case OPT_SOFTMAX: return "SoftmaxOptions";
    case OPT_CONCATENATION: return "ConcatenationOptions";
    case OPT_ADD: return "AddOptions";
    case OPT_RESHAPE: return "ReshapeOptions";
    case OPT_MUL: return "MulOptions";
    case OPT_PAD: return "PadOptions";
    case OPT_REDUCER: return "ReducerOptions";
    case OPT_SQUEEZE: return "SqueezeOptions";
    case OPT_DEQUANTIZE: return "DequantizeOptions";
    case OPT_QUANTIZE: return "QuantizeOptions";
    case OPT_HARD_SWISH: return "HardSwishOptions";
    default: return t <= OPT_LAST ? "another op's options" : "not in the schema";
    }
}

/* The operators vireo maps: their arity and options. Inputs past min_in are
 * optional (-1 allowed); opts_required: the defaults are unusable (stride 0). */
typedef struct op_rule {
    int code, min_in, max_in, min_out, max_out, opts, opts_required;
} op_rule;

static const op_rule rules[] = {
    {TFL_OP_ADD, 2, 2, 1, 1, OPT_ADD, 0},
    {TFL_OP_AVERAGE_POOL_2D, 1, 1, 1, 1, OPT_POOL2D, 1},
    {TFL_OP_CONCATENATION, 1, INT_MAX, 1, 1, OPT_CONCATENATION, 0},
    {TFL_OP_CONV_2D, 2, 3, 1, 1, OPT_CONV2D, 1},
    {TFL_OP_DEPTHWISE_CONV_2D, 2, 3, 1, 1, OPT_DEPTHWISE, 1},
    {TFL_OP_DEQUANTIZE, 1, 1, 1, 1, OPT_DEQUANTIZE, 0},
    {TFL_OP_FULLY_CONNECTED, 2, 3, 1, 2, OPT_FULLY_CONNECTED, 0},
    {TFL_OP_LOGISTIC, 1, 1, 1, 1, OPT_NONE, 0},
    {TFL_OP_MAX_POOL_2D, 1, 1, 1, 1, OPT_POOL2D, 1},
    {TFL_OP_MUL, 2, 2, 1, 1, OPT_MUL, 0},
    {TFL_OP_RELU, 1, 1, 1, 1, OPT_NONE, 0},
    {TFL_OP_RELU6, 1, 1, 1, 1, OPT_NONE, 0},
    {TFL_OP_RESHAPE, 1, 2, 1, 1, OPT_RESHAPE, 0},
    {TFL_OP_SOFTMAX, 1, 1, 1, 1, OPT_SOFTMAX, 0},
    {TFL_OP_PAD, 2, 2, 1, 1, OPT_PAD, 0},
    {TFL_OP_MEAN, 2, 2, 1, 1, OPT_REDUCER, 0},
    {TFL_OP_SQUEEZE, 1, 1, 1, 1, OPT_SQUEEZE, 0},
    {TFL_OP_QUANTIZE, 1, 1, 1, 1, OPT_QUANTIZE, 0},
    {TFL_OP_HARD_SWISH, 1, 1, 1, 1, OPT_HARD_SWISH, 0},
};

static const op_rule *rule_for(int code)
{
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++)
        if (rules[i].code == code)
            return &rules[i];
    return NULL;
}

/* ------------------------------------------------------------- memory --- */

typedef struct block {
    struct block *next;
    max_align_t data[];
} block;

struct tfl_priv {
    block *blocks;
    size_t budget; /* bytes still allowed */
    void *map;
    size_t maplen;
};

typedef struct parser {
    fb_reader r;
    tfl_model *m;
} parser;

/* Zeroed n x size bytes owned by the model. Shared sub-tables could make a
 * small file describe huge arrays: the total is capped at a multiple of the
 * file's length, which no real model approaches. */
static void *alloc(parser *p, size_t n, size_t size, const char *what)
{
    struct tfl_priv *pv = p->m->priv;
    if (n && size > (SIZE_MAX - sizeof(block)) / n) {
        fb_fail(&p->r, "%s: %zu x %zu bytes overflows", what, n, size);
        return NULL;
    }
    size_t bytes = n * size;
    if (bytes > pv->budget || pv->budget - bytes < sizeof(block)) {
        fb_fail(&p->r, "%s: %zu bytes exceed the memory a %zu-byte file can justify "
                       "(shared sub-tables?)", what, bytes, p->r.len);
        return NULL;
    }
    block *b = calloc(1, sizeof *b + bytes);
    if (!b) {
        fb_fail(&p->r, "%s: out of memory for %zu bytes", what, bytes);
        return NULL;
    }
    pv->budget -= bytes + sizeof(block);
    b->next = pv->blocks;
    pv->blocks = b;
    return b->data;
}

/* ------------------------------------------------------------ helpers --- */

static int check_act(parser *p, int v, const char *what)
{
    if (v < TFL_ACT_NONE || v > TFL_ACT_SIGN_BIT)
        return fb_fail(&p->r, "%s: unknown fused_activation_function %d", what, v);
    return 0;
}

static int check_padding(parser *p, int v)
{
    if (v != TFL_PAD_SAME && v != TFL_PAD_VALID)
        return fb_fail(&p->r, "padding %d is neither SAME (0) nor VALID (1)", v);
    return 0;
}

static int check_positive(parser *p, int32_t v, const char *what)
{
    if (v < 1)
        return fb_fail(&p->r, "%s %d must be >= 1", what, v);
    return 0;
}

/* A vector of int32 indices (or dims) copied out; n bounded by the buffer. */
static int copy_i32s(parser *p, const fb_vec *v, int32_t **out, const char *what)
{
    *out = alloc(p, v->n ? v->n : 1, sizeof **out, what);
    if (!*out)
        return -1;
    for (uint32_t i = 0; i < v->n; i++)
        (*out)[i] = fb_vec_i32(&p->r, v, i);
    return 0;
}

static int count_ok(parser *p, uint32_t n, const char *what)
{
    if (n > INT32_MAX)
        return fb_fail(&p->r, "%s: %u entries", what, n);
    return 0;
}

/* ------------------------------------------------------------ buffers --- */

static int parse_buffer(parser *p, const fb_table *t, tfl_buffer *b)
{
    fb_vec data;
    uint64_t off, size;
    if (fb_vector(&p->r, t, BUF_DATA, 1, &data, "data") ||
        fb_u64(&p->r, t, BUF_OFFSET, 0, &off, "offset") ||
        fb_u64(&p->r, t, BUF_SIZE, 0, &size, "size"))
        return -1;
    /* Files over 2 GB keep data after the FlatBuffer; offset counts from the
     * file's start and "is only valid if > 1". */
    if (off > 1) {
        if (data.n)
            return fb_fail(&p->r, "has both %u bytes of data and an external offset %llu",
                           data.n, (unsigned long long)off);
        if (off > p->r.len || size > p->r.len - off)
            return fb_fail(&p->r, "external data [%llu, +%llu) lies outside the %zu-byte file",
                           (unsigned long long)off, (unsigned long long)size, p->r.len);
        b->external = 1;
        b->data = size ? p->r.b + off : NULL;
        b->size = (size_t)size;
        return 0;
    }
    b->data = data.n ? p->r.b + data.pos : NULL;
    b->size = data.n;
    return 0;
}

static int parse_buffers(parser *p, const fb_table *model)
{
    fb_vec v;
    if (fb_vector(&p->r, model, MODEL_BUFFERS, 4, &v, "buffers"))
        return -1;
    tfl_model *m = p->m;
    m->nbuffers = v.n;
    if (!(m->buffers = alloc(p, v.n ? v.n : 1, sizeof *m->buffers, "buffers")))
        return -1;
    for (uint32_t i = 0; i < v.n; i++) {
        fb_table t;
        if (fb_vec_table(&p->r, &v, i, &t, "buffers") || parse_buffer(p, &t, &m->buffers[i]))
            return fb_context(&p->r, "buffer %u", i);
    }
    if (v.n && m->buffers[0].size)
        return fb_fail(&p->r, "buffer 0 holds %zu bytes: the schema reserves it as the empty "
                              "sentinel of tensors without data", m->buffers[0].size);
    return 0;
}

/* ------------------------------------------------------------ opcodes --- */

static int parse_opcodes(parser *p, const fb_table *model)
{
    fb_vec v;
    if (fb_vector(&p->r, model, MODEL_OPCODES, 4, &v, "operator_codes"))
        return -1;
    tfl_model *m = p->m;
    m->nopcodes = v.n;
    if (!(m->opcodes = alloc(p, v.n ? v.n : 1, sizeof *m->opcodes, "operator_codes")))
        return -1;
    for (uint32_t i = 0; i < v.n; i++) {
        fb_table t;
        int8_t dep;
        int32_t code, version;
        const char *custom;
        uint32_t clen;
        if (fb_vec_table(&p->r, &v, i, &t, "operator_codes") ||
            fb_i8(&p->r, &t, OPCODE_DEPRECATED, 0, &dep, "deprecated_builtin_code") ||
            fb_string(&p->r, &t, OPCODE_CUSTOM, &custom, &clen, "custom_code") ||
            fb_i32(&p->r, &t, OPCODE_VERSION, 1, &version, "version") ||
            fb_i32(&p->r, &t, OPCODE_BUILTIN, 0, &code, "builtin_code"))
            return fb_context(&p->r, "operator code %u", i);
        /* Old files only have the int8 field; new ones write 127 there
         * for codes beyond it. The larger of the two is right for both. */
        int builtin = dep > code ? dep : code;
        if (builtin < 0)
            return fb_fail(&p->r, "operator code %u: builtin code %d (deprecated field %d) is "
                                  "negative", i, code, dep);
        if (builtin == TFL_OP_CUSTOM && !custom)
            return fb_fail(&p->r, "operator code %u: CUSTOM without a custom_code", i);
        m->opcodes[i].builtin = builtin;
        m->opcodes[i].version = version;
        m->opcodes[i].custom_code = builtin == TFL_OP_CUSTOM ? custom : NULL;
    }
    return 0;
}

/* ------------------------------------------------------------ tensors --- */

static int zero_point_range(int type, int64_t *lo, int64_t *hi)
{
    switch (type) {
    case TFL_UINT8: *lo = 0, *hi = 255; return 1;
    case TFL_INT8: *lo = -128, *hi = 127; return 1;
    case TFL_INT16: *lo = -32768, *hi = 32767; return 1;
    case TFL_UINT16: *lo = 0, *hi = 65535; return 1;
    case TFL_INT4: *lo = -8, *hi = 7; return 1;
    default: return 0;
    }
}

static int parse_quant(parser *p, const fb_table *q, tfl_tensor *t)
{
    fb_vec scale, zero;
    uint8_t details;
    int32_t axis;
    if (fb_vector(&p->r, q, Q_SCALE, 4, &scale, "scale") ||
        fb_vector(&p->r, q, Q_ZERO, 8, &zero, "zero_point") ||
        fb_u8(&p->r, q, Q_DETAILS_TYPE, 0, &details, "details_type") ||
        fb_i32(&p->r, q, Q_AXIS, 0, &axis, "quantized_dimension"))
        return -1;
    if (details > 1)
        return fb_fail(&p->r, "unknown QuantizationDetails type %u (the schema has 1, "
                              "CustomQuantization)", details);
    if (details == 1) {
        t->q.custom = 1;
        return 0;
    }
    if (scale.n != zero.n)
        return fb_fail(&p->r, "%u scales but %u zero points", scale.n, zero.n);
    if (scale.n == 0)
        return 0;
    if (scale.n > 1) {
        if (axis < 0 || axis >= t->ndim)
            return fb_fail(&p->r, "quantized_dimension %d outside the tensor's %d dims", axis,
                           t->ndim);
        if ((uint32_t)t->shape[axis] != scale.n)
            return fb_fail(&p->r, "%u scales for dimension %d of size %d", scale.n, axis,
                           t->shape[axis]);
    }
    float *s = alloc(p, scale.n, sizeof *s, "scale");
    int64_t *z = s ? alloc(p, zero.n, sizeof *z, "zero_point") : NULL;
    if (!z)
        return -1;
    int64_t lo, hi;
    int ranged = zero_point_range(t->type, &lo, &hi);
    for (uint32_t i = 0; i < scale.n; i++) {
        s[i] = fb_vec_f32(&p->r, &scale, i);
        z[i] = fb_vec_i64(&p->r, &zero, i);
        if (!(s[i] >= 0 && s[i] <= 3.4e38f))
            return fb_fail(&p->r, "scale[%u] = %g must be finite and >= 0", i, s[i]);
        if (ranged && (z[i] < lo || z[i] > hi))
            return fb_fail(&p->r, "zero_point[%u] = %lld outside %s's range", i,
                           (long long)z[i], tfl_type_name(t->type));
    }
    t->q.n = (int)scale.n;
    t->q.axis = scale.n > 1 ? axis : 0;
    t->q.scale = s;
    t->q.zero_point = z;
    return 0;
}

/* Bytes a dense tensor of this type and shape occupies; 0 if unknown. */
static int dense_bytes(const tfl_tensor *t, uint64_t *bytes)
{
    size_t es = tfl_type_size(t->type);
    if (!es)
        return 0;
    uint64_t n = es;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] && n > UINT64_MAX / (uint64_t)t->shape[d])
            n = UINT64_MAX; /* saturates: can never match a real buffer */
        else
            n *= (uint64_t)t->shape[d];
    }
    *bytes = n;
    return 1;
}

static int parse_tensor(parser *p, const fb_table *tt, tfl_tensor *t)
{
    fb_vec shape, sig;
    int8_t type;
    uint8_t var, has_rank;
    uint32_t nlen;
    size_t sparsity;
    int sparse;
    fb_table q;
    int has_q;
    if (fb_string(&p->r, tt, T_NAME, &t->name, &nlen, "name") ||
        fb_vector(&p->r, tt, T_SHAPE, 4, &shape, "shape") ||
        fb_i8(&p->r, tt, T_TYPE, 0, &type, "type") ||
        fb_u32(&p->r, tt, T_BUFFER, 0, &t->buffer, "buffer") ||
        fb_u8(&p->r, tt, T_VARIABLE, 0, &var, "is_variable") ||
        fb_ref(&p->r, tt, T_SPARSITY, &sparsity, &sparse, "sparsity") ||
        fb_vector(&p->r, tt, T_SIGNATURE, 4, &sig, "shape_signature") ||
        fb_u8(&p->r, tt, T_HAS_RANK, 0, &has_rank, "has_rank"))
        return -1;
    if (!t->name)
        t->name = "";
    if (type < 0 || type >= TFL_TYPE_COUNT)
        return fb_fail(&p->r, "unknown type %d", type);
    t->type = (tfl_type)type;
    t->is_variable = var != 0;
    t->is_sparse = sparse;
    t->has_rank = has_rank != 0;
    if (shape.n > TFL_MAX_DIMS)
        return fb_fail(&p->r, "shape has %u dims, more than %d", shape.n, TFL_MAX_DIMS);
    t->ndim = (int)shape.n;
    for (int d = 0; d < t->ndim; d++) {
        t->shape[d] = fb_vec_i32(&p->r, &shape, (uint32_t)d);
        if (t->shape[d] < 0)
            return fb_fail(&p->r, "shape[%d] = %d is negative (unknown dims belong in "
                                  "shape_signature)", d, t->shape[d]);
    }
    if (sig.present) {
        if (sig.n != shape.n)
            return fb_fail(&p->r, "shape_signature has %u dims, shape %u", sig.n, shape.n);
        t->has_signature = 1;
        for (int d = 0; d < t->ndim; d++) {
            int32_t s = fb_vec_i32(&p->r, &sig, (uint32_t)d);
            if (s < -1 || (s >= 0 && s != t->shape[d]))
                return fb_fail(&p->r, "shape_signature[%d] = %d disagrees with shape[%d] = %d", d,
                               s, d, t->shape[d]);
            t->signature[d] = s;
        }
    }
    if (t->buffer && t->buffer >= p->m->nbuffers)
        return fb_fail(&p->r, "buffer index %u out of range (%zu buffers)", t->buffer,
                       p->m->nbuffers);
    if (t->buffer) {
        const tfl_buffer *b = &p->m->buffers[t->buffer];
        t->data = b->data;
        t->size = b->size;
        uint64_t want;
        if (b->size && !sparse && dense_bytes(t, &want) && want != b->size)
            return fb_fail(&p->r, "buffer %u holds %zu bytes, a %s tensor of this shape needs %llu",
                           t->buffer, b->size, tfl_type_name(t->type), (unsigned long long)want);
    }
    if (fb_subtable(&p->r, tt, T_QUANT, &q, &has_q, "quantization"))
        return -1;
    if (has_q && parse_quant(p, &q, t))
        return fb_context(&p->r, "quantization");
    return 0;
}

static int parse_tensors(parser *p, const fb_table *sg)
{
    fb_vec v;
    if (fb_vector(&p->r, sg, SG_TENSORS, 4, &v, "tensors") || count_ok(p, v.n, "tensors"))
        return -1;
    tfl_model *m = p->m;
    m->ntensors = v.n;
    if (!(m->tensors = alloc(p, v.n ? v.n : 1, sizeof *m->tensors, "tensors")))
        return -1;
    for (uint32_t i = 0; i < v.n; i++) {
        fb_table t;
        if (fb_vec_table(&p->r, &v, i, &t, "tensors"))
            return fb_context(&p->r, "tensor %u", i);
        if (parse_tensor(p, &t, &m->tensors[i])) {
            const char *name = m->tensors[i].name;
            return name && *name ? fb_context(&p->r, "tensor %u '%.60s'", i, name)
                                 : fb_context(&p->r, "tensor %u", i);
        }
    }
    return 0;
}

/* An index list of subgraph 0: every entry a tensor (or -1 where allowed). */
static int parse_indices(parser *p, const fb_table *t, int id, const char *what, int allow_absent,
                         int32_t **out, size_t *n)
{
    fb_vec v;
    if (fb_vector(&p->r, t, id, 4, &v, what) || count_ok(p, v.n, what) ||
        copy_i32s(p, &v, out, what))
        return -1;
    *n = v.n;
    for (uint32_t i = 0; i < v.n; i++) {
        int32_t x = (*out)[i];
        if (x == -1 && allow_absent)
            continue;
        if (x < 0 || (size_t)x >= p->m->ntensors)
            return fb_fail(&p->r, "%s[%u] = %d is not a tensor index (%zu tensors)", what, i, x,
                           p->m->ntensors);
    }
    return 0;
}

/* ---------------------------------------------------------- operators --- */

static int decode_options(parser *p, tfl_op *op, const fb_table *o)
{
    const fb_reader *r = &p->r;
    int8_t pad = 0, act = 0, wf = 0;
    uint8_t b1 = 0, b2 = 0;
    fb_vec v;
    switch (op->options_type) {
    case OPT_CONV2D:
    case OPT_DEPTHWISE: {
        tfl_conv_opts *c = &op->opt.conv;
        int dw = op->options_type == OPT_DEPTHWISE;
        int32_t sw, sh, dm = 0, dlw, dlh;
        if (fb_i8(r, o, 0, 0, &pad, "padding") || fb_i32(r, o, 1, 0, &sw, "stride_w") ||
            fb_i32(r, o, 2, 0, &sh, "stride_h") ||
            (dw && fb_i32(r, o, 3, 0, &dm, "depth_multiplier")) ||
            fb_i8(r, o, dw ? 4 : 3, 0, &act, "fused_activation_function") ||
            fb_i32(r, o, dw ? 5 : 4, 1, &dlw, "dilation_w_factor") ||
            fb_i32(r, o, dw ? 6 : 5, 1, &dlh, "dilation_h_factor"))
            return -1;
        if (check_padding(p, pad) || check_act(p, act, "conv") ||
            check_positive(p, sw, "stride_w") || check_positive(p, sh, "stride_h") ||
            check_positive(p, dlw, "dilation_w_factor") ||
            check_positive(p, dlh, "dilation_h_factor"))
            return -1;
        if (dm < 0)
            return fb_fail(&p->r, "depth_multiplier %d is negative", dm);
        *c = (tfl_conv_opts){(tfl_padding)pad, sw, sh, dlw, dlh, (tfl_act)act, dm};
        return 0;
    }
    case OPT_POOL2D: {
        int32_t sw, sh, fw, fh;
        if (fb_i8(r, o, 0, 0, &pad, "padding") || fb_i32(r, o, 1, 0, &sw, "stride_w") ||
            fb_i32(r, o, 2, 0, &sh, "stride_h") || fb_i32(r, o, 3, 0, &fw, "filter_width") ||
            fb_i32(r, o, 4, 0, &fh, "filter_height") ||
            fb_i8(r, o, 5, 0, &act, "fused_activation_function"))
            return -1;
        if (check_padding(p, pad) || check_act(p, act, "pool") ||
            check_positive(p, sw, "stride_w") || check_positive(p, sh, "stride_h") ||
            check_positive(p, fw, "filter_width") || check_positive(p, fh, "filter_height"))
            return -1;
        op->opt.pool = (tfl_pool_opts){(tfl_padding)pad, sw, sh, fw, fh, (tfl_act)act};
        return 0;
    }
    case OPT_FULLY_CONNECTED:
        if (fb_i8(r, o, 0, 0, &act, "fused_activation_function") ||
            fb_i8(r, o, 1, 0, &wf, "weights_format") || fb_u8(r, o, 2, 0, &b1, "keep_num_dims") ||
            fb_u8(r, o, 3, 0, &b2, "asymmetric_quantize_inputs") ||
            check_act(p, act, "fully_connected"))
            return -1;
        if (wf != 0 && wf != 1)
            return fb_fail(&p->r, "unknown weights_format %d", wf);
        op->opt.fc = (tfl_fc_opts){(tfl_act)act, wf, b1 != 0, b2 != 0};
        return 0;
    case OPT_SOFTMAX: {
        float beta;
        if (fb_f32(r, o, 0, 0.0f, &beta, "beta"))
            return -1;
        if (!(fabsf(beta) <= 3.4e38f))
            return fb_fail(&p->r, "softmax beta %g is not finite", beta);
        op->opt.softmax.beta = beta;
        return 0;
    }
    case OPT_CONCATENATION: {
        int32_t axis;
        if (fb_i32(r, o, 0, 0, &axis, "axis") ||
            fb_i8(r, o, 1, 0, &act, "fused_activation_function") ||
            check_act(p, act, "concatenation"))
            return -1;
        op->opt.concat.axis = axis;
        op->opt.concat.act = (tfl_act)act;
        return 0;
    }
    case OPT_ADD:
    case OPT_MUL:
        if (fb_i8(r, o, 0, 0, &act, "fused_activation_function") ||
            (op->options_type == OPT_ADD && fb_u8(r, o, 1, 1, &b1, "pot_scale_int16")) ||
            check_act(p, act, op->options_type == OPT_ADD ? "add" : "mul"))
            return -1;
        op->opt.arith.act = (tfl_act)act;
        op->opt.arith.pot_scale_int16 = b1 != 0;
        return 0;
    case OPT_RESHAPE:
        if (fb_vector(r, o, 0, 4, &v, "new_shape"))
            return -1;
        if (!v.present) {
            op->opt.reshape.n = -1;
            return 0;
        }
        if (v.n > TFL_MAX_DIMS)
            return fb_fail(&p->r, "new_shape has %u dims, more than %d", v.n, TFL_MAX_DIMS);
        op->opt.reshape.n = (int)v.n;
        for (uint32_t i = 0; i < v.n; i++) {
            int32_t d = fb_vec_i32(r, &v, i);
            if (d < -1)
                return fb_fail(&p->r, "new_shape[%u] = %d", i, d);
            op->opt.reshape.new_shape[i] = d;
        }
        return 0;
    case OPT_REDUCER:
        if (fb_u8(r, o, 0, 0, &b1, "keep_dims"))
            return -1;
        op->opt.reducer.keep_dims = b1 != 0;
        return 0;
    case OPT_SQUEEZE:
        if (fb_vector(r, o, 0, 4, &v, "squeeze_dims"))
            return -1;
        if (v.n > TFL_MAX_DIMS)
            return fb_fail(&p->r, "squeeze_dims has %u entries, more than %d", v.n, TFL_MAX_DIMS);
        op->opt.squeeze.n = (int)v.n;
        for (uint32_t i = 0; i < v.n; i++)
            op->opt.squeeze.dims[i] = fb_vec_i32(r, &v, i);
        return 0;
    default: /* PadOptions, QuantizeOptions, ...: empty tables */
        return 0;
    }
}

/* Schema defaults where the file has no options table. */
static void default_options(tfl_op *op)
{
    if (op->builtin == TFL_OP_ADD)
        op->opt.arith.pot_scale_int16 = 1;
    if (op->builtin == TFL_OP_RESHAPE)
        op->opt.reshape.n = -1;
}

static int parse_op(parser *p, const fb_table *o, tfl_op *op)
{
    uint8_t otype;
    size_t n_in, n_out;
    int32_t *in, *out;
    if (fb_u32(&p->r, o, OP_OPCODE, 0, &op->opcode_index, "opcode_index"))
        return -1;
    if (op->opcode_index >= p->m->nopcodes)
        return fb_fail(&p->r, "opcode_index %u out of range (%zu operator codes)",
                       op->opcode_index, p->m->nopcodes);
    op->builtin = p->m->opcodes[op->opcode_index].builtin;
    if (parse_indices(p, o, OP_INPUTS, "inputs", 1, &in, &n_in) ||
        parse_indices(p, o, OP_OUTPUTS, "outputs", 0, &out, &n_out))
        return -1;
    op->inputs = in;
    op->outputs = out;
    op->ninputs = (int)n_in;
    op->noutputs = (int)n_out;

    fb_vec copts;
    uint64_t loff, lsize;
    if (fb_vector(&p->r, o, OP_CUSTOM, 1, &copts, "custom_options") ||
        fb_u64(&p->r, o, OP_LARGE_CUSTOM_OFFSET, 0, &loff, "large_custom_options_offset") ||
        fb_u64(&p->r, o, OP_LARGE_CUSTOM_SIZE, 0, &lsize, "large_custom_options_size"))
        return -1;
    if (loff > 1) {
        if (loff > p->r.len || lsize > p->r.len - loff)
            return fb_fail(&p->r, "large custom options [%llu, +%llu) lie outside the %zu-byte "
                                  "file", (unsigned long long)loff, (unsigned long long)lsize,
                           p->r.len);
        op->custom_options = p->r.b + loff;
        op->custom_options_size = (size_t)lsize;
    } else if (copts.n) {
        op->custom_options = p->r.b + copts.pos;
        op->custom_options_size = copts.n;
    }

    if (fb_u8(&p->r, o, OP_OPTS_TYPE, 0, &otype, "builtin_options_type"))
        return -1;
    op->options_type = otype;
    if (otype > OPT_LAST)
        return fb_fail(&p->r, "builtin_options_type %u is not in the schema's BuiltinOptions "
                              "(1..%d)", otype, OPT_LAST);
    const op_rule *rule = rule_for(op->builtin);
    if (!rule)
        return 0; /* vireo does not run it: the converter reports it by name */
    if ((int)n_in < rule->min_in || (int)n_in > rule->max_in)
        return fb_fail(&p->r, "%zu inputs, %s takes %d..%d", n_in, tfl_op_name(op->builtin),
                       rule->min_in, rule->max_in == INT_MAX ? 9999 : rule->max_in);
    if ((int)n_out < rule->min_out || (int)n_out > rule->max_out)
        return fb_fail(&p->r, "%zu outputs, %s gives %d..%d", n_out, tfl_op_name(op->builtin),
                       rule->min_out, rule->max_out);
    for (int i = 0; i < rule->min_in && i < (int)n_in; i++)
        if (in[i] < 0)
            return fb_fail(&p->r, "required input %d is absent (-1)", i);
    if (otype != OPT_NONE && otype != rule->opts)
        return fb_fail(&p->r, "builtin_options_type %u (%s) but %s takes %s", otype,
                       opt_name(otype), tfl_op_name(op->builtin), opt_name(rule->opts));
    fb_table ot;
    int has = 0;
    if (otype != OPT_NONE && fb_subtable(&p->r, o, OP_OPTS, &ot, &has, "builtin_options"))
        return -1;
    op->has_options = has;
    if (!has) {
        if (rule->opts_required)
            return fb_fail(&p->r, "%s without its %s", tfl_op_name(op->builtin),
                           opt_name(rule->opts));
        default_options(op);
        return 0;
    }
    if (decode_options(p, op, &ot))
        return fb_context(&p->r, "%s", opt_name(otype));
    return 0;
}

static int parse_ops(parser *p, const fb_table *sg)
{
    fb_vec v;
    if (fb_vector(&p->r, sg, SG_OPERATORS, 4, &v, "operators"))
        return -1;
    tfl_model *m = p->m;
    m->nops = v.n;
    if (!(m->ops = alloc(p, v.n ? v.n : 1, sizeof *m->ops, "operators")))
        return -1;
    for (uint32_t i = 0; i < v.n; i++) {
        fb_table t;
        if (fb_vec_table(&p->r, &v, i, &t, "operators"))
            return fb_context(&p->r, "operator %u", i);
        if (parse_op(p, &t, &m->ops[i])) {
            int code = m->ops[i].builtin;
            return m->ops[i].opcode_index < m->nopcodes
                       ? fb_context(&p->r, "operator %u (%s)", i, tfl_op_name(code))
                       : fb_context(&p->r, "operator %u", i);
        }
    }
    return 0;
}

/* -------------------------------------------------------------- model --- */

static int parse_model(parser *p)
{
    tfl_model *m = p->m;
    fb_table model, sg;
    uint32_t nlen;
    if (fb_root(&p->r, "TFL3", &model))
        return -1;
    if (fb_u32(&p->r, &model, MODEL_VERSION, 0, &m->version, "version"))
        return -1;
    if (m->version != TFL_SCHEMA_VERSION)
        return fb_fail(&p->r, "schema version %u, this reader knows %d", m->version,
                       TFL_SCHEMA_VERSION);
    if (fb_string(&p->r, &model, MODEL_DESCRIPTION, &m->description, &nlen, "description") ||
        parse_buffers(p, &model) || parse_opcodes(p, &model))
        return -1;
    fb_vec sgs;
    if (fb_vector(&p->r, &model, MODEL_SUBGRAPHS, 4, &sgs, "subgraphs"))
        return -1;
    if (sgs.n == 0)
        return fb_fail(&p->r, "the model has 0 subgraphs");
    m->nsubgraphs = sgs.n;
    if (fb_vec_table(&p->r, &sgs, 0, &sg, "subgraphs") ||
        fb_string(&p->r, &sg, SG_NAME, &m->subgraph_name, &nlen, "name") ||
        parse_tensors(p, &sg) ||
        parse_indices(p, &sg, SG_INPUTS, "inputs", 0, &m->inputs, &m->ninputs) ||
        parse_indices(p, &sg, SG_OUTPUTS, "outputs", 0, &m->outputs, &m->noutputs) ||
        parse_ops(p, &sg))
        return fb_context(&p->r, "subgraph 0");
    return 0;
}

static int fail_plain(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

int tfl_parse(const void *buf, size_t len, tfl_model **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!buf)
        return fail_plain(err, errlen, "no buffer");
    tfl_model *m = calloc(1, sizeof *m);
    struct tfl_priv *pv = calloc(1, sizeof *pv);
    if (!m || !pv) {
        free(m);
        free(pv);
        return fail_plain(err, errlen, "out of memory");
    }
    m->priv = pv;
    pv->budget = len > (SIZE_MAX - (1u << 20)) / 64 ? SIZE_MAX : 64 * len + (1u << 20);
    parser p = {{buf, len, err, errlen}, m};
    if (parse_model(&p) != 0) {
        tfl_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int tfl_load(const char *path, tfl_model **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 8) {
        close(fd);
        if (err && errlen)
            snprintf(err, errlen, "%s: not a regular file of at least 8 bytes", path);
        return -1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        if (err && errlen)
            snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
        return -1;
    }
    char sub[512] = "";
    if (tfl_parse(map, (size_t)st.st_size, out, sub, sizeof sub) != 0) {
        munmap(map, (size_t)st.st_size);
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, sub);
        return -1;
    }
    (*out)->priv->map = map;
    (*out)->priv->maplen = (size_t)st.st_size;
    return 0;
}

void tfl_free(tfl_model *m)
{
    if (!m)
        return;
    if (m->priv) {
        for (block *b = m->priv->blocks; b;) {
            block *next = b->next;
            free(b);
            b = next;
        }
        if (m->priv->map)
            munmap(m->priv->map, m->priv->maplen);
        free(m->priv);
    }
    free(m);
}
