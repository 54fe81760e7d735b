#include "models.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/errmsg.h"
#include "runtime/convert.h"

static const struct {
    const char *name, *rel;
} aliases[] = {
    {"mnv1-embed", "models/coral/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"},
    {"mnv2", "models/coral/mobilenet_v2_1.0_224_quant.tflite"},
    {"mnv2-ptq", "models/coral/tf2_mobilenet_v2_1.0_224_ptq.tflite"},
    {"nsfw-mnv2", "models/nsfwjs/mobilenet_v2/model.json"},
    {"nsfw-incv3", "models/nsfwjs/inception_v3/model.json"},
};

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *models_shared_dir(void)
{
    static char buf[4096];
    const char *e = getenv("VIREO_SHARED_DIR");
    if (e && *e)
        return e;
#ifdef VIREO_SOURCE_DIR
    snprintf(buf, sizeof buf, "%s/../shared", VIREO_SOURCE_DIR);
    if (is_dir(buf))
        return buf;
#endif
    return "../shared";
}

const char *models_clip_vocab(void)
{
    static char buf[4200];
    const char *e = getenv("VIREO_CLIP_VOCAB");
    if (e && *e)
        return e;
    snprintf(buf, sizeof buf, "%s/models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz",
             models_shared_dir());
    return buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

const char *models_short_name(const char *spec)
{
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (!strcmp(spec, aliases[i].name))
            return spec;
    const char *s = strrchr(spec, '/');
    if (s && !strcmp(s + 1, "model.json")) { /* TF.js: name the directory */
        const char *p = s;
        while (p > spec && p[-1] != '/')
            p--;
        return p;
    }
    return s ? s + 1 : spec;
}

int models_cache_dir(char *buf, size_t n)
{
    const char *d = getenv("VIREO_CACHE_DIR");
    if (d && *d)
        snprintf(buf, n, "%s", d);
    else if ((d = getenv("XDG_CACHE_HOME")) && *d)
        snprintf(buf, n, "%s/vireo", d);
    else if ((d = getenv("HOME")) && *d)
        snprintf(buf, n, "%s/.cache/vireo", d);
    else
        return -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0777);
            *p = '/';
        }
    mkdir(buf, 0777);
    return is_dir(buf) ? 0 : -1;
}

int models_resolve(const char *spec, const char *tower, char *out, size_t outlen, int quiet,
                   char *err, size_t errlen)
{
    char src[4096];
    const char *alias = NULL;
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++)
        if (!strcmp(spec, aliases[i].name)) {
            if (snprintf(src, sizeof src, "%s/%s", models_shared_dir(), aliases[i].rel) >=
                (int)sizeof src)
                return vf_fail(err, errlen, "shared directory path too long");
            alias = aliases[i].name;
        }
    if (!alias) {
        if (ends_with(spec, ".vwt")) {
            if (access(spec, R_OK))
                return vf_fail(err, errlen, "%s: %s", spec, strerror(errno));
            snprintf(out, outlen, "%s", spec);
            return 0;
        }
        if (snprintf(src, sizeof src, "%s", spec) >= (int)sizeof src)
            return vf_fail(err, errlen, "model path too long");
    }
    struct stat ss, ds;
    if (stat(src, &ss))
        return vf_fail(err, errlen, "%s: %s%s", src, strerror(errno),
                       alias ? " (is ../shared there? set VIREO_SHARED_DIR)" : "");
    vr_convert_fn convert = vr_convert_for_source(src);
    if (!convert)
        return vf_fail(err, errlen, "%s: not a model (.vwt, .tflite, model.json, .safetensors, or one "
                                    "of mnv1-embed, mnv2, mnv2-ptq, nsfw-mnv2, nsfw-incv3)", spec);
    char dir[3000], rp[4096];
    if (models_cache_dir(dir, sizeof dir))
        return vf_fail(err, errlen, "no cache directory for the converted model (set VIREO_CACHE_DIR)");
    /* One cached conversion per source path: name + hash of the real path. */
    uint64_t h = 14695981039346656037ull;
    const char *key = realpath(src, rp) ? rp : src;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    const char *base = alias ? alias : models_short_name(src);
    char name[256];
    snprintf(name, sizeof name, "%.200s", base);
    for (char *p = name; *p; p++)
        if (*p == '/' || *p == '.')
            *p = '_';
    /* the text tower of a file is its own conversion */
    const char *suffix = tower && !strcmp(tower, "text") ? "-text" : "";
    if ((size_t)snprintf(out, outlen, "%s/%s-%08x%s.vwt", dir, name, (unsigned)(h >> 32), suffix) >=
        outlen)
        return vf_fail(err, errlen, "cache path too long");
    if (stat(out, &ds) == 0 && ds.st_mtime >= ss.st_mtime)
        return 0;
    char e2[512];
    vr_convert_opts o = {0};
    o.tower = tower;
    char labels[4200];
    if (convert == vr_convert_tflite) {
        snprintf(labels, sizeof labels, "%s/models/coral/imagenet_labels.txt", models_shared_dir());
        if (alias && !strncmp(alias, "mnv2", 4))
            o.labels_path = labels;
    }
    if (convert(src, out, &o, e2, sizeof e2))
        return vf_fail(err, errlen, "converting %s: %s", src, e2);
    if (!quiet)
        fprintf(stderr, "converted %s -> %s\n", src, out);
    return 0;
}
