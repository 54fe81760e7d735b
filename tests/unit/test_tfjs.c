/* TF.js layers-model reader: the two nsfwjs models in ../shared (counts and
 * shapes against model.json read independently, every dequantized value
 * against the raw shard bytes), synthetic models covering every storage
 * dtype, Keras 2/3/Sequential topologies, and a table of broken manifests
 * each refused with a message naming the problem.
 *
 * ../shared is found by tu_shared_dir() ($VIREO_SHARED_DIR, or beside the
 * source tree). If the models are missing, the synthetic tests still run and
 * the program then exits 77 (ctest: skipped) saying so. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/json.h"
#include "formats/le.h"
#include "formats/tfjs.h"
#include "testutil.h"

static char g_nsfwjs[2048]; /* .../shared/models/nsfwjs, or "" if absent */

static void find_shared(void)
{
    const char *shared = tu_shared_dir(); /* $VIREO_SHARED_DIR or ../shared beside the sources */
    char probe[2200];
    snprintf(probe, sizeof probe, "%s/models/nsfwjs/mobilenet_v2/model.json", shared ? shared : "");
    if (shared && access(probe, R_OK) == 0 &&
        (size_t)snprintf(g_nsfwjs, sizeof g_nsfwjs, "%s/models/nsfwjs", shared) >= sizeof g_nsfwjs)
        g_nsfwjs[0] = 0; /* too long to use */
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* ------------------------------------------------------ nsfwjs models */
typedef struct {
    const char *name;
    size_t layers, weights;
    uint64_t bytes;
} real_model;

static const real_model real_models[] = {
    {"mobilenet_v2", 162, 266, 2619461},
    {"inception_v3", 318, 382, 22360869},
};

static void check_real_model(const real_model *rm)
{
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/%s", g_nsfwjs, rm->name);
    snprintf(path, sizeof path, "%s/model.json", dir);
    tfjs_model *m;
    char err[512];
    if (tfjs_load(path, &m, err, sizeof err) != 0) {
        tu_fail("%s refused: %s", rm->name, err);
        return;
    }
    /* model.json read independently. */
    size_t jlen;
    uint8_t *jtext = tu_read_file(path, &jlen);
    assert_non_null(jtext);
    json_doc *doc;
    assert_int_equal(json_parse(jtext, jlen, NULL, &doc, err, sizeof err), 0);
    const json_value *root = json_root(doc);
    const json_value *layers =
        json_get(json_get(json_get(json_get(root, "modelTopology"), "model_config"), "config"),
                 "layers");
    const json_value *man = json_get(root, "weightsManifest");
    assert_int_equal(json_len(man), 1);
    const json_value *grp = json_at(man, 0), *ws = json_get(grp, "weights");
    assert_int_equal(json_len(layers), rm->layers);
    assert_int_equal(tfjs_layer_count(m), rm->layers);
    assert_int_equal(json_len(ws), rm->weights);
    assert_int_equal(tfjs_weight_count(m), rm->weights);
    assert_string_equal(tfjs_model_class(m), "Model");

    /* Layers: names, classes, configs and inbound names as in model.json. */
    for (size_t i = 0; i < json_len(layers); i++) {
        const json_value *lj = json_at(layers, i);
        const tfjs_layer *l = tfjs_layer_at(m, i);
        assert_string_equal(l->name, json_cstr(json_get(lj, "name")));
        assert_string_equal(l->class_name, json_cstr(json_get(lj, "class_name")));
        assert_ptr_equal(tfjs_find_layer(m, l->name), l);
        const json_value *nodes = json_get(lj, "inbound_nodes");
        assert_int_equal(l->n_calls, json_len(nodes));
        size_t k = 0;
        for (size_t c = 0; c < json_len(nodes); c++)
            for (size_t e = 0; e < json_len(json_at(nodes, c)); e++, k++) {
                assert_true(k < l->n_inbound);
                assert_string_equal(l->inbound[k].layer,
                                    json_cstr(json_at(json_at(json_at(nodes, c), e), 0)));
                assert_int_equal(l->inbound[k].call, c);
            }
        assert_int_equal(k, l->n_inbound);
        assert_int_equal(json_type(l->config), JSON_OBJECT);
    }
    size_t nin, nout;
    const tfjs_ref *in = tfjs_inputs(m, &nin), *out = tfjs_outputs(m, &nout);
    assert_int_equal(nin, 1);
    assert_int_equal(nout, 1);
    assert_string_equal(in[0].layer, "input_1");
    assert_non_null(tfjs_find_layer(m, out[0].layer));
    assert_string_equal(tfjs_find_layer(m, "input_1")->class_name, "InputLayer");
    assert_int_equal(tfjs_find_layer(m, "input_1")->n_inbound, 0);

    /* Shards: the weights' sizes add up to the shard bytes; every value is
     * q * scale + min of its raw byte (min/scale from the independent parse). */
    const json_value *paths = json_get(grp, "paths");
    size_t total = 0;
    uint8_t *raw = NULL;
    for (size_t p = 0; p < json_len(paths); p++) {
        char sp[4400];
        snprintf(sp, sizeof sp, "%s/%s", dir, json_cstr(json_at(paths, p)));
        size_t n;
        uint8_t *b = tu_read_file(sp, &n);
        assert_non_null(b);
        raw = realloc(raw, total + n);
        memcpy(raw + total, b, n);
        total += n;
        free(b);
    }
    assert_int_equal(total, rm->bytes);
    uint64_t sum = 0;
    for (size_t i = 0; i < json_len(ws); i++) {
        const json_value *wj = json_at(ws, i);
        const tfjs_weight *w = tfjs_weight_at(m, i);
        assert_string_equal(w->name, json_cstr(json_get(wj, "name")));
        assert_ptr_equal(tfjs_find_weight(m, w->name), w);
        const json_value *shape = json_get(wj, "shape");
        assert_int_equal(w->ndim, json_len(shape));
        size_t count = 1;
        for (int d = 0; d < w->ndim; d++) {
            int64_t v;
            assert_int_equal(json_int(json_at(shape, (size_t)d), &v), 0);
            assert_int_equal(w->shape[d], v);
            count *= (size_t)v;
        }
        assert_int_equal(w->count, count);
        assert_int_equal(w->dtype, TFJS_FLOAT32);
        assert_int_equal(w->quant, TFJS_Q_UINT8);
        assert_int_equal(w->offset, sum);
        assert_int_equal(w->nbytes, count);
        assert_int_equal((uintptr_t)w->data % 64, 0);
        const json_value *q = json_get(wj, "quantization");
        double mn = json_num(json_get(q, "min")), sc = json_num(json_get(q, "scale"));
        for (size_t k = 0; k < count; k++) {
            float want = (float)(raw[sum + k] * sc + mn);
            if (w->data[k] != want) {
                tu_fail("%s %s[%zu]: %.9g, want %.9g", rm->name, w->name, k, w->data[k], want);
                break;
            }
        }
        sum += w->nbytes;
    }
    assert_int_equal(sum, total);
    free(raw);
    json_free(doc);
    free(jtext);
    tfjs_free(m);
}

static void test_nsfwjs_models(void **state)
{
    if (!g_nsfwjs[0])
        skip();
    for (size_t i = 0; i < sizeof real_models / sizeof *real_models; i++)
        check_real_model(&real_models[i]);
}

/* A few values worked out by hand from the bytes (python: raw bytes of
 * group1-shard1of1 start 98 66 141 131; Conv1/kernel min -0.87334511607301,
 * scale 0.006666756611244351), and the layer structure a converter needs. */
static void test_nsfwjs_by_hand(void **state)
{
    if (!g_nsfwjs[0])
        skip();
    char path[4300];
    snprintf(path, sizeof path, "%s/mobilenet_v2/model.json", g_nsfwjs);
    tfjs_model *m;
    char err[512];
    assert_int_equal(tfjs_load(path, &m, err, sizeof err), 0);
    const tfjs_weight *w = tfjs_find_weight(m, "Conv1/kernel");
    assert_non_null(w);
    assert_ptr_equal(w, tfjs_weight_at(m, 0));
    assert_int_equal(w->ndim, 4);
    int64_t want_shape[4] = {3, 3, 3, 32};
    assert_memory_equal(w->shape, want_shape, sizeof want_shape);
    assert_true(w->qmin == -0.87334511607301 && w->qscale == 0.006666756611244351);
    /* 98*s+m = -0.22000296817, 66*s+m = -0.43333917973, 141*s+m = 0.06666756611, 131*s+m = 0 */
    assert_true(fabs(w->data[0] - -0.22000296817) < 1e-7);
    assert_true(fabs(w->data[1] - -0.43333917973) < 1e-7);
    assert_true(fabs(w->data[2] - 0.06666756611) < 1e-7);
    assert_true(fabsf(w->data[3]) < 1e-7f);
    const tfjs_layer *conv = tfjs_find_layer(m, "Conv1");
    assert_string_equal(conv->class_name, "Conv2D");
    assert_int_equal(conv->n_inbound, 1);
    assert_string_equal(conv->inbound[0].layer, "Conv1_pad");
    int64_t filters;
    assert_int_equal(json_int(json_get(conv->config, "filters"), &filters), 0);
    assert_int_equal(filters, 32);
    assert_string_equal(json_cstr(json_get(conv->config, "padding")), "valid");
    const tfjs_layer *add = tfjs_find_layer(m, "block_2_add");
    assert_non_null(add);
    assert_string_equal(add->class_name, "Add");
    assert_int_equal(add->n_inbound, 2);
    assert_string_equal(add->inbound[0].layer, "block_1_project_BN");
    assert_string_equal(add->inbound[1].layer, "block_2_project_BN");
    size_t n;
    assert_string_equal(tfjs_outputs(m, &n)[0].layer, "dense_3");
    assert_int_equal(json_type(json_get(tfjs_json(m), "weightsManifest")), JSON_ARRAY);
    assert_string_equal(json_cstr(json_get(tfjs_model_config(m), "name")), "model_1");
    tfjs_free(m);

    /* InceptionV3: conv2d_46/kernel straddles shards 1 and 2 (bytes
     * 4024096 .. 4203296; shard 1 is 4194304 bytes). */
    snprintf(path, sizeof path, "%s/inception_v3/model.json", g_nsfwjs);
    assert_int_equal(tfjs_load(path, &m, err, sizeof err), 0);
    w = tfjs_find_weight(m, "conv2d_46/kernel");
    assert_non_null(w);
    assert_int_equal(w->offset, 4024096);
    assert_int_equal(w->count, 179200);
    char sp[4400];
    snprintf(sp, sizeof sp, "%s/inception_v3/group1-shard1of6", g_nsfwjs);
    size_t n1, n2;
    uint8_t *s1 = tu_read_file(sp, &n1);
    snprintf(sp, sizeof sp, "%s/inception_v3/group1-shard2of6", g_nsfwjs);
    uint8_t *s2 = tu_read_file(sp, &n2);
    assert_int_equal(n1, 4194304);
    size_t k_last = 4194304 - 4024096 - 1; /* the last element from shard 1 */
    assert_true(w->data[k_last] == (float)(s1[n1 - 1] * w->qscale + w->qmin));
    assert_true(w->data[k_last + 1] == (float)(s2[0] * w->qscale + w->qmin));
    assert_true(w->data[k_last + 2] == (float)(s2[1] * w->qscale + w->qmin));
    free(s1);
    free(s2);
    tfjs_free(m);
}

/* ----------------------------------------------------- synthetic models */
static char g_tmp[64];

static void make_tmp(void)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vireo-tfjs-XXXXXX");
    assert_non_null(mkdtemp(g_tmp));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    assert_int_equal(system(cmd), 0);
}

