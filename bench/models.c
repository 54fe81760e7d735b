/* vireo-bench models: whole-model latency, ours vs ONNX Runtime.
 *
 * The models are prepared beforehand, untimed, by bench/prepare_models.sh
 * into a cache directory (.vwt for us, .onnx + onnxruntime-node for the
 * peer). For each (model, batch, threads): ours = vr_model_open +
 * vr_plan_create(batch) + vr_plan_run on a vr_pool of `threads`, warm-up
 * runs, then the median of --runs runs of one vr_plan_run each; the peer =
 * bench/ort_bench.mjs run by node, which does the same with an ORT session
 * and prints one JSON line that we merge into our row. With --rounds R the
 * two alternate R times and the row's ratio is the median of the R paired
 * ratios (this host's speed drifts by 10-20 % for seconds at a time, so two
 * medians taken a few seconds apart can disagree by that much).
 *
 * Transformers (ViT-B/32, ViT-B/16, the CLIP text tower) come twice: f32
 * against the f32 ONNX export, and int8 (`vireo convert --dtype int8`)
 * against ORT's dynamic-int8 form of that export (bench/onnx_dynamic_int8.py:
 * DynamicQuantizeMatMul, int8 weights). When our int8 file could not be made,
 * its rows carry "error" (prepare_models.sh's reason) instead of our figure.
 * Models with attention also get a row of where the time goes
 * ("metric":"attention_share", models_profile.c). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "kernels/cpu.h"
#include "models_internal.h"
#include "runtime/model.h"

#define MAX_LIST 8
#define MAX_ROUNDS 32 /* --rounds */

typedef struct model_spec {
    const char *name;  /* row's `model` */
    const char *file;  /* in the cache dir */
    const char *onnx;  /* peer model, or NULL: absolute figures only */
    int quick;         /* in --quick */
    const char *dtype; /* the row's dtype; NULL: from the graph's input */
    int peer_rows;     /* rows even when the file is missing (with "error") */
    int ids;           /* a text tower: token ids of this context (ORT's input) */
    int hw;            /* an image tower's input size, when not 224 (ORT's input) */
    int smoke;         /* toy model of bench/models_smoke.sh: silent when absent */
} model_spec;

static const model_spec MODELS[] = {
    {.name = "resnet50", .file = "resnet50.vwt", .onnx = "resnet50.onnx", .quick = 1},
    {.name = "mobilenet_v2", .file = "mobilenet_v2.vwt", .onnx = "mobilenet_v2.onnx", .quick = 1},
    {.name = "coral-mobilenet_v2_1.0_224_quant", .file = "coral-mobilenet_v2_1.0_224_quant.vwt"},
    {.name = "coral-tf2_mobilenet_v2_1.0_224_ptq",
     .file = "coral-tf2_mobilenet_v2_1.0_224_ptq.vwt", .quick = 1},
    {.name = "coral-mobilenet_v1_1.0_224_quant_embedding_extractor",
     .file = "coral-mobilenet_v1_1.0_224_quant_embedding_extractor.vwt"},
    {.name = "coral-mobilenet_v1_0.25_128_quant", .file = "coral-mobilenet_v1_0.25_128_quant.vwt"},
    {.name = "nsfwjs-mobilenet_v2", .file = "nsfwjs-mobilenet_v2.vwt"},
    {.name = "nsfwjs-inception_v3", .file = "nsfwjs-inception_v3.vwt"},
    /* float models stored int8 (vireo convert --dtype int8; docs/QUANTIZATION.md):
     * ONNX Runtime's peer would be another quantization, so absolute figures */
    {.name = "resnet50-int8", .file = "resnet50-int8.vwt"},
    {.name = "mobilenet_v2-int8", .file = "mobilenet_v2-int8.vwt"},
    {.name = "nsfwjs-mobilenet_v2-int8", .file = "nsfwjs-mobilenet_v2-int8.vwt"},
    {.name = "nsfwjs-inception_v3-int8", .file = "nsfwjs-inception_v3-int8.vwt"},
    /* transformers: f32 ↔ the f32 export, int8 ↔ ORT's dynamic int8 of it (-dqmm.onnx) */
    {.name = "vit_b_32", .file = "vit_b_32.vwt", .onnx = "vit_b_32.onnx", .dtype = "f32",
     .peer_rows = 1},
    {.name = "vit_b_32", .file = "vit_b_32-int8.vwt", .onnx = "vit_b_32-dqmm.onnx",
     .dtype = "int8", .peer_rows = 1},
    {.name = "vit_b_16", .file = "vit_b_16.vwt", .onnx = "vit_b_16.onnx", .dtype = "f32",
     .peer_rows = 1},
    {.name = "vit_b_16", .file = "vit_b_16-int8.vwt", .onnx = "vit_b_16-dqmm.onnx",
     .dtype = "int8", .peer_rows = 1},
    {.name = "clip_text", .file = "clip_text.vwt", .onnx = "clip_text.onnx", .dtype = "f32",
     .peer_rows = 1, .ids = 77},
    {.name = "clip_text", .file = "clip_text-int8.vwt", .onnx = "clip_text-dqmm.onnx",
     .dtype = "int8", .peer_rows = 1, .ids = 77},
    /* toy transformers for the ctest smoke run (bench/models_smoke.sh) */
    {.name = "vit_tiny", .file = "vit_tiny.vwt", .onnx = "vit_tiny.onnx", .dtype = "f32",
     .peer_rows = 1, .hw = 64, .smoke = 1},
    {.name = "vit_tiny", .file = "vit_tiny-int8.vwt", .onnx = "vit_tiny-dqmm.onnx",
     .dtype = "int8", .peer_rows = 1, .hw = 64, .smoke = 1},
    {.name = "clip_text_tiny", .file = "clip_text_tiny.vwt", .onnx = "clip_text_tiny.onnx",
     .dtype = "f32", .peer_rows = 1, .ids = 77, .smoke = 1},
    {.name = "clip_text_tiny", .file = "clip_text_tiny-int8.vwt",
     .onnx = "clip_text_tiny-dqmm.onnx", .dtype = "int8", .peer_rows = 1, .ids = 77, .smoke = 1},
};

