/* Vision Transformers: the token-sequence graph ops against a double-precision
 * oracle, and torchvision ViTs converted by vr_convert_safetensors (→
 * vr_convert_vit) run at the forced ISA level against PyTorch (Debian's
 * python3-torch 1.13 / torchvision 0.14) on the same input.
 *
 * Models (tools/torch_reference.py, seed 0, export_safetensors.random_vit:
 * seeded weights, constant-initialised parameters redrawn, q/k sharpened so
 * the attention is far from uniform):
 *   vit_tiny  torchvision's VisionTransformer at 64×64, patch 16, 2 layers,
 *             4 heads, width 64, MLP 128 — always (the only one under
 *             VIREO_TEST_QUICK, i.e. qemu);
 *   vit_b_32  full size, 4.4 GFLOP — at levels above ref, unless
 *             VIREO_TEST_QUICK (VIREO_VIT_ALL=1 forces it anywhere);
 *   vit_b_16  full size, 17.6 GFLOP — only with VIREO_VIT_B16=1 (by hand).
 * Without `/usr/bin/python3 -c "import torch, torchvision"` the model part is
 * skipped (exit 77) saying so; the op tests need nothing.
 *
 * Tolerance (models). Both sides compute in f32 from the same f32 weights in
 * different orders. Per layer the dot products (K ≤ 3072) differ by
 * ~√K·2⁻²⁴ relative; LayerNorm renormalises every block, the residual stream
 * carries errors forward additively, so over 12 blocks the output moves by
 * ~1e-6–1e-5 of its scale. Measured (max |diff| / max |ref|, features and
 * logits): vit_tiny 3.8e-7 / 4.2e-7 (avx512), 4.4e-7 / 6.2e-7 (ref); vit_b_32
 * 1.2e-6 / 1.2e-6 (avx512), 1.7e-6 / 1.5e-6 (ref); vit_b_16 1.1e-6 / 1.6e-6
 * (avx512); 1 − cosine ≤ 2e-12. We require cosine ≥ 0.9999 (the issue's
 * target) and max |diff| ≤ 1e-4 · max |ref| on the features (head input) and
 * the logits: ~60× the worst measurement. A wrong head split, attention scale
 * or q/k/v order moves the output by O(1) of its scale with these sharpened
 * attentions (doubling the head count: 1 − cosine 0.06, rel 0.37).
 *
 * Cost (sanitized, avx512): ~23 s wall, of which torch_reference.py ~9 s
 * (building and exporting 350 MB), converting B/32 ~8 s, running ~1.5 s. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/pack.h"
#include "runtime/convert.h"
#include "runtime/graph.h"
#include "runtime/model.h"
#include "testutil.h"

#ifndef VIREO_SOURCE_DIR
#define VIREO_SOURCE_DIR "."
#endif

#define PYTHON "/usr/bin/python3"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ------------------------------------------------- op-level oracle ---- */
typedef struct {
    vr_graph *g;
    int in, out;
} tiny_graph;

static int add_val(vr_graph *g, int h, int w, int c)
{
    vr_value v = {.dtype = VR_F32, .h = h, .w = w, .c = c};
    int id = vr_graph_add_value(g, &v);
    assert_true(id >= 0);
    return id;
}

static void add(vr_graph *g, vr_node n)
{
    for (int k = n.nin; k < VR_MAX_IN; k++)
        n.in[k] = -1;
    if (vr_graph_add_node(g, &n) < 0)
        tu_fail("add node: %s", vr_graph_error(g));
}

static void run_graph(vr_graph *g, int in, int out, int batch, const float *x, float *y, int threads)
{
    char err[256];
    assert_int_equal(vr_graph_set_io(g, in, out), 0);
    vr_plan *p = vr_plan_create(g, batch, tu_ops(), err, sizeof err);
    if (!p)
        tu_fail("plan: %s", err);
    vr_pool *pool = vr_pool_create(threads);
    assert_int_equal(vr_plan_run(p, pool, x, y), 0);
    vr_pool_destroy(pool);
    vr_plan_free(p);
}