static const char *layers_json =
    "\"modelTopology\":{\"model_config\":{\"class_name\":\"Functional\",\"config\":{\"name\":\"m\","
    "\"layers\":[{\"name\":\"in\",\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,4]},"
    "\"inbound_nodes\":[]},"
    "{\"name\":\"d\",\"class_name\":\"Dense\",\"config\":{\"units\":3},\"inbound_nodes\":[[[\"in\",0,0,{}]]]}],"
    "\"input_layers\":[[\"in\",0,0]],\"output_layers\":[[\"d\",0,0]]}}}";

static int load_tmp(const char *manifest, tfjs_model **m, char *err, size_t errlen)
{
    char text[8192], path[200];
    snprintf(text, sizeof text, "{%s,\"weightsManifest\":%s}", layers_json, manifest);
    write_file(g_tmp, "model.json", text, strlen(text));
    snprintf(path, sizeof path, "%s/model.json", g_tmp);
    return tfjs_load(path, m, err, errlen);
}

static void test_synthetic_dtypes(void **state)
{
    make_tmp();
    char sub[200];
    snprintf(sub, sizeof sub, "%s/sub", g_tmp);
    assert_int_equal(mkdir(sub, 0755), 0);
    /* Group 0, shards a.bin (7 bytes) + sub/b.bin (rest): the uint16 weight
     * straddles them. */
    uint8_t g0[256];
    size_t n = 0;
    uint8_t u8[6] = {0, 1, 2, 128, 254, 255};
    memcpy(g0 + n, u8, 6), n += 6;                  /* w_u8   uint8 [2,3] */
    uint16_t u16[3] = {0, 1000, 65535};
    for (int i = 0; i < 3; i++)
        put16(g0 + n + 2 * i, u16[i]);
    n += 6;                                          /* w_u16  uint16 [3] */
    uint16_t h[8] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0x8000, 0x3555};
    for (int i = 0; i < 8; i++)
        put16(g0 + n + 2 * i, h[i]);
    n += 16;                                         /* w_f16  float16 [8] */
    float f32[3] = {1.5f, -2.25f, 3.0e-20f};
    for (int i = 0; i < 3; i++)
        putf32(g0 + n + 4 * i, f32[i]);
    n += 12;                                         /* w_f32 [3] */
    put32(g0 + n, (uint32_t)-7), put32(g0 + n + 4, 123456);
    n += 8;                                          /* w_i32 [2] */
    g0[n++] = 0, g0[n++] = 1, g0[n++] = 2, g0[n++] = 3; /* w_i32q uint8 [4]: round(q*0.5-1) */
    g0[n++] = 0, g0[n++] = 1, g0[n++] = 7;           /* w_bool [3] */
    putf32(g0 + n, 42.0f), n += 4;                   /* w_scalar [] */
                                                     /* w_empty [0,4]: nothing */
    write_file(g_tmp, "a.bin", g0, 7);
    write_file(sub, "b.bin", g0 + 7, n - 7);
    float g1 = 9.5f;
    uint8_t g1b[4];
    putf32(g1b, g1);
    write_file(g_tmp, "c.bin", g1b, 4);
    const char *manifest =
        "[{\"paths\":[\"a.bin\",\"./sub/b.bin\"],\"weights\":["
        "{\"name\":\"w_u8\",\"shape\":[2,3],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"min\":-1,\"scale\":0.5}},"
        "{\"name\":\"w_u16\",\"shape\":[3],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint16\",\"min\":0.25,\"scale\":0.001}},"
        "{\"name\":\"w_f16\",\"shape\":[2,4],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\"}},"
        "{\"name\":\"w_f32\",\"shape\":[3],\"dtype\":\"float32\"},"
        "{\"name\":\"w_i32\",\"shape\":[2],\"dtype\":\"int32\"},"
        "{\"name\":\"w_i32q\",\"shape\":[4],\"dtype\":\"int32\",\"quantization\":{\"dtype\":\"uint8\",\"min\":-1,\"scale\":0.5,\"original_dtype\":\"int32\"}},"
        "{\"name\":\"w_bool\",\"shape\":[3],\"dtype\":\"bool\"},"
        "{\"name\":\"w_scalar\",\"shape\":[],\"dtype\":\"float32\"},"
        "{\"name\":\"w_empty\",\"shape\":[0,4],\"dtype\":\"float32\"}]},"
        "{\"paths\":[\"c.bin\"],\"weights\":[{\"name\":\"g1\",\"shape\":[1],\"dtype\":\"float32\",\"group\":\"x\"}]},"
        "{\"paths\":[],\"weights\":[]}]";
    tfjs_model *m;
    char err[512] = "";
    if (load_tmp(manifest, &m, err, sizeof err) != 0) {
        tu_fail("synthetic model refused: %s", err);
        rm_tmp();
        return;
    }
    assert_int_equal(tfjs_weight_count(m), 10);
    const tfjs_weight *w = tfjs_find_weight(m, "w_u8");
    float want_u8[6] = {-1, -0.5f, 0, 63, 126, 126.5f};
    assert_memory_equal(w->data, want_u8, sizeof want_u8);
    assert_int_equal(w->nbytes, 6);
    w = tfjs_find_weight(m, "w_u16");
    assert_int_equal(w->offset, 6);
    assert_true(w->data[0] == 0.25f);
    assert_true(w->data[1] == (float)(1000 * 0.001 + 0.25));
    assert_true(w->data[2] == (float)(65535 * 0.001 + 0.25));
    w = tfjs_find_weight(m, "w_f16");
    assert_int_equal(w->quant, TFJS_Q_FLOAT16);
    assert_true(w->data[0] == 1.0f && w->data[1] == -2.0f && w->data[2] == 65504.0f);
    assert_true(w->data[3] == ldexpf(1, -24) && w->data[4] == 1023 * ldexpf(1, -24));
    assert_true(isinf(w->data[5]) && w->data[5] > 0);
    assert_true(w->data[6] == 0 && signbit(w->data[6]));
    assert_true(w->data[7] == 0x155 * ldexpf(1, -12) + 0.25f); /* 0x3555 = (1 + 0x155/1024) * 2^-2 */
    w = tfjs_find_weight(m, "w_f32");
    assert_memory_equal(w->data, f32, sizeof f32);
    w = tfjs_find_weight(m, "w_i32");
    assert_true(w->data[0] == -7.0f && w->data[1] == 123456.0f);
    w = tfjs_find_weight(m, "w_i32q");
    /* Math.round(q*0.5 - 1): -1, -0.5 -> -0 (rounds half up), 0, 0.5 -> 1 */
    assert_true(w->data[0] == -1 && w->data[1] == 0 && w->data[2] == 0 && w->data[3] == 1);
    w = tfjs_find_weight(m, "w_bool");
    assert_true(w->data[0] == 0 && w->data[1] == 1 && w->data[2] == 1);
    w = tfjs_find_weight(m, "w_scalar");
    assert_int_equal(w->ndim, 0);
    assert_null(w->shape);
    assert_int_equal(w->count, 1);
    assert_true(w->data[0] == 42.0f);
    w = tfjs_find_weight(m, "w_empty");
    assert_int_equal(w->count, 0);
    assert_int_equal(w->shape[0], 0);
    w = tfjs_find_weight(m, "g1");
    assert_int_equal(w->group, 1);
    assert_int_equal(w->offset, 0);
    assert_true(w->data[0] == 9.5f);
    assert_null(tfjs_find_weight(m, "nope"));
    assert_null(tfjs_weight_at(m, 10));
    for (size_t i = 0; i < tfjs_weight_count(m); i++)
        assert_int_equal((uintptr_t)tfjs_weight_at(m, i)->data % 64, 0);
    assert_int_equal(tfjs_layer_count(m), 2);
    assert_string_equal(tfjs_model_class(m), "Functional");
    assert_string_equal(tfjs_quant_name(TFJS_Q_UINT16), "uint16");
    assert_string_equal(tfjs_dtype_name(TFJS_BOOL), "bool");
    tfjs_free(m);
    tfjs_free(NULL);
    rm_tmp();
}

