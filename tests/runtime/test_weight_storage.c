/* Weight storage of f32-activation nodes (graph.h vr_node.wtype): a LINEAR
 * with dynamic int8 weights and one with bf16 weights, written to a model
 * file, loaded and run, must compute what the kernels compute directly; and
 * the loader / planner must refuse every reference that does not fit (a
 * kernel trusts the sizes it is given, so these checks are what stands
 * between a hostile file and an out-of-bounds read).
 *
 * Exactness: the loaded model runs the same kernels on the same bytes as the
 * direct calls (quant_rows, matmul_q8 / matmul_bf16 at the forced level), so
 * the outputs must be equal bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/pack.h"
#include "runtime/model.h"
#include "testutil.h"

enum { L = 7, K = 37, N = 40, NCS = 48 /* round_up(N, 16) */ };

typedef struct {
    float W[K * N], bias[N], scales[N], res[L * N];
    int8_t Wq[K * N], packed_s8[64 * NCS]; /* vk_pack_s8_b_size(37, 40) = 40·48 */
    int32_t colsum[NCS];
    uint16_t packed_bf16[38 * NCS];        /* vk_pack_bf16_b_size(37, 40) = 38·48 */
} weights;

static void make_weights(weights *w)
{
    tu_rng r = tu_rng_make(31);
    tu_fill_f32(&r, w->W, K * N, -0.5f, 0.5f);
    tu_fill_f32(&r, w->bias, N, -0.2f, 0.2f);
    for (int n = 0; n < N; n++) {
        float amax = 0;
        for (int k = 0; k < K; k++)
            amax = fmaxf(amax, fabsf(w->W[k * N + n]));
        w->scales[n] = amax / 127;
        for (int k = 0; k < K; k++)
            w->Wq[k * N + n] = (int8_t)lrintf(w->W[k * N + n] / w->scales[n]);
    }
    assert_true(vk_pack_s8_b_size(K, N) <= sizeof w->packed_s8);
    assert_true(vk_pack_bf16_b_size(K, N) * 2 <= sizeof w->packed_bf16);
    vk_pack_s8_b(K, N, w->Wq, N, w->packed_s8, w->colsum);
    vk_pack_bf16_b(K, N, w->W, N, w->packed_bf16);
}

/* What a case writes: which tensors, with which dtype / layout / dims. */
typedef struct {
    const char *what;
    int wkind;          /* 0 f32, 1 s8, 2 bf16 */
    int colsum, scales; /* write them (1), of the wrong length (2), or not (0) */
    float scale0;       /* overrides scales[0] when nonzero */
    int residual;
    const char *expect; /* NULL: must load and run */
} wcase;

static int add(vw_writer *w, const char *name, vw_dtype t, vw_layout l, int nd, int64_t d0,
               int64_t d1, const void *data, size_t size)
{
    int64_t dims[2] = {d0, d1};
    int idx = vw_writer_add_tensor(w, name, t, l, nd, dims, data, size, NULL);
    if (idx < 0)
        tu_fail("add %s: %s", name, vw_writer_error(w));
    return idx;
}

/* Builds the one-LINEAR model of case c and saves it (checked) to path.
 * Returns vr_model_save_checked's result, the message in err. */
