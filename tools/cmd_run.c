/* vireo run: one forward pass per input, printing the top classes (or the
 * raw output with --dump). Inputs are image files (JPEG / BMP, recognised by
 * their magic bytes; decoded and preprocessed from the model's preproc.*
 * metadata, runtime/preprocess.h) or raw tensors in the model's input dtype
 * (H·W·C elements; any file named *.raw or *.u8, or without an image magic). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/image.h"
#include "runtime/model.h"
#include "runtime/preprocess.h"

static void *read_file(const char *path, size_t want, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return NULL;
    }
    void *buf = malloc(want + 1);
    size_t got = buf ? fread(buf, 1, want + 1, f) : 0;
    fclose(f);
    if (got != want) {
        snprintf(err, errlen, "%s: %zu bytes, the model's input needs exactly %zu", path, got, want);
        free(buf);
        return NULL;
    }
    return buf;
}

/* An image file, by extension (.raw / .u8 are always raw tensors) and magic. */
static int is_image(const char *path)
{
    size_t n = strlen(path);
    if ((n >= 4 && !strcmp(path + n - 4, ".raw")) || (n >= 3 && !strcmp(path + n - 3, ".u8")))
        return 0;
    uint8_t head[4];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    return vf_image_sniff(head, got) != VF_IMG_UNKNOWN;
}

/* Decodes and preprocesses an image into a new buffer of in_bytes. */
static void *read_image(const vr_model *m, vr_preproc *pp, int *pp_ready, const char *path,
                        size_t in_bytes, char *err, size_t errlen)
{
    if (!*pp_ready) {
        char sub[400];
        if (vr_preproc_from_model(m, pp, sub, sizeof sub)) {
            snprintf(err, errlen, "%s: model preprocessing: %s", path, sub);
            return NULL;
        }
        *pp_ready = 1;
    }
    if (vr_preproc_bytes(pp) != in_bytes) {
        snprintf(err, errlen, "%s: preprocessed size %zu differs from the model input %zu", path,
                 vr_preproc_bytes(pp), in_bytes);
        return NULL;
    }
    vf_image img;
    if (vf_image_decode_file(path, NULL, &img, err, errlen))
        return NULL;
    void *buf = malloc(in_bytes);
    char sub[400];
    if (!buf || vr_preprocess(pp, &img, buf, sub, sizeof sub)) {
        snprintf(err, errlen, "%s: %s", path, buf ? sub : "out of memory");
        free(buf);
        buf = NULL;
    }
    vf_image_free(&img);
    return buf;
}

static const char *label(const vr_model *m, int idx, char *buf, size_t len)
{
    const vw_kv *kv = vw_kv_find(m->file, "labels");
    snprintf(buf, len, "%d", idx);
    if (!kv || kv->type != VW_KV_STR)
        return buf;
    const char *s = kv->v.s;
    for (int i = 0; i < idx && s; i++) {
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    if (!s || !*s)
        return buf;
    size_t n = strcspn(s, "\r\n");
    snprintf(buf, len, "%.*s", (int)(n < len - 1 ? n : len - 1), s);
    return buf;
}

int cmd_run(int argc, char **argv)
{
    const char *model = NULL;
    int top = 5, threads = 0, dump = 0, nin = 0;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--top") && i + 1 < argc)
            top = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dump"))
            dump = 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "vireo run: unknown option %s\n", argv[i]);
            free(inputs);
            return 2;
        } else
            inputs[nin++] = argv[i];
    }
    if (!model || nin == 0) {
        fprintf(stderr, "usage: vireo run -m MODEL.vwt [--top K] [-t THREADS] [--dump] IMAGE|INPUT.raw...\n");
        free(inputs);
        return 2;
    }
    char err[512];
    vr_model *m;
    if (vr_model_open(model, &m, err, sizeof err)) {
        fprintf(stderr, "vireo run: %s\n", err);
        free(inputs);
        return 1;
    }
    const vr_value *iv = vr_graph_value(m->graph, vr_graph_input(m->graph));
    const vr_value *ov = vr_graph_value(m->graph, vr_graph_output(m->graph));
    size_t in_bytes = (size_t)iv->h * iv->w * iv->c * vr_dtype_size(iv->dtype);
    size_t out_n = (size_t)ov->h * ov->w * ov->c;
    vr_plan *p = vr_plan_create(m->graph, 1, vk_ops_get(), err, sizeof err);
    vr_pool *pool = p ? vr_pool_create(threads) : NULL;
    void *out = malloc(out_n * vr_dtype_size(ov->dtype));
    float *score = malloc(out_n * sizeof *score);
    int rc = p && pool && out && score ? 0 : 1;
    vr_preproc pp;
    int pp_ready = 0;
    if (!p)
        fprintf(stderr, "vireo run: %s\n", err);
    for (int k = 0; k < nin && rc == 0; k++) {
        void *in = is_image(inputs[k])
                       ? read_image(m, &pp, &pp_ready, inputs[k], in_bytes, err, sizeof err)
                       : read_file(inputs[k], in_bytes, err, sizeof err);
        if (!in) {
            fprintf(stderr, "vireo run: %s\n", err);
            rc = 1;
            break;
        }
        vr_plan_run(p, pool, in, out);
        free(in);
        for (size_t i = 0; i < out_n; i++) {
            if (ov->dtype == VR_F32)
                score[i] = ((float *)out)[i];
            else if (ov->dtype == VR_U8)
                score[i] = ov->scale * (((uint8_t *)out)[i] - ov->zero);
            else
                score[i] = ov->scale * (((int8_t *)out)[i] - ov->zero);
        }
        printf("%s\n", inputs[k]);
        if (dump) {
            for (size_t i = 0; i < out_n; i++)
                printf("%g%c", score[i], i + 1 == out_n ? '\n' : ' ');
            continue;
        }
        for (int t = 0; t < top && t < (int)out_n; t++) {
            size_t best = 0;
            for (size_t i = 1; i < out_n; i++)
                if (score[i] > score[best])
                    best = i;
            char lb[128];
            printf("  %2d. %5zu %-40s %.4f\n", t + 1, best, label(m, (int)best, lb, sizeof lb),
                   score[best]);
            score[best] = -1e30f;
        }
    }
    free(score);
    free(out);
    vr_pool_destroy(pool);
    vr_plan_free(p);
    vr_model_close(m);
    free(inputs);
    return rc;
}
