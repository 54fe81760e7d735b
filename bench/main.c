/* vireo-bench: subcommands and flags. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

int cmd_models(int argc, char **argv); /* models.c */
int cmd_pipeline(int argc, char **argv); /* pipeline.c */
int cmd_index(int argc, char **argv);  /* index.c */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vireo-bench COMMAND [FLAGS]\n\n"
            "commands:\n"
            "  kernels    each kernel vs oneDNN on real model shapes (ViT-B, ResNet-50,\n"
            "             MobileNetV2, attention), with the machine's measured peak\n"
            "  models     whole-model latency vs ONNX Runtime (prepare the models first:\n"
            "             bench/prepare_models.sh; vireo-bench models --help)\n"
            "  pipeline   the image pipeline: loading (pread / io_uring, cold / hot), decoding\n"
            "             (full / DCT-scaled), models, end to end (vireo-bench pipeline --help)\n"
            "  index      flat-index scan speed and recall vs FAISS (vireo-bench index --help)\n\n"
            "kernels flags:\n"
            "  --json            one JSON object per line (default: aligned table)\n"
            "  --filter SUBSTR   only rows whose op.dtype (e.g. matmul.int8), shape or layer\n"
            "                    contains SUBSTR\n"
            "  --threads LIST    thread counts, e.g. 1,2 (default 1,2)\n"
            "  --runs N          rounds per row, each a run of ours and of the baseline back\n"
            "                    to back; medians and the rounds' median ratio (default 5)\n"
            "  --min-ms X        minimum duration of one run (default 50; each run >= 3 calls)\n"
            "  --clock auto|wall auto (default): 1-thread rows on this thread's CPU clock\n"
            "                    (robust on a shared machine), others on the wall clock\n"
            "  --quick           a handful of representative shapes (< 60 s)\n"
            "  --no-vnni         skip the second int8 baseline (oneDNN capped at AVX512_CORE_VNNI)\n\n"
            "environment: VIREO_ISA=ref|avx512|amx|neon selects our kernel level\n");
}

/* ------------------------------------------------------------------- peak */
typedef struct peak_ctx {
    int vnni;
    long iters;
    double rate[BENCH_MAX_THREADS];
} peak_ctx;

static double thread_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Each thread times itself on its own CPU clock: other processes share this
 * machine, and the peak is what a core does while it runs our thread. The
 * threads run concurrently, so shared-core effects (SMT) still show. */
static void peak_task(void *ctx, int tid, int nt)
{
    peak_ctx *p = ctx;
    double t0 = thread_seconds();
    double ops = p->vnni == 2 ? bench_peak_dpbf16(p->iters)
                 : p->vnni ? bench_peak_vnni_s8(p->iters) : bench_peak_fma_f32(p->iters);
    p->rate[tid] = ops / (thread_seconds() - t0) / 1e9;
}

static double measure_peak(int vnni, int threads)
{
    peak_ctx p = {.vnni = vnni, .iters = 1 << 18};
    vr_pool *pool = bench_pool(threads);
    double best = 0;
    for (int trial = 0; trial < 20; trial++) {
        vr_pool_run(pool, peak_task, &p);
        double sum = 0;
        for (int i = 0; i < threads; i++)
            sum += p.rate[i];
        if (sum > best)
            best = sum;
    }
    return best;
}

void bench_measure_peaks(void)
{
    const vk_cpu *c = vk_cpu_get();
    int f32 = c->avx512f && c->os_zmm, q8 = f32 && c->avx512bw && c->avx512vnni;
    for (int i = 0; i < g_opt.nthreads; i++) {
        int t = g_opt.threads[i];
        if (g_opt.peak_f32[t] == 0 && f32)
            g_opt.peak_f32[t] = measure_peak(0, t);
        if (g_opt.peak_int8[t] == 0 && q8)
            g_opt.peak_int8[t] = measure_peak(1, t);
        if (g_opt.peak_bf16[t] == 0 && f32 && c->avx512bf16)
            g_opt.peak_bf16[t] = measure_peak(2, t); /* vnni == 2: vdpbf16ps */
    }
}

/* ------------------------------------------------------------------- flags */
static int parse_threads(const char *s)
{
    g_opt.nthreads = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > BENCH_MAX_THREADS || g_opt.nthreads == BENCH_MAX_THREADS)
            return -1;
        g_opt.threads[g_opt.nthreads++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return g_opt.nthreads ? 0 : -1;
}

