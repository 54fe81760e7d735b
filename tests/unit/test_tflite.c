/* TFLite reader: a hand-built model covering every decoded option and the
 * schema's optional corners, the four Coral models checked against facts
 * obtained independently (a raw FlatBuffer walk written here, the reference
 * outputs of Arm NN in reference.json, and the MobileNet architectures), a
 * table of broken files each refused with a message naming the problem, and
 * truncation and random corruption that must never crash (ASan/UBSan). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/le.h"
#include "formats/tflite.h"
#include "testutil.h"

/* ------------------------------------------------- a minimal builder --- */
/* Objects are laid out front to back: a parent first, with its offset
 * slots patched once the children (which must come later: FlatBuffers
 * offsets only point forward) are written. */

typedef struct fbb {
    uint8_t *b;
    size_t len, cap;
} fbb;

static size_t fbb_grow(fbb *f, size_t n)
{
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 256;
        while (cap < f->len + n)
            cap *= 2;
        f->b = realloc(f->b, cap);
        assert_non_null(f->b);
        memset(f->b + f->cap, 0, cap - f->cap);
        f->cap = cap;
    }
    size_t pos = f->len;
    f->len += n;
    return pos;
}

static void fbb_align(fbb *f, size_t a)
{
    while (f->len % a)
        fbb_grow(f, 1);
}

enum { FREF = 0 }; /* a field holding an offset, patched later */
typedef struct fld {
    int id, size; /* size 1, 2, 4, 8, or FREF */
    uint64_t v;
} fld;

#define MAXF 16
/* Writes a vtable then its table; slot[id] receives each field's position. */
static size_t fbb_table(fbb *f, const fld *fs, int n, size_t slot[MAXF])
{
    int maxid = -1;
    for (int i = 0; i < n; i++)
        maxid = fs[i].id > maxid ? fs[i].id : maxid;
    fbb_align(f, 4);
    size_t vt = fbb_grow(f, 4 + 2 * (size_t)(maxid + 1));
    fbb_align(f, 8);
    size_t t = fbb_grow(f, 4);
    put32(f->b + t, (uint32_t)(t - vt));
    for (int i = 0; i < n; i++) {
        size_t sz = fs[i].size == FREF ? 4 : (size_t)fs[i].size;
        fbb_align(f, sz);
        size_t p = fbb_grow(f, sz);
        if (slot)
            slot[fs[i].id] = p;
        for (size_t k = 0; k < sz; k++)
            f->b[p + k] = (uint8_t)(fs[i].v >> (8 * k));
        put16(f->b + vt + 4 + 2 * fs[i].id, (uint16_t)(p - t));
    }
    put16(f->b + vt, (uint16_t)(4 + 2 * (maxid + 1)));
    put16(f->b + vt + 2, (uint16_t)(f->len - t));
    return t;
}

/* A vector: its count's position; elements follow at +4, aligned to elem. */
static size_t fbb_vec(fbb *f, uint32_t n, size_t elem, const void *data)
{
    fbb_align(f, 4);
    while ((f->len + 4) % (elem > 4 ? elem : 4))
        fbb_grow(f, 1);
    size_t v = fbb_grow(f, 4 + n * elem);
    put32(f->b + v, n);
    if (data)
        memcpy(f->b + v + 4, data, n * elem);
    return v;
}

static size_t fbb_i32s(fbb *f, uint32_t n, const int32_t *x)
{
    size_t v = fbb_vec(f, n, 4, NULL);
    for (uint32_t i = 0; i < n; i++)
        put32(f->b + v + 4 + 4 * i, (uint32_t)x[i]);
    return v;
}

static size_t fbb_str(fbb *f, const char *s)
{
    size_t n = strlen(s);
    size_t v = fbb_vec(f, (uint32_t)n, 1, s);
    fbb_grow(f, 1); /* NUL */
    return v;
}

static void patch(fbb *f, size_t slot, size_t target)
{
    assert_true(target > slot);
    put32(f->b + slot, (uint32_t)(target - slot));
}

static uint64_t fbits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

#define S8(id, v) {id, 1, (uint64_t)(uint8_t)(int8_t)(v)}
#define S32(id, v) {id, 4, (uint64_t)(uint32_t)(int32_t)(v)}
#define S64(id, v) {id, 8, (uint64_t)(v)}
#define F32(id, v) {id, 4, fbits(v)}
#define REF(id) {id, FREF, 0}
#define TABLE(f, slot, ...)                                                                        \
    fbb_table(f, (const fld[]){__VA_ARGS__}, (int)(sizeof((const fld[]){__VA_ARGS__}) / sizeof(fld)), \
              slot)
#define I32S(f, ...)                                                                               \
    fbb_i32s(f, (uint32_t)(sizeof((const int32_t[]){__VA_ARGS__}) / 4), (const int32_t[]){__VA_ARGS__})

/* ------------------------------------------------ the hand-built model --- */

/* Positions in the tiny model that broken-file cases rewrite. */
typedef struct tiny_pos {
    size_t buf0_count, buf1_offset, ext_offset, ext_size;
    size_t w_details, w_axis, w_scale0, w_zero0, in_sig1, gelu_code, gelu_dep;
    size_t reshape_dim0, dw_mult, fc_format, squeeze_count, avg_filter_w, conv_dil_w;
    size_t conv_act, hswish_type, logistic_type, sm_beta, concat_act, custom_code_nul;
    size_t sg_count, in_shape0, in_type, pad_opts_type;
} tiny_pos;

enum { TINY_NOPS = 21, TINY_NTENSORS = 8, TINY_EXT = 108 };

/* Every operator vireo decodes with non-default options, an optional input,
 * a custom op with options, a builtin code beyond 127, per-channel and
 * per-tensor quantization, a shape signature, an external buffer, and a
 * second subgraph. */
