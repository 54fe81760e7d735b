#include "convert_util.h"

#include "runtime/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABELS_MAX (1 << 20)

int vr_convert_labels(vw_writer *w, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open labels", path);
        return -1;
    }
    char *buf = malloc(LABELS_MAX);
    size_t len = buf ? fread(buf, 1, LABELS_MAX - 1, f) : 0;
    int toolong = buf && !feof(f);
    fclose(f);
    const char *why = !buf ? "out of memory"
                      : toolong ? "labels file over 1 MB"
                      : memchr(buf, 0, len) ? "labels contain NUL bytes"
                                            : NULL;
    if (why) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    buf[len] = 0;
    int rc = vw_writer_kv_str(w, "labels", buf);
    free(buf);
    if (rc)
        snprintf(err, errlen, "%s", vw_writer_error(w));
    return rc;
}

void vr_torchvision_preproc_meta(vw_writer *w, int S)
{
    vw_writer_kv_u64(w, "preproc.width", (uint64_t)S);
    vw_writer_kv_u64(w, "preproc.height", (uint64_t)S);
    vw_writer_kv_str(w, "preproc.resize", "pil_bilinear");
    vw_writer_kv_u64(w, "preproc.resize_shorter", (uint64_t)S * 256 / 224);
    vw_writer_kv_str(w, "preproc.crop", "center");
    vw_writer_kv_str(w, "preproc.color", "rgb");
    vw_writer_kv_str(w, "preproc.layout", "nhwc");
    vw_writer_kv_str(w, "preproc.input_dtype", "f32");
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    vw_writer_kv_f32s(w, "preproc.mean", mean, 3);
    vw_writer_kv_f32s(w, "preproc.std", stdv, 3);
}

void vr_dims_str(char *buf, size_t len, const int64_t *dims, int n)
{
    size_t p = 0;
    if (len)
        buf[0] = 0;
    for (int i = 0; i < n && i < 8 && p < len; i++)
        p += (size_t)snprintf(buf + p, len - p, "%s%lld", i ? "," : "", (long long)dims[i]);
}

const st_tensor *vr_st_find_f32(const st_file *f, const char *name, int ndim, const int64_t *shape,
                                char *err, size_t errlen)
{
    const st_tensor *t = st_find(f, name);
    if (!t) {
        snprintf(err, errlen, "tensor '%s' is missing", name);
        return NULL;
    }
    int ok = t->dtype == ST_F32 && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (!ok) {
        char want[128], got[128];
        vr_dims_str(want, sizeof want, shape, ndim);
        vr_dims_str(got, sizeof got, t->shape, t->ndim);
        snprintf(err, errlen, "tensor '%s' is %s [%s], expected F32 [%s]", name,
                 st_dtype_name(t->dtype), got, want);
        return NULL;
    }
    return t;
}

vr_convert_fn vr_st_transformer_converter(const st_file *f)
{
    if (st_find(f, "conv_proj.weight") && st_find(f, "encoder.pos_embedding"))
        return vr_convert_vit;
    static const char *const clip[] = {"visual.conv1.weight", "conv1.weight",
                                       "token_embedding.weight",
                                       "vision_model.embeddings.patch_embedding.weight",
                                       "text_model.embeddings.token_embedding.weight"};
    for (size_t i = 0; i < sizeof clip / sizeof *clip; i++)
        if (st_find(f, clip[i]))
            return vr_convert_clip;
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

vr_convert_fn vr_convert_for_source(const char *src)
{
    if (ends_with(src, ".tflite"))
        return vr_convert_tflite;
    if (ends_with(src, "model.json"))
        return vr_convert_tfjs;
    if (ends_with(src, ".safetensors"))
        return vr_convert_safetensors;
    return NULL;
}