static void test_half_to_float(void **state)
{
    assert_true(tfjs_half_to_float(0x3c00) == 1.0f);
    assert_true(tfjs_half_to_float(0x0400) == ldexpf(1, -14));
    assert_true(isnan(tfjs_half_to_float(0x7e00)));
    assert_true(isinf(tfjs_half_to_float(0xfc00)) && tfjs_half_to_float(0xfc00) < 0);
#if defined(__FLT16_MAX__)
    /* Every half against the compiler's conversion. */
    for (uint32_t u = 0; u < 65536; u++) {
        _Float16 h;
        uint16_t b = (uint16_t)u;
        memcpy(&h, &b, 2);
        float want = (float)h, got = tfjs_half_to_float(b);
        if (isnan(want) ? !isnan(got) : memcmp(&want, &got, 4) != 0)
            tu_fail("half 0x%04x: got %a, want %a", u, got, want);
    }
#endif
}

/* Sequential (both config forms) and Keras 3 inbound nodes, from memory. */
static void test_topologies(void **state)
{
    const char *seq =
        "{\"modelTopology\":{\"class_name\":\"Sequential\",\"config\":{\"name\":\"s\",\"layers\":["
        "{\"class_name\":\"Dense\",\"config\":{\"name\":\"d1\",\"units\":2}},"
        "{\"class_name\":\"Dense\",\"config\":{\"name\":\"d2\",\"units\":2}}]}},\"weightsManifest\":[]}";
    tfjs_model *m;
    char err[512] = "";
    if (tfjs_load_mem(seq, strlen(seq), "/nonexistent", &m, err, sizeof err) != 0)
        tu_fail("sequential refused: %s", err);
    assert_int_equal(tfjs_layer_count(m), 2);
    const tfjs_layer *d2 = tfjs_find_layer(m, "d2");
    assert_int_equal(d2->n_inbound, 1);
    assert_string_equal(d2->inbound[0].layer, "d1");
    assert_int_equal(tfjs_find_layer(m, "d1")->n_inbound, 0);
    size_t n;
    assert_string_equal(tfjs_inputs(m, &n)[0].layer, "d1");
    assert_string_equal(tfjs_outputs(m, &n)[0].layer, "d2");
    tfjs_free(m);
    const char *seq_old =
        "{\"modelTopology\":{\"model_config\":{\"class_name\":\"Sequential\",\"config\":["
        "{\"class_name\":\"Dense\",\"config\":{\"name\":\"a\"}},{\"class_name\":\"ReLU\",\"config\":{\"name\":\"b\"}}]}},"
        "\"weightsManifest\":[]}";
    assert_int_equal(tfjs_load_mem(seq_old, strlen(seq_old), ".", &m, err, sizeof err), 0);
    assert_string_equal(tfjs_find_layer(m, "b")->inbound[0].layer, "a");
    tfjs_free(m);
    const char *k3 =
        "{\"format\":\"layers-model\",\"modelTopology\":{\"model_config\":{\"class_name\":\"Functional\",\"config\":{"
        "\"layers\":[{\"name\":\"x\",\"class_name\":\"InputLayer\",\"config\":{},\"inbound_nodes\":[]},"
        "{\"name\":\"y\",\"class_name\":\"InputLayer\",\"config\":{},\"inbound_nodes\":[]},"
        "{\"name\":\"add\",\"class_name\":\"Add\",\"config\":{},\"inbound_nodes\":[{\"args\":[["
        "{\"class_name\":\"__keras_tensor__\",\"config\":{\"shape\":[null,2],\"keras_history\":[\"x\",0,0]}},"
        "{\"class_name\":\"__keras_tensor__\",\"config\":{\"keras_history\":[\"y\",0,0]}}]],\"kwargs\":{}},"
        "{\"args\":[{\"class_name\":\"__keras_tensor__\",\"config\":{\"keras_history\":[\"add\",0,0]}},"
        "{\"class_name\":\"__keras_tensor__\",\"config\":{\"keras_history\":[\"y\",0,0]}}],\"kwargs\":{}}]}],"
        "\"input_layers\":[[\"x\",0,0],[\"y\",0,0]],\"output_layers\":[[\"add\",1,0]]}}},\"weightsManifest\":[]}";
    if (tfjs_load_mem(k3, strlen(k3), ".", &m, err, sizeof err) != 0)
        tu_fail("keras 3 refused: %s", err);
    const tfjs_layer *add = tfjs_find_layer(m, "add");
    assert_int_equal(add->n_calls, 2);
    assert_int_equal(add->n_inbound, 4);
    assert_string_equal(add->inbound[1].layer, "y");
    assert_int_equal(add->inbound[2].call, 1);
    assert_string_equal(add->inbound[2].layer, "add");
    assert_int_equal(tfjs_outputs(m, &n)[0].node_index, 1);
    assert_int_equal(n, 1);
    tfjs_inputs(m, &n);
    assert_int_equal(n, 2);
    tfjs_free(m);
}

