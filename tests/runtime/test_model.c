/* Models on disk: a graph and its packed weights written to a weight file,
 * loaded back, must compute exactly what the in-memory graph computes; a
 * GRAPH section that lies about its weights must be refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/weights_internal.h"
#include "kernels/pack.h"
#include "runtime/model.h"
#include "testutil.h"
#include "weights_util.h"

/* f32: conv 3×3 (C=3 → 16, relu) → dw 3×3 → gap → fc 16 → 5.
 * u8:  conv 1×1 (per-tensor, with offset) → fc. */
typedef struct {
    vw_writer *w;
    vr_graph *g;
    vr_node_refs refs[8];
    void *bufs[16];
    int nbufs;
} built;

static void *keep(built *b, size_t bytes)
{
    return b->bufs[b->nbufs++] = tu_alloc(bytes);
}

static int add_t(built *b, const char *name, vw_dtype t, vw_layout l, int nd, int64_t d0,
                 int64_t d1, int64_t d2, int64_t d3, const void *data, size_t size)
{
    int64_t dims[4] = {d0, d1, d2, d3};
    int idx = vw_writer_add_tensor(b->w, name, t, l, nd, dims, data, size, NULL);
    if (idx < 0)
        tu_fail("add tensor %s: %s", name, vw_writer_error(b->w));
    return idx;
}

static void build_f32(built *b)
{
    tu_rng r = tu_rng_make(21);
    b->w = vw_writer_new();
    b->g = vr_graph_new();
    float *cw = keep(b, 16 * 27 * 4), *cb = keep(b, 16 * 4), *dw = keep(b, 9 * 16 * 4),
          *fw = keep(b, 16 * 5 * 4);
    tu_fill_f32(&r, cw, 16 * 27, -0.3f, 0.3f);
    tu_fill_f32(&r, cb, 16, -0.1f, 0.1f);
    tu_fill_f32(&r, dw, 144, -0.3f, 0.3f);
    tu_fill_f32(&r, fw, 80, -0.3f, 0.3f);
    size_t cs = vk_pack_conv_f32_size(16, 3, 3, 3) * 4, ds = vk_pack_dw_size(3, 3, 16) * 4,
           fs = vk_pack_f32_b_size(16, 5) * 4;
    float *cp = keep(b, cs), *dp = keep(b, ds), *fp = keep(b, fs);
    vk_pack_conv_f32(16, 3, 3, 3, cw, cp);
    vk_pack_dw_f32(3, 3, 16, dw, dp);
    vk_pack_f32_b(16, 5, fw, 5, fp);
    int tcw = add_t(b, "conv.w", VW_F32, VW_CONV_F32, 4, 16, 3, 3, 3, cp, cs);
    int tcb = add_t(b, "conv.b", VW_F32, VW_PLAIN, 1, 16, 0, 0, 0, cb, 64);
    int tdw = add_t(b, "dw.w", VW_F32, VW_DW_F32, 3, 3, 3, 16, 0, dp, ds);
    int tfw = add_t(b, "fc.w", VW_F32, VW_F32_B16, 2, 16, 5, 0, 0, fp, fs);
    vr_value vals[] = {{VR_F32, 8, 8, 3, 0, 0}, {VR_F32, 8, 8, 16, 0, 0}, {VR_F32, 8, 8, 16, 0, 0},
                       {VR_F32, 1, 1, 16, 0, 0}, {VR_F32, 1, 1, 5, 0, 0}};
    for (int i = 0; i < 5; i++)
        vr_graph_add_value(b->g, &vals[i]);
    vr_node n[] = {
        {.op = VR_OP_CONV, .nin = 1, .in = {0}, .out = 1, .act = VK_ACT_RELU, .kh = 3, .kw = 3,
         .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .pad_t = 1, .pad_l = 1,
         .weights = cp, .bias = cb},
        {.op = VR_OP_DWCONV, .nin = 1, .in = {1}, .out = 2, .kh = 3, .kw = 3, .stride_h = 1,
         .stride_w = 1, .dil_h = 1, .dil_w = 1, .pad_t = 1, .pad_l = 1, .weights = dp},
        {.op = VR_OP_GAP, .nin = 1, .in = {2}, .out = 3},
        {.op = VR_OP_FC, .nin = 1, .in = {3}, .out = 4, .weights = fp},
    };
    vr_node_refs refs[] = {{tcw, tcb, -1, -1}, {tdw, -1, -1, -1}, {-1, -1, -1, -1}, {tfw, -1, -1, -1}};
    for (int i = 0; i < 4; i++) {
        if (vr_graph_add_node(b->g, &n[i]) < 0)
            tu_fail("%s", vr_graph_error(b->g));
        b->refs[i] = refs[i];
    }
    vr_graph_set_io(b->g, 0, 4);
}

static uint8_t *serialize(built *b, size_t *len)
{
    void *gb;
    size_t gl;
    assert_int_equal(vr_graph_encode(b->g, b->refs, &gb, &gl), 0);
    assert_int_equal(vw_writer_set_graph(b->w, gb, gl), 0);
    free(gb);
    void *buf;
    assert_int_equal(vw_writer_serialize(b->w, &buf, len), 0);
    return buf;
}

static void free_built(built *b)
{
    vw_writer_free(b->w);
    vr_graph_free(b->g);
    for (int i = 0; i < b->nbufs; i++)
        tu_free(b->bufs[i]);
}