static uint8_t *build_tiny(size_t *len, tiny_pos *P)
{
    fbb F = {0}, *f = &F;
    tiny_pos dummy;
    if (!P)
        P = &dummy;
    memset(P, 0, sizeof *P);
    size_t s[MAXF], root = fbb_grow(f, 8);
    memcpy(f->b + 4, "TFL3", 4);
    size_t model = TABLE(f, s, S32(0, 3), REF(1), REF(2), REF(3), REF(4));
    put32(f->b + root, (uint32_t)model);
    size_t ms[MAXF];
    memcpy(ms, s, sizeof ms);
    patch(f, ms[3], fbb_str(f, "tiny"));

    /* operator codes: {deprecated, builtin_code or -1 for absent} */
    static const int codes[][2] = {
        {3, -1},   {4, -1},  {117, 117}, {32, -1}, {127, 150}, {9, -1},  {0, -1},
        {18, -1},  {2, -1},  {22, -1},   {25, -1}, {40, -1},   {34, -1}, {114, 114},
        {6, -1},   {43, -1}, {14, -1},   {19, -1}, {21, -1},   {1, -1},  {17, -1},
    };
    size_t oc = fbb_vec(f, 21, 4, NULL);
    patch(f, ms[1], oc);
    for (int i = 0; i < 21; i++) {
        size_t t;
        if (codes[i][0] == 32) {
            t = TABLE(f, s, S8(0, 32), REF(1), S32(2, 1));
            size_t str = fbb_str(f, "MyOp");
            patch(f, s[1], str);
            P->custom_code_nul = str + 4 + 4;
        } else if (codes[i][1] >= 0) {
            t = TABLE(f, s, S8(0, codes[i][0]), S32(2, 2), S32(3, codes[i][1]));
            if (codes[i][1] == 150)
                P->gelu_code = s[3], P->gelu_dep = s[0];
        } else if (codes[i][0] == 0) {
            t = TABLE(f, s, S32(2, 1)); /* ADD: every code field left at its default */
        } else {
            t = TABLE(f, s, S8(0, codes[i][0]));
        }
        patch(f, oc + 4 + 4 * i, t);
    }

    /* subgraphs: the main one and an empty second */
    size_t sgv = fbb_vec(f, 2, 4, NULL);
    P->sg_count = sgv;
    patch(f, ms[2], sgv);
    size_t sg = TABLE(f, s, REF(0), REF(1), REF(2), REF(3), REF(4));
    size_t ss[MAXF];
    memcpy(ss, s, sizeof ss);
    patch(f, sgv + 4, sg);
    patch(f, sgv + 8, fbb_table(f, NULL, 0, NULL));
    patch(f, ss[4], fbb_str(f, "main"));
    patch(f, ss[1], I32S(f, 0));
    patch(f, ss[2], I32S(f, 6));

    /* tensors */
    size_t tv = fbb_vec(f, TINY_NTENSORS, 4, NULL);
    patch(f, ss[0], tv);
    struct {
        const char *name;
        int type, buffer, ndim, shape[4];
    } T[TINY_NTENSORS] = {
        {"in", 0, 0, 4, {1, 8, 8, 4}},   {"w", 9, 1, 4, {6, 3, 3, 4}},
        {"a", 0, 0, 4, {1, 8, 8, 6}},    {"dw_w", 3, 2, 4, {1, 3, 3, 12}},
        {"b", 0, 0, 4, {1, 4, 4, 12}},   {"shape", 2, 3, 1, {2}},
        {"c", 0, 0, 2, {1, 192}},        {"q8", 9, 0, 2, {1, 192}},
    };
    for (int i = 0; i < TINY_NTENSORS; i++) {
        size_t t = TABLE(f, s, REF(0), S8(1, T[i].type), S32(2, T[i].buffer), REF(3), REF(4),
                         REF(7), S8(8, 1));
        patch(f, tv + 4 + 4 * i, t);
        size_t sh = fbb_i32s(f, (uint32_t)T[i].ndim, T[i].shape);
        patch(f, s[0], sh);
        patch(f, s[3], fbb_str(f, T[i].name));
        if (i == 0) {
            P->in_shape0 = sh + 4;
            P->in_type = s[1];
            size_t sig = I32S(f, -1, 8, 8, 4);
            patch(f, s[7], sig);
            P->in_sig1 = sig + 8;
        } else {
            patch(f, s[7], fbb_i32s(f, (uint32_t)T[i].ndim, T[i].shape));
        }
        size_t qs[MAXF];
        if (i == 1) { /* per-channel, details_type written explicitly as NONE */
            size_t q = TABLE(f, qs, REF(2), REF(3), S8(4, 0), S32(6, 0));
            patch(f, s[4], q);
            P->w_details = qs[4];
            P->w_axis = qs[6];
            size_t sv = fbb_vec(f, 6, 4, NULL);
            for (int c = 0; c < 6; c++)
                putf32(f->b + sv + 4 + 4 * c, 0.01f * (c + 1));
            patch(f, qs[2], sv);
            P->w_scale0 = sv + 4;
            size_t zv = fbb_vec(f, 6, 8, NULL);
            patch(f, qs[3], zv);
            P->w_zero0 = zv + 4;
        } else if (i == 3 || i == 7) {
            size_t q = TABLE(f, qs, REF(2), REF(3));
            patch(f, s[4], q);
            size_t sv = fbb_vec(f, 1, 4, NULL);
            putf32(f->b + sv + 4, i == 3 ? 0.5f : 0.1f);
            patch(f, qs[2], sv);
            size_t zv = fbb_vec(f, 1, 8, NULL);
            put64(f->b + zv + 4, (uint64_t)(int64_t)(i == 3 ? 3 : -3));
            patch(f, qs[3], zv);
        } else {
            patch(f, s[4], TABLE(f, NULL, S32(6, 0))); /* quantization with no scales */
        }
    }

    /* operators */
    size_t ov = fbb_vec(f, TINY_NOPS, 4, NULL);
    patch(f, ss[3], ov);
    /* Offset slots are only written where something is patched in: a zero
     * offset is invalid. */
#define OP(k, in, out, type)                                                                       \
    do {                                                                                           \
        size_t t_ = (type) ? TABLE(f, s, S32(0, k), REF(1), REF(2), S8(3, type), REF(4))           \
                           : (k) == 3 ? TABLE(f, s, S32(0, k), REF(1), REF(2), REF(5))             \
                                      : TABLE(f, s, S32(0, k), REF(1), REF(2), S8(3, 0));         \
        patch(f, ov + 4 + 4 * (k), t_);                                                            \
        patch(f, s[1], in);                                                                        \
        patch(f, s[2], out);                                                                       \
        ops[k] = s[4];                                                                             \
        typ[k] = s[3];                                                                             \
        cust[k] = s[5];                                                                            \
    } while (0)
    size_t ops[TINY_NOPS], typ[TINY_NOPS], cust[TINY_NOPS];
    OP(0, I32S(f, 0, 1, -1), I32S(f, 2), 1);
    OP(1, I32S(f, 2, 3), I32S(f, 4), 2);
    OP(2, I32S(f, 4), I32S(f, 4), 0);
    OP(3, I32S(f, 4, -1), I32S(f, 6), 0);
    OP(4, I32S(f, 6), I32S(f, 6), 116);
    OP(5, I32S(f, 6, 5), I32S(f, 6), 8);
    OP(6, I32S(f, 6, 6), I32S(f, 6), 0);
    OP(7, I32S(f, 6, 6), I32S(f, 6), 21);
    OP(8, I32S(f, 6, 6, 6), I32S(f, 6), 10);
    OP(9, I32S(f, 4, 5), I32S(f, 6), 17);
    OP(10, I32S(f, 6), I32S(f, 6), 9);
    OP(11, I32S(f, 4, 5), I32S(f, 6), 27);
    OP(12, I32S(f, 0, 5), I32S(f, 0), 22);
    OP(13, I32S(f, 6), I32S(f, 7), 89);
    OP(14, I32S(f, 7), I32S(f, 6), 0);
    OP(15, I32S(f, 4), I32S(f, 6), 30);
    OP(16, I32S(f, 6), I32S(f, 6), 0);
    OP(17, I32S(f, 6), I32S(f, 6), 0);
    OP(18, I32S(f, 6), I32S(f, 6), 0);
    OP(19, I32S(f, 4), I32S(f, 4), 5);
    OP(20, I32S(f, 4), I32S(f, 4), 5);
#undef OP
    P->hswish_type = typ[2];
    P->logistic_type = typ[16];
    P->pad_opts_type = typ[12];
    patch(f, ops[0], TABLE(f, s, S8(0, 1), S32(1, 2), S32(2, 1), S8(3, 3), S32(4, 2)));
    P->conv_dil_w = s[4];
    P->conv_act = s[3];
    patch(f, ops[1],
          TABLE(f, s, S8(0, 0), S32(1, 2), S32(2, 2), S32(3, 2), S8(4, 1), S32(5, 1), S32(6, 1)));
    P->dw_mult = s[3];
    patch(f, cust[3], fbb_vec(f, 5, 1, "\1\2\3\4\5"));
    patch(f, ops[4], TABLE(f, s, S8(0, 1)));
    patch(f, ops[5], TABLE(f, s, S8(0, 0), S8(1, 0), S8(2, 1), S8(3, 1)));
    P->fc_format = s[1];
    patch(f, ops[7], TABLE(f, s, S8(0, 2)));
    patch(f, ops[8], TABLE(f, s, S32(0, -1), S8(1, 0)));
    P->concat_act = s[1];
    patch(f, ops[9], TABLE(f, s, REF(0)));
    size_t ns = I32S(f, 1, -1);
    patch(f, s[0], ns);
    P->reshape_dim0 = ns + 4;
    patch(f, ops[10], TABLE(f, s, F32(0, 0.5f)));
    P->sm_beta = s[0];
    patch(f, ops[11], TABLE(f, s, S8(0, 1)));
    patch(f, ops[12], fbb_table(f, NULL, 0, NULL)); /* PadOptions: an empty table */
    patch(f, ops[13], fbb_table(f, NULL, 0, NULL));
    patch(f, ops[15], TABLE(f, s, REF(0)));
    size_t sq = I32S(f, 1, 2);
    patch(f, s[0], sq);
    P->squeeze_count = sq;
    patch(f, ops[19], TABLE(f, s, S8(0, 1), S32(1, 1), S32(2, 1), S32(3, 2), S32(4, 3), S8(5, 0)));
    P->avg_filter_w = s[3];
    patch(f, ops[20], TABLE(f, s, S8(0, 0), S32(1, 2), S32(2, 2), S32(3, 2), S32(4, 2), S8(5, 1)));

    /* buffers: the empty sentinel (with an explicit empty vector), inline
     * weights, external data after the FlatBuffer, an inline shape */
    size_t bv = fbb_vec(f, 4, 4, NULL);
    patch(f, ms[4], bv);
    size_t b0 = TABLE(f, s, REF(0));
    patch(f, bv + 4, b0);
    size_t e0 = fbb_vec(f, 0, 1, NULL);
    patch(f, s[0], e0);
    P->buf0_count = e0;
    size_t b1 = TABLE(f, s, REF(0), S64(1, 0), S64(2, 0));
    patch(f, bv + 8, b1);
    P->buf1_offset = s[1];
    fbb_align(f, 16);
    while ((f->len + 4) % 16)
        fbb_grow(f, 1);
    size_t wd = fbb_vec(f, 216, 1, NULL);
    for (int k = 0; k < 216; k++)
        f->b[wd + 4 + k] = (uint8_t)(k * 7);
    patch(f, s[0], wd);
    size_t b2 = TABLE(f, s, S64(1, 0), S64(2, TINY_EXT));
    patch(f, bv + 12, b2);
    P->ext_offset = s[1];
    P->ext_size = s[2];
    size_t b3 = TABLE(f, s, REF(0));
    patch(f, bv + 16, b3);
    size_t sd = fbb_vec(f, 8, 1, NULL); /* bytes of int32 {1, -1} */
    put32(f->b + sd + 4, 1);
    put32(f->b + sd + 8, (uint32_t)-1);
    patch(f, s[0], sd);
    /* the external data, past everything the FlatBuffer references */
    fbb_align(f, 64);
    size_t ext = fbb_grow(f, TINY_EXT);
    for (int k = 0; k < TINY_EXT; k++)
        f->b[ext + k] = (uint8_t)(200 - k);
    put64(f->b + P->ext_offset, ext);
    *len = f->len;
    return realloc(f->b, f->len); /* exactly len: ASan sees any read past the end */
}

