/* Winograd convs in the runtime (graph.h VR_W_WINO): the rewrite pass
 * (vr_convert_wino_file) on a small f32 model built in code, the loader and
 * planner around it, and what the other storage conversions do with it.
 *
 * The model (input 19×17×3, run with batch 2) has convs on both sides of
 * every eligibility rule (runtime/convert_rewrite.h vr_wino_eligible):
 *   n0 3→16 3×3 p1         direct: C < 16
 *   n1 16→20 3×3 p1 relu    winograd (OC not a multiple of 16) ─┐ written in
 *   n2 16→16 3×3 p1 relu6   winograd                            ─┴ place into
 *   n3 concat → 36 channels                                        the concat
 *   n4 36→17 3×3 pad top 1, left 0 → 18×15 (270 pixels) winograd
 *   n5 17→16 3×3 dilation 2 p2  direct: dilated
 *   n6 16→16 3×3 stride 2 p1    direct: strided
 *   n7 16→16 3×3 p1 on 9×8      direct: 72 output pixels
 * Every conv of the rewritten and of the direct model is checked against a
 * double-precision conv of its own input (tests/wino_check.h: bounds derived
 * there); the Winograd model's outputs must not depend on the thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/pack.h"
#include "runtime/convert.h"
#include "runtime/convert_quant.h"
#include "testutil.h"
#include "wino_check.h"

enum { IN_H = 19, IN_W = 17, BATCH = 2, NNODES = 8 };

typedef struct {
    vw_writer *w;
    vr_graph *g;
    vr_node_refs refs[NNODES];
    void *bufs[64];
    int nbufs;
    tu_rng r;
} built;

static void *keep(built *b, size_t bytes) { return b->bufs[b->nbufs++] = tu_alloc(bytes); }

static int value(built *b, int h, int w, int c)
{
    vr_value v = {.dtype = VR_F32, .h = h, .w = w, .c = c};
    return vr_graph_add_value(b->g, &v);
}

/* A 3×3 conv from value in (C channels) to a new OH×OW×OC value, random f32
 * weights (scaled to keep activations O(1)) and bias; returns the output. */
static int conv(built *b, int in, int C, int OC, int stride, int dil, int pt, int pl, int OH,
                int OW, vk_act act)
{
    char name[32];
    int ni = vr_graph_node_count(b->g);
    float *w = keep(b, (size_t)OC * 9 * C * 4), *bias = keep(b, (size_t)OC * 4);
    float a = 1.5f / sqrtf(9.0f * C);
    tu_fill_f32(&b->r, w, (size_t)OC * 9 * C, -a, a);
    tu_fill_f32(&b->r, bias, (size_t)OC, -0.2f, 0.2f);
    size_t ps = vk_pack_conv_f32_size(OC, 3, 3, C) * 4;
    float *p = keep(b, ps);
    vk_pack_conv_f32(OC, 3, 3, C, w, p);
    int64_t dw[4] = {OC, 3, 3, C}, db[1] = {OC};
    snprintf(name, sizeof name, "n%d.w", ni);
    b->refs[ni].weights = vw_writer_add_tensor(b->w, name, VW_F32, VW_CONV_F32, 4, dw, p, ps, NULL);
    snprintf(name, sizeof name, "n%d.b", ni);
    b->refs[ni].bias = vw_writer_add_tensor(b->w, name, VW_F32, VW_PLAIN, 1, db, bias, 4 * (size_t)OC, NULL);
    b->refs[ni].colsum = b->refs[ni].scales = -1;
    assert_true(b->refs[ni].weights >= 0 && b->refs[ni].bias >= 0);
    int out = value(b, OH, OW, OC);
    vr_node n = {.op = VR_OP_CONV, .nin = 1, .in = {in, -1, -1, -1, -1, -1, -1, -1}, .out = out,
                 .act = act, .kh = 3, .kw = 3, .stride_h = stride, .stride_w = stride,
                 .dil_h = dil, .dil_w = dil, .pad_t = pt, .pad_l = pl, .weights = p, .bias = bias};
    if (vr_graph_add_node(b->g, &n) < 0)
        tu_fail("%s", vr_graph_error(b->g));
    return out;
}