static void run(const vr_graph *g, const float *in, float *out, int batch)
{
    char err[256];
    vr_plan *p = vr_plan_create(g, batch, tu_ops(), err, sizeof err);
    if (!p) {
        tu_fail("plan: %s", err);
        return;
    }
    vr_pool *pool = vr_pool_create(2);
    vr_plan_run(p, pool, in, out);
    vr_pool_destroy(pool);
    vr_plan_free(p);
}

static void test_saved_model_matches_in_memory_graph(void **state)
{
    built b = {0};
    build_f32(&b);
    char dir[] = "/tmp/vireo-model-XXXXXX", path[300], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.vwt", dir);
    void *gb;
    size_t gl;
    assert_int_equal(vr_graph_encode(b.g, b.refs, &gb, &gl), 0);
    vw_writer_set_graph(b.w, gb, gl);
    free(gb);
    assert_int_equal(vw_writer_save(b.w, path), 0);
    vr_model *m;
    if (vr_model_open(path, &m, err, sizeof err))
        tu_fail("open: %s", err);
    assert_int_equal(vr_graph_node_count(m->graph), 4);
    tu_rng r = tu_rng_make(22);
    float in[2 * 192], want[10], got[10];
    tu_fill_f32(&r, in, 384, -1, 1);
    run(b.g, in, want, 2);
    run(m->graph, in, got, 2);
    assert_memory_equal(want, got, sizeof want);
    vr_model_close(m);
    unlink(path);
    rmdir(dir);
    free_built(&b);
}

/* Mutations of the GRAPH section (checksums repaired so they reach the
 * loader's own checks). Offsets: header 32, values 32 each (5), nodes 128. */
typedef struct {
    const char *name;
    int node;      /* -1: header */
    int off;       /* byte offset in the node record (or header) */
    uint32_t value;
    const char *expect;
} gcase;

static const gcase gcases[] = {
    {"weights index out of range", 0, 80, 99, "out of range"},
    {"conv weights of another node", 0, 80, 2, "weights"},
    {"fc weights used as conv weights", 0, 80, 3, "weights"},
    {"conv missing weights", 0, 80, 0xffffffffu, "weights"},
    {"bias that is not a plain vector", 1, 84, 3, "bias"},
    {"bias of the wrong length", 3, 84, 1, "bias"}, /* 16 floats for 5 outputs */
    {"weights on a gap node", 2, 80, 0, "does not use"},
    {"kernel size disagrees with weights", 0, 48, 5, "weights"},
    {"input channels disagree", 3, 8, 2, "weights"}, /* fc reading the 8x8x16 value */
    {"scales on an f32 node", 0, 92, 1, "scales"},
    {"column sums on an f32 node", 0, 88, 1, "column sums"},
    {"unknown op", 1, 0, 77, "op"},
    {"input out of range", 1, 8, 50, "input slot"},
    {"unused input slot set", 1, 12, 0, "input slot"},
    {"unknown activation", 0, 44, 9, "activation"},
    {"reserved bytes", 2, 120, 1, "reserved"},
    {"output produced twice", 2, 40, 2, "already produced"},
    {"node count too large", -1, 12, 5, "need"},
    {"value count huge", -1, 8, 0x7fffffff, "limit"},
    {"bad magic", -1, 0, 0, "bad header"},
    {"graph input out of range", -1, 16, 9, "not values"},
};

static void test_broken_graphs(void **state)
{
    built b = {0};
    build_f32(&b);
    size_t len;
    uint8_t *good = serialize(&b, &len);
    for (size_t c = 0; c < sizeof gcases / sizeof *gcases; c++) {
        uint8_t *buf = malloc(len);
        memcpy(buf, good, len);
        uint8_t *gsec = wu_section(buf, VW_SEC_GRAPH, NULL);
        uint8_t *at = gcases[c].node < 0 ? gsec + gcases[c].off
                                         : gsec + 32 + 5 * 32 + gcases[c].node * 128 + gcases[c].off;
        put32(at, gcases[c].value);
        wu_fix_crcs(buf, len);
        vw_file *f;
        char err[256] = "";
        if (vw_open_mem(buf, len, &f, err, sizeof err)) {
            tu_fail("case '%s': weight file refused: %s", gcases[c].name, err);
        } else {
            vr_model *m = NULL;
            int rc = vr_model_from_file(f, &m, err, sizeof err);
            if (rc == 0) {
                tu_fail("case '%s': accepted", gcases[c].name);
                vr_model_close(m);
            } else {
                if (!strstr(err, gcases[c].expect))
                    tu_fail("case '%s': error '%s' lacks '%s'", gcases[c].name, err,
                            gcases[c].expect);
                vw_close(f);
            }
        }
        free(buf);
    }
    free(good);
    free_built(&b);
}

static void test_weight_file_without_graph_is_not_a_model(void **state)
{
    vw_writer *w = vw_writer_new();
    void *buf;
    size_t len;
    vw_writer_serialize(w, &buf, &len);
    vw_file *f;
    char err[256];
    assert_int_equal(vw_open_mem(buf, len, &f, err, sizeof err), 0);
    vr_model *m;
    assert_int_equal(vr_model_from_file(f, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "no GRAPH"));
    vw_close(f);
    free(buf);
    vw_writer_free(w);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_saved_model_matches_in_memory_graph),
        cmocka_unit_test(test_broken_graphs),
        cmocka_unit_test(test_weight_file_without_graph_is_not_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