static tfl_model *parse_ok(const uint8_t *b, size_t len, const char *what)
{
    tfl_model *m = NULL;
    char err[512] = "";
    if (tfl_parse(b, len, &m, err, sizeof err) != 0)
        tu_fail("%s refused: %s", what, err);
    return m;
}

static void test_tiny_model(void **state)
{
    size_t len;
    tiny_pos P;
    uint8_t *b = build_tiny(&len, &P);
    tfl_model *m = parse_ok(b, len, "hand-built model");
    assert_int_equal(m->version, 3);
    assert_string_equal(m->description, "tiny");
    assert_int_equal(m->nsubgraphs, 2);
    assert_string_equal(m->subgraph_name, "main");
    assert_int_equal(m->nopcodes, 21);
    assert_int_equal(m->opcodes[2].builtin, TFL_OP_HARD_SWISH);
    assert_int_equal(m->opcodes[2].version, 2);
    assert_int_equal(m->opcodes[3].builtin, TFL_OP_CUSTOM);
    assert_string_equal(m->opcodes[3].custom_code, "MyOp");
    assert_int_equal(m->opcodes[4].builtin, 150); /* deprecated field 127, builtin_code 150 */
    assert_string_equal(tfl_op_name(m->opcodes[4].builtin), "GELU");
    assert_int_equal(m->opcodes[6].builtin, TFL_OP_ADD);
    assert_int_equal(m->opcodes[13].builtin, TFL_OP_QUANTIZE);
    assert_null(m->opcodes[0].custom_code);

    assert_int_equal(m->ntensors, TINY_NTENSORS);
    const tfl_tensor *in = &m->tensors[0];
    assert_string_equal(in->name, "in");
    assert_int_equal(in->type, TFL_FLOAT32);
    assert_int_equal(in->ndim, 4);
    assert_true(in->has_signature && in->has_rank);
    assert_int_equal(in->signature[0], -1);
    assert_int_equal(in->shape[0], 1);
    assert_null(in->data);
    assert_int_equal(in->q.n, 0);
    const tfl_tensor *w = &m->tensors[1];
    assert_int_equal(w->type, TFL_INT8);
    assert_int_equal(w->q.n, 6);
    assert_int_equal(w->q.axis, 0);
    assert_true(w->q.scale[5] == 0.06f);
    assert_int_equal(w->q.zero_point[5], 0);
    assert_int_equal(w->size, 216);
    assert_ptr_equal(w->data, m->buffers[1].data);
    assert_int_equal(((const uint8_t *)w->data)[3], 21);
    assert_int_equal((uintptr_t)w->data % 16, (uintptr_t)b % 16);
    const tfl_tensor *dw = &m->tensors[3];
    assert_true(m->buffers[2].external);
    assert_int_equal(dw->size, TINY_EXT);
    assert_ptr_equal(dw->data, b + le64(b + P.ext_offset));
    assert_int_equal(((const uint8_t *)dw->data)[1], 199);
    assert_true(dw->q.scale[0] == 0.5f);
    assert_int_equal(dw->q.zero_point[0], 3);
    assert_int_equal(m->tensors[7].q.zero_point[0], -3);
    assert_int_equal(m->tensors[5].type, TFL_INT32);
    assert_int_equal((int32_t)le32(m->tensors[5].data), 1);
    assert_int_equal(m->buffers[0].size, 0);
    assert_null(m->buffers[0].data);
    assert_int_equal(m->ninputs, 1);
    assert_int_equal(m->inputs[0], 0);
    assert_int_equal(m->outputs[0], 6);

    assert_int_equal(m->nops, TINY_NOPS);
    const tfl_op *op = m->ops;
    assert_int_equal(op[0].builtin, TFL_OP_CONV_2D);
    assert_int_equal(op[0].ninputs, 3);
    assert_int_equal(op[0].inputs[2], -1);
    assert_true(op[0].has_options);
    assert_int_equal(op[0].opt.conv.padding, TFL_PAD_VALID);
    assert_int_equal(op[0].opt.conv.stride_w, 2);
    assert_int_equal(op[0].opt.conv.stride_h, 1);
    assert_int_equal(op[0].opt.conv.act, TFL_ACT_RELU6);
    assert_int_equal(op[0].opt.conv.dilation_w, 2);
    assert_int_equal(op[0].opt.conv.dilation_h, 1); /* schema default */
    assert_int_equal(op[1].opt.conv.padding, TFL_PAD_SAME);
    assert_int_equal(op[1].opt.conv.depth_multiplier, 2);
    assert_int_equal(op[1].opt.conv.act, TFL_ACT_RELU);
    assert_int_equal(op[2].builtin, TFL_OP_HARD_SWISH);
    assert_false(op[2].has_options);
    assert_int_equal(op[3].builtin, TFL_OP_CUSTOM);
    assert_int_equal(op[3].custom_options_size, 5);
    assert_memory_equal(op[3].custom_options, "\1\2\3\4\5", 5);
    assert_int_equal(op[4].builtin, 150);
    assert_int_equal(op[4].options_type, 116); /* GeluOptions: kept, not decoded */
    assert_int_equal(op[5].opt.fc.act, TFL_ACT_NONE);
    assert_true(op[5].opt.fc.keep_num_dims && op[5].opt.fc.asymmetric_quantize_inputs);
    assert_false(op[6].has_options);
    assert_int_equal(op[6].opt.arith.pot_scale_int16, 1);
    assert_int_equal(op[7].opt.arith.act, TFL_ACT_RELU_N1_TO_1);
    assert_int_equal(op[8].opt.concat.axis, -1);
    assert_int_equal(op[8].ninputs, 3);
    assert_int_equal(op[9].opt.reshape.n, 2);
    assert_int_equal(op[9].opt.reshape.new_shape[1], -1);
    assert_true(op[10].opt.softmax.beta == 0.5f);
    assert_int_equal(op[11].builtin, TFL_OP_MEAN);
    assert_int_equal(op[11].opt.reducer.keep_dims, 1);
    assert_true(op[12].has_options);
    assert_int_equal(op[12].builtin, TFL_OP_PAD);
    assert_int_equal(op[13].builtin, TFL_OP_QUANTIZE);
    assert_int_equal(op[14].builtin, TFL_OP_DEQUANTIZE);
    assert_int_equal(op[15].opt.squeeze.n, 2);
    assert_int_equal(op[15].opt.squeeze.dims[1], 2);
    assert_int_equal(op[16].builtin, TFL_OP_LOGISTIC);
    assert_int_equal(op[17].builtin, TFL_OP_RELU);
    assert_int_equal(op[18].builtin, TFL_OP_RELU6);
    assert_int_equal(op[19].opt.pool.padding, TFL_PAD_VALID);
    assert_int_equal(op[19].opt.pool.filter_w, 2);
    assert_int_equal(op[19].opt.pool.filter_h, 3);
    assert_int_equal(op[20].builtin, TFL_OP_MAX_POOL_2D);
    assert_int_equal(op[20].opt.pool.stride_h, 2);
    assert_int_equal(op[20].opt.pool.act, TFL_ACT_RELU);
    tfl_free(m);
    tfl_free(NULL);

    /* A file on disk, mapped. */
    char path[] = "/tmp/vireo-tflite-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "wb");
    assert_int_equal(fwrite(b, 1, len, fp), len);
    fclose(fp);
    char err[512];
    assert_int_equal(tfl_load(path, &m, err, sizeof err), 0);
    assert_string_equal(m->tensors[3].name, "dw_w");
    tfl_free(m);
    remove(path);
    assert_int_equal(tfl_load(path, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(tfl_load("/tmp", &m, err, sizeof err), -1);
    assert_null(m);
    free(b);
}

static void test_names(void **state)
{
    assert_string_equal(tfl_op_name(0), "ADD");
    assert_string_equal(tfl_op_name(TFL_OP_DEPTHWISE_CONV_2D), "DEPTHWISE_CONV_2D");
    assert_string_equal(tfl_op_name(TFL_OP_MEAN), "MEAN");
    assert_string_equal(tfl_op_name(TFL_OP_SQUEEZE), "SQUEEZE");
    assert_string_equal(tfl_op_name(TFL_OP_QUANTIZE), "QUANTIZE");
    assert_string_equal(tfl_op_name(TFL_OP_HARD_SWISH), "HARD_SWISH");
    assert_string_equal(tfl_op_name(126), "BATCH_MATMUL");
    assert_string_equal(tfl_op_name(162), "STABLEHLO_LOGISTIC");
    assert_string_equal(tfl_op_name(205), "REDUCE_WINDOW");
    assert_string_equal(tfl_op_name(206), "UNKNOWN");
    assert_string_equal(tfl_op_name(-1), "UNKNOWN");
    assert_string_equal(tfl_type_name(TFL_INT8), "INT8");
    assert_string_equal(tfl_type_name(TFL_INT4), "INT4");
    assert_string_equal(tfl_type_name(18), "UNKNOWN");
    assert_int_equal(tfl_type_size(TFL_COMPLEX128), 16);
    assert_int_equal(tfl_type_size(TFL_STRING), 0);
    assert_string_equal(tfl_act_name(TFL_ACT_RELU6), "RELU6");
}

/* ------------------------------------------ the Coral models, checked --- */

static char g_shared[1024];

/* The Coral models exist (tu_shared_dir: $VIREO_SHARED_DIR or ../shared). */
static int find_shared(void)
{
    const char *d = tu_shared_dir();
    snprintf(g_shared, sizeof g_shared, "%s", d ? d : "../shared");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/models/coral/mobilenet_v1_0.25_128_quant.tflite", g_shared);
    struct stat st;
    return d && stat(probe, &st) == 0;
}

/* Exactly the file's bytes (ASan sees any read past them), plus a NUL when
 * asked for. */
static uint8_t *read_file(const char *rel, size_t *len, int nul)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", g_shared, rel);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        tu_fail("cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + (nul != 0));
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    if (nul)
        b[n] = 0;
    *len = (size_t)n;
    return b;
}