/* ------------------------------------------------------ broken models */
typedef struct {
    const char *name;
    const char *manifest; /* weightsManifest JSON */
    const char *expect;
} broken_manifest;

#define W1 "\"weights\":[{\"name\":\"w\",\"shape\":[1],\"dtype\":\"float32\"}]"
static const broken_manifest broken[] = {
    {"missing shard", "[{\"paths\":[\"nope.bin\"]," W1 "}]", "nope.bin: No such file"},
    {"shard too short", "[{\"paths\":[\"three.bin\"]," W1 "}]",
     "hold 3 bytes but its 1 weights need 4 (a shard is short or missing)"},
    {"shard too long", "[{\"paths\":[\"four.bin\",\"three.bin\"]," W1 "}]", "a shard has extra bytes"},
    {"shard is a directory", "[{\"paths\":[\"dir\"]," W1 "}]", "not a regular file"},
    {"absolute path", "[{\"paths\":[\"/etc/hostname\"]," W1 "}]", "is absolute"},
    {"dot-dot", "[{\"paths\":[\"../four.bin\"]," W1 "}]", "'..' component"},
    {"dot-dot inside", "[{\"paths\":[\"dir/../../four.bin\"]," W1 "}]", "'..' component"},
    {"dot-dot alone", "[{\"paths\":[\"..\"]," W1 "}]", "'..' component"},
    {"empty path", "[{\"paths\":[\"\"]," W1 "}]", "is empty"},
    {"NUL in a path", "[{\"paths\":[\"four.bin\\u0000x\"]," W1 "}]", "contains U+0000"},
    {"empty component", "[{\"paths\":[\"dir//four.bin\"]," W1 "}]", "empty component"},
    {"trailing slash", "[{\"paths\":[\"dir/\"]," W1 "}]", "ends with '/'"},
    {"path not a string", "[{\"paths\":[4]," W1 "}]", "is not a string"},
    {"unknown dtype", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[1],\"dtype\":\"float64\"}]}]",
     "unsupported dtype 'float64'"},
    {"string dtype", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[1],\"dtype\":\"string\"}]}]",
     "unsupported dtype 'string'"},
    {"dtype missing", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[1]}]}]",
     "dtype is missing"},
    {"unknown quantization", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[4],\"dtype\":\"float32\","
                             "\"quantization\":{\"dtype\":\"int8\",\"min\":0,\"scale\":1}}]}]",
     "unknown quantization dtype 'int8'"},
    {"quantization without scale", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[4],"
                                   "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"min\":0}}]}]",
     "without numeric min and scale"},
    {"quantization scale a string", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[4],"
                                    "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"min\":0,\"scale\":\"1\"}}]}]",
     "without numeric min and scale"},
    {"float16 of int32", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[2],\"dtype\":\"int32\","
                         "\"quantization\":{\"dtype\":\"float16\"}}]}]",
     "float16 quantization needs dtype float32, not int32"},
    {"quantization not an object", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[1],"
                                   "\"dtype\":\"float32\",\"quantization\":\"uint8\"}]}]",
     "quantization is a string"},
    {"shape overflow", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[4294967296,4294967296],"
                       "\"dtype\":\"float32\"}]}]",
     "more than 1073741824 elements"},
    {"shape overflow 2^64", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[65536,65536,65536,65536,0],"
                            "\"dtype\":\"float32\"}]}]",
     "more than 1073741824 elements"},
    {"too many values overall", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[1073741824],\"dtype\":\"bool\"},"
                                "{\"name\":\"v\",\"shape\":[1],\"dtype\":\"bool\"}]}]",
     "more than 1073741824 values"},
    {"negative dim", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[-1],\"dtype\":\"float32\"}]}]",
     "shape[0] is not a non-negative integer"},
    {"fractional dim", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[0.5],\"dtype\":\"float32\"}]}]",
     "shape[0]"},
    {"shape not an array", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":4,\"dtype\":\"float32\"}]}]",
     "shape is a number"},
    {"too many dims", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"name\":\"w\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"
                      "\"dtype\":\"float32\"}]}]",
     "17 dimensions"},
    {"duplicate weight", "[{\"paths\":[\"four.bin\",\"four.bin\"]," W1 "},{\"paths\":[]," W1 "}]",
     "duplicate weight name 'w'"},
    {"weight without name", "[{\"paths\":[\"four.bin\"],\"weights\":[{\"shape\":[1],\"dtype\":\"float32\"}]}]",
     "has no name"},
    {"weight not an object", "[{\"paths\":[\"four.bin\"],\"weights\":[4]}]", "weights[0] is a number"},
    {"manifest not an array", "{}", "weightsManifest is an object"},
    {"group not an object", "[[]]", "weightsManifest[0] is an array"},
    {"paths missing", "[{" W1 "}]", "paths is missing"},
    {"weights not an array", "[{\"paths\":[],\"weights\":{}}]", "weights is an object"},
};