static void build(built *b)
{
    b->w = vw_writer_new();
    b->g = vr_graph_new();
    b->r = tu_rng_make(71);
    int x = value(b, IN_H, IN_W, 3);
    int s = conv(b, x, 3, 16, 1, 1, 1, 1, IN_H, IN_W, VK_ACT_RELU);
    int a = conv(b, s, 16, 20, 1, 1, 1, 1, IN_H, IN_W, VK_ACT_RELU);
    int c = conv(b, s, 16, 16, 1, 1, 1, 1, IN_H, IN_W, VK_ACT_RELU6);
    int cat = value(b, IN_H, IN_W, 36);
    vr_node nc = {.op = VR_OP_CONCAT, .nin = 2, .in = {a, c, -1, -1, -1, -1, -1, -1}, .out = cat};
    assert_true(vr_graph_add_node(b->g, &nc) >= 0);
    b->refs[3] = (vr_node_refs){-1, -1, -1, -1};
    int d = conv(b, cat, 36, 17, 1, 1, 1, 0, IN_H - 1, IN_W - 2, VK_ACT_NONE);
    int e = conv(b, d, 17, 16, 1, 2, 2, 2, IN_H - 1, IN_W - 2, VK_ACT_RELU);
    int f = conv(b, e, 16, 16, 2, 1, 1, 1, 9, 8, VK_ACT_RELU);
    int y = conv(b, f, 16, 16, 1, 1, 1, 1, 9, 8, VK_ACT_NONE);
    assert_int_equal(vr_graph_set_io(b->g, x, y), 0);
}

static void free_built(built *b)
{
    vw_writer_free(b->w);
    vr_graph_free(b->g);
    for (int i = 0; i < b->nbufs; i++)
        tu_free(b->bufs[i]);
}

static const int is_wino[NNODES] = {0, 1, 1, 0, 1, 0, 0, 0};

typedef struct {
    char dir[64], direct[128], wino[128];
} files;

static void make_files(files *f)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/vireo-wino-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->direct, sizeof f->direct, "%s/direct.vwt", f->dir);
    snprintf(f->wino, sizeof f->wino, "%s/wino.vwt", f->dir);
    built b = {0};
    build(&b);
    char err[512];
    if (vr_model_save_checked(b.w, b.g, b.refs, f->direct, err, sizeof err))
        tu_fail("save: %s", err);
    for (int i = 0; i < NNODES; i++)
        assert_int_equal(vr_wino_eligible(b.g, vr_graph_node(b.g, i)), is_wino[i]);
    free_built(&b);
    int n = -1;
    if (vr_convert_wino_file(f->direct, f->wino, &n, err, sizeof err))
        tu_fail("winograd rewrite: %s", err);
    assert_int_equal(n, 3);
}

static void remove_files(files *f)
{
    unlink(f->direct);
    unlink(f->wino);
    rmdir(f->dir);
}

static vr_model *open_model(const char *path)
{
    vr_model *m;
    char err[512];
    if (vr_model_open(path, &m, err, sizeof err))
        tu_fail("%s: %s", path, err);
    return m;
}