/* An independent walk of a FlatBuffer known to be valid (no checks): the
 * second method the parser's results are compared with, and the locator the
 * broken-file cases use. */
static size_t fpos(const uint8_t *b, size_t t, int id)
{
    size_t vt = (size_t)((int64_t)t - (int32_t)le32(b + t));
    if (4 + 2 * id + 2 > le16(b + vt))
        return 0;
    uint16_t o = le16(b + vt + 4 + 2 * id);
    return o ? t + o : 0;
}
static size_t fref(const uint8_t *b, size_t t, int id)
{
    size_t p = fpos(b, t, id);
    return p ? p + le32(b + p) : 0;
}
static size_t velem(const uint8_t *b, size_t vec, uint32_t i)
{
    size_t p = vec + 4 + 4 * (size_t)i;
    return p + le32(b + p);
}
static size_t raw_model(const uint8_t *b) { return le32(b); }
static size_t raw_sg0(const uint8_t *b) { return velem(b, fref(b, raw_model(b), 2), 0); }
static size_t raw_tensor(const uint8_t *b, uint32_t i) { return velem(b, fref(b, raw_sg0(b), 0), i); }
static size_t raw_op(const uint8_t *b, uint32_t i) { return velem(b, fref(b, raw_sg0(b), 3), i); }
static int raw_i32(const uint8_t *b, size_t t, int id, int def)
{
    size_t p = fpos(b, t, id);
    return p ? (int32_t)le32(b + p) : def;
}
static int raw_i8(const uint8_t *b, size_t t, int id, int def)
{
    size_t p = fpos(b, t, id);
    return p ? (int8_t)b[p] : def;
}

/* reference.json (Arm NN's outputs): the first record for a model. */
static int ref_number(const char *json, const char *model, const char *key, double *v)
{
    char pat[256];
    snprintf(pat, sizeof pat, "\"model\": \"%s\"", model);
    const char *p = strstr(json, pat);
    if (!p)
        return -1;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *next = strstr(p + 1, "\"model\": ");
    const char *k = strstr(p, pat);
    if (!k || (next && k > next))
        return -1;
    k += strlen(pat);
    if (*k == '[') /* input_shape: [1, H, W, 3] -> H */
        k = strchr(k, ',') + 1;
    *v = strtod(k, NULL);
    return 0;
}

typedef struct coral {
    const char *file;
    int in_hw, in_zp, out_ndim, out_ch;
    double in_scale;
    int nops, conv, dw, add, avgpool, reshape, softmax, mean, quantize;
    int conv_relu6, conv_linear, stride2;
    int per_channel;
} coral;

/* Counts reasoned from the architectures, not read off the files:
 * MobileNetV1: a stride-2 3x3 stem conv, 13 depthwise-separable blocks (13
 * depthwise + 13 pointwise), and the logits as a 1x1 conv (absent from the
 * embedding extractor): 15 convs, all RELU6 but the logits. MobileNetV2: a
 * stem conv, 17 inverted-residual blocks (t,c,n,s) = (1,16,1,1) (6,24,2,2)
 * (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1): 16 expansion
 * 1x1 convs (not the first block), 17 depthwise, 17 linear projections; a
 * residual add in every block but the first of each stage: 0+1+2+3+2+2+0 =
 * 10 adds; then a 1x1 conv to 1280 and the logits: 36 convs, 18 RELU6 (stem,
 * expansions, the 1280 conv) and 18 linear. Both downsample 224 to 7 = 2^5:
 * the stem and 4 depthwise convs have stride 2. */
static const coral corals[] = {
    {"mobilenet_v1_0.25_128_quant.tflite", 128, 128, 2, 1001, 0.0078125,
     31, 15, 13, 0, 1, 1, 1, 0, 0, 14, 1, 5, 0},
    {"mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", 224, 128, 4, 1024, 0.0078125,
     28, 14, 13, 0, 1, 0, 0, 0, 0, 14, 0, 5, 0},
    {"mobilenet_v2_1.0_224_quant.tflite", 224, 128, 2, 1001, 0.0078125,
     66, 36, 17, 10, 1, 1, 1, 0, 0, 18, 18, 5, 0},
    /* TF2 post-training quantization keeps a uint8 interface: QUANTIZE ops
     * convert to int8 at the input and back at the output; the global pool
     * is a MEAN. */
    {"tf2_mobilenet_v2_1.0_224_ptq.tflite", 224, 127, 2, 1001, 1.0 / 127.5,
     68, 36, 17, 10, 0, 1, 1, 1, 2, 18, 18, 5, 1},
};

static int out_size(int in, int k, int stride, int dil, tfl_padding pad)
{
    if (pad == TFL_PAD_SAME)
        return (in + stride - 1) / stride;
    return (in - (k - 1) * dil - 1) / stride + 1;
}