static int save_case(const wcase *c, weights *wt, const char *path, char *err, size_t errlen)
{
    vw_writer *w = vw_writer_new();
    vr_graph *g = vr_graph_new();
    vr_value vin = {.dtype = VR_F32, .h = 1, .w = L, .c = K}, vout = {.dtype = VR_F32, .h = 1, .w = L, .c = N};
    int a = vr_graph_add_value(g, &vin), res = vr_graph_add_value(g, &vout);
    int b = vr_graph_add_value(g, &vout), y = vr_graph_add_value(g, &vout);
    /* The residual: an f32 LINEAR of the input with zero weights, so it is
     * its bias on every token. */
    static float zero_w[K * N], packed_zero[K * NCS];
    vk_pack_f32_b(K, N, zero_w, N, packed_zero);
    vr_node_refs refs[2] = {{-1, -1, -1, -1}, {-1, -1, -1, -1}};
    refs[0].weights = add(w, "res.w", VW_F32, VW_F32_B16, 2, K, N, packed_zero, sizeof packed_zero);
    refs[0].bias = add(w, "res.b", VW_F32, VW_PLAIN, 1, N, 0, wt->res, N * 4);
    float sc[N + 1];
    memcpy(sc, wt->scales, sizeof wt->scales);
    sc[N] = 1;
    if (c->scale0 != 0)
        sc[0] = c->scale0;
    if (c->wkind == 0) {
        static float packed_f32[K * NCS];
        vk_pack_f32_b(K, N, wt->W, N, packed_f32);
        refs[1].weights = add(w, "lin.w", VW_F32, VW_F32_B16, 2, K, N, packed_f32, sizeof packed_f32);
    } else if (c->wkind == 1) {
        refs[1].weights = add(w, "lin.w", VW_S8, VW_S8_B16X4, 2, K, N, wt->packed_s8,
                              vk_pack_s8_b_size(K, N));
    } else {
        refs[1].weights = add(w, "lin.w", VW_BF16, VW_BF16_B16X2, 2, K, N, wt->packed_bf16,
                              vk_pack_bf16_b_size(K, N) * 2);
    }
    refs[1].bias = add(w, "lin.b", VW_F32, VW_PLAIN, 1, N, 0, wt->bias, N * 4);
    if (c->colsum)
        refs[1].colsum = add(w, "lin.colsum", VW_S32, VW_PLAIN, 1, c->colsum == 2 ? N : NCS, 0,
                             wt->colsum, (c->colsum == 2 ? N : NCS) * 4);
    if (c->scales)
        refs[1].scales = add(w, "lin.scales", VW_F32, VW_PLAIN, 1, c->scales == 2 ? N + 1 : N, 0,
                             sc, (c->scales == 2 ? N + 1 : N) * 4);
    vr_node n0 = {.op = VR_OP_LINEAR, .nin = 1, .in = {a, -1, -1, -1, -1, -1, -1, -1}, .out = res};
    vr_node n1 = {.op = VR_OP_LINEAR, .nin = c->residual ? 2 : 1,
                  .in = {a, c->residual ? res : -1, -1, -1, -1, -1, -1, -1}, .out = b,
                  .act = VK_ACT_GELU};
    vr_node n2 = {.op = VR_OP_RESHAPE, .nin = 1, .in = {b, -1, -1, -1, -1, -1, -1, -1}, .out = y};
    assert_true(vr_graph_add_node(g, &n0) >= 0);
    assert_true(vr_graph_add_node(g, &n1) >= 0);
    assert_true(vr_graph_add_node(g, &n2) >= 0);
    assert_int_equal(vr_graph_set_io(g, a, y), 0);
    vr_node_refs all[3] = {refs[0], refs[1], {-1, -1, -1, -1}};
    int rc = vr_model_save_checked(w, g, all, path, err, errlen);
    vr_graph_free(g);
    vw_writer_free(w);
    return rc;
}

/* The model's output against direct kernel calls, bit for bit. */
static void check_run(const wcase *c, const weights *wt, const char *path)
{
    char err[512];
    vr_model *m;
    if (vr_model_open(path, &m, err, sizeof err))
        tu_fail("%s: %s", c->what, err);
    const vr_node *lin = vr_graph_node(m->graph, 1);
    assert_int_equal((int)lin->wtype, c->wkind == 1 ? VR_W_S8 : c->wkind == 2 ? VR_W_BF16 : VR_W_F32);
    enum { B = 2 };
    tu_rng r = tu_rng_make(32);
    float x[B * L * K], got[B * L * N], want[B * L * N], res[B * L * N];
    tu_fill_f32(&r, x, B * L * K, -2, 2);
    x[3] = 0; /* a few exact zeros and a row of zeros */
    memset(x + K, 0, K * sizeof *x);
    for (int i = 0; i < B * L; i++)
        memcpy(res + i * N, wt->res, N * sizeof *res); /* residual node: bias only */
    const vk_ops *ops = tu_ops();
    for (int threads = 1; threads <= 2; threads++) {
        vr_plan *p = vr_plan_create(m->graph, B, ops, err, sizeof err);
        if (!p)
            tu_fail("%s: plan: %s", c->what, err);
        vr_pool *pool = vr_pool_create(threads);
        assert_int_equal(vr_plan_run(p, pool, x, got), 0);
        vr_pool_destroy(pool);
        vr_plan_free(p);
        if (c->wkind == 1) {
            uint8_t q[B * L * K];
            float as[B * L];
            ops->quant_rows(x, K, K, q, K, as, 0, B * L);
            vk_matmul_q8_args a = {.M = B * L, .N = N, .K = K, .A = q, .lda = K, .a_zero = 128,
                                   .Bp = lin->weights, .b_colsum = lin->w_colsum,
                                   .out = VK_Q8_OUT_F32, .C = want, .ldc = N, .a_scale = as,
                                   .a_scale_per_row = 1, .w_scale = lin->w_scales,
                                   .w_scale_per_channel = 1, .bias_f32 = wt->bias,
                                   .act = VK_ACT_GELU, .residual = c->residual ? res : NULL,
                                   .ldr = N};
            ops->matmul_q8(&a, 0, B * L, 0, N);
        } else {
            vk_matmul_bf16_args a = {.M = B * L, .N = N, .K = K, .A = x, .lda = K,
                                     .Bp = lin->weights, .bias = wt->bias,
                                     .residual = c->residual ? res : NULL, .ldr = N, .C = want,
                                     .ldc = N, .act = VK_ACT_GELU};
            ops->matmul_bf16(&a, 0, B * L, 0, N);
        }
        for (int i = 0; i < B * L * N; i++)
            if (memcmp(&got[i], &want[i], 4))
                tu_fail("%s, %d threads: element %d is %.9g, the kernels give %.9g", c->what,
                        threads, i, got[i], want[i]);
    }
    vr_model_close(m);
}