typedef struct mopts {
    int json, quick, runs, warmup, wall, no_baseline, profile, rounds;
    int threads[MAX_LIST], nthreads;
    int batch[MAX_LIST], nbatch;
    const char *dir, *filter, *node, *script;
} mopts;

static void models_usage(FILE *f)
{
    fprintf(f,
            "usage: vireo-bench models [FLAGS]\n\n"
            "Whole-model latency (ms per image) of the models bench/prepare_models.sh put in\n"
            "the cache dir, next to ONNX Runtime (onnxruntime-node) where it runs the same model.\n\n"
            "  --json            one JSON object per line (default: aligned table)\n"
            "  --runs N          timed runs per side, median reported (default 5, >= 1)\n"
            "  --warmup N        untimed runs first (default 2)\n"
            "  --rounds R        R rounds of ours then ORT (default 1); the ratio is the\n"
            "                    median of the R per-round ratios, with their range\n"
            "  --threads LIST    thread counts (default 1,2)\n"
            "  --batch LIST      batch sizes (default 1,8; --quick: 1)\n"
            "  --quick           resnet50, mobilenet_v2, coral tf2 MobileNetV2 (int8) only\n"
            "  --filter SUBSTR   only models whose name contains SUBSTR\n"
            "  --dir DIR         the model cache (default $VIREO_BENCH_MODELS, else\n"
            "                    /tmp/vireo-bench-models)\n"
            "  --clock auto|wall auto: 1-thread rows on CPU clocks, others on the wall clock\n"
            "  --no-baseline     skip ONNX Runtime\n"
            "  --profile         per-op time shares (and the slowest nodes) of every model, 1\n"
            "                    thread (models with attention get the share row anyway)\n"
            "  --node PATH       node executable (default: node on PATH)\n"
            "  --ort-script PATH bench/ort_bench.mjs (default: found next to the sources)\n");
}

static int parse_list(const char *s, int *out, int *n, int maxv)
{
    *n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > maxv || *n == MAX_LIST || (*end && *end != ','))
            return -1;
        out[(*n)++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return *n ? 0 : -1;
}

static double cpu_thread_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static double wall_ms(void) { return 1e3 * bench_now(); }

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* tools/torch_reference.py input_value: the ORT side feeds the same values
 * (NCHW there, NHWC here). */
static float input_value(int h, int w, int c)
{
    const int P = 97;
    int n1 = 3 * h + 2 * w + 23 * c, n2 = h + 5 * w + 41 * c + 11;
    double v = (3.0 * abs(2 * (n1 % P) - P) + 2.0 * abs(2 * (n2 % P) - P)) / (5.0 * P);
    return (float)(4.0 * v - 2.0);
}

/* tools/torch_reference.py clip_text_ids()[row % 3]: [49406] + n ids +
 * [49407], n = 5, 30, 100 (truncated to the context, 49407 last), zero-padded;
 * bench/ort_bench.mjs --ids feeds the same rows. */
static void clip_text_ids(int row, int32_t *ids, int context)
{
    static const int lens[3] = {5, 30, 100};
    int n = lens[row % 3], k = 0;
    memset(ids, 0, (size_t)context * sizeof *ids);
    ids[k++] = 49406;
    for (int i = 0; i < n && k < context; i++)
        ids[k++] = 1 + (int32_t)(((long long)i * 7919 + (long long)(row % 3) * 104729) % 49405);
    if (k < context)
        ids[k++] = 49407;
    else
        ids[context - 1] = 49407;
}

static void fill_input(const vr_value *iv, int batch, void *buf)
{
    size_t per = (size_t)iv->h * iv->w * iv->c;
    for (int b = 0; b < batch; b++) {
        if (iv->dtype == VR_S32) {
            clip_text_ids(b, (int32_t *)buf + per * b, (int)per);
        } else if (iv->dtype == VR_F32) {
            float *x = (float *)buf + per * b;
            for (int h = 0; h < iv->h; h++)
                for (int w = 0; w < iv->w; w++)
                    for (int c = 0; c < iv->c; c++)
                        *x++ = input_value(h, w, c);
        } else if (iv->dtype == VR_U8) {
            bench_fill_u8((uint8_t *)buf + per * b, per, 1234);
        } else {
            bench_fill_s8((int8_t *)buf + per * b, per, 1234);
        }
    }
}

/* Single-quoted for /bin/sh. */
static void shq(char *dst, size_t cap, size_t *len, const char *s)
{
    if (*len + 1 < cap)
        dst[(*len)++] = '\'';
    for (; *s && *len + 5 < cap; s++) {
        if (*s == '\'') {
            memcpy(dst + *len, "'\\''", 4);
            *len += 4;
        } else {
            dst[(*len)++] = *s;
        }
    }
    if (*len + 1 < cap)
        dst[(*len)++] = '\'';
    dst[*len] = 0;
}