static void check_coral(const coral *c, const char *json)
{
    char rel[256];
    snprintf(rel, sizeof rel, "models/coral/%s", c->file);
    size_t len;
    uint8_t *b = read_file(rel, &len, 0);
    tfl_model *m = parse_ok(b, len, c->file);
    assert_int_equal(m->nsubgraphs, 1);
    assert_int_equal(m->ninputs, 1);
    assert_int_equal(m->noutputs, 1);

    /* Input and output against Arm NN's reference.json. */
    const tfl_tensor *in = &m->tensors[m->inputs[0]], *out = &m->tensors[m->outputs[0]];
    double v;
    assert_int_equal(ref_number(json, c->file, "input_shape", &v), 0);
    assert_int_equal((int)v, c->in_hw);
    assert_int_equal(in->ndim, 4);
    assert_int_equal(in->shape[0], 1);
    assert_int_equal(in->shape[1], c->in_hw);
    assert_int_equal(in->shape[2], c->in_hw);
    assert_int_equal(in->shape[3], 3);
    assert_int_equal(in->type, TFL_UINT8);
    assert_int_equal(in->q.n, 1);
    assert_true(fabs(in->q.scale[0] - c->in_scale) < 1e-7);
    assert_int_equal(in->q.zero_point[0], c->in_zp);
    assert_int_equal(out->type, TFL_UINT8);
    assert_int_equal(out->ndim, c->out_ndim);
    assert_int_equal(out->shape[0], 1);
    assert_int_equal(out->shape[out->ndim - 1], c->out_ch);
    for (int d = 1; d < out->ndim - 1; d++)
        assert_int_equal(out->shape[d], 1);
    assert_int_equal(ref_number(json, c->file, "output_len", &v), 0);
    assert_int_equal((int)v, c->out_ch);
    assert_int_equal(ref_number(json, c->file, "output_scale", &v), 0);
    assert_true(fabs(out->q.scale[0] - v) <= 1e-7 * v);
    assert_int_equal(ref_number(json, c->file, "output_zero_point", &v), 0);
    assert_int_equal(out->q.zero_point[0], (int64_t)v);

    /* Histogram: against the architecture and against a raw walk. */
    int hist[256] = {0}, relu6 = 0, linear = 0, stride2 = 0;
    size_t opcodes_raw = fref(b, raw_model(b), 1);
    for (size_t i = 0; i < m->nops; i++) {
        const tfl_op *op = &m->ops[i];
        assert_true(op->builtin >= 0 && op->builtin < 256);
        hist[op->builtin]++;
        size_t code = velem(b, opcodes_raw, (uint32_t)raw_i32(b, raw_op(b, (uint32_t)i), 0, 0));
        int dep = raw_i8(b, code, 0, 0), bc = raw_i32(b, code, 3, 0);
        assert_int_equal(op->builtin, dep > bc ? dep : bc);
        if (op->builtin == TFL_OP_CONV_2D) {
            relu6 += op->opt.conv.act == TFL_ACT_RELU6;
            linear += op->opt.conv.act == TFL_ACT_NONE;
        }
        if (op->builtin == TFL_OP_CONV_2D || op->builtin == TFL_OP_DEPTHWISE_CONV_2D)
            stride2 += op->opt.conv.stride_h == 2 && op->opt.conv.stride_w == 2;
    }
    fprintf(stderr, "  %s: %zu ops:", c->file, m->nops);
    for (int k = 0; k < 256; k++)
        if (hist[k])
            fprintf(stderr, " %s=%d", tfl_op_name(k), hist[k]);
    fprintf(stderr, "\n");
    assert_int_equal(m->nops, c->nops);
    assert_int_equal(hist[TFL_OP_CONV_2D], c->conv);
    assert_int_equal(hist[TFL_OP_DEPTHWISE_CONV_2D], c->dw);
    assert_int_equal(hist[TFL_OP_ADD], c->add);
    assert_int_equal(hist[TFL_OP_AVERAGE_POOL_2D], c->avgpool);
    assert_int_equal(hist[TFL_OP_RESHAPE], c->reshape);
    assert_int_equal(hist[TFL_OP_SOFTMAX], c->softmax);
    assert_int_equal(hist[TFL_OP_MEAN], c->mean);
    assert_int_equal(hist[TFL_OP_QUANTIZE], c->quantize);
    assert_int_equal(relu6, c->conv_relu6);
    assert_int_equal(linear, c->conv_linear);
    assert_int_equal(stride2, c->stride2);

    /* Every op's decoded geometry against the shapes of its tensors, and
     * the quantization invariant bias_scale = input_scale * weight_scale. */
    for (size_t i = 0; i < m->nops; i++) {
        const tfl_op *op = &m->ops[i];
        const tfl_tensor *x = &m->tensors[op->inputs[0]], *y = &m->tensors[op->outputs[0]];
        if (op->builtin == TFL_OP_CONV_2D || op->builtin == TFL_OP_DEPTHWISE_CONV_2D) {
            int dw = op->builtin == TFL_OP_DEPTHWISE_CONV_2D;
            const tfl_tensor *w = &m->tensors[op->inputs[1]], *bias = &m->tensors[op->inputs[2]];
            const tfl_conv_opts *o = &op->opt.conv;
            assert_int_equal(w->ndim, 4);
            assert_non_null(w->data);
            assert_int_equal(y->shape[1], out_size(x->shape[1], w->shape[1], o->stride_h,
                                                   o->dilation_h, o->padding));
            assert_int_equal(y->shape[2], out_size(x->shape[2], w->shape[2], o->stride_w,
                                                   o->dilation_w, o->padding));
            int oc = dw ? w->shape[3] : w->shape[0];
            assert_int_equal(y->shape[3], oc);
            assert_int_equal(bias->ndim, 1);
            assert_int_equal(bias->shape[0], oc);
            assert_int_equal(bias->type, TFL_INT32);
            if (dw)
                assert_int_equal(oc, x->shape[3] * (o->depth_multiplier ? o->depth_multiplier : 1));
            else
                assert_int_equal(w->shape[3], x->shape[3]);
            if (c->per_channel) {
                assert_int_equal(w->type, TFL_INT8);
                assert_int_equal(w->q.n, oc);
                assert_int_equal(w->q.axis, dw ? 3 : 0);
                assert_int_equal(bias->q.n, oc);
                for (int k = 0; k < oc; k++)
                    assert_int_equal(w->q.zero_point[k], 0);
            } else {
                assert_int_equal(w->type, TFL_UINT8);
                assert_int_equal(w->q.n, 1);
            }
            for (int k = 0; k < bias->q.n; k++) {
                double want = (double)x->q.scale[0] * w->q.scale[w->q.n > 1 ? k : 0];
                if (fabs(bias->q.scale[k] - want) > 1e-5 * want)
                    tu_fail("%s op %zu: bias scale[%d] %g, input x weight scale %g", c->file, i,
                            k, bias->q.scale[k], want);
            }
        } else if (op->builtin == TFL_OP_AVERAGE_POOL_2D) {
            const tfl_pool_opts *o = &op->opt.pool;
            assert_int_equal(o->filter_h, x->shape[1]); /* the global pool of a MobileNet */
            assert_int_equal(o->filter_w, x->shape[2]);
            assert_int_equal(x->shape[1], c->in_hw / 32);
            assert_int_equal(y->shape[1], out_size(x->shape[1], o->filter_h, o->stride_h, 1,
                                                   o->padding));
        } else if (op->builtin == TFL_OP_ADD) {
            const tfl_tensor *x2 = &m->tensors[op->inputs[1]];
            assert_memory_equal(x->shape, x2->shape, sizeof x->shape);
            assert_memory_equal(x->shape, y->shape, sizeof x->shape);
            assert_int_equal(op->opt.arith.act, TFL_ACT_NONE);
        } else if (op->builtin == TFL_OP_SOFTMAX) {
            assert_true(op->opt.softmax.beta == 1.0f);
        } else if (op->builtin == TFL_OP_MEAN) {
            assert_int_equal(op->opt.reducer.keep_dims, 1);
            assert_int_equal(x->shape[1], c->in_hw / 32);
            assert_int_equal(y->shape[1], 1);
        } else if (op->builtin == TFL_OP_QUANTIZE) {
            /* uint8 <-> int8: same scale, zero point moved by 128 */
            assert_true(x->q.scale[0] == y->q.scale[0]);
            assert_int_equal(llabs(x->q.zero_point[0] - y->q.zero_point[0]), 128);
            assert_true((x->type == TFL_UINT8 && y->type == TFL_INT8) ||
                        (x->type == TFL_INT8 && y->type == TFL_UINT8));
        }
    }

    /* Every tensor: its data is where the raw walk finds its buffer's
     * vector, and constant tensors hold exactly their dense size. */
    size_t bufs_raw = fref(b, raw_model(b), 4);
    int with_data = 0;
    for (size_t i = 0; i < m->ntensors; i++) {
        const tfl_tensor *t = &m->tensors[i];
        size_t rt = raw_tensor(b, (uint32_t)i);
        assert_int_equal(t->buffer, (uint32_t)raw_i32(b, rt, 2, 0));
        size_t name = fref(b, rt, 3);
        assert_ptr_equal(t->name, (const char *)b + name + 4);
        if (!t->data)
            continue;
        with_data++;
        size_t vec = fref(b, velem(b, bufs_raw, t->buffer), 0);
        assert_ptr_equal(t->data, b + vec + 4);
        size_t n = tfl_type_size(t->type);
        for (int d = 0; d < t->ndim; d++)
            n *= (size_t)t->shape[d];
        assert_int_equal(t->size, n);
        assert_int_equal(le32(b + vec), n);
    }
    assert_true(with_data >= 2 * (c->conv + c->dw));
    tfl_free(m);
    free(b);
}