static void test_storage(void **state)
{
    (void)state;
    static weights wt;
    make_weights(&wt);
    tu_rng r = tu_rng_make(33);
    tu_fill_f32(&r, wt.res, N, -1, 1);
    const wcase cases[] = {
        {"int8, residual", 1, 1, 1, 0, 1, NULL},
        {"int8, no residual", 1, 1, 1, 0, 0, NULL},
        {"bf16, residual", 2, 0, 0, 0, 1, NULL},
        {"int8 without column sums", 1, 0, 1, 0, 0, "column sums"},
        {"int8 without scales", 1, 1, 0, 0, 0, "scales"},
        {"int8, column sums of N (not rounded up)", 1, 2, 1, 0, 0, "column sums"},
        {"int8, one scale too many", 1, 1, 2, 0, 0, "scales"},
        {"int8, a NaN scale", 1, 1, 1, NAN, 0, "weight scale"},
        {"int8, an infinite scale", 1, 1, 1, INFINITY, 0, "weight scale"},
        {"int8, a negative scale", 1, 1, 1, -1.0f, 0, "weight scale"},
        {"f32 with column sums", 0, 1, 0, 0, 0, "column sums or scales"},
        {"f32 with scales", 0, 0, 1, 0, 0, "column sums or scales"},
        {"bf16 with scales", 2, 0, 1, 0, 0, "column sums or scales"},
    };
    char path[256], err[512];
    snprintf(path, sizeof path, "/tmp/vireo-wstore-%d.vwt", (int)getpid());
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const wcase *c = &cases[i];
        unlink(path);
        int rc = save_case(c, &wt, path, err, sizeof err);
        if (!c->expect) {
            if (rc)
                tu_fail("%s: refused: %s", c->what, err);
            check_run(c, &wt, path);
        } else if (rc == 0 || !strstr(err, c->expect)) {
            tu_fail("%s: expected a refusal with \"%s\", got %s", c->what, c->expect,
                    rc ? err : "a model");
        } else {
            assert_int_equal(access(path, F_OK), -1);
        }
    }
    unlink(path);
}

/* In-memory graphs the planner must refuse: int8 weights on ops other than
 * LINEAR, bf16 weights on a quantized conv. */
static void test_plan_refusals(void **state)
{
    (void)state;
    static int8_t wq[1024];
    static int32_t cs[64];
    static float sc[64];
    struct {
        const char *what;
        vr_op op;
        vr_dtype dt;
        int wtype;
    } cases[] = {
        {"int8 storage on FC", VR_OP_FC, VR_F32, VR_W_S8},
        {"int8 storage on CONV", VR_OP_CONV, VR_F32, VR_W_S8},
        {"bf16 storage on a u8 CONV", VR_OP_CONV, VR_U8, VR_W_BF16},
        {"bf16 storage on LAYERNORM", VR_OP_LAYERNORM, VR_F32, VR_W_BF16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vr_graph *g = vr_graph_new();
        vr_value v = {.dtype = cases[i].dt, .h = 1, .w = 1, .c = 8, .scale = 1};
        int a = vr_graph_add_value(g, &v), b = vr_graph_add_value(g, &v);
        vr_node n = {.op = cases[i].op, .nin = 1, .in = {a, -1, -1, -1, -1, -1, -1, -1}, .out = b,
                     .weights = wq, .w_colsum = cs, .w_scales = sc, .wtype = cases[i].wtype,
                     .kh = 1, .kw = 1, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1,
                     .eps = 1e-5f};
        assert_true(vr_graph_add_node(g, &n) >= 0);
        assert_int_equal(vr_graph_set_io(g, a, b), 0);
        char err[256] = "";
        vr_plan *p = vr_plan_create(g, 1, tu_ops(), err, sizeof err);
        if (p || !strstr(err, "weight storage"))
            tu_fail("%s: expected a refusal naming the weight storage, got %s", cases[i].what,
                    p ? "a plan" : err);
        vr_plan_free(p);
        vr_graph_free(g);
    }
}

int main(void)
{
    tu_ops();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storage),
        cmocka_unit_test(test_plan_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