/* "--peaks t:f32:int8,..." hands the parent's measurements to the child. */
static int parse_peaks(const char *s)
{
    while (*s) {
        int t, n;
        double a, b;
        if (sscanf(s, "%d:%lf:%lf%n", &t, &a, &b, &n) != 3 || t < 1 || t > BENCH_MAX_THREADS)
            return -1;
        g_opt.peak_f32[t] = a > 0 ? a : -1;
        g_opt.peak_int8[t] = b > 0 ? b : -1;
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}

/* The second int8 baseline: ONEDNN_MAX_CPU_ISA is read once per process, so
 * run ourselves again with it set, int8 rows only, sharing stdout. */
static void run_vnni_child(char **argv_kernels, int argc_kernels)
{
    char peaks[512] = "";
    size_t len = 0;
    for (int i = 0; i < g_opt.nthreads; i++) {
        int t = g_opt.threads[i];
        len += (size_t)snprintf(peaks + len, sizeof peaks - len, "%s%d:%.6g:%.6g", i ? "," : "",
                                t, g_opt.peak_f32[t], g_opt.peak_int8[t]);
    }
    char **av = calloc((size_t)argc_kernels + 6, sizeof *av);
    int n = 0;
    av[n++] = "vireo-bench";
    av[n++] = "kernels";
    for (int i = 1; i < argc_kernels; i++)
        av[n++] = argv_kernels[i];
    av[n++] = "--int8-vnni-child";
    av[n++] = "--peaks";
    av[n++] = peaks;
    av[n] = NULL;
    /* The environment is built before fork: this process has threads, so the
     * child may only call async-signal-safe functions until it execs. */
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **env = calloc(ne + 2, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "ONEDNN_MAX_CPU_ISA=", 19) &&
            strncmp(environ[i], "DNNL_MAX_CPU_ISA=", 17))
            env[k++] = environ[i];
    env[k++] = "ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI";
    env[k] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        execve("/proc/self/exe", av, env);
        static const char msg[] = "vireo-bench: cannot re-execute itself\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
    if (pid > 0) {
        int st = -1;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fprintf(stderr, "vireo-bench: the onednn-vnni pass failed (status %d)\n", st);
    } else {
        fprintf(stderr, "vireo-bench: fork: %s\n", strerror(errno));
    }
    free(env);
    free(av);
}

static int cmd_kernels(int argc, char **argv)
{
    int no_vnni = 0;
    g_opt.runs = 5;
    g_opt.min_ms = 50;
    g_opt.baseline = "onednn";
    parse_threads("1,2");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            g_opt.json = 1;
        } else if (!strcmp(a, "--quick")) {
            g_opt.quick = 1;
        } else if (!strcmp(a, "--no-vnni")) {
            no_vnni = 1;
        } else if (!strcmp(a, "--int8-vnni-child")) {
            g_opt.int8_only = 1;
            g_opt.baseline = "onednn-vnni";
        } else if (!strcmp(a, "--filter") && v) {
            g_opt.filter = v;
            i++;
        } else if (!strcmp(a, "--threads") && v) {
            if (parse_threads(v) != 0) {
                fprintf(stderr, "vireo-bench: bad --threads '%s' (e.g. 1,2; max %d)\n", v,
                        BENCH_MAX_THREADS);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--runs") && v) {
            g_opt.runs = atoi(v);
            if (g_opt.runs < 1) {
                fprintf(stderr, "vireo-bench: --runs must be >= 1\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--clock") && v) {
            if (!strcmp(v, "auto"))
                g_opt.clock = BENCH_CLOCK_AUTO;
            else if (!strcmp(v, "wall"))
                g_opt.clock = BENCH_CLOCK_WALL;
            else {
                fprintf(stderr, "vireo-bench: --clock auto|wall\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--min-ms") && v) {
            g_opt.min_ms = atof(v);
            i++;
        } else if (!strcmp(a, "--peaks") && v) {
            if (parse_peaks(v) != 0)
                return 2;
            i++;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "vireo-bench kernels: unknown flag '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    char err[256];
    if (vk_ops_init(err, sizeof err) != 0) {
        fprintf(stderr, "vireo-bench: %s\n", err);
        return 1;
    }
    double t0 = bench_now(), load = bench_loadavg();
    int multi = 0;
    for (int i = 0; i < g_opt.nthreads; i++)
        multi |= g_opt.threads[i] > 1;
    if (!g_opt.int8_only && multi && load > vr_cpu_count()) {
        const char *pol = getenv("OMP_WAIT_POLICY");
        fprintf(stderr,
                "vireo-bench: this machine is busy (load %.1f on %d CPUs): multi-thread rows are "
                "timed on the wall clock and will be noisy%s\n",
                load, vr_cpu_count(),
                pol && *pol ? ""
                            : "; oneDNN's OpenMP threads spin-wait and collapse under "
                              "oversubscription, OMP_WAIT_POLICY=passive avoids that");
    }
    if (!g_opt.int8_only) {
        bench_table_header();
        bench_measure_peaks();
        for (int i = 0; i < g_opt.nthreads; i++) {
            int t = g_opt.threads[i];
            bench_emit_peak("f32", t, g_opt.peak_f32[t]);
            bench_emit_peak("int8", t, g_opt.peak_int8[t]);
            if (g_opt.peak_bf16[t] > 0)
                bench_emit_peak("bf16", t, g_opt.peak_bf16[t]);
        }
    }
    bench_matmul();
    bench_conv();
    if (!g_opt.int8_only) {
        bench_attention();
        bench_eltwise();
        bench_quant_ops();
    }
    const vk_cpu *c = vk_cpu_get();
    if (!g_opt.int8_only && !no_vnni && c->avx512vnni && c->os_zmm)
        run_vnni_child(argv, argc);
    if (!g_opt.int8_only)
        fprintf(stderr, "vireo-bench: kernels done in %.1f s\n", bench_now() - t0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "kernels"))
        return cmd_kernels(argc - 1, argv + 1);
    if (!strcmp(cmd, "models"))
        return cmd_models(argc - 1, argv + 1);
    if (!strcmp(cmd, "index"))
        return cmd_index(argc - 1, argv + 1);
    if (!strcmp(cmd, "pipeline"))
        return cmd_pipeline(argc - 1, argv + 1);
    if (!strcmp(cmd, "index")) {
        fprintf(stderr, "vireo-bench: '%s' is not implemented yet (it comes with a later issue)\n",
                cmd);
        return 2;
    }
    fprintf(stderr, "vireo-bench: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