static void test_broken_manifests(void **state)
{
    make_tmp();
    uint8_t four[4] = {0, 0, 128, 63};
    write_file(g_tmp, "four.bin", four, 4);
    write_file(g_tmp, "three.bin", four, 3);
    char d[200];
    snprintf(d, sizeof d, "%s/dir", g_tmp);
    assert_int_equal(mkdir(d, 0755), 0);
    /* sanity: the template loads */
    tfjs_model *m;
    char err[512] = "";
    if (load_tmp("[{\"paths\":[\"four.bin\"]," W1 "}]", &m, err, sizeof err) != 0)
        tu_fail("template refused: %s", err);
    else
        assert_true(tfjs_find_weight(m, "w")->data[0] == 1.0f);
    tfjs_free(m);
    for (size_t c = 0; c < sizeof broken / sizeof *broken; c++) {
        m = (tfjs_model *)1;
        err[0] = 0;
        int rc = load_tmp(broken[c].manifest, &m, err, sizeof err);
        if (rc == 0) {
            tu_fail("case '%s': accepted", broken[c].name);
            tfjs_free(m);
            continue;
        }
        if (getenv("VIREO_TEST_VERBOSE"))
            fprintf(stderr, "%-30s -> %s\n", broken[c].name, err);
        assert_null(m);
        if (!strstr(err, broken[c].expect))
            tu_fail("case '%s': error '%s' does not mention '%s'", broken[c].name, err,
                    broken[c].expect);
    }
    rm_tmp();
}