static const char *json_field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? p + strlen(pat) : NULL;
}

/* The peer's command line (serve: ort_bench.mjs --serve); 0, or -1 when it
 * does not fit. */
static int ort_command(const mopts *o, const char *onnx, int batch, int threads, int hw, int ids,
                       const char *dump, int serve, char *cmd, size_t cap)
{
    size_t n = 0;
    shq(cmd, cap, &n, o->node);
    n += (size_t)snprintf(cmd + n, cap - n, " ");
    shq(cmd, cap, &n, o->script);
    n += (size_t)snprintf(cmd + n, cap - n, " --model ");
    shq(cmd, cap, &n, onnx);
    n += (size_t)snprintf(cmd + n, cap - n,
                          " --batch %d --threads %d --runs %d --warmup %d --clock %s", batch,
                          threads, o->runs, o->warmup, o->wall ? "wall" : "auto");
    if (ids > 0)
        n += (size_t)snprintf(cmd + n, cap - n, " --ids %d", ids);
    else
        n += (size_t)snprintf(cmd + n, cap - n, " --hw %d", hw);
    n += (size_t)snprintf(cmd + n, cap - n, " --ort ");
    char ortdir[1200];
    snprintf(ortdir, sizeof ortdir, "%s/node_modules/onnxruntime-node", o->dir);
    shq(cmd, cap, &n, ortdir);
    if (dump) {
        n += (size_t)snprintf(cmd + n, cap - n, " --dump ");
        shq(cmd, cap, &n, dump);
    }
    if (serve)
        n += (size_t)snprintf(cmd + n, cap - n, " --serve");
    return n + 8 >= cap ? -1 : 0;
}

/* The peer's reason from its JSON line (or its exit status) into why. */
static void ort_why(const mopts *o, const char *line, int st, char *why, size_t wlen)
{
    const char *e = json_field(line, "error");
    if (e && *e == '"') {
        size_t k = 0;
        for (e++; *e && *e != '"' && k + 1 < wlen; e++) {
            if (*e == '\\' && e[1]) /* keep escapes short: \n -> space */
                e++, why[k++] = *e == 'n' ? ' ' : *e;
            else
                why[k++] = *e;
        }
        why[k] = 0;
    } else if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        snprintf(why, wlen, "cannot run %s (node not installed?)", o->node);
    } else {
        snprintf(why, wlen, "ort_bench.mjs failed (status %d)", st);
    }
}

static void ort_version(const char *line, char *version, size_t vlen)
{
    const char *ver = json_field(line, "ort_version");
    version[0] = 0;
    if (ver && *ver == '"') {
        size_t k = 0;
        for (ver++; *ver && *ver != '"' && k + 1 < vlen; ver++)
            version[k++] = *ver;
        version[k] = 0;
    }
}

/* Runs the peer; returns its ms per run (the whole batch), or -1 with a
 * reason in why. */
static double run_ort(const mopts *o, const char *onnx, int batch, int threads, int hw, int ids,
                      const char *dump, char *version, size_t vlen, char *why, size_t wlen)
{
    char cmd[4096];
    if (ort_command(o, onnx, batch, threads, hw, ids, dump, 0, cmd, sizeof cmd)) {
        snprintf(why, wlen, "command too long");
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(why, wlen, "popen: %s", strerror(errno));
        return -1;
    }
    char line[2048] = "", buf[2048];
    while (fgets(buf, sizeof buf, p))
        if (buf[0] == '{')
            snprintf(line, sizeof line, "%s", buf);
    int st = pclose(p);
    line[strcspn(line, "\n")] = 0;
    const char *ok = json_field(line, "ok");
    if (!ok || strncmp(ok, "true", 4)) {
        ort_why(o, line, st, why, wlen);
        return -1;
    }
    const char *ms = json_field(line, "ms");
    double v = ms ? strtod(ms, NULL) : -1;
    ort_version(line, version, vlen);
    if (!(v > 0)) {
        snprintf(why, wlen, "no timing in ort_bench.mjs output");
        return -1;
    }
    return v;
}

typedef struct row {
    const char *model, *dtype, *isa, *clock, *baseline, *baseline_clock;
    int batch, threads;
    double ms_per_image, baseline_ms_per_image;
    /* --rounds R > 1: the median of the R paired ratios (ours / ORT, each
     * round timing ours, then ORT), and their range; else 0 */
    int rounds;
    double ratio, ratio_min, ratio_max;
    char ort_version[32];
    size_t arena;
    const char *check; /* NULL: not checked */
    double max_err, min_cos;
    const char *error; /* ours could not run: why (then ms_per_image is null) */
} row;

static void num(const char *k, double v)
{
    if (v > 0 && isfinite(v))
        printf(",\"%s\":%.4g", k, v);
    else
        printf(",\"%s\":null", k);
}

/* The issues' targets: ResNet-50 f32 batch 1, 1 thread <= 0.85x ORT;
 * MobileNetV2 int8 <= 3 ms per image per core (issue 3); batch 1, 1 thread:
 * ViT-B/32 f32 <= 0.65x ORT, ViT-B/16 f32 <= 0.75x ORT, ViT-B/32 int8 <= 0.8x
 * ORT's dynamic int8 (issue 6). */