static int check(const char *what, const float *got, const double *want, const double *tol, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol[i])) {
            tu_fail("%s: element %zu is %.9g, want %.9g (tolerance %.3g)", what, i, got[i], want[i],
                    tol[i]);
            return 1;
        }
    return 0;
}

/* y = act(x·W + b + r) per token, with a residual, GELU; then LayerNorm; then
 * token 1 — one graph, batch 3, odd sizes around the 16-column panels. */
static void test_linear_layernorm_token(void **state)
{
    (void)state;
    static const int shapes[][3] = {{1, 1, 1}, {5, 7, 17}, {3, 16, 15}, {9, 33, 31}, {2, 64, 48}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        int L = shapes[si][0] < 2 ? 2 : shapes[si][0], K = shapes[si][1], N = shapes[si][2], B = 3;
        tu_rng r = tu_rng_make(100 + si);
        float *W = malloc((size_t)K * N * 4), *bias = malloc((size_t)N * 4);
        float *gam = malloc((size_t)N * 4), *bet = malloc((size_t)N * 4);
        float *x = malloc((size_t)B * L * K * 4);
        tu_fill_f32(&r, W, (size_t)K * N, -1.0f / sqrtf((float)K), 1.0f / sqrtf((float)K));
        tu_fill_f32(&r, bias, (size_t)N, -0.5f, 0.5f);
        tu_fill_f32(&r, gam, (size_t)N, 0.5f, 1.5f);
        tu_fill_f32(&r, bet, (size_t)N, -0.5f, 0.5f);
        tu_fill_f32(&r, x, (size_t)B * L * K, -2.0f, 2.0f);
        float *Wp = tu_alloc(vk_pack_f32_b_size(K, N) * 4);
        vk_pack_f32_b(K, N, W, N, Wp);
        /* residual = a second linear of x with the same weights, no bias */
        vr_graph *g = vr_graph_new();
        int vin = add_val(g, 1, L, K), vres = add_val(g, 1, L, N), vlin = add_val(g, 1, L, N);
        int vln = add_val(g, 1, L, N), vtok = add_val(g, 1, 1, N);
        add(g, (vr_node){.op = VR_OP_LINEAR, .nin = 1, .in = {vin}, .out = vres, .weights = Wp});
        add(g, (vr_node){.op = VR_OP_LINEAR, .nin = 2, .in = {vin, vres}, .out = vlin,
                         .weights = Wp, .bias = bias, .act = VK_ACT_GELU});
        add(g, (vr_node){.op = VR_OP_LAYERNORM, .nin = 1, .in = {vlin}, .out = vln, .weights = gam,
                         .bias = bet, .eps = 1e-6f});
        add(g, (vr_node){.op = VR_OP_TOKEN, .nin = 1, .in = {vln}, .out = vtok, .index = L - 1});
        /* oracle */
        double *want = calloc((size_t)B * N, sizeof *want), *tol = calloc((size_t)B * N, sizeof *tol);
        double *row = calloc((size_t)N, sizeof *row);
        for (int b = 0; b < B; b++) {
            const float *xt = x + ((size_t)b * L + (L - 1)) * K;
            double mean = 0, var = 0, absmax = 0;
            for (int j = 0; j < N; j++) {
                double s = 0, sa = 0;
                for (int k = 0; k < K; k++) {
                    s += (double)xt[k] * W[(size_t)k * N + j];
                    sa += fabs((double)xt[k] * W[(size_t)k * N + j]);
                }
                double v = 2 * s + bias[j];
                row[j] = 0.5 * v * (1 + erf(v / sqrt(2.0)));
                absmax = fmax(absmax, 4 * sa + fabs(bias[j]));
                mean += row[j];
            }
            mean /= N;
            for (int j = 0; j < N; j++)
                var += (row[j] - mean) * (row[j] - mean);
            var /= N;
            double rs = 1 / sqrt(var + 1e-6);
            /* Tolerance: the two linears differ from the exact sums by ≤ 2γ_K Σ|xw| each
             * plus the bias/residual/GELU roundings (a few u of |pre-activation|);
             * LayerNorm divides by σ: an absolute error e in its input moves the output
             * by ≲ 2·e·γ/σ, plus its own rounding (a few u·N·|y|). */
            double e = 2 * tu_gamma(K) * absmax + 8 * TU_U_F32 * absmax;
            for (int j = 0; j < N; j++) {
                want[(size_t)b * N + j] = (row[j] - mean) * rs * gam[j] + bet[j];
                tol[(size_t)b * N + j] = 4 * e * rs * gam[j] + 16 * N * TU_U_F32 *
                                         (1 + fabs(want[(size_t)b * N + j]));
            }
        }
        float *y = malloc((size_t)B * N * 4);
        for (int threads = 1; threads <= 2; threads++) {
            run_graph(g, vin, vtok, B, x, y, threads);
            char what[64];
            snprintf(what, sizeof what, "L %d K %d N %d, %d threads", L, K, N, threads);
            check(what, y, want, tol, (size_t)B * N);
        }
        vr_graph_free(g);
        free(W), free(bias), free(gam), free(bet), free(x), free(want), free(tol);
        free(row), free(y);
        tu_free(Wp);
    }
}