/* Broken model.json beyond the manifest: topology and JSON itself. */
static void test_broken_topology(void **state)
{
    struct {
        const char *name, *json, *expect;
    } cases[] = {
        {"not JSON", "{\"modelTopology\":", "model.json: line 1, column 18"},
        {"not an object", "[]", "model.json is an array"},
        {"graph model", "{\"format\":\"graph-model\",\"modelTopology\":{},\"weightsManifest\":[]}",
         "not 'layers-model'"},
        {"no topology", "{\"weightsManifest\":[]}", "modelTopology is missing"},
        {"unknown model class", "{\"modelTopology\":{\"class_name\":\"Graph\",\"config\":{}},\"weightsManifest\":[]}",
         "model class 'Graph'"},
        {"layers missing", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{}},\"weightsManifest\":[]}",
         "layers is missing"},
        {"layer not an object", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[1]}},\"weightsManifest\":[]}",
         "layers[0] is a number"},
        {"layer without name", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[{\"class_name\":\"Dense\","
                               "\"config\":{},\"inbound_nodes\":[]}]}},\"weightsManifest\":[]}",
         "layers[0] has no name"},
        {"layer without class", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[{\"name\":\"a\","
                                "\"config\":{},\"inbound_nodes\":[]}]}},\"weightsManifest\":[]}",
         "layer 'a' has no class_name"},
        {"layer config not an object", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[{\"name\":\"a\","
                                       "\"class_name\":\"Dense\",\"config\":[],\"inbound_nodes\":[]}]}},\"weightsManifest\":[]}",
         "config is an array"},
        {"no inbound_nodes", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[{\"name\":\"a\","
                             "\"class_name\":\"Dense\",\"config\":{}}]}},\"weightsManifest\":[]}",
         "has no inbound_nodes"},
        {"bad inbound entry", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[{\"name\":\"a\","
                              "\"class_name\":\"Dense\",\"config\":{},\"inbound_nodes\":[[[\"b\",0]]]}]}},\"weightsManifest\":[]}",
         "inbound node 0 entry 0 is not"},
        {"negative node index", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[{\"name\":\"a\","
                                "\"class_name\":\"Dense\",\"config\":{},\"inbound_nodes\":[[[\"a\",-1,0,{}]]]}]}},\"weightsManifest\":[]}",
         "inbound node 0 entry 0 is not"},
        {"inbound to an unknown layer", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[{\"name\":\"a\","
                                        "\"class_name\":\"Dense\",\"config\":{},\"inbound_nodes\":[[[\"zz\",0,0,{}]]]}]}},\"weightsManifest\":[]}",
         "layer 'a': inbound layer 'zz' is not in the model"},
        {"bad keras_history", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[{\"name\":\"a\","
                              "\"class_name\":\"Dense\",\"config\":{},\"inbound_nodes\":[{\"args\":[{\"class_name\":"
                              "\"__keras_tensor__\",\"config\":{\"keras_history\":[\"a\"]}}]}]}]}},\"weightsManifest\":[]}",
         "bad keras_history"},
        {"duplicate layer", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":["
                            "{\"name\":\"a\",\"class_name\":\"Dense\",\"config\":{},\"inbound_nodes\":[]},"
                            "{\"name\":\"a\",\"class_name\":\"Dense\",\"config\":{},\"inbound_nodes\":[]}]}},\"weightsManifest\":[]}",
         "duplicate layer name 'a'"},
        {"unknown output layer", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":["
                                 "{\"name\":\"a\",\"class_name\":\"Dense\",\"config\":{},\"inbound_nodes\":[]}],"
                                 "\"output_layers\":[[\"b\",0,0]]}},\"weightsManifest\":[]}",
         "model output layer 'b' is not in the model"},
        {"bad input_layers", "{\"modelTopology\":{\"class_name\":\"Model\",\"config\":{\"layers\":[],"
                             "\"input_layers\":[\"a\"]}},\"weightsManifest\":[]}",
         "input_layers[0] is not"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        tfjs_model *m = (tfjs_model *)1;
        char err[512] = "";
        size_t len = strlen(cases[c].json);
        char *copy = malloc(len);
        memcpy(copy, cases[c].json, len);
        int rc = tfjs_load_mem(copy, len, ".", &m, err, sizeof err);
        free(copy);
        if (rc == 0) {
            tu_fail("case '%s': accepted", cases[c].name);
            tfjs_free(m);
            continue;
        }
        if (getenv("VIREO_TEST_VERBOSE"))
            fprintf(stderr, "%-30s -> %s\n", cases[c].name, err);
        assert_null(m);
        if (!strstr(err, cases[c].expect))
            tu_fail("case '%s': error '%s' does not mention '%s'", cases[c].name, err,
                    cases[c].expect);
    }
    /* Files: a missing model.json, a directory. */
    tfjs_model *m;
    char err[512];
    assert_int_equal(tfjs_load("/nonexistent/model.json", &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(tfjs_load("/tmp", &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
    find_shared();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nsfwjs_models),
        cmocka_unit_test(test_nsfwjs_by_hand),
        cmocka_unit_test(test_synthetic_dtypes),
        cmocka_unit_test(test_half_to_float),
        cmocka_unit_test(test_topologies),
        cmocka_unit_test(test_broken_manifests),
        cmocka_unit_test(test_broken_topology),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc == 0 && !g_nsfwjs[0]) {
        fprintf(stderr, "SKIP: models/nsfwjs not found in the shared data (%s; set "
                        "VIREO_SHARED_DIR); the synthetic tests passed\n",
                tu_shared_dir() ? tu_shared_dir() : "no shared directory");
        return 77;
    }
    return rc;
}
