/* vireo convert: a model file in one of the source formats → a vireo weight
 * file, storing a float source's weights as f32 (default) or int8 (static
 * post-training quantization calibrated on images, docs/QUANTIZATION.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "models.h"
#include "runtime/calibrate.h"
#include "runtime/convert.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: vireo convert SRC OUT.vwt [--labels FILE] [--dtype f32|bf16|int8]\n"
            "                     [--no-winograd] [--calib DIR|@LIST] [--calib-n N]\n"
            "                     [--calib-method M] [-v]\n"
            "                     [--tower image|text] [--act gelu|quick_gelu] [--image-size S]\n"
            "  SRC: a .tflite model, a TF.js layers model's model.json, or a state dict\n"
            "       (.safetensors): torchvision mobilenet_v2 / resnet50 / vit_*, CLIP towers\n"
            "  --dtype        how a float source is stored: f32 (default); bf16 (weights\n"
            "                 rounded to bf16, f32 activations); int8: CNNs uint8 activations\n"
            "                 calibrated on images, per-channel int8 weights; transformers\n"
            "                 (ViT / CLIP) int8 linear layers with per-token activations\n"
            "                 quantized at run time (no calibration)\n"
            "  --no-winograd  f32: keep every conv direct; by default 3x3 stride-1 convs\n"
            "                 with >= 16 channels in and out and >= 196 output pixels\n"
            "                 (14x14) get Winograd F(4x4,3x3) weights (faster; results\n"
            "                 differ from the direct conv by rounding only)\n"
            "  --calib        int8: calibration images, a directory or @LIST (default\n"
            "                 ../shared/" VR_CALIB_DEFAULT_DIR ")\n"
            "  --calib-n      int8: images used, spread evenly over the list (default 64)\n"
            "  --calib-method int8: activation ranges: mse (default: least squared\n"
            "                 quantization error over the calibration histogram), minmax,\n"
            "                 mean (of per-image extremes) or percentile[:P] (P default 99.99)\n"
            "  -v             int8: progress and every value's range\n"
            "  CLIP / ViT safetensors (OpenAI / open_clip visual.*, Hugging Face CLIPModel,\n"
            "  CLIPVisionModel, CLIPTextModel, torchvision vit_*; docs/FORMATS.md):\n"
            "  --tower        image or text: which tower of a file holding both\n"
            "  --act          gelu or quick_gelu, when the file's __metadata__ hidden_act\n"
            "                 does not say (default quick_gelu, OpenAI's weights)\n"
            "  --image-size S ViT towers: build for S×S inputs, position embeddings resized\n"
            "                 bicubic as the source library does\n");
}

int cmd_convert(int argc, char **argv)
{
    const char *src = NULL, *dst = NULL;
    vr_convert_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--labels") && next)
            o.labels_path = argv[++i];
        else if (!strcmp(a, "--dtype") && next) {
            i++;
            if (!strcmp(next, "f32"))
                o.dtype = VR_CONVERT_F32;
            else if (!strcmp(next, "int8"))
                o.dtype = VR_CONVERT_INT8;
            else if (!strcmp(next, "bf16"))
                o.dtype = VR_CONVERT_BF16;
            else {
                fprintf(stderr, "vireo convert: --dtype %s: f32, bf16 or int8\n", next);
                return 2;
            }
        } else if (!strcmp(a, "--no-winograd"))
            o.no_winograd = 1;
        else if (!strcmp(a, "--calib") && next)
            o.calib = argv[++i];
        else if (!strcmp(a, "--calib-n") && next) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 100000) {
                fprintf(stderr, "vireo convert: --calib-n %s: 1 .. 100000\n", argv[i]);
                return 2;
            }
            o.calib_n = (int)n;
        } else if (!strcmp(a, "--calib-method") && next) {
            vr_calib_method m;
            if (vr_calib_method_parse(argv[++i], &m, &o.calib_percentile)) {
                fprintf(stderr, "vireo convert: --calib-method %s: mse, minmax, mean, percentile "
                                "or percentile:P (50 < P <= 100)\n", argv[i]);
                return 2;
            }
            o.calib_method = (int)m;
        } else if (!strcmp(a, "--tower") && next) {
            o.tower = argv[++i];
            if (strcmp(o.tower, "image") && strcmp(o.tower, "text")) {
                fprintf(stderr, "vireo convert: --tower %s: image or text\n", o.tower);
                return 2;
            }
        } else if (!strcmp(a, "--act") && next) {
            o.act = argv[++i];
            if (strcmp(o.act, "gelu") && strcmp(o.act, "quick_gelu")) {
                fprintf(stderr, "vireo convert: --act %s: gelu or quick_gelu\n", o.act);
                return 2;
            }
        } else if (!strcmp(a, "--image-size") && next) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 4096) {
                fprintf(stderr, "vireo convert: --image-size %s: 1 .. 4096\n", argv[i]);
                return 2;
            }
            o.image_size = (int)n;
        } else if (!strcmp(a, "-v"))
            o.verbose = 1;
        else if (a[0] == '-') {
            fprintf(stderr, "vireo convert: unknown option %s\n", a);
            usage();
            return 2;
        } else if (!src)
            src = a;
        else if (!dst)
            dst = a;
        else {
            fprintf(stderr, "vireo convert: too many arguments\n");
            return 2;
        }
    }
    if (!src || !dst) {
        usage();
        return 2;
    }
    if (o.dtype != VR_CONVERT_F32 && o.no_winograd) {
        fprintf(stderr, "vireo convert: --no-winograd is for --dtype f32 (bf16 and int8 "
                        "convs are always direct)\n");
        return 2;
    }
    if (o.dtype != VR_CONVERT_INT8 && (o.calib || o.calib_n || o.calib_method)) {
        fprintf(stderr, "vireo convert: --calib, --calib-n and --calib-method need --dtype int8\n");
        return 2;
    }
    char calib[4096];
    if (o.dtype == VR_CONVERT_INT8 && !o.calib) {
        snprintf(calib, sizeof calib, "%s/%s", models_shared_dir(), VR_CALIB_DEFAULT_DIR);
        o.calib = calib;
    }
    vr_convert_fn fn = vr_convert_for_source(src);
    if (!fn) {
        fprintf(stderr,
                "vireo convert: %s: unknown source format (supported: .tflite, model.json, "
                ".safetensors)\n",
                src);
        return 1;
    }
    char err[1024];
    if (vr_convert_as(fn, src, dst, &o, err, sizeof err)) {
        fprintf(stderr, "vireo convert: %s\n", err);
        return 1;
    }
    fprintf(stderr, "vireo convert: wrote %s%s\n", dst,
            o.dtype == VR_CONVERT_INT8 ? " (int8)" : o.dtype == VR_CONVERT_BF16 ? " (bf16)" : "");
    return 0;
}
