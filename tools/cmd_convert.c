#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "runtime/convert.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cmd_convert(int argc, char **argv)
{
    const char *src = NULL, *dst = NULL;
    vr_convert_opts o = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--labels") && i + 1 < argc)
            o.labels_path = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "vireo convert: unknown option %s\n", argv[i]);
            return 2;
        } else if (!src)
            src = argv[i];
        else if (!dst)
            dst = argv[i];
        else {
            fprintf(stderr, "vireo convert: too many arguments\n");
            return 2;
        }
    }
    if (!src || !dst) {
        fprintf(stderr, "usage: vireo convert SRC OUT.vwt [--labels FILE]\n"
                        "  SRC: a .tflite model, a TF.js layers model's model.json, or a\n"
                        "       torchvision mobilenet_v2 / resnet50 state dict (.safetensors)\n");
        return 2;
    }
    char err[512];
    int rc;
    if (ends_with(src, ".tflite")) {
        rc = vr_convert_tflite(src, dst, &o, err, sizeof err);
    } else if (ends_with(src, "model.json")) {
        rc = vr_convert_tfjs(src, dst, &o, err, sizeof err);
    } else if (ends_with(src, ".safetensors")) {
        rc = vr_convert_safetensors(src, dst, &o, err, sizeof err);
    } else {
        fprintf(stderr,
                "vireo convert: %s: unknown source format (supported: .tflite, model.json, "
                ".safetensors)\n",
                src);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "vireo convert: %s\n", err);
        return 1;
    }
    fprintf(stderr, "vireo convert: wrote %s\n", dst);
    return 0;
}