static void test_coral_models(void **state)
{
    size_t jl;
    char *json = (char *)read_file("models/coral/reference/reference.json", &jl, 1);
    for (size_t i = 0; i < sizeof corals / sizeof *corals; i++)
        check_coral(&corals[i], json);
    free(json);
}

/* ------------------------------------------------------ broken files --- */

typedef struct broken_case {
    const char *name;
    void (*mutate)(uint8_t *b, size_t *len, const tiny_pos *P);
    const char *expect; /* substring of the error */
} broken_case;

/* Mutations of mobilenet_v1_0.25_128_quant.tflite, located by the raw walk. */
static size_t model_t(const uint8_t *b) { return raw_model(b); }
static size_t op_opts(const uint8_t *b, uint32_t i) { return fref(b, raw_op(b, i), 4); }
static size_t first_op(const uint8_t *b, int code)
{
    size_t oc = fref(b, raw_model(b), 1);
    uint32_t n = le32(b + fref(b, raw_sg0(b), 3));
    for (uint32_t i = 0; i < n; i++) {
        size_t c = velem(b, oc, (uint32_t)raw_i32(b, raw_op(b, i), 0, 0));
        if (raw_i8(b, c, 0, 0) == code)
            return i;
    }
    fail_msg("no op with code %d", code);
    return 0;
}
/* tensor 0 is the uint8 input [1,128,128,3]; tensor 1 a conv bias */
static size_t quant0(const uint8_t *b) { return fref(b, raw_tensor(b, 0), 4); }

#define M(fn, body)                                                                                \
    static void fn(uint8_t *b, size_t *len, const tiny_pos *P)                                     \
    {                                                                                              \
        (void)len, (void)P;                                                                        \
        body;                                                                                      \
    }
M(m_root_off, put32(b, (uint32_t)*len + 100))
M(m_root_unaligned, put32(b, le32(b) + 2))
M(m_ident, b[4] = 'X')
M(m_too_short, *len = 6)
M(m_vtable_out, put32(b + model_t(b), (uint32_t)-(int32_t)(*len)))
M(m_vtable_neg, put32(b + model_t(b), 0x7ffffff0))
M(m_vtable_size, put16(b + model_t(b) - le32(b + model_t(b)), 2))
M(m_vtable_odd, put16(b + model_t(b) - le32(b + model_t(b)), 5))
M(m_table_size, put16(b + model_t(b) - le32(b + model_t(b)) + 2, 2))
M(m_field_outside, put16(b + model_t(b) - le32(b + model_t(b)) + 4, 0xfff0))
M(m_field_unaligned, put16(b + model_t(b) - le32(b + model_t(b)) + 10, /* description */
                           (uint16_t)(le16(b + model_t(b) - le32(b + model_t(b)) + 10) + 1)))
M(m_version, put32(b + fpos(b, model_t(b), 0), 2))
M(m_offset_out, put32(b + fpos(b, model_t(b), 4), 0x7ffffff0))
M(m_offset_zero, put32(b + fpos(b, model_t(b), 2), 0))
M(m_offset_unaligned, put32(b + fpos(b, model_t(b), 3), le32(b + fpos(b, model_t(b), 3)) + 1))
M(m_no_subgraphs, put32(b + fref(b, model_t(b), 2), 0))
M(m_vec_overflow, put32(b + fref(b, raw_sg0(b), 0), 0xffffffffu))
M(m_vec_past_end, put32(b + fref(b, raw_model(b), 4), (uint32_t)(*len / 4)))
M(m_str_nonul, b[fref(b, model_t(b), 3) + 4 + le32(b + fref(b, model_t(b), 3))] = 'X')
M(m_str_huge, put32(b + fref(b, model_t(b), 3), (uint32_t)*len))
M(m_name_nonul, b[fref(b, raw_tensor(b, 0), 3) + 4 + 5] = '!')
M(m_elem_unaligned, put32(b + fref(b, raw_sg0(b), 0) + 4, le32(b + fref(b, raw_sg0(b), 0) + 4) + 2))
M(m_opcode_custom, b[fpos(b, velem(b, fref(b, model_t(b), 1), 0), 0)] = 32)
M(m_op_input_range, put32(b + fref(b, raw_op(b, 0), 1) + 4, 1000))
M(m_op_input_neg, put32(b + fref(b, raw_op(b, 0), 1) + 4, (uint32_t)-2))
M(m_op_input_absent, put32(b + fref(b, raw_op(b, 0), 1) + 4, (uint32_t)-1))
M(m_op_output_absent, put32(b + fref(b, raw_op(b, 0), 2) + 4, (uint32_t)-1))
M(m_op_arity, put32(b + fref(b, raw_op(b, 0), 1), 1))
M(m_sg_output_range, put32(b + fref(b, raw_sg0(b), 2) + 4, 89))
M(m_sg_input_neg, put32(b + fref(b, raw_sg0(b), 1) + 4, (uint32_t)-1))
M(m_opcode_index, put32(b + fpos(b, raw_op(b, (uint32_t)first_op(b, 4)), 0), 99))
M(m_buffer_index, put32(b + fpos(b, raw_tensor(b, 0), 2), 5000))
M(m_neg_dim, put32(b + fref(b, raw_tensor(b, 0), 0) + 8, (uint32_t)-1))
M(m_many_dims, put32(b + fref(b, raw_tensor(b, 0), 0), 9))
M(m_tensor_type, b[fpos(b, raw_tensor(b, 0), 1)] = 42)
M(m_data_size, size_t t = raw_tensor(b, le32(b + fref(b, raw_op(b, 0), 1) + 8));
  put32(b + fref(b, t, 0) + 4, le32(b + fref(b, t, 0) + 4) + 1)) /* filter shape[0] + 1 */