static void test_rewrite_and_run(void **state)
{
    (void)state;
    files f;
    make_files(&f);
    vr_model *md = open_model(f.direct), *mw = open_model(f.wino);
    for (int i = 0; i < NNODES; i++) {
        const vr_node *n = vr_graph_node(mw->graph, i);
        char name[32];
        snprintf(name, sizeof name, "n%d.w", i);
        const vw_tensor *t = vw_find(mw->file, name);
        assert_int_equal(n->wtype, is_wino[i] ? VR_W_WINO : VR_W_F32);
        if (n->op == VR_OP_CONV)
            assert_int_equal(t->layout, is_wino[i] ? VW_CONV_WINO_F32 : VW_CONV_F32);
        assert_int_equal(vr_graph_node(md->graph, i)->wtype, VR_W_F32);
    }
    const vr_value *ov = vr_graph_value(mw->graph, vr_graph_output(mw->graph));
    size_t nin = (size_t)BATCH * IN_H * IN_W * 3, nout = (size_t)BATCH * ov->h * ov->w * ov->c;
    float *in = malloc(nin * 4), *yd = malloc(nout * 4), *yw = malloc(nout * 4), *yw3 = malloc(nout * 4);
    tu_rng r = tu_rng_make(72);
    tu_fill_f32(&r, in, nin, -1, 1);
    printf("  level %s, batch %d\n", tu_level(), BATCH);
    wc_snaps sd = wc_run(md, BATCH, 2, in, yd), sw = wc_run(mw, BATCH, 1, in, yw);
    wc_snaps sw3 = wc_run(mw, BATCH, 3, in, yw3);
    for (int i = 0; i < NNODES; i++) {
        const vr_node *n = vr_graph_node(mw->graph, i);
        if (n->op != VR_OP_CONV)
            continue;
        wc_check_conv("direct", md, md, &sd, i);
        wc_check_conv("rewrite", mw, md, &sw, i);
        const vr_value *v = vr_graph_value(mw->graph, n->out);
        /* the tile-row split must not change a bit */
        if (memcmp(sw.v[n->out], sw3.v[n->out], (size_t)BATCH * v->h * v->w * v->c * 4))
            tu_fail("node %d: 1 and 3 threads differ", i);
    }
    /* End to end the two models differ by what each node's bound allows,
     * carried through the layers; informational. */
    double dmax = 0, ymax = 0;
    for (size_t i = 0; i < nout; i++) {
        dmax = fmax(dmax, fabs(yw[i] - yd[i]));
        ymax = fmax(ymax, fabs(yd[i]));
    }
    printf("  output: winograd vs direct max |diff| %.3g (max |y| %.3g)\n", dmax, ymax);
    wc_free(&sd), wc_free(&sw), wc_free(&sw3);
    free(in), free(yd), free(yw), free(yw3);
    vr_model_close(md);
    vr_model_close(mw);
    remove_files(&f);
}

/* A Winograd model again: nothing left to rewrite; in place, the file is not
 * touched. The storage conversions refuse it (U = G g Gᵀ in f32 does not give
 * g back exactly: they start from the source, vr_convert_as). */