/* [class token] ++ tokens + position embedding, then attention over
 * [q | k | v] (causal and not), several head counts, odd lengths. */
static void test_pos_embed_attention(void **state)
{
    (void)state;
    static const int shapes[][4] = {/* L_in, D, heads, causal */
                                    {1, 4, 1, 0}, {6, 12, 3, 0}, {16, 32, 2, 1},
                                    {17, 64, 4, 0}, {40, 24, 6, 1}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        int Li = shapes[si][0], D = shapes[si][1], H = shapes[si][2], causal = shapes[si][3];
        int L = Li + 1, C = 3 * D, B = 2, dh = D / H;
        tu_rng r = tu_rng_make(200 + si);
        float *x = malloc((size_t)B * Li * C * 4), *pos = malloc((size_t)L * C * 4);
        float *cls = malloc((size_t)C * 4);
        tu_fill_f32(&r, x, (size_t)B * Li * C, -1.5f, 1.5f);
        tu_fill_f32(&r, pos, (size_t)L * C, -0.5f, 0.5f);
        tu_fill_f32(&r, cls, (size_t)C, -1.5f, 1.5f);
        vr_graph *g = vr_graph_new();
        int vin = add_val(g, 1, Li, C), vpe = add_val(g, 1, L, C), vatt = add_val(g, 1, L, D);
        add(g, (vr_node){.op = VR_OP_POS_EMBED, .nin = 1, .in = {vin}, .out = vpe, .weights = pos,
                         .bias = cls});
        add(g, (vr_node){.op = VR_OP_ATTENTION, .nin = 1, .in = {vpe}, .out = vatt, .heads = H,
                         .causal = causal});
        double *want = calloc((size_t)B * L * D, sizeof *want), *tol = calloc((size_t)B * L * D, 8);
        double *t = calloc((size_t)L * C, sizeof *t), *p = calloc((size_t)L, sizeof *p);
        double scale = 1 / sqrt((double)dh);
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < L; i++)
                for (int c = 0; c < C; c++)
                    t[(size_t)i * C + c] = (double)(i == 0 ? cls[c] : x[((size_t)b * Li + i - 1) * C + c]) +
                                           pos[(size_t)i * C + c];
            for (int h = 0; h < H; h++)
                for (int i = 0; i < L; i++) {
                    int nk = causal ? i + 1 : L;
                    double m = -INFINITY, s = 0, smax = 0, vmax = 0;
                    for (int j = 0; j < nk; j++) {
                        double dot = 0, da = 0;
                        for (int d = 0; d < dh; d++) {
                            double a = t[(size_t)i * C + h * dh + d], k = t[(size_t)j * C + D + h * dh + d];
                            dot += a * k;
                            da += fabs(a * k);
                        }
                        p[j] = dot * scale;
                        m = fmax(m, p[j]);
                        smax = fmax(smax, da * scale);
                    }
                    for (int j = 0; j < nk; j++)
                        s += p[j] = exp(p[j] - m);
                    for (int d = 0; d < dh; d++) {
                        double o = 0;
                        for (int j = 0; j < nk; j++) {
                            double v = t[(size_t)j * C + 2 * D + h * dh + d];
                            o += p[j] / s * v;
                            vmax = fmax(vmax, fabs(v));
                        }
                        size_t idx = ((size_t)b * L + i) * D + h * dh + d;
                        want[idx] = o;
                        /* The inputs (x + pos, one rounding) and the scores are
                         * off by ≤ (2γ_dh + 2u)·Σ|q k|·scale; each probability
                         * then by that relative (twice: numerator and the sum)
                         * plus exp's and the division's few u; the weighted sum
                         * adds γ_Lk·max|v|. */
                        tol[idx] = vmax * (4 * (tu_gamma(dh) + 2 * TU_U_F32) * smax +
                                           2 * tu_gamma(nk) + 32 * TU_U_F32) + 1e-7;
                    }
                }
        }
        float *y = malloc((size_t)B * L * D * 4);
        for (int threads = 1; threads <= 2; threads++) {
            run_graph(g, vin, vatt, B, x, y, threads);
            char what[96];
            snprintf(what, sizeof what, "attention L %d D %d heads %d causal %d, %d threads", L, D,
                     H, causal, threads);
            check(what, y, want, tol, (size_t)B * L * D);
        }
        vr_graph_free(g);
        free(x), free(pos), free(cls), free(want), free(tol), free(t), free(p), free(y);
    }
}