M(m_quant_len, put32(b + fref(b, quant0(b), 2), 2))
M(m_quant_channels, put32(b + fref(b, quant0(b), 2), 2); put32(b + fref(b, quant0(b), 3), 2))
M(m_scale_nan, put32(b + fref(b, quant0(b), 2) + 4, 0x7fc00000))
M(m_scale_neg, putf32(b + fref(b, quant0(b), 2) + 4, -1.0f))
M(m_zero_range, put64(b + fref(b, quant0(b), 3) + 4, 300))
M(m_union_unknown, b[fpos(b, raw_op(b, 0), 3)] = 200)
M(m_union_mismatch, b[fpos(b, raw_op(b, 0), 3)] = 9)
M(m_union_none, b[fpos(b, raw_op(b, 0), 3)] = 0)
M(m_stride0, put32(b + fpos(b, op_opts(b, 0), 1), 0))
M(m_conv_act, b[fpos(b, op_opts(b, 0), 3)] = 9)
M(m_pool_padding, b[fpos(b, op_opts(b, (uint32_t)first_op(b, 1)), 0)] = 7)
M(m_pool_filter, put32(b + fpos(b, op_opts(b, (uint32_t)first_op(b, 1)), 3), (uint32_t)-4))
M(m_beta_nan, put32(b + fpos(b, op_opts(b, (uint32_t)first_op(b, 25)), 0), 0x7f800000))
/* Mutations of the hand-built model. */
M(t_buf0_data, put32(b + P->buf0_count, 4))
M(t_both_data, put64(b + P->buf1_offset, 64))
M(t_ext_range, put64(b + P->ext_offset, *len - 8))
M(t_ext_overflow, put64(b + P->ext_size, UINT64_MAX - 8))
M(t_details, b[P->w_details] = 5)
M(t_axis_range, put32(b + P->w_axis, 4))
M(t_axis_size, put32(b + P->w_axis, 1))
M(t_sig_mismatch, put32(b + P->in_sig1, 7))
M(t_sig_neg, put32(b + P->in_sig1, (uint32_t)-2))
M(t_negative_code, put32(b + P->gelu_code, (uint32_t)-7); b[P->gelu_dep] = 0xff)
M(t_reshape_dim, put32(b + P->reshape_dim0, (uint32_t)-5))
M(t_depth_mult, put32(b + P->dw_mult, (uint32_t)-1))
M(t_fc_format, b[P->fc_format] = 3)
M(t_squeeze_count, put32(b + P->squeeze_count, 9))
M(t_filter_zero, put32(b + P->avg_filter_w, 0))
M(t_dilation_zero, put32(b + P->conv_dil_w, 0))
M(t_hswish_opts, b[P->hswish_type] = 1)
M(t_logistic_opts, b[P->logistic_type] = 9)
M(t_concat_act, b[P->concat_act] = (uint8_t)-1)
M(t_custom_nul, b[P->custom_code_nul] = 'x')
M(t_int8_zero, put64(b + P->w_zero0, (uint64_t)-129))
M(t_scale_inf, put32(b + P->w_scale0, 0x7f800000))
M(t_no_subgraphs, put32(b + P->sg_count, 0))
M(t_pad_opts, b[P->pad_opts_type] = 38)
#undef M

static const broken_case model_cases[] = {
    {"root offset past the end", m_root_off, "root table offset"},
    {"root table unaligned", m_root_unaligned, "not 4-byte aligned"},
    {"file identifier", m_ident, "identifier"},
    {"too short", m_too_short, "too short"},
    {"vtable past the end", m_vtable_out, "vtable"},
    {"vtable before the start", m_vtable_neg, "vtable"},
    {"vtable size below 4", m_vtable_size, "has size 2"},
    {"vtable size odd", m_vtable_odd, "vtable"},
    {"table size below 4", m_table_size, "has size 2"},
    {"field outside its table", m_field_outside, "outside the table"},
    {"field unaligned", m_field_unaligned, "description: 4-byte field"},
    {"schema version", m_version, "schema version 2"},
    {"offset past the end", m_offset_out, "buffers: offset"},
    {"offset zero", m_offset_zero, "subgraphs: offset 0"},
    {"offset target unaligned", m_offset_unaligned, "description: target"},
    {"0 subgraphs", m_no_subgraphs, "0 subgraphs"},
    {"vector length overflow", m_vec_overflow, "tensors: vector of 4294967295"},
    {"vector past the end", m_vec_past_end, "buffers: vector"},
    {"string without terminator", m_str_nonul, "not NUL-terminated"},
    {"string length past the end", m_str_huge, "description"},
    {"tensor name without terminator", m_name_nonul, "tensor 0: name"},
    {"table element unaligned", m_elem_unaligned, "not 4-byte aligned"},
    {"CUSTOM without custom_code", m_opcode_custom, "CUSTOM without a custom_code"},
    {"op input out of range", m_op_input_range, "inputs[0] = 1000 is not a tensor index"},
    {"op input negative", m_op_input_neg, "inputs[0] = -2"},
    {"required op input absent", m_op_input_absent, "required input 0 is absent"},
    {"op output absent", m_op_output_absent, "outputs[0] = -1"},
    {"op arity", m_op_arity, "1 inputs, CONV_2D takes 2..3"},
    {"subgraph output out of range", m_sg_output_range, "outputs[0] = 89 is not a tensor index"},
    {"subgraph input -1", m_sg_input_neg, "inputs[0] = -1"},
    {"opcode index out of range", m_opcode_index, "opcode_index 99 out of range"},
    {"buffer index out of range", m_buffer_index, "buffer index 5000 out of range"},
    {"negative dim", m_neg_dim, "shape[1] = -1 is negative"},
    {"too many dims", m_many_dims, "9 dims"},
    {"unknown tensor type", m_tensor_type, "unknown type 42"},
    {"buffer size vs shape", m_data_size, "needs"},
    {"scale/zero_point lengths differ", m_quant_len, "2 scales but 1 zero points"},
    {"per-channel count vs dimension", m_quant_channels, "2 scales for dimension 0 of size 1"},
    {"NaN scale", m_scale_nan, "scale[0]"},
    {"negative scale", m_scale_neg, "scale[0]"},
    {"zero point outside uint8", m_zero_range, "zero_point[0] = 300"},
    {"unknown union type", m_union_unknown, "builtin_options_type 200 is not in the schema"},
    {"union type of another op", m_union_mismatch, "(SoftmaxOptions) but CONV_2D takes Conv2DOptions"},
    {"conv without options", m_union_none, "CONV_2D without its Conv2DOptions"},
    {"stride 0", m_stride0, "stride_w 0"},
    {"unknown activation", m_conv_act, "fused_activation_function 9"},
    {"unknown padding", m_pool_padding, "padding 7"},
    {"negative pool filter", m_pool_filter, "filter_width -4"},
    {"softmax beta infinite", m_beta_nan, "beta"},
};

static const broken_case tiny_cases[] = {
    {"buffer 0 not empty", t_buf0_data, "buffer 0 holds 4 bytes"},
    {"buffer with data and an external offset", t_both_data, "both"},
    {"external data past the end", t_ext_range, "outside the"},
    {"external size overflows", t_ext_overflow, "outside the"},
    {"unknown quantization details", t_details, "QuantizationDetails type 5"},
    {"quantized_dimension out of range", t_axis_range, "quantized_dimension 4"},
    {"per-channel count vs quantized_dimension", t_axis_size, "6 scales for dimension 1 of size 3"},
    {"shape_signature disagrees", t_sig_mismatch, "shape_signature[1] = 7"},
    {"shape_signature below -1", t_sig_neg, "shape_signature[1] = -2"},
    {"negative builtin code", t_negative_code, "negative"},
    {"reshape dim below -1", t_reshape_dim, "new_shape[0] = -5"},
    {"negative depth multiplier", t_depth_mult, "depth_multiplier -1"},
    {"unknown FC weights format", t_fc_format, "weights_format 3"},
    {"too many squeeze dims", t_squeeze_count, "squeeze_dims has 9"},
    {"pool filter 0", t_filter_zero, "filter_width 0"},
    {"dilation 0", t_dilation_zero, "dilation_w_factor 0"},
    {"HARD_SWISH with conv options", t_hswish_opts, "HARD_SWISH takes HardSwishOptions"},
    {"LOGISTIC with options", t_logistic_opts, "LOGISTIC takes NONE"},
    {"concat activation negative", t_concat_act, "fused_activation_function -1"},
    {"custom code without terminator", t_custom_nul, "custom_code"},
    {"zero point outside int8", t_int8_zero, "zero_point[0] = -129"},
    {"infinite scale", t_scale_inf, "scale[0]"},
    {"0 subgraphs", t_no_subgraphs, "0 subgraphs"},
    {"PAD with DequantizeOptions", t_pad_opts, "PAD takes PadOptions"},
};

