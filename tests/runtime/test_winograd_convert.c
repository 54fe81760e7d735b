/* The converters' Winograd pass (vr_convert_as, runtime/convert_wino.c) on a
 * small TF.js layers model written by the test (input 16×16×16):
 *   c1 Conv2D 3×3 same, 16 → 24, relu   → 16×16 (256 pixels): winograd
 *   c2 Conv2D 3×3 valid, 24 → 16        → 14×14 (196, the threshold): winograd
 *   c3 Conv2D 3×3 same, stride 2, 16 → 16, relu → 7×7: direct (strided)
 * Default options (NULL, or {0} as `vireo convert` passes) give those layouts;
 * no_winograd (--no-winograd) keeps every conv direct; bf16 starts from the
 * direct convs. The default and the --no-winograd model are checked conv by
 * conv against double precision (tests/wino_check.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/convert.h"
#include "testutil.h"
#include "wino_check.h"

enum { H = 16, W = 16, C0 = 16, C1 = 24, C2 = 16, C3 = 16, BATCH = 2 };

#define CONV(name, inb, f, pad, st, act)                                                       \
    "{\"name\":\"" name "\",\"class_name\":\"Conv2D\",\"config\":{\"filters\":" #f             \
    ",\"kernel_size\":[3,3],\"strides\":[" #st "," #st "],\"padding\":\"" pad "\","            \
    "\"dilation_rate\":[1,1],\"activation\":\"" act "\",\"use_bias\":true},"                   \
    "\"inbound_nodes\":[[[\"" inb "\",0,0,{}]]]}"
#define WEIGHT(name, shape) "{\"name\":\"" name "\",\"shape\":[" shape "],\"dtype\":\"float32\"}"

static void write_model(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/w.bin", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    tu_rng r = tu_rng_make(81);
    const int cin[3] = {C0, C1, C2}, cout[3] = {C1, C2, C3};
    for (int l = 0; l < 3; l++) { /* kernel [3, 3, cin, cout], then bias [cout] */
        size_t n = 9 * (size_t)cin[l] * cout[l];
        float *w = malloc(n * 4), b[32];
        float a = 1.5f / sqrtf(9.0f * cin[l]);
        tu_fill_f32(&r, w, n, -a, a);
        tu_fill_f32(&r, b, (size_t)cout[l], -0.2f, 0.2f);
        assert_int_equal(fwrite(w, 4, n, f), n);
        assert_int_equal(fwrite(b, 4, (size_t)cout[l], f), (size_t)cout[l]);
        free(w);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/model.json", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fprintf(f,
            "{\"format\":\"layers-model\",\"modelTopology\":{\"class_name\":\"Model\","
            "\"config\":{\"name\":\"t\",\"layers\":[{\"name\":\"in\",\"class_name\":"
            "\"InputLayer\",\"config\":{\"batch_input_shape\":[null,16,16,16],\"dtype\":"
            "\"float32\"},\"inbound_nodes\":[]}," CONV("c1", "in", 24, "same", 1, "relu") ","
            CONV("c2", "c1", 16, "valid", 1, "linear") "," CONV("c3", "c2", 16, "same", 2, "relu")
            "],\"input_layers\":[[\"in\",0,0]],\"output_layers\":[[\"c3\",0,0]]}},"
            "\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":["
            WEIGHT("c1/kernel", "3,3,16,24") "," WEIGHT("c1/bias", "24") ","
            WEIGHT("c2/kernel", "3,3,24,16") "," WEIGHT("c2/bias", "16") ","
            WEIGHT("c3/kernel", "3,3,16,16") "," WEIGHT("c3/bias", "16") "]}]}");
    fclose(f);
}