static void test_rewrite_idempotent_and_refusals(void **state)
{
    (void)state;
    files f;
    make_files(&f);
    char err[512], again[160], out[160];
    snprintf(again, sizeof again, "%s/again.vwt", f.dir);
    snprintf(out, sizeof out, "%s/out.vwt", f.dir);
    int n = -1;
    size_t l0, l1;
    void *b0 = tu_read_file(f.wino, &l0);
    assert_int_equal(vr_convert_wino_file(f.wino, f.wino, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    void *b1 = tu_read_file(f.wino, &l1);
    assert_true(l0 == l1 && !memcmp(b0, b1, l0));
    free(b0), free(b1);
    assert_int_equal(vr_convert_wino_file(f.wino, again, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    unlink(again);

    if (vr_convert_bf16_file(f.wino, out, err, sizeof err) == 0 || !strstr(err, "Winograd"))
        tu_fail("bf16 of a Winograd model: %s", err);
    printf("  bf16 refused: %s\n", err);
    if (vr_convert_dynq_file(f.wino, out, err, sizeof err) == 0 || !strstr(err, "Winograd"))
        tu_fail("dynamic int8 of a Winograd model: %s", err);
    vr_model *m = open_model(f.wino);
    vr_range *ranges = calloc((size_t)vr_graph_value_count(m->graph), sizeof *ranges);
    for (int v = 0; v < vr_graph_value_count(m->graph); v++)
        ranges[v] = (vr_range){-1, 1};
    if (vr_quantize_model(m, ranges, NULL, out, err, sizeof err) == 0 || !strstr(err, "Winograd"))
        tu_fail("int8 of a Winograd model: %s", err);
    printf("  int8 refused: %s\n", err);
    assert_int_equal(access(out, F_OK), -1);
    free(ranges);
    vr_model_close(m);
    remove_files(&f);
}

/* The eligibility rule, one condition at a time, on single-node graphs. */
static void test_eligibility(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        int h, w, C, OC, k, stride, dil;
        vr_dtype dt;
        int wtype, ok;
    } cases[] = {
        {"14x14, 16 -> 16", 14, 14, 16, 16, 3, 1, 1, VR_F32, VR_W_F32, 1},
        {"13x15 = 195 pixels", 13, 15, 16, 16, 3, 1, 1, VR_F32, VR_W_F32, 0},
        {"1x196", 1, 196, 16, 16, 3, 1, 1, VR_F32, VR_W_F32, 1},
        {"C 15", 14, 14, 15, 16, 3, 1, 1, VR_F32, VR_W_F32, 0},
        {"OC 15", 14, 14, 16, 15, 3, 1, 1, VR_F32, VR_W_F32, 0},
        {"5x5", 14, 14, 16, 16, 5, 1, 1, VR_F32, VR_W_F32, 0},
        {"1x1", 14, 14, 16, 16, 1, 1, 1, VR_F32, VR_W_F32, 0},
        {"stride 2", 14, 14, 16, 16, 3, 2, 1, VR_F32, VR_W_F32, 0},
        {"dilation 2", 14, 14, 16, 16, 3, 1, 2, VR_F32, VR_W_F32, 0},
        {"u8 activations", 14, 14, 16, 16, 3, 1, 1, VR_U8, VR_W_F32, 0},
        {"bf16 weights", 14, 14, 16, 16, 3, 1, 1, VR_F32, VR_W_BF16, 0},
        {"already winograd", 14, 14, 16, 16, 3, 1, 1, VR_F32, VR_W_WINO, 0},
    };
    static float dummy[1];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vr_graph *g = vr_graph_new();
        vr_value vi = {.dtype = cases[i].dt, .h = 64, .w = 256, .c = cases[i].C, .scale = 1};
        vr_value vo = {.dtype = cases[i].dt, .h = cases[i].h, .w = cases[i].w, .c = cases[i].OC,
                       .scale = 1};
        int a = vr_graph_add_value(g, &vi), y = vr_graph_add_value(g, &vo);
        vr_node n = {.op = VR_OP_CONV, .nin = 1, .in = {a, -1, -1, -1, -1, -1, -1, -1}, .out = y,
                     .kh = cases[i].k, .kw = cases[i].k, .stride_h = cases[i].stride,
                     .stride_w = cases[i].stride, .dil_h = cases[i].dil, .dil_w = cases[i].dil,
                     .weights = dummy, .wtype = cases[i].wtype};
        assert_true(vr_graph_add_node(g, &n) >= 0);
        if (vr_wino_eligible(g, vr_graph_node(g, 0)) != cases[i].ok)
            tu_fail("%s: eligible should be %d", cases[i].what, cases[i].ok);
        vr_graph_free(g);
    }
}

/* Winograd weights where they do not belong: the loader (files) and the
 * planner (graphs built in code) refuse them, naming the rule. */
static void test_refusals(void **state)
{
    (void)state;
    enum { C = 16, OC = 16 };
    size_t ws = vk_pack_wino_f32_size(OC, C) * 4;
    float *wp = tu_alloc(ws), *wd = tu_alloc((size_t)OC * 9 * C * 4);
    vk_pack_wino_f32(OC, C, wd, wp);
    static const struct {
        const char *what;
        vr_op op;
        int k, stride, dil;
        vr_dtype dt;
        const char *expect;
    } cases[] = {
        {"stride 2", VR_OP_CONV, 3, 2, 1, VR_F32, "need stride 1 and dilation 1"},
        {"dilation 2", VR_OP_CONV, 3, 1, 2, VR_F32, "need stride 1 and dilation 1"},
        {"5x5 node", VR_OP_CONV, 5, 1, 1, VR_F32, "not packed f32 or bf16 of the node's shape"},
        {"u8 conv", VR_OP_CONV, 3, 1, 1, VR_U8, "not packed s8"},
        {"depthwise", VR_OP_DWCONV, 3, 1, 1, VR_F32, "weights missing"},
    };
    char dir[] = "/tmp/vireo-wino-XXXXXX", path[128], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/bad.vwt", dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vw_writer *w = vw_writer_new();
        vr_graph *g = vr_graph_new();
        int64_t d[4] = {OC, 3, 3, C};
        int t = vw_writer_add_tensor(w, "w", VW_F32, VW_CONV_WINO_F32, 4, d, wp, ws, NULL);
        vr_value vi = {.dtype = cases[i].dt, .h = 20, .w = 20, .c = C, .scale = 1};
        vr_value vo = {.dtype = cases[i].dt, .h = 16, .w = 16, .c = OC, .scale = 1};
        int a = vr_graph_add_value(g, &vi), y = vr_graph_add_value(g, &vo);
        vr_node n = {.op = cases[i].op, .nin = 1, .in = {a, -1, -1, -1, -1, -1, -1, -1}, .out = y,
                     .kh = cases[i].k, .kw = cases[i].k, .stride_h = cases[i].stride,
                     .stride_w = cases[i].stride, .dil_h = cases[i].dil, .dil_w = cases[i].dil,
                     .weights = wp, .w_scale = 1};
        assert_true(vr_graph_add_node(g, &n) >= 0);
        assert_int_equal(vr_graph_set_io(g, a, y), 0);
        vr_node_refs r = {t, -1, -1, -1};
        if (vr_model_save_checked(w, g, &r, path, err, sizeof err) == 0 ||
            !strstr(err, cases[i].expect))
            tu_fail("%s: expected a refusal with \"%s\", got: %s", cases[i].what, cases[i].expect,
                    err);
        assert_int_equal(access(path, F_OK), -1);
        vw_writer_free(w);
        vr_graph_free(g);
    }
    rmdir(dir);
    /* In memory: VR_W_WINO on a 5×5 conv and on an FC. */
    for (int k = 0; k < 2; k++) {
        vr_graph *g = vr_graph_new();
        vr_value vi = {.dtype = VR_F32, .h = 20, .w = 20, .c = C};
        vr_value vo = {.dtype = VR_F32, .h = k ? 1 : 16, .w = k ? 1 : 16, .c = OC};
        int a = vr_graph_add_value(g, &vi), y = vr_graph_add_value(g, &vo);
        vr_node n = {.op = k ? VR_OP_FC : VR_OP_CONV, .nin = 1, .in = {a, -1, -1, -1, -1, -1, -1, -1},
                     .out = y, .kh = 5, .kw = 5, .stride_h = 1, .stride_w = 1, .dil_h = 1,
                     .dil_w = 1, .weights = wp, .wtype = VR_W_WINO};
        assert_true(vr_graph_add_node(g, &n) >= 0);
        assert_int_equal(vr_graph_set_io(g, a, y), 0);
        vr_plan *p = vr_plan_create(g, 1, tu_ops(), err, sizeof err);
        if (p || !strstr(err, k ? "weight storage" : "Winograd weights need a 3x3 conv"))
            tu_fail("VR_W_WINO on %s: %s", k ? "fc" : "a 5x5 conv", p ? "planned" : err);
        vr_graph_free(g);
    }
    tu_free(wp), tu_free(wd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewrite_and_run),
        cmocka_unit_test(test_rewrite_idempotent_and_refusals),
        cmocka_unit_test(test_eligibility),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