static void run_cases(const uint8_t *good, size_t len0, const tiny_pos *P, const broken_case *cases,
                      size_t n)
{
    for (size_t c = 0; c < n; c++) {
        uint8_t *b = malloc(len0);
        memcpy(b, good, len0);
        size_t len = len0;
        cases[c].mutate(b, &len, P);
        if (len < len0) { /* exact allocation: ASan sees any read past len */
            uint8_t *s = malloc(len ? len : 1);
            memcpy(s, b, len);
            free(b);
            b = s;
        }
        tfl_model *m = NULL;
        char err[512] = "";
        int rc = tfl_parse(b, len, &m, err, sizeof err);
        if (rc == 0)
            tu_fail("case '%s': accepted", cases[c].name);
        else if (getenv("VIREO_TEST_VERBOSE"))
            fprintf(stderr, "%-42s -> %s\n", cases[c].name, err);
        if (rc != 0 && !strstr(err, cases[c].expect))
            tu_fail("case '%s': error '%s' does not mention '%s'", cases[c].name, err,
                    cases[c].expect);
        assert_null(m);
        free(b);
    }
}

static void test_broken_tiny(void **state)
{
    size_t len;
    tiny_pos P;
    uint8_t *b = build_tiny(&len, &P);
    run_cases(b, len, &P, tiny_cases, sizeof tiny_cases / sizeof *tiny_cases);
    free(b);
}

static void test_broken_model(void **state)
{
    size_t len;
    uint8_t *b = read_file("models/coral/mobilenet_v1_0.25_128_quant.tflite", &len, 0);
    run_cases(b, len, NULL, model_cases, sizeof model_cases / sizeof *model_cases);
    free(b);
}

/* ----------------------------------------- truncation and corruption --- */

/* What an accepted model promises: pointers inside the buffer, indices in
 * range, quantization arrays as long as they say. */
static void check_consistent(const tfl_model *m, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < m->ntensors; i++) {
        const tfl_tensor *t = &m->tensors[i];
        if (t->data)
            assert_true((const uint8_t *)t->data >= b && t->size <= len &&
                        (const uint8_t *)t->data - b <= (ptrdiff_t)(len - t->size));
        assert_true(t->ndim >= 0 && t->ndim <= TFL_MAX_DIMS);
        assert_true(t->buffer == 0 || t->buffer < m->nbuffers);
        if (t->q.n > 1)
            assert_int_equal(t->shape[t->q.axis], t->q.n);
        for (int k = 0; k < t->q.n; k++)
            assert_true(t->q.scale[k] >= 0 && t->q.scale[k] <= 3.4e38f);
        assert_non_null(t->name);
        if (*t->name) /* absent names are a static "" */
            assert_true(t->name >= (const char *)b && t->name < (const char *)b + len);
    }
    for (size_t i = 0; i < m->nops; i++) {
        const tfl_op *op = &m->ops[i];
        assert_true(op->opcode_index < m->nopcodes);
        for (int k = 0; k < op->ninputs; k++)
            assert_true(op->inputs[k] >= -1 && op->inputs[k] < (int32_t)m->ntensors);
        for (int k = 0; k < op->noutputs; k++)
            assert_true(op->outputs[k] >= 0 && op->outputs[k] < (int32_t)m->ntensors);
        if (op->custom_options)
            assert_true(op->custom_options >= b &&
                        op->custom_options + op->custom_options_size <= b + len);
    }
    for (size_t i = 0; i < m->ninputs; i++)
        assert_true(m->inputs[i] >= 0 && (size_t)m->inputs[i] < m->ntensors);
    for (size_t i = 0; i < m->noutputs; i++)
        assert_true(m->outputs[i] >= 0 && (size_t)m->outputs[i] < m->ntensors);
}

static int parse_copy(const uint8_t *good, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    memcpy(b, good, len);
    tfl_model *m = NULL;
    char err[512];
    int rc = tfl_parse(b, len, &m, err, sizeof err);
    if (rc == 0)
        check_consistent(m, b, len);
    tfl_free(m);
    free(b);
    return rc;
}

static void test_truncated(void **state)
{
    size_t len;
    uint8_t *tiny = build_tiny(&len, NULL);
    /* The external data ends the file: every shorter length loses something
     * the FlatBuffer references. */
    for (size_t n = 0; n < len; n++)
        if (parse_copy(tiny, n) == 0)
            tu_fail("hand-built model truncated to %zu of %zu bytes: accepted", n, len);
    free(tiny);
    /* This file is a FlatBuffer followed by a ZIP archive (TFLite metadata's
     * associated files: the labels) that the FlatBuffer does not reference.
     * Cutting into the FlatBuffer must be refused; cutting the archive not. */
    uint8_t *b = read_file("models/coral/mobilenet_v1_0.25_128_quant.tflite", &len, 0);
    const uint8_t *zip = memmem(b, len, "PK\3\4", 4);
    assert_non_null(zip);
    size_t fb_end = (size_t)(zip - b);
    for (size_t n = 0; n < len; n += n < 8192 || (n + 2048 > fb_end && n < fb_end + 64) ? 1 : 509) {
        int ok = parse_copy(b, n) == 0;
        if (ok != (n >= fb_end))
            tu_fail("truncated to %zu bytes (FlatBuffer ends at %zu): %s", n, fb_end,
                    ok ? "accepted" : "refused");
    }
    free(b);
}

/* Bytes of the FlatBuffer (before the appended ZIP) that no buffer's data
 * covers: the structure worth corrupting. */
static size_t structure_bytes(const uint8_t *b, size_t len, size_t **out)
{
    const uint8_t *zip = memmem(b, len, "PK\3\4", 4);
    size_t end = zip ? (size_t)(zip - b) : len;
    tfl_model *m = parse_ok(b, len, "structure map");
    uint8_t *is_data = calloc(len, 1);
    for (size_t i = 0; i < m->nbuffers; i++)
        if (m->buffers[i].data)
            memset(is_data + (m->buffers[i].data - b), 1, m->buffers[i].size);
    size_t n = 0;
    *out = malloc(len * sizeof **out);
    for (size_t i = 0; i < end; i++)
        if (!is_data[i])
            (*out)[n++] = i;
    free(is_data);
    tfl_free(m);
    return n;
}

static void corrupt(uint8_t *b, size_t len, const size_t *where, size_t nwhere, tu_rng *r,
                    int iters, int *accepted)
{
    uint8_t *save = malloc(len);
    memcpy(save, b, len);
    for (int it = 0; it < iters; it++) {
        int flips = 1 + (int)(tu_next(r) % 4);
        for (int k = 0; k < flips; k++) {
            size_t pos = where ? where[tu_next(r) % nwhere] : tu_next(r) % len;
            if (tu_next(r) % 3)
                b[pos] ^= (uint8_t)(1u << (tu_next(r) % 8));
            else
                b[pos] = (uint8_t)tu_next(r);
        }
        tfl_model *m = NULL;
        char err[512];
        if (tfl_parse(b, len, &m, err, sizeof err) == 0) {
            ++*accepted;
            check_consistent(m, b, len);
            tfl_free(m);
        } else {
            assert_true(err[0] != 0);
        }
        memcpy(b, save, len);
    }
    free(save);
}

static void test_random_corruption(void **state)
{
    tu_rng r = tu_rng_make(31);
    size_t len;
    uint8_t *tiny = build_tiny(&len, NULL);
    int acc_tiny = 0, acc_model = 0;
    corrupt(tiny, len, NULL, 0, &r, 4000, &acc_tiny);
    free(tiny);
    uint8_t *b = read_file("models/coral/mobilenet_v1_0.25_128_quant.tflite", &len, 0);
    size_t *where, nwhere = structure_bytes(b, len, &where);
    corrupt(b, len, where, nwhere, &r, 4000, &acc_model);
    fprintf(stderr, "  corruption: hand-built %d/4000 accepted; mobilenet (%zu structure bytes) "
                    "%d/4000 accepted\n", acc_tiny, nwhere, acc_model);
    free(where);
    free(b);
}

int main(void)
{
    const struct CMUnitTest built[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_tiny_model),
        cmocka_unit_test(test_broken_tiny),
    };
    int fails = cmocka_run_group_tests_name("tflite_built", built, NULL, NULL);
    if (fails)
        return fails;
    if (!find_shared()) {
        fprintf(stderr, "SKIP: no models/coral in the shared data (%s; set VIREO_SHARED_DIR): "
                        "only the hand-built model was tested\n",
                tu_shared_dir() ? tu_shared_dir() : "not found beside the source tree");
        return 77;
    }
    const struct CMUnitTest coral_tests[] = {
        cmocka_unit_test(test_coral_models),
        cmocka_unit_test(test_broken_model),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests_name("tflite_coral", coral_tests, NULL, NULL);
}