/* Plans refuse malformed token ops. */
static void test_plan_refusals(void **state)
{
    (void)state;
    static float w[64 * 64], cls[64];
    struct {
        const char *what, *expect;
        int in_l, in_c, out_l, out_c;
        vr_node n;
    } cases[] = {
        {"attention heads not dividing", "heads", 4, 30, 4, 10,
         {.op = VR_OP_ATTENTION, .heads = 3}},
        {"attention channels not 3x", "3x", 4, 31, 4, 10, {.op = VR_OP_ATTENTION, .heads = 1}},
        {"attention query past the tokens", "query index 4", 4, 30, 1, 10,
         {.op = VR_OP_ATTENTION, .heads = 1, .index = 4}},
        {"attention 2 of 4 tokens", "2 output tokens of 4", 4, 30, 2, 10,
         {.op = VR_OP_ATTENTION, .heads = 1}},
        {"attention index with all tokens", "index 1 with every", 4, 30, 4, 10,
         {.op = VR_OP_ATTENTION, .heads = 1, .index = 1}},
        {"attention one causal query", "causal mask", 4, 30, 1, 10,
         {.op = VR_OP_ATTENTION, .heads = 1, .causal = 1}},
        {"attention causal 2", "causal", 4, 30, 4, 10,
         {.op = VR_OP_ATTENTION, .heads = 1, .causal = 2}},
        {"pos_embed count", "tokens", 4, 8, 4, 8, {.op = VR_OP_POS_EMBED, .weights = w, .bias = cls}},
        {"layernorm eps 0", "eps", 4, 8, 4, 8, {.op = VR_OP_LAYERNORM}},
        {"token index", "token 4 of 4", 4, 8, 1, 8, {.op = VR_OP_TOKEN, .index = 4}},
        {"linear token count", "tokens", 4, 8, 3, 8, {.op = VR_OP_LINEAR, .weights = w}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vr_graph *g = vr_graph_new();
        int a = add_val(g, 1, cases[i].in_l, cases[i].in_c), b = add_val(g, 1, cases[i].out_l, cases[i].out_c);
        vr_node n = cases[i].n;
        n.nin = 1;
        n.in[0] = a;
        n.out = b;
        add(g, n);
        assert_int_equal(vr_graph_set_io(g, a, b), 0);
        char err[256] = "";
        vr_plan *p = vr_plan_create(g, 1, tu_ops(), err, sizeof err);
        if (p || !strstr(err, cases[i].expect))
            tu_fail("%s: expected a refusal with \"%s\", got %s", cases[i].what, cases[i].expect,
                    p ? "a plan" : err);
        vr_graph_free(g);
    }
}

/* ------------------------------------------------------- models ---- */
static float input_value(int h, int w, int c) /* tools/torch_reference.py */
{
    const int P = 97;
    int n1 = 3 * h + 2 * w + 23 * c, n2 = h + 5 * w + 41 * c + 11;
    double v = (double)(3 * abs(2 * (n1 % P) - P) + 2 * abs(2 * (n2 % P) - P)) / (5.0 * P);
    return (float)(4.0 * v - 2.0);
}

typedef struct {
    double cosine, maxdiff, maxref;
} cmp;

static cmp compare(const float *got, const float *want, int n)
{
    double dot = 0, ng = 0, nw = 0;
    cmp r = {0};
    for (int i = 0; i < n; i++) {
        dot += (double)got[i] * want[i];
        ng += (double)got[i] * got[i];
        nw += (double)want[i] * want[i];
        r.maxdiff = fmax(r.maxdiff, fabs((double)got[i] - want[i]));
        r.maxref = fmax(r.maxref, fabs(want[i]));
    }
    r.cosine = dot / (sqrt(ng * nw) + 1e-300);
    return r;
}

static vr_graph *subgraph(const vr_graph *g, int first, int last, int in, int out)
{
    vr_graph *s = vr_graph_new();
    for (int v = 0; v < vr_graph_value_count(g); v++)
        assert_true(vr_graph_add_value(s, vr_graph_value(g, v)) == v);
    for (int i = first; i <= last; i++)
        if (vr_graph_add_node(s, vr_graph_node(g, i)) < 0)
            tu_fail("subgraph: %s", vr_graph_error(s));
    if (vr_graph_set_io(s, in, out))
        tu_fail("subgraph: %s", vr_graph_error(s));
    return s;
}

static void run_plan(const vr_graph *g, int batch, vr_pool *pool, const float *in, float *out)
{
    char err[512];
    vr_plan *p = vr_plan_create(g, batch, tu_ops(), err, sizeof err);
    if (!p)
        tu_fail("plan: %s", err);
    assert_int_equal(vr_plan_run(p, pool, in, out), 0);
    vr_plan_free(p);
}

static char g_dir[] = "/tmp/vireo-vit-XXXXXX";
static int g_torch, g_b32, g_b16;

static void check_model(const char *name, int size, int dim, int batch2)
{
    char src[256], dst[256], path[256], err[512];
    snprintf(src, sizeof src, "%s/%s.safetensors", g_dir, name);
    snprintf(dst, sizeof dst, "%s/%s.vwt", g_dir, name);
    double t0 = now();
    if (vr_convert_safetensors(src, dst, NULL, err, sizeof err))
        tu_fail("convert %s: %s", name, err);
    double t1 = now();
    vr_model *m;
    if (vr_model_open(dst, &m, err, sizeof err))
        tu_fail("open %s: %s", name, err);
    unlink(dst);
    const vw_kv *kv = vw_kv_find(m->file, "model.arch");
    assert_non_null(kv);
    if (strcmp(name, "vit_tiny") != 0)
        assert_string_equal(kv->v.s, name);
    const vr_graph *g = m->graph;
    const vr_value *iv = vr_graph_value(g, vr_graph_input(g));
    assert_true(iv->h == size && iv->w == size && iv->c == 3);
    int nn = vr_graph_node_count(g);
    const vr_node *head = vr_graph_node(g, nn - 1);
    assert_int_equal(head->op, VR_OP_LINEAR);
    int feat_v = head->in[0];
    assert_int_equal(vr_graph_value(g, feat_v)->c, dim);

    size_t in_n = (size_t)size * size * 3, len;
    float *in = malloc(2 * in_n * sizeof *in);
    for (int h = 0; h < size; h++)
        for (int w = 0; w < size; w++)
            for (int c = 0; c < 3; c++)
                in[((size_t)h * size + w) * 3 + c] = input_value(h, w, c);
    snprintf(path, sizeof path, "%s/%s.input.f32", g_dir, name);
    float *ref_in = tu_read_file(path, &len);
    if (!ref_in || len != in_n * 4 || memcmp(in, ref_in, len) != 0)
        tu_fail("%s: the input differs from the one torch_reference.py wrote", path);
    snprintf(path, sizeof path, "%s/%s.features.f32", g_dir, name);
    float *ref_feat = tu_read_file(path, &len);
    if (!ref_feat || len != (size_t)dim * 4)
        tu_fail("%s: missing or %zu bytes", path, len);
    snprintf(path, sizeof path, "%s/%s.logits.f32", g_dir, name);
    float *ref_logits = tu_read_file(path, &len);
    if (!ref_logits || len != 1000 * 4)
        tu_fail("%s: missing or %zu bytes", path, len);

    vr_pool *pool = vr_pool_create(2);
    float *feat = malloc(2 * (size_t)dim * sizeof *feat), *logits = malloc(2000 * sizeof *logits);
    vr_graph *body = subgraph(g, 0, nn - 2, vr_graph_input(g), feat_v);
    vr_graph *hd = subgraph(g, nn - 1, nn - 1, feat_v, vr_graph_output(g));
    double t2 = now();
    run_plan(body, 1, pool, in, feat);
    run_plan(hd, 1, pool, feat, logits);
    double t3 = now();
    if (batch2) { /* batch 2: the same image and its negation; each as alone */
        for (size_t i = 0; i < in_n; i++)
            in[in_n + i] = -in[i];
        float *both = malloc(2000 * sizeof *both);
        run_plan(g, 2, pool, in, both);
        cmp cb = compare(both, logits, 1000);
        if (cb.maxdiff > 1e-5 * cb.maxref)
            tu_fail("%s: batch 2 image 0 differs from batch 1 by %.3g", name, cb.maxdiff);
        cb = compare(both + 1000, logits, 1000);
        if (cb.cosine > 0.999)
            tu_fail("%s: batch 2 image 1 (negated input) equals image 0", name);
        /* and image 1 as alone (each image's class-token query, keys and
         * values its own in the pooled last block) */
        float *alone = malloc(1000 * sizeof *alone);
        run_plan(g, 1, pool, in + in_n, alone);
        cb = compare(both + 1000, alone, 1000);
        if (cb.maxdiff > 1e-5 * cb.maxref)
            tu_fail("%s: batch 2 image 1 differs from it alone by %.3g", name, cb.maxdiff);
        free(alone);
        free(both);
    }
    cmp cf = compare(feat, ref_feat, dim), cl = compare(logits, ref_logits, 1000);
    printf("  %-9s %-6s convert %.2f s, run %.2f s\n", name, tu_level(), t1 - t0, t3 - t2);
    printf("    features (%d): 1 - cosine %.2g  max|diff| %.3g (max|ref| %.3g, rel %.2g)\n", dim,
           1 - cf.cosine, cf.maxdiff, cf.maxref, cf.maxdiff / cf.maxref);
    printf("    logits (1000): 1 - cosine %.2g  max|diff| %.3g (max|ref| %.3g, rel %.2g)\n",
           1 - cl.cosine, cl.maxdiff, cl.maxref, cl.maxdiff / cl.maxref);
    int fails = 0;
    if (cf.cosine < 0.9999 || cf.maxdiff > 1e-4 * cf.maxref)
        fails++;
    if (cl.cosine < 0.9999 || cl.maxdiff > 1e-4 * cl.maxref)
        fails++;
    vr_graph_free(body), vr_graph_free(hd);
    vr_pool_destroy(pool);
    free(in), free(ref_in), free(feat), free(ref_feat), free(logits), free(ref_logits);
    vr_model_close(m);
    if (fails)
        tu_fail("%s: outside cosine >= 0.9999 / max|diff| <= 1e-4 max|ref| (above)", name);
}

static void test_vit_tiny(void **state)
{
    (void)state;
    if (!g_torch)
        skip();
    check_model("vit_tiny", 64, 64, 1);
}

static void test_vit_b_32(void **state)
{
    (void)state;
    if (!g_torch || !g_b32) {
        printf("  vit_b_32 skipped (ref level, VIREO_TEST_QUICK or no torch; VIREO_VIT_ALL=1 "
               "runs it)\n");
        skip();
    }
    check_model("vit_b_32", 224, 768, strcmp(tu_level(), "ref") != 0);
}

static void test_vit_b_16(void **state)
{
    (void)state;
    if (!g_torch || !g_b16) {
        printf("  vit_b_16 skipped (by hand: VIREO_VIT_B16=1)\n");
        skip();
    }
    check_model("vit_b_16", 224, 768, 0);
}

/* Hand-made safetensors files the converter must refuse. */
static void write_st(const char *path, const char *json, size_t data_bytes)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t n = strlen(json);
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(n >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(json, 1, n, f);
    for (size_t i = 0; i < data_bytes; i++)
        fputc(0, f);
    fclose(f);
}

static void refuse(const char *json, size_t data_bytes, const char *expect)
{
    char src[256], dst[256], err[512];
    snprintf(src, sizeof src, "%s/bad.safetensors", g_dir);
    snprintf(dst, sizeof dst, "%s/bad.vwt", g_dir);
    write_st(src, json, data_bytes);
    int rc = vr_convert_safetensors(src, dst, NULL, err, sizeof err);
    if (rc == 0 || !strstr(err, expect))
        tu_fail("expected a refusal with \"%s\", got rc %d: %s", expect, rc, rc ? err : "");
    assert_int_equal(access(dst, F_OK), -1);
    printf("  refused: %s\n", err);
    unlink(src);
}

static void test_refusals(void **state)
{
    (void)state;
    /* a ViT's signature tensors with an impossible token count (1 + 7 is not square + 1) */
    refuse("{\"conv_proj.weight\":{\"dtype\":\"F32\",\"shape\":[8,3,4,4],\"data_offsets\":[0,1536]},"
           "\"encoder.pos_embedding\":{\"dtype\":\"F32\",\"shape\":[1,8,8],\"data_offsets\":[1536,"
           "1792]}}",
           1792, "square ViT");
    /* a width torchvision does not use, no num_heads */
    refuse("{\"conv_proj.weight\":{\"dtype\":\"F32\",\"shape\":[8,3,4,4],\"data_offsets\":[0,1536]},"
           "\"encoder.pos_embedding\":{\"dtype\":\"F32\",\"shape\":[1,5,8],\"data_offsets\":[1536,"
           "1696]},\"encoder.layers.encoder_layer_0.ln_1.weight\":{\"dtype\":\"F32\",\"shape\":[8],"
           "\"data_offsets\":[1696,1728]},\"encoder.layers.encoder_layer_0.mlp.0.weight\":{\"dtype\":"
           "\"F32\",\"shape\":[16,8],\"data_offsets\":[1728,2240]}}",
           2240, "num_heads");
    /* with num_heads, a tensor missing */
    refuse("{\"__metadata__\":{\"num_heads\":\"2\"},\"conv_proj.weight\":{\"dtype\":\"F32\","
           "\"shape\":[8,3,4,4],\"data_offsets\":[0,1536]},\"encoder.pos_embedding\":{\"dtype\":"
           "\"F32\",\"shape\":[1,5,8],\"data_offsets\":[1536,1696]},\"encoder.layers.encoder_layer_0."
           "ln_1.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[1696,1728]},\"encoder."
           "layers.encoder_layer_0.mlp.0.weight\":{\"dtype\":\"F32\",\"shape\":[16,8],"
           "\"data_offsets\":[1728,2240]}}",
           2240, "tensor 'conv_proj.bias' is missing");
    /* num_heads that does not divide the width */
    refuse("{\"__metadata__\":{\"num_heads\":\"3\"},\"conv_proj.weight\":{\"dtype\":\"F32\","
           "\"shape\":[8,3,4,4],\"data_offsets\":[0,1536]},\"encoder.pos_embedding\":{\"dtype\":"
           "\"F32\",\"shape\":[1,5,8],\"data_offsets\":[1536,1696]},\"encoder.layers.encoder_layer_0."
           "ln_1.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[1696,1728]},\"encoder."
           "layers.encoder_layer_0.mlp.0.weight\":{\"dtype\":\"F32\",\"shape\":[16,8],"
           "\"data_offsets\":[1728,2240]}}",
           2240, "does not divide");
}

int main(void)
{
    tu_ops(); /* exits 77 if the level is not available */
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    g_torch = system(PYTHON " -c 'import torch, torchvision' >/dev/null 2>&1") == 0;
    /* The reference level's matmul makes B/32 take ~15 s sanitized; it is
     * covered there by vit_tiny (and by VIREO_VIT_ALL=1). */
    g_b32 = getenv("VIREO_VIT_ALL") || (!getenv("VIREO_TEST_QUICK") && strcmp(tu_level(), "ref"));
    g_b16 = getenv("VIREO_VIT_B16") != NULL;
    if (!g_torch)
        printf("  model tests skipped: " PYTHON " cannot import torch and torchvision "
               "(tools/setup.sh --tests installs them)\n");
    int rc = 0;
    if (g_torch) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, PYTHON " %s/tools/torch_reference.py --seed 0 %s vit_tiny%s%s",
                 VIREO_SOURCE_DIR, g_dir, g_b32 ? " vit_b_32" : "", g_b16 ? " vit_b_16" : "");
        double t0 = now();
        rc = system(cmd);
        printf("  torch_reference.py: %.2f s\n", now() - t0);
        if (rc != 0)
            fprintf(stderr, "FAIL: %s exited with %d\n", cmd, rc);
    }
    int result = 1;
    if (rc == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_linear_layernorm_token),
            cmocka_unit_test(test_pos_embed_attention),
            cmocka_unit_test(test_plan_refusals),
            cmocka_unit_test(test_refusals),
            cmocka_unit_test(test_vit_tiny),
            cmocka_unit_test(test_vit_b_32),
            cmocka_unit_test(test_vit_b_16),
        };
        result = cmocka_run_group_tests(tests, NULL, NULL);
    }
    static const char *const files[] = {"vit_tiny", "vit_b_32", "vit_b_16"};
    static const char *const exts[] = {".safetensors", ".input.f32", ".features.f32",
                                       ".logits.f32", ".json", ".vwt"};
    char path[256];
    for (int i = 0; i < 3; i++)
        for (int e = 0; e < 6; e++) {
            snprintf(path, sizeof path, "%s/%s%s", g_dir, files[i], exts[e]);
            unlink(path);
        }
    snprintf(path, sizeof path, "%s/bad.safetensors", g_dir);
    unlink(path);
    rmdir(g_dir);
    return result;
}
