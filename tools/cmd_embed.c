/* vireo embed: runs a model on images and writes its output per image as one
 * row of f32 (dequantized when the output is quantized: scale·(q − zero)) to
 * OUT, raw little-endian, N×D with D = the output value's h·w·c. N and D are
 * printed on stderr. An image that cannot be read or decoded is reported and
 * skipped; the exit status is non-zero only if no image worked (or on a
 * model / output error). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/image.h"
#include "runtime/model.h"
#include "runtime/preprocess.h"

static int write_f32_le(FILE *f, const float *x, size_t n)
{
    uint8_t b[4 * 256];
    while (n) {
        size_t k = n < 256 ? n : 256;
        for (size_t i = 0; i < k; i++) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            b[4 * i] = (uint8_t)u;
            b[4 * i + 1] = (uint8_t)(u >> 8);
            b[4 * i + 2] = (uint8_t)(u >> 16);
            b[4 * i + 3] = (uint8_t)(u >> 24);
        }
        if (fwrite(b, 4, k, f) != k)
            return -1;
        x += k;
        n -= k;
    }
    return 0;
}

int cmd_embed(int argc, char **argv)
{
    const char *model = NULL, *outp = NULL;
    int threads = 0, nin = 0;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    if (!inputs)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            outp = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "vireo embed: unknown option %s\n", argv[i]);
            free(inputs);
            return 2;
        } else
            inputs[nin++] = argv[i];
    }
    if (!model || !outp || nin == 0) {
        fprintf(stderr, "usage: vireo embed -m MODEL.vwt -o OUT.f32 [-t THREADS] IMAGE...\n");
        free(inputs);
        return 2;
    }
    char err[512];
    vr_model *m;
    if (vr_model_open(model, &m, err, sizeof err)) {
        fprintf(stderr, "vireo embed: %s\n", err);
        free(inputs);
        return 1;
    }
    vr_preproc pp;
    if (vr_preproc_from_model(m, &pp, err, sizeof err)) {
        fprintf(stderr, "vireo embed: %s: %s\n", model, err);
        vr_model_close(m);
        free(inputs);
        return 1;
    }
    const vr_value *ov = vr_graph_value(m->graph, vr_graph_output(m->graph));
    size_t d = (size_t)ov->h * ov->w * ov->c;
    vr_plan *p = vr_plan_create(m->graph, 1, vk_ops_get(), err, sizeof err);
    if (!p)
        fprintf(stderr, "vireo embed: %s\n", err);
    vr_pool *pool = p ? vr_pool_create(threads) : NULL;
    void *in = malloc(vr_preproc_bytes(&pp));
    void *out = malloc(d * vr_dtype_size(ov->dtype));
    float *row = malloc(d * sizeof *row);
    FILE *f = NULL;
    int ok = 0, fatal = !(p && pool && in && out && row);
    if (!fatal && !(f = fopen(outp, "wb"))) {
        fprintf(stderr, "vireo embed: %s: cannot create\n", outp);
        fatal = 1;
    }
    for (int k = 0; k < nin && !fatal; k++) {
        vf_image img;
        if (vf_image_decode_file(inputs[k], NULL, &img, err, sizeof err)) {
            fprintf(stderr, "vireo embed: skipped %s\n", err);
            continue;
        }
        int bad = vr_preprocess(&pp, &img, in, err, sizeof err);
        vf_image_free(&img);
        if (bad) {
            fprintf(stderr, "vireo embed: skipped %s: %s\n", inputs[k], err);
            continue;
        }
        if (vr_plan_run(p, pool, in, out)) {
            fprintf(stderr, "vireo embed: %s: the model failed to run\n", inputs[k]);
            fatal = 1;
            break;
        }
        for (size_t i = 0; i < d; i++) {
            if (ov->dtype == VR_F32)
                row[i] = ((float *)out)[i];
            else if (ov->dtype == VR_U8)
                row[i] = ov->scale * (float)((int32_t)((uint8_t *)out)[i] - ov->zero);
            else if (ov->dtype == VR_S8)
                row[i] = ov->scale * (float)((int32_t)((int8_t *)out)[i] - ov->zero);
            else
                row[i] = (float)((int32_t *)out)[i];
        }
        if (write_f32_le(f, row, d)) {
            fprintf(stderr, "vireo embed: %s: write error\n", outp);
            fatal = 1;
            break;
        }
        ok++;
    }
    if (f && fclose(f) && !fatal) {
        fprintf(stderr, "vireo embed: %s: write error\n", outp);
        fatal = 1;
    }
    if (!fatal)
        fprintf(stderr, "vireo embed: N=%d D=%zu (%d of %d images) -> %s\n", ok, d, ok, nin, outp);
    free(row);
    free(out);
    free(in);
    vr_pool_destroy(pool);
    vr_plan_free(p);
    vr_model_close(m);
    free(inputs);
    return fatal || ok == 0 ? 1 : 0;
}