static const struct {
    const char *model, *dtype, *target;
    double ratio;
} RATIO_TARGETS[] = {{"vit_b_32", "f32", "ratio<=0.65", 0.65},
                     {"vit_b_16", "f32", "ratio<=0.75", 0.75},
                     {"vit_b_32", "int8", "ratio<=0.8", 0.8}};

/* ours / ORT: the paired median with --rounds, else the ratio of the two
 * medians; -1 without a baseline. */
static double row_ratio(const row *r)
{
    if (r->rounds > 1 && r->ratio > 0)
        return r->ratio;
    return r->ms_per_image > 0 && r->baseline_ms_per_image > 0
               ? r->ms_per_image / r->baseline_ms_per_image
               : -1;
}

static const char *target_of(const row *r, int *met)
{
    for (size_t i = 0; i < sizeof RATIO_TARGETS / sizeof *RATIO_TARGETS; i++)
        if (!strcmp(r->model, RATIO_TARGETS[i].model) && !strcmp(r->dtype, RATIO_TARGETS[i].dtype) &&
            r->batch == 1 && r->threads == 1) {
            const double q = row_ratio(r);
            *met = q > 0 ? q <= RATIO_TARGETS[i].ratio : -1;
            return RATIO_TARGETS[i].target;
        }
    if (!strcmp(r->model, "resnet50") && r->batch == 1 && r->threads == 1) {
        const double q = row_ratio(r);
        *met = q > 0 ? q <= 0.85 : -1;
        return "ratio<=0.85";
    }
    if (strstr(r->model, "coral-") && strstr(r->model, "mobilenet_v2") && r->threads == 1) {
        *met = r->ms_per_image * r->threads <= 3.0;
        return "core_ms_per_image<=3";
    }
    return NULL;
}

static void json_str(const char *k, const char *v)
{
    printf(",\"%s\":\"", k);
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void emit(const mopts *o, const row *r, int runs)
{
    const double ratio = row_ratio(r);
    int met = -1;
    const char *target = target_of(r, &met);
    if (o->json) {
        printf("{\"model\":\"%s\",\"dtype\":\"%s\",\"batch\":%d,\"threads\":%d,\"isa\":\"%s\"",
               r->model, r->dtype, r->batch, r->threads, r->isa);
        num("ms_per_image", r->ms_per_image);
        num("core_ms_per_image", r->ms_per_image * r->threads);
        if (r->error)
            json_str("error", r->error);
        if (r->baseline)
            printf(",\"baseline\":\"%s\",\"baseline_version\":\"%s\"", r->baseline,
                   r->ort_version);
        else
            printf(",\"baseline\":null");
        num("baseline_ms_per_image", r->baseline_ms_per_image);
        num("ratio", ratio);
        if (r->rounds > 1) {
            printf(",\"rounds\":%d", r->rounds);
            num("ratio_min", r->ratio_min);
            num("ratio_max", r->ratio_max);
        }
        if (r->check) {
            printf(",\"check\":\"%s\"", r->check);
            num("max_err", r->max_err + 1e-300);
            printf(",\"min_cosine\":%.6f", r->min_cos);
        }
        if (target)
            printf(",\"target\":\"%s\",\"target_met\":%s", target,
                   met < 0 ? "null" : met ? "true" : "false");
        printf(",\"clock\":\"%s\"", r->clock);
        if (r->baseline)
            printf(",\"baseline_clock\":\"%s\"", r->baseline_clock);
        printf(",\"runs\":%d,\"arena_bytes\":%zu", runs, r->arena);
        num("loadavg", bench_loadavg());
        printf("}\n");
    } else {
        if (r->error) {
            printf("%-52s %-5s %5d %3d %10s %10s %-12s %10.3f %7s error: %s\n", r->model, r->dtype,
                   r->batch, r->threads, "-", "-", r->baseline ? r->baseline : "-",
                   r->baseline_ms_per_image, "-", r->error);
            fflush(stdout);
            return;
        }
        char b[16] = "-", ra[16] = "-";
        if (r->baseline_ms_per_image > 0)
            snprintf(b, sizeof b, "%.3f", r->baseline_ms_per_image);
        if (ratio > 0)
            snprintf(ra, sizeof ra, "%.3f", ratio);
        char rr[64] = "";
        if (r->rounds > 1)
            snprintf(rr, sizeof rr, " (%d rounds: %.3f-%.3f)", r->rounds, r->ratio_min,
                     r->ratio_max);
        printf("%-52s %-5s %5d %3d %10.3f %10.3f %-12s %10s %7s %-8s %s%s\n", r->model, r->dtype,
               r->batch, r->threads, r->ms_per_image, r->ms_per_image * r->threads,
               r->baseline ? r->baseline : "-", b, ra, r->check ? r->check : "-",
               target ? (met < 0 ? "target ?" : met ? "target met" : "target missed") : "", rr);
    }
    fflush(stdout);
}

/* Our output (after the last timed run) vs the peer's: max |ours - ORT| /
 * max(1, max |ORT|) over the whole batch, "ok" up to CHECK_TOL; and the
 * smallest cosine between an image's two output rows. Both sides got the same
 * input; f32 summation orders differ, so not bit-exact. int8 rows are two
 * different quantizations (ours static per-channel, ORT's dynamic per-tensor
 * activations), each near its f32 model, not near each other to 1e-3: "ok"
 * when every cosine is >= CHECK_COS_INT8 (the int8-vs-f32 bar). */
#define CHECK_TOL 1e-3
#define CHECK_COS_INT8 0.99
static void check_output(row *r, const char *dump, const float *ours, size_t n)
{
    FILE *f = fopen(dump, "rb");
    float *ref = malloc(n * sizeof *ref + 1);
    size_t got = f && ref ? fread(ref, sizeof *ref, n + 1, f) : 0;
    if (f)
        fclose(f);
    if (got != n) {
        r->check = "size-mismatch";
        r->max_err = -1;
        fprintf(stderr, "vireo-bench models: %s batch %d: ONNX Runtime output has %zu values, ours %zu\n",
                r->model, r->batch, got, n);
        free(ref);
        return;
    }
    double amax = 1, d = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(ref[i]) > amax)
            amax = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)ours[i] - ref[i]);
        if (!(e <= d))
            d = isnan(e) ? INFINITY : e;
    }
    r->max_err = d / amax;
    size_t per = n / (size_t)r->batch;
    r->min_cos = 1;
    for (int b = 0; b < r->batch; b++) {
        double xy = 0, xx = 0, yy = 0;
        for (size_t i = (size_t)b * per; i < (size_t)(b + 1) * per; i++) {
            xy += (double)ours[i] * ref[i];
            xx += (double)ours[i] * ours[i];
            yy += (double)ref[i] * ref[i];
        }
        double c = xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : (xx == yy ? 1 : 0);
        if (!(c >= r->min_cos))
            r->min_cos = isnan(c) ? -1 : c;
    }
    if (!strcmp(r->dtype, "int8"))
        r->check = r->min_cos >= CHECK_COS_INT8 ? "ok" : "mismatch";
    else
        r->check = r->max_err <= CHECK_TOL ? "ok" : "mismatch";
    if (strcmp(r->check, "ok"))
        fprintf(stderr, "vireo-bench models: WARNING: %s %s batch %d: output differs from ONNX "
                "Runtime's (max error %g of the largest output, min cosine %.6f)\n", r->model,
                r->dtype, r->batch, r->max_err, r->min_cos);
    free(ref);
}

