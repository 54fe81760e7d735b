/* TF.js layers models converted by vr_convert_tfjs and run at the forced ISA
 * level, against TensorFlow.js 4.22's CPU backend (npm @tensorflow/tfjs, pure
 * JS) on the same input: the nsfwjs models (../shared/models/nsfwjs: Keras
 * MobileNetV2 at 224², InceptionV3 at 299², 5-class heads) and a small
 * synthetic model covering what they do not (tests/data/nsfwjs/synthetic).
 * References in tests/data/nsfwjs, written by tools/tfjs_reference.mjs.
 *
 * Input: the formula in tools/tfjs_reference.mjs (input_value below):
 * integers, one IEEE double division, then rounding to f32, in both programs,
 * so both see the same bits (checked through the input sum the reference
 * records).
 *
 * Compared: the pooled features (the first FC node's input: 1280 / 2048 / 6
 * values), the logits (the final softmax's input; TF.js's own matMul of the
 * previous layer's output with the last Dense's kernel, plus bias) and the
 * probabilities. Both sides compute in f32 from the same f32 weights, in
 * other orders, and vireo folds each BatchNormalization into its conv (in
 * double, rounded once) where TF.js applies it separately: each layer's
 * results differ by f32 rounding, relative ~√K·2⁻²⁴ for a K-term dot product
 * (≤ 1e-5 here), which over 20–95 layers random-walks to at most ~1e-5–1e-4.
 * Measured (every level): max |diff| / max |ref| ≤ 8.3e-7 on the features,
 * ≤ 3.1e-7 on the logits; 1 − cosine ≤ 5e-13. Hence:
 *   - features and logits: cosine ≥ 0.9999 (the target) and
 *     max |diff| ≤ 1e-4 · max |reference| (the estimate above; 100× the
 *     measurement). The cosine alone is weak: dropping BN's epsilon leaves it
 *     at 0.99999998 while max |diff| reaches 7e-4 — the max |diff| bound is
 *     what catches such a slip;
 *   - probabilities: softmax's derivative bounds |Δp_i| ≤ 2·p_i·max_j |Δz_j|,
 *     so |diff_i| ≤ 2·p_i·tol_logits + 1e-6 (absolute slack for f32 exp);
 *   - the top class equal; the whole model's output bit-equal to body + head
 *     (the comparisons run the body to the features and the head from them).
 *
 * Cost: InceptionV3 at 299² is ~5.7 GFLOP. Sanitized (ASan+UBSan, Debug) at
 * the ref level (direct loops) one run took 35–53 s of wall time on a busy
 * 2-core machine, and this test runs it twice (body, then the whole model):
 * 83 s for the file; 0.2 s per run at avx512. So at ref it runs only with
 * VIREO_NSFWJS_ALL=1 (MobileNetV2 and the synthetic model still run there, and
 * cover every op kind InceptionV3 uses), and never with VIREO_TEST_QUICK=1
 * (the aarch64 run under qemu). A smaller input is no way out: its
 * head is AveragePooling2D 8×8 'valid' + Flatten + Dense, which needs the
 * 8×8 map of a 299² input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/json.h"
#include "runtime/convert.h"
#include "runtime/model.h"
#include "testutil.h"

#ifndef VIREO_SOURCE_DIR
#define VIREO_SOURCE_DIR "."
#endif

/* tools/tfjs_reference.mjs inputValue(h, w, c). */
static float input_value(int h, int w, int c)
{
    const int P = 97;
    int n1 = 3 * h + 2 * w + 23 * c, n2 = h + 5 * w + 41 * c + 11;
    return (float)((double)(3 * abs(2 * (n1 % P) - P) + 2 * abs(2 * (n2 % P) - P)) / (5.0 * P));
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Nodes [first, last] of g as a graph of their own (same value ids; weights
 * still point into the model's mapping). */
static vr_graph *subgraph(const vr_graph *g, int first, int last, int in, int out)
{
    vr_graph *s = vr_graph_new();
    assert_non_null(s);
    for (int v = 0; v < vr_graph_value_count(g); v++)
        assert_true(vr_graph_add_value(s, vr_graph_value(g, v)) == v);
    for (int i = first; i <= last; i++)
        if (vr_graph_add_node(s, vr_graph_node(g, i)) < 0)
            tu_fail("subgraph: %s", vr_graph_error(s));
    if (vr_graph_set_io(s, in, out))
        tu_fail("subgraph: %s", vr_graph_error(s));
    return s;
}

static int producer(const vr_graph *g, int v)
{
    for (int i = 0; i < vr_graph_node_count(g); i++)
        if (vr_graph_node(g, i)->out == v)
            return i;
    return -1;
}

static void run(const vr_graph *g, vr_pool *pool, const float *in, float *out, const char *what)
{
    char err[512];
    vr_plan *p = vr_plan_create(g, 1, tu_ops(), err, sizeof err);
    if (!p)
        tu_fail("plan %s: %s", what, err);
    assert_int_equal(vr_plan_run(p, pool, in, out), 0);
    vr_plan_free(p);
}

typedef struct {
    double cosine, maxdiff, maxref;
} cmp;

static cmp compare(const float *got, const float *want, int n)
{
    double dot = 0, ng = 0, nw = 0;
    cmp r = {0};
    for (int i = 0; i < n; i++) {
        dot += (double)got[i] * want[i];
        ng += (double)got[i] * got[i];
        nw += (double)want[i] * want[i];
        double d = fabs((double)got[i] - want[i]);
        r.maxdiff = d > r.maxdiff ? d : r.maxdiff;
        r.maxref = fabs(want[i]) > r.maxref ? fabs(want[i]) : r.maxref;
    }
    r.cosine = dot / (sqrt(ng * nw) + 1e-300);
    return r;
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

/* See the header: InceptionV3 at ref only with VIREO_NSFWJS_ALL=1. */
#define RUN_INCEPTION_AT_REF 0

/* Converts src, runs it, compares with tests/data/nsfwjs/<name>.{json,features.f32}. */
static int check_model(const char *name, const char *src, int nsfwjs, vr_pool *pool,
                       const char *tmpdir)
{
    char dst[8192], path[8192], err[512];
    snprintf(dst, sizeof dst, "%s/%s.vwt", tmpdir, name);
    double t0 = now();
    if (vr_convert_tfjs(src, dst, NULL, err, sizeof err))
        tu_fail("convert %s: %s", name, err);
    double t1 = now();
    vr_model *m;
    if (vr_model_open(dst, &m, err, sizeof err))
        tu_fail("open %s: %s", name, err);
    unlink(dst);

    /* Metadata: nsfwjs's class order (src/nsfw_classes.ts); others get none. */
    const vw_kv *kv = vw_kv_find(m->file, "labels");
    if (nsfwjs) {
        assert_non_null(kv);
        assert_string_equal(kv->v.s, "Drawing\nHentai\nNeutral\nPorn\nSexy\n");
    } else {
        assert_null(kv);
    }
    kv = vw_kv_find(m->file, "preproc.std");
    assert_non_null(kv);
    assert_int_equal(kv->type, VW_KV_F32S);
    assert_int_equal(kv->n, 3);
    assert_true(kv->v.f32s[0] == 255 && kv->v.f32s[1] == 255 && kv->v.f32s[2] == 255);
    kv = vw_kv_find(m->file, "model.source");
    assert_non_null(kv);
    assert_string_equal(kv->v.s, "tfjs");

    /* Reference. */
    snprintf(path, sizeof path, "%s/tests/data/nsfwjs/%s.json", VIREO_SOURCE_DIR, name);
    size_t jlen = 0, flen = 0;
    void *jbuf = tu_read_file(path, &jlen);
    if (!jbuf)
        tu_fail("%s: missing (run tools/tfjs_reference.mjs)", path);
    json_doc *doc;
    if (json_parse(jbuf, jlen, NULL, &doc, err, sizeof err))
        tu_fail("%s: %s", path, err);
    const json_value *root = json_root(doc);
    snprintf(path, sizeof path, "%s/tests/data/nsfwjs/%s.features.f32", VIREO_SOURCE_DIR, name);
    float *ref_feat = tu_read_file(path, &flen);
    assert_non_null(ref_feat);
    float ref_logits[8], ref_probs[8];
    int ncls = (int)json_len(json_get(root, "logits"));
    assert_true(ncls >= 2 && ncls <= 8);
    assert_int_equal(json_len(json_get(root, "probs")), ncls);
    for (int i = 0; i < ncls; i++) {
        ref_logits[i] = (float)json_num(json_at(json_get(root, "logits"), (size_t)i));
        ref_probs[i] = (float)json_num(json_at(json_get(root, "probs"), (size_t)i));
    }

    /* The graph: input → ... → features (the first FC's input) → FC ×3 →
     * logits (the final softmax's input) → probabilities. */
    const vr_graph *g = m->graph;
    const vr_value *iv = vr_graph_value(g, vr_graph_input(g));
    int64_t hh, ww;
    assert_int_equal(json_int(json_get(json_get(root, "input"), "h"), &hh), 0);
    assert_int_equal(json_int(json_get(json_get(root, "input"), "w"), &ww), 0);
    assert_true(iv->h == hh && iv->w == ww && iv->c == 3);
    assert_int_equal(vr_graph_value(g, vr_graph_output(g))->c, ncls);
    int first_fc = -1, nn = vr_graph_node_count(g);
    for (int i = 0; i < nn && first_fc < 0; i++)
        if (vr_graph_node(g, i)->op == VR_OP_FC)
            first_fc = i;
    assert_true(first_fc > 0);
    const vr_node *last = vr_graph_node(g, nn - 1);
    assert_int_equal(last->op, VR_OP_SOFTMAX);
    assert_int_equal(last->out, vr_graph_output(g));
    int feat_v = vr_graph_node(g, first_fc)->in[0], logit_v = last->in[0];
    const vr_value *fv = vr_graph_value(g, feat_v);
    int fdim = fv->h * fv->w * fv->c;
    assert_int_equal((size_t)fdim * 4, flen);

    size_t in_n = (size_t)iv->h * iv->w * iv->c;
    float *in = malloc(in_n * sizeof *in);
    double sum = 0;
    for (int h = 0; h < iv->h; h++)
        for (int w = 0; w < iv->w; w++)
            for (int c = 0; c < 3; c++) {
                float x = input_value(h, w, c);
                in[((size_t)h * iv->w + w) * 3 + c] = x;
                sum += x;
            }
    double ref_sum = json_num(json_get(root, "input_checksum"));
    if (sum != ref_sum)
        tu_fail("%s: input sum %.17g, the reference's %.17g: the input formulas differ", name, sum,
                ref_sum);

    /* Body to the features, then the head from them twice (to the logits and
     * to the probabilities): the same nodes as the whole model, run once. */
    float *feat = malloc((size_t)fdim * sizeof *feat), logits[8], probs[8];
    vr_graph *body = subgraph(g, 0, producer(g, feat_v), vr_graph_input(g), feat_v);
    vr_graph *head_l = subgraph(g, producer(g, feat_v) + 1, producer(g, logit_v), feat_v, logit_v);
    vr_graph *head_p = subgraph(g, producer(g, feat_v) + 1, nn - 1, feat_v, vr_graph_output(g));
    double t2 = now();
    run(body, pool, in, feat, "body");
    double t3 = now();
    run(head_l, pool, feat, logits, "head to logits");
    run(head_p, pool, feat, probs, "head to probabilities");
    /* The whole model, as a caller runs it: the same kernels on the same
     * shapes and thread split, so the same bits (not under emulation: it
     * doubles the cost). */
    if (!getenv("VIREO_TEST_QUICK")) {
        float whole[8];
        run(g, pool, in, whole, "the whole model");
        if (memcmp(whole, probs, (size_t)ncls * sizeof *probs) != 0)
            tu_fail("%s: the whole model's output differs from body + head", name);
    }

    cmp cf = compare(feat, ref_feat, fdim), cl = compare(logits, ref_logits, ncls);
    cmp cp = compare(probs, ref_probs, ncls);
    printf("  %-13s %-6s convert %.2f s, run %.2f s\n", name, tu_level(), t1 - t0, t3 - t2);
    printf("    features (%d): 1 - cosine %.2g  max|diff| %.3g (max|ref| %.3g, rel %.2g)\n",
           fdim, 1 - cf.cosine, cf.maxdiff, cf.maxref, cf.maxdiff / cf.maxref);
    printf("    logits: 1 - cosine %.2g  max|diff| %.3g (max|ref| %.3g, rel %.2g)\n",
           1 - cl.cosine, cl.maxdiff, cl.maxref, cl.maxdiff / cl.maxref);
    printf("    probs: max|diff| %.3g; ours", cp.maxdiff);
    for (int i = 0; i < ncls; i++)
        printf(" %.6f", probs[i]);
    printf("\n");
    int fails = 0;
    double tol_l = 1e-4 * cl.maxref;
    if (cf.cosine < 0.9999 || cf.maxdiff > 1e-4 * cf.maxref) {
        fprintf(stderr, "FAIL %s features: cosine %.9f, max|diff| %.3g\n", name, cf.cosine,
                cf.maxdiff);
        fails++;
    }
    if (cl.cosine < 0.9999 || cl.maxdiff > tol_l) {
        fprintf(stderr, "FAIL %s logits: cosine %.9f, max|diff| %.3g\n", name, cl.cosine,
                cl.maxdiff);
        fails++;
    }
    for (int i = 0; i < ncls; i++)
        if (fabs((double)probs[i] - ref_probs[i]) > 2 * ref_probs[i] * tol_l + 1e-6) {
            fprintf(stderr, "FAIL %s prob %d: %.9g vs %.9g\n", name, i, probs[i], ref_probs[i]);
            fails++;
        }
    if (argmax(probs, ncls) != argmax(ref_probs, ncls)) {
        fprintf(stderr, "FAIL %s: top class %d, TF.js %d\n", name, argmax(probs, ncls),
                argmax(ref_probs, ncls));
        fails++;
    }
    vr_graph_free(body);
    vr_graph_free(head_l);
    vr_graph_free(head_p);
    free(in);
    free(feat);
    free(ref_feat);
    json_free(doc);
    free(jbuf);
    vr_model_close(m);
    return fails;
}

static void test_nsfwjs_matches_tfjs(void **state)
{
    (void)state;
    const char *shared = tu_require_shared();
    char tmpdir[] = "/tmp/vireo-nsfwjs-XXXXXX", src[8192];
    assert_non_null(mkdtemp(tmpdir));
    vr_pool *pool = vr_pool_create(2);
    snprintf(src, sizeof src, "%s/models/nsfwjs/mobilenet_v2/model.json", shared);
    int fails = check_model("mobilenet_v2", src, 1, pool, tmpdir);
    int at_ref = strcmp(tu_level(), "ref") == 0, quick = getenv("VIREO_TEST_QUICK") != NULL;
    if (getenv("VIREO_NSFWJS_ALL") || (!quick && (!at_ref || RUN_INCEPTION_AT_REF))) {
        snprintf(src, sizeof src, "%s/models/nsfwjs/inception_v3/model.json", shared);
        fails += check_model("inception_v3", src, 1, pool, tmpdir);
    } else {
        printf("  inception_v3 skipped %s (VIREO_NSFWJS_ALL=1 runs it)\n",
               quick ? "(VIREO_TEST_QUICK)" : "at the ref level");
    }
    vr_pool_destroy(pool);
    rmdir(tmpdir);
    if (fails)
        tu_fail("%d mismatches against TensorFlow.js (listed above)", fails);
}

/* tests/data/nsfwjs/synthetic: the small model tools/tfjs_reference.mjs
 * --synthetic builds (asymmetric and SAME stride-2 padding, dilation, BN with
 * and without scale and after a Dense, ReLU6 that clips, activations fused
 * into Add / Conv2D, SAME pooling, Concatenate, Dense per pixel, GAP). */
static void test_synthetic_matches_tfjs(void **state)
{
    (void)state;
    char tmpdir[] = "/tmp/vireo-nsfwjs-XXXXXX", src[8192];
    assert_non_null(mkdtemp(tmpdir));
    vr_pool *pool = vr_pool_create(2);
    snprintf(src, sizeof src, "%s/tests/data/nsfwjs/synthetic/model.json", VIREO_SOURCE_DIR);
    int fails = check_model("synthetic", src, 0, pool, tmpdir);
    vr_pool_destroy(pool);
    rmdir(tmpdir);
    if (fails)
        tu_fail("%d mismatches against TensorFlow.js (listed above)", fails);
}

/* Refusals name the layer and its class. Each case is a model.json of a
 * 4×4×3 InputLayer "in" plus the given layers (Keras 2 functional config), and
 * a shard holding the listed float32 weights (zeros). */
#define LAYER(name, cls, cfg, inb) \
    "{\"name\":\"" name "\",\"class_name\":\"" cls "\",\"config\":{" cfg "}," \
    "\"inbound_nodes\":[[" inb "]]}"
#define IN(name) "[\"" name "\",0,0,{}]"
#define CONV(name, inb, act) \
    LAYER(name, "Conv2D", "\"filters\":2,\"kernel_size\":[1,1],\"use_bias\":false," \
                          "\"activation\":\"" act "\"", IN(inb))
#define KERNEL(name) "{\"name\":\"" name "/kernel\",\"shape\":[1,1,3,2],\"dtype\":\"float32\"}"

/* Writes the case and converts it; expect NULL: must succeed, else must
 * fail with a message containing expect. */
static void convert_case(const char *tmpdir, const char *layers, const char *out,
                         const char *weights, size_t wbytes, const char *expect)
{
    char path[8192], err[512], dst[8192];
    snprintf(path, sizeof path, "%s/w.bin", tmpdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < wbytes; i++)
        fputc(0, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/model.json", tmpdir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f,
            "{\"format\":\"layers-model\",\"modelTopology\":{\"class_name\":\"Model\","
            "\"config\":{\"name\":\"t\",\"layers\":[{\"name\":\"in\",\"class_name\":"
            "\"InputLayer\",\"config\":{\"batch_input_shape\":[null,4,4,3],\"dtype\":"
            "\"float32\"},\"inbound_nodes\":[]},%s],\"input_layers\":[[\"in\",0,0]],"
            "\"output_layers\":[[\"%s\",0,0]]}},\"weightsManifest\":[{\"paths\":[\"w.bin\"],"
            "\"weights\":[%s]}]}",
            layers, out, weights);
    fclose(f);
    snprintf(dst, sizeof dst, "%s/out.vwt", tmpdir);
    int rc = vr_convert_tfjs(path, dst, NULL, err, sizeof err);
    if (!expect) {
        if (rc)
            tu_fail("conversion failed: %s", err);
        assert_int_equal(unlink(dst), 0);
    } else {
        if (rc == 0 || !strstr(err, expect))
            tu_fail("expected a refusal with \"%s\", got rc %d: %s", expect, rc, rc ? err : "");
        assert_int_equal(access(dst, F_OK), -1); /* nothing written */
        printf("  refused: %s\n", strstr(err, "layer '") ? strstr(err, "layer '") : err);
    }
    snprintf(path, sizeof path, "%s/w.bin", tmpdir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.json", tmpdir);
    unlink(path);
}

static void test_refusals(void **state)
{
    (void)state;
    char tmpdir[] = "/tmp/vireo-nsfwjs-XXXXXX";
    assert_non_null(mkdtemp(tmpdir));
    convert_case(tmpdir, LAYER("lr", "LeakyReLU", "\"alpha\":0.3", IN("in")), "lr", "", 0,
           "layer 'lr' (LeakyReLU): layer class not supported");
    convert_case(tmpdir, LAYER("bn", "BatchNormalization", "\"axis\":-1", IN("in")), "bn", "", 0,
           "layer 'bn' (BatchNormalization): cannot fold");
    /* BN after an activation, or after a conv that has another consumer. */
    convert_case(tmpdir, CONV("c", "in", "relu") "," LAYER("bn", "BatchNormalization", "", IN("c")),
           "bn", KERNEL("c"), 24, "layer 'bn' (BatchNormalization): cannot fold");
    convert_case(tmpdir,
           CONV("c", "in", "linear") "," LAYER("bn", "BatchNormalization", "", IN("c")) "," LAYER(
               "s", "Add", "", IN("bn") "," IN("c")),
           "s", KERNEL("c"), 24, "layer 'bn' (BatchNormalization): cannot fold");
    convert_case(tmpdir, CONV("c", "in", "sigmoid"), "c", KERNEL("c"), 24,
           "layer 'c' (Conv2D): activation 'sigmoid' is not supported");
    /* A standalone ReLU (after an op it cannot fuse into). */
    convert_case(tmpdir,
           LAYER("p", "MaxPooling2D", "\"pool_size\":[2,2]", IN("in")) "," LAYER(
               "r", "ReLU", "", IN("p")),
           "r", "", 0, "layer 'r' (ReLU): cannot fuse");
    convert_case(tmpdir,
           LAYER("d", "DepthwiseConv2D", "\"kernel_size\":[1,1],\"depth_multiplier\":2",
                 IN("in")),
           "d", "", 0, "layer 'd' (DepthwiseConv2D): depth_multiplier 2");
    convert_case(tmpdir,
           LAYER("z", "ZeroPadding2D", "\"padding\":[[1,1],[1,1]]", IN("in")) "," LAYER(
               "p", "AveragePooling2D", "\"pool_size\":[2,2]", IN("z")),
           "p", "", 0, "layer 'p' (AveragePooling2D): its input comes from ZeroPadding2D");
    convert_case(tmpdir,
           LAYER("c", "Conv2D", "\"filters\":2,\"kernel_size\":[1,1],\"use_bias\":false",
                 IN("in") "]," "[" IN("in")),
           "c", KERNEL("c"), 24, "layer 'c' (Conv2D): called 2 times");
    convert_case(tmpdir, LAYER("k", "Concatenate", "\"axis\":1", IN("in") "," IN("in")), "k", "", 0,
           "layer 'k' (Concatenate): axis 1 is not the channel axis");
    convert_case(tmpdir,
                 LAYER("a", "Add", "", IN("in") "," IN("b")) "," LAYER(
                     "b", "Activation", "\"activation\":\"linear\"", IN("a")),
                 "b", "", 0, "form a cycle");
    /* Layers listed out of dependency order still convert (the ReLU fuses
     * into the conv listed after it). */
    convert_case(tmpdir,
                 LAYER("r", "ReLU", "", IN("c")) "," CONV("c", "in", "linear"), "r", KERNEL("c"),
                 24, NULL);
    rmdir(tmpdir);
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_synthetic_matches_tfjs),
        cmocka_unit_test(test_nsfwjs_matches_tfjs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