/* The layouts of the model's three conv weight tensors, in node order. */
static vr_model *convert(const char *src, const char *dst, const vr_convert_opts *o,
                         vw_layout want0, vw_layout want1, vw_layout want2)
{
    char err[512];
    if (vr_convert_tfjs(src, dst, o, err, sizeof err))
        tu_fail("convert: %s", err);
    vr_model *m;
    if (vr_model_open(dst, &m, err, sizeof err))
        tu_fail("open: %s", err);
    const vw_layout want[3] = {want0, want1, want2};
    int k = 0;
    for (int i = 0; i < vr_graph_node_count(m->graph); i++) {
        const vr_node *n = vr_graph_node(m->graph, i);
        if (n->op != VR_OP_CONV)
            continue;
        vw_layout got = VW_LAYOUT_COUNT;
        for (size_t t = 0; t < vw_tensor_count(m->file); t++)
            if (vw_tensor_at(m->file, t)->data == n->weights)
                got = vw_tensor_at(m->file, t)->layout;
        assert_true(k < 3);
        if (got != want[k])
            tu_fail("%s: conv %d stored %s, expected %s", dst, k, vw_layout_name(got),
                    vw_layout_name(want[k]));
        k++;
    }
    assert_int_equal(k, 3);
    return m;
}

static void test_convert_options(void **state)
{
    (void)state;
    char dir[] = "/tmp/vireo-winoconv-XXXXXX", src[128], def[128], zero[128], raw[128], bf[128];
    assert_non_null(mkdtemp(dir));
    write_model(dir);
    snprintf(src, sizeof src, "%s/model.json", dir);
    snprintf(def, sizeof def, "%s/default.vwt", dir);
    snprintf(zero, sizeof zero, "%s/zero.vwt", dir);
    snprintf(raw, sizeof raw, "%s/direct.vwt", dir);
    snprintf(bf, sizeof bf, "%s/bf16.vwt", dir);
    vr_model *md = convert(src, def, NULL, VW_CONV_WINO_F32, VW_CONV_WINO_F32, VW_CONV_F32);
    vr_model *mz = convert(src, zero, &(vr_convert_opts){0}, VW_CONV_WINO_F32, VW_CONV_WINO_F32,
                           VW_CONV_F32);
    vr_model *mr = convert(src, raw, &(vr_convert_opts){.no_winograd = 1}, VW_CONV_F32,
                           VW_CONV_F32, VW_CONV_F32);
    vr_model *mb = convert(src, bf, &(vr_convert_opts){.dtype = VR_CONVERT_BF16}, VW_CONV_BF16,
                           VW_CONV_BF16, VW_CONV_BF16);
    vr_model_close(mz);
    vr_model_close(mb);
    /* the metadata survives the pass */
    assert_non_null(vw_kv_find(md->file, "preproc.width"));
    assert_int_equal(vw_kv_find(md->file, "preproc.width")->v.u,
                     vw_kv_find(mr->file, "preproc.width")->v.u);

    size_t nin = (size_t)BATCH * H * W * C0, nout = (size_t)BATCH * 7 * 7 * C3;
    float *in = malloc(nin * 4), *yd = malloc(nout * 4), *yr = malloc(nout * 4);
    tu_rng r = tu_rng_make(82);
    tu_fill_f32(&r, in, nin, -1, 1);
    printf("  level %s, batch %d\n", tu_level(), BATCH);
    wc_snaps sd = wc_run(md, BATCH, 2, in, yd), sr = wc_run(mr, BATCH, 2, in, yr);
    for (int i = 0; i < vr_graph_node_count(md->graph); i++)
        if (vr_graph_node(md->graph, i)->op == VR_OP_CONV) {
            wc_check_conv("default", md, mr, &sd, i);
            wc_check_conv("direct", mr, mr, &sr, i);
        }
    wc_free(&sd), wc_free(&sr);
    free(in), free(yd), free(yr);
    vr_model_close(md);
    vr_model_close(mr);
    const char *names[] = {def, zero, raw, bf, "w.bin", "model.json"};
    for (int i = 0; i < 6; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(i < 4 ? names[i] : p);
    }
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