static void settle(void)
{
    struct timespec ts = {0, 40 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Median ms of one vr_plan_run, after o->warmup untimed runs. */
static double time_ours(const mopts *o, vr_plan *plan, vr_pool *pool, const void *in, void *out,
                        int threads)
{
    double (*clk)(void) = o->wall || threads > 1 ? wall_ms : cpu_thread_ms;
    double t[64];
    int runs = o->runs > 64 ? 64 : o->runs;
    if (threads > 1)
        settle();
    for (int i = 0; i < o->warmup; i++)
        if (vr_plan_run(plan, pool, in, out) != 0)
            return -1;
    for (int r = 0; r < runs; r++) {
        double t0 = clk();
        if (vr_plan_run(plan, pool, in, out) != 0)
            return -1;
        t[r] = clk() - t0;
    }
    return bench_median(t, runs);
}

static const char *default_script(char *buf, size_t len)
{
    const char *env = getenv("VIREO_ORT_BENCH");
    if (env && *env)
        return env;
    if (file_exists("bench/ort_bench.mjs"))
        return "bench/ort_bench.mjs";
    /* next to this source file (CMake compiles it by absolute path) */
    snprintf(buf, len, "%s", __FILE__);
    char *slash = strrchr(buf, '/');
    if (slash) {
        snprintf(slash + 1, len - (size_t)(slash + 1 - buf), "ort_bench.mjs");
        if (file_exists(buf))
            return buf;
    }
    /* build dir next to the sources: <exe dir>/../bench/ort_bench.mjs */
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *s = strrchr(exe, '/');
        if (s) {
            *s = 0;
            snprintf(buf, len, "%s/../bench/ort_bench.mjs", exe);
            if (file_exists(buf))
                return buf;
        }
    }
    return "bench/ort_bench.mjs";
}

/* A long-lived peer for --rounds (ort_bench.mjs --serve): the model loaded
 * once, then "run N" answered with the median of N runs, so each round's ORT
 * runs follow ours within a fraction of a second. */
typedef struct ort_server {
    pid_t pid;
    FILE *to, *from;
} ort_server;

/* The next JSON line from the peer into line (NUL-terminated), or -1. */
static int ort_line(ort_server *s, char *line, size_t len)
{
    while (fgets(line, (int)len, s->from))
        if (line[0] == '{') {
            line[strcspn(line, "\n")] = 0;
            return 0;
        }
    return -1;
}

static void ort_server_close(ort_server *s)
{
    if (s->to)
        fclose(s->to); /* end of requests: the peer writes --dump and exits */
    if (s->from) {
        char buf[512];
        while (fgets(buf, sizeof buf, s->from))
            ;
        fclose(s->from);
    }
    if (s->pid > 0)
        waitpid(s->pid, NULL, 0);
    memset(s, 0, sizeof *s);
}

static int ort_server_open(const mopts *o, const char *onnx, int batch, int threads, int hw,
                           int ids, const char *dump, ort_server *s, char *version, size_t vlen,
                           char *why, size_t wlen)
{
    char cmd[4096], line[2048];
    int to[2], from[2];
    memset(s, 0, sizeof *s);
    if (ort_command(o, onnx, batch, threads, hw, ids, dump, 1, cmd, sizeof cmd)) {
        snprintf(why, wlen, "command too long");
        return -1;
    }
    if (pipe(to))
        return snprintf(why, wlen, "pipe: %s", strerror(errno)), -1;
    if (pipe(from)) {
        close(to[0]), close(to[1]);
        return snprintf(why, wlen, "pipe: %s", strerror(errno)), -1;
    }
    fflush(stdout);
    fflush(stderr);
    signal(SIGPIPE, SIG_IGN); /* a peer that died fails the write, not us */
    s->pid = fork();
    if (s->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]), close(to[1]), close(from[0]), close(from[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    if (s->pid < 0) {
        close(to[1]), close(from[0]);
        return snprintf(why, wlen, "fork: %s", strerror(errno)), -1;
    }
    s->to = fdopen(to[1], "w");
    s->from = fdopen(from[0], "r");
    if (!s->to || !s->from || ort_line(s, line, sizeof line)) {
        snprintf(why, wlen, "ort_bench.mjs --serve gave no ready line");
        ort_server_close(s);
        return -1;
    }
    const char *ok = json_field(line, "ready");
    if (!ok || strncmp(ok, "true", 4)) {
        ort_why(o, line, -1, why, wlen);
        ort_server_close(s);
        return -1;
    }
    ort_version(line, version, vlen);
    return 0;
}

/* ms per run (the whole batch), median of n, or -1. */
static double ort_server_run(ort_server *s, int n, char *why, size_t wlen)
{
    char line[2048];
    if (fprintf(s->to, "run %d\n", n) < 0 || fflush(s->to) || ort_line(s, line, sizeof line)) {
        snprintf(why, wlen, "ort_bench.mjs --serve stopped answering");
        return -1;
    }
    const char *ms = json_field(line, "ms"), *ok = json_field(line, "ok");
    double v = ms && ok && !strncmp(ok, "true", 4) ? strtod(ms, NULL) : -1;
    if (!(v > 0))
        snprintf(why, wlen, "ort_bench.mjs --serve: %.400s", line);
    return v > 0 ? v : -1;
}

/* ORT's ms for r's whole batch into r. */
static void set_baseline(const mopts *o, row *r, double bms)
{
    r->baseline = "onnxruntime";
    r->baseline_clock = o->wall || r->threads > 1 ? "wall" : "process-cpu";
    r->baseline_ms_per_image = bms / r->batch;
}

/* ORT's figure for r (and, with ours = the output of our last run, the check
 * of ours against its output). */
static void baseline_into(const mopts *o, row *r, const char *onnx, int hw, int ids,
                          const float *ours, size_t nout, int *ort_noted)
{
    char why[512], dump[] = "/tmp/vireo-bench-ort-XXXXXX";
    int fd = ours ? mkstemp(dump) : -1;
    if (fd >= 0)
        close(fd);
    if (r->threads > 1)
        settle(); /* our pool's threads spin for a while */
    double bms = run_ort(o, onnx, r->batch, r->threads, hw, ids, fd >= 0 ? dump : NULL,
                         r->ort_version, sizeof r->ort_version, why, sizeof why);
    if (bms > 0 && fd >= 0)
        check_output(r, dump, ours, nout);
    if (fd >= 0)
        unlink(dump);
    if (bms > 0) {
        set_baseline(o, r, bms);
    } else if (!(*ort_noted)++) {
        fprintf(stderr,
                "vireo-bench models: no ONNX Runtime baseline (%s): rows carry "
                "\"baseline\":null; run bench/prepare_models.sh\n",
                why);
    }
}

/* Our model could not be made or opened: rows with "error" (the reason
 * prepare_models.sh kept in <file>.error, or `why`), and ORT's figures. */
static void error_rows(const mopts *o, const model_spec *s, const char *why, const char *onnx,
                       const vk_ops *ops, int *ort_noted)
{
    char reason[600], epath[1300];
    snprintf(reason, sizeof reason, "%s", why);
    snprintf(epath, sizeof epath, "%s/%s.error", o->dir, s->file);
    FILE *f = fopen(epath, "r");
    if (f) {
        size_t n = fread(reason, 1, sizeof reason - 1, f);
        fclose(f);
        reason[n] = 0;
        while (n && (reason[n - 1] == '\n' || reason[n - 1] == ' '))
            reason[--n] = 0;
        for (char *c = reason; *c; c++)
            if (*c == '\n')
                *c = ' ';
    } else {
        snprintf(reason, sizeof reason, "%s missing (run bench/prepare_models.sh)", s->file);
    }
    for (int bi = 0; bi < o->nbatch; bi++)
        for (int ti = 0; ti < o->nthreads; ti++) {
            row r = {.model = s->name, .dtype = s->dtype ? s->dtype : "?",
                     .batch = o->batch[bi], .threads = o->threads[ti],
                     .isa = vk_isa_name(ops->level), .clock = "-", .error = reason};
            if (onnx[0])
                baseline_into(o, &r, onnx, s->hw ? s->hw : 224, s->ids, NULL, 0, ort_noted);
            emit(o, &r, o->runs);
        }
}

static int has_attention(const vr_graph *g)
{
    for (int i = 0; i < vr_graph_node_count(g); i++)
        if (vr_graph_node(g, i)->op == VR_OP_ATTENTION)
            return 1;
    return 0;
}

static void model_rows(const mopts *o, const model_spec *s, vr_model *m, const char *onnx,
                       const vk_ops *ops, int *ort_noted)
{
    char err[512];
    const vr_value *iv = vr_graph_value(m->graph, vr_graph_input(m->graph));
    const vr_value *ov = vr_graph_value(m->graph, vr_graph_output(m->graph));
    const char *dtype = s->dtype ? s->dtype : iv->dtype == VR_F32 ? "f32" : "int8";
    int ids = iv->dtype == VR_S32 ? iv->h * iv->w * iv->c : 0;
    int profile = o->profile || has_attention(m->graph);
    for (int bi = 0; bi < o->nbatch; bi++) {
        int batch = o->batch[bi];
        vr_plan *plan = vr_plan_create(m->graph, batch, ops, err, sizeof err);
        if (!plan) {
            fprintf(stderr, "vireo-bench models: %s batch %d: %s\n", s->name, batch, err);
            continue;
        }
        size_t in_bytes = (size_t)batch * iv->h * iv->w * iv->c * vr_dtype_size(iv->dtype);
        size_t out_bytes = (size_t)batch * ov->h * ov->w * ov->c * vr_dtype_size(ov->dtype);
        void *in = bench_alloc(in_bytes), *out = bench_alloc(out_bytes);
        fill_input(iv, batch, in);
        for (int ti = 0; ti < o->nthreads; ti++) {
            int threads = o->threads[ti];
            row r = {.model = s->name, .dtype = dtype, .batch = batch, .threads = threads,
                     .isa = vk_isa_name(ops->level),
                     .clock = o->wall || threads > 1 ? "wall" : "thread-cpu",
                     .arena = vr_plan_arena_bytes(plan)};
            /* Rounds alternate ours and ORT, so that both see the same
             * spells of a shared host's load (it swings either side by 10-20 %
             * for seconds at a time here); the row gives each side's median
             * and the median of the per-round ratios. */
            double ms[MAX_ROUNDS], bms[MAX_ROUNDS], q[MAX_ROUNDS];
            int nr = 0, nq = 0, failed = 0;
            /* With rounds, one long-lived peer (ort_server), checked against
             * our last output when it exits; without one, a peer per round. */
            ort_server srv = {0};
            char why[512], dump[] = "/tmp/vireo-bench-ort-XXXXXX";
            int served = 0, dfd = -1;
            if (o->rounds > 1 && onnx[0]) {
                dfd = ov->dtype == VR_F32 ? mkstemp(dump) : -1;
                if (dfd >= 0)
                    close(dfd);
                served = !ort_server_open(o, onnx, batch, threads, iv->h, ids,
                                          dfd >= 0 ? dump : NULL, &srv, r.ort_version,
                                          sizeof r.ort_version, why, sizeof why);
                if (!served)
                    fprintf(stderr, "vireo-bench models: no ORT server (%s): a peer per round\n",
                            why);
            }
            for (int k = 0; k < o->rounds; k++) {
                double t = time_ours(o, plan, bench_pool(threads), in, out, threads);
                if (t < 0) {
                    failed = 1;
                    break;
                }
                ms[nr++] = t / batch;
                r.baseline_ms_per_image = 0;
                if (served) {
                    if (threads > 1)
                        settle();
                    const double b = ort_server_run(&srv, o->runs, why, sizeof why);
                    if (b > 0)
                        set_baseline(o, &r, b);
                    else
                        fprintf(stderr, "vireo-bench models: %s\n", why);
                } else if (onnx[0]) { /* the output check on the last round only */
                    baseline_into(o, &r, onnx, iv->h, ids,
                                  ov->dtype == VR_F32 && k == o->rounds - 1 ? out : NULL,
                                  out_bytes / sizeof(float), ort_noted);
                }
                if (r.baseline_ms_per_image > 0) {
                    bms[nq] = r.baseline_ms_per_image;
                    q[nq] = ms[nr - 1] / bms[nq];
                    nq++;
                }
            }
            if (served) {
                ort_server_close(&srv);
                if (dfd >= 0 && nq > 0 && !failed)
                    check_output(&r, dump, out, out_bytes / sizeof(float));
            }
            if (dfd >= 0)
                unlink(dump);
            if (failed) {
                fprintf(stderr, "vireo-bench models: %s batch %d: vr_plan_run failed\n", s->name,
                        batch);
                continue;
            }
            r.ms_per_image = bench_median(ms, nr);
            r.baseline_ms_per_image = bench_median(bms, nq);
            if (nq > 1 && o->rounds > 1) {
                r.rounds = nq;
                r.ratio = bench_median(q, nq); /* q now sorted */
                r.ratio_min = q[0];
                r.ratio_max = q[nq - 1];
            }
            emit(o, &r, o->runs);
        }
        models_prof prof;
        if (profile) {
            if (models_profile(plan, m->graph, in, out, o->runs, o->warmup, &prof) == 0)
                models_profile_emit(o->json, s->name, dtype, batch, m->graph, &prof, o->runs,
                                    o->profile);
            else
                fprintf(stderr, "vireo-bench models: %s batch %d: profile failed\n", s->name,
                        batch);
        }
        bench_free(in);
        bench_free(out);
        vr_plan_free(plan);
    }
}

int cmd_models(int argc, char **argv)
{
    mopts o = {.runs = 5, .warmup = 2, .node = "node", .rounds = 1};
    char scriptbuf[1200];
    const char *envdir = getenv("VIREO_BENCH_MODELS");
    o.dir = envdir && *envdir ? envdir : "/tmp/vireo-bench-models";
    int batch_given = 0;
    parse_list("1,2", o.threads, &o.nthreads, BENCH_MAX_THREADS);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (!strcmp(a, "--quick")) {
            o.quick = 1;
        } else if (!strcmp(a, "--profile")) {
            o.profile = 1;
        } else if (!strcmp(a, "--no-baseline")) {
            o.no_baseline = 1;
        } else if (!strcmp(a, "--runs") && v) {
            o.runs = atoi(v);
            i++;
            if (o.runs < 1 || o.runs > 64) {
                fprintf(stderr, "vireo-bench models: --runs must be 1..64\n");
                return 2;
            }
        } else if (!strcmp(a, "--rounds") && v) {
            o.rounds = atoi(v);
            i++;
            if (o.rounds < 1 || o.rounds > MAX_ROUNDS) {
                fprintf(stderr, "vireo-bench models: --rounds must be 1..%d\n", MAX_ROUNDS);
                return 2;
            }
        } else if (!strcmp(a, "--warmup") && v) {
            o.warmup = atoi(v);
            i++;
            if (o.warmup < 0) {
                fprintf(stderr, "vireo-bench models: --warmup must be >= 0\n");
                return 2;
            }
        } else if (!strcmp(a, "--threads") && v) {
            if (parse_list(v, o.threads, &o.nthreads, BENCH_MAX_THREADS)) {
                fprintf(stderr, "vireo-bench models: bad --threads '%s' (e.g. 1,2; max %d)\n", v,
                        BENCH_MAX_THREADS);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--batch") && v) {
            if (parse_list(v, o.batch, &o.nbatch, 256)) {
                fprintf(stderr, "vireo-bench models: bad --batch '%s' (e.g. 1,8)\n", v);
                return 2;
            }
            batch_given = 1;
            i++;
        } else if (!strcmp(a, "--filter") && v) {
            o.filter = v;
            i++;
        } else if (!strcmp(a, "--dir") && v) {
            o.dir = v;
            i++;
        } else if (!strcmp(a, "--node") && v) {
            o.node = v;
            i++;
        } else if (!strcmp(a, "--ort-script") && v) {
            o.script = v;
            i++;
        } else if (!strcmp(a, "--clock") && v) {
            if (!strcmp(v, "wall"))
                o.wall = 1;
            else if (strcmp(v, "auto")) {
                fprintf(stderr, "vireo-bench models: --clock auto|wall\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            models_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "vireo-bench models: unknown flag '%s'\n", a);
            models_usage(stderr);
            return 2;
        }
    }
    if (!batch_given)
        parse_list(o.quick ? "1" : "1,8", o.batch, &o.nbatch, 256);
    if (!o.script)
        o.script = default_script(scriptbuf, sizeof scriptbuf);

    char err[512];
    if (vk_ops_init(err, sizeof err) != 0) {
        fprintf(stderr, "vireo-bench: %s\n", err);
        return 1;
    }
    const vk_ops *ops = vk_ops_get();
    double t_start = bench_now(), load = bench_loadavg();
    int multi = 0;
    for (int i = 0; i < o.nthreads; i++)
        multi |= o.threads[i] > 1;
    if (multi && load > vr_cpu_count())
        fprintf(stderr,
                "vireo-bench: this machine is busy (load %.1f on %d CPUs): multi-thread rows are "
                "timed on the wall clock and will be noisy\n",
                load, vr_cpu_count());
    if (!o.json) {
        printf("%-52s %-5s %5s %3s %10s %10s %-12s %10s %7s %-8s %s\n", "model", "dtype", "batch",
               "thr", "ms/img", "core_ms/img", "baseline", "base_ms/img", "ratio", "check",
               "target");
        fflush(stdout);
    }

    int found = 0, ort_noted = 0;
    for (size_t mi = 0; mi < sizeof MODELS / sizeof MODELS[0]; mi++) {
        const model_spec *s = &MODELS[mi];
        if (o.quick && !s->quick)
            continue;
        if (o.filter && !strstr(s->name, o.filter))
            continue;
        char path[1200], onnx[1200] = "", epath[1300];
        snprintf(path, sizeof path, "%s/%s", o.dir, s->file);
        snprintf(epath, sizeof epath, "%s.error", path);
        if (s->smoke && !file_exists(path) && !file_exists(epath))
            continue;
        if (s->onnx && !o.no_baseline) {
            snprintf(onnx, sizeof onnx, "%s/%s", o.dir, s->onnx);
            if (!file_exists(onnx)) {
                fprintf(stderr, "vireo-bench models: %s missing: no ONNX Runtime figures for %s\n",
                        onnx, s->name);
                onnx[0] = 0;
            }
        }
        vr_model *m = NULL;
        if (!file_exists(path)) {
            fprintf(stderr, "vireo-bench models: %s missing: run bench/prepare_models.sh --dir %s\n",
                    path, o.dir);
            if (s->peer_rows)
                error_rows(&o, s, path, onnx, ops, &ort_noted);
            continue;
        }
        if (vr_model_open(path, &m, err, sizeof err)) {
            fprintf(stderr, "vireo-bench models: %s: %s\n", path, err);
            if (s->peer_rows)
                error_rows(&o, s, err, onnx, ops, &ort_noted);
            continue;
        }
        found++;
        model_rows(&o, s, m, onnx, ops, &ort_noted);
        vr_model_close(m);
    }
    if (!found) {
        fprintf(stderr, "vireo-bench models: no models in %s: run bench/prepare_models.sh first\n",
                o.dir);
        return 1;
    }
    fprintf(stderr, "vireo-bench: models done in %.1f s\n", bench_now() - t_start);
    return 0;
}
