/* f32 model → dynamic int8 model (runtime/convert.h vr_convert_dynq_file,
 * docs/QUANTIZATION.md "Dynamic int8"): every LINEAR's weights become s8,
 * symmetric per output channel; its input is quantized per row at run time
 * (graph.h VR_W_S8). Everything else stays as the f32 model has it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/pack.h"
#include "runtime/convert.h"
#include "runtime/convert_rewrite.h"

#define QMAX 127

/* Column n of B [K][N]: scale max|w| / 127 (1 for an all-zero column, whose
 * codes are 0 whatever it is), codes round(w / scale) in [-127, 127]. */
static int quantize_columns(const float *B, int K, int N, int8_t *Bq, float *scale)
{
    for (int n = 0; n < N; n++) {
        float amax = 0;
        int finite = 1;
        for (int k = 0; k < K; k++) {
            /* a plain compare: aarch64 GCC 12 crashes vectorizing fmax here */
            const float a = fabsf(B[(size_t)k * N + n]);
            finite &= isfinite(a) != 0;
            amax = a > amax ? a : amax;
        }
        if (!finite)
            return -1;
        scale[n] = amax > 0 ? (float)((double)amax / QMAX) : 1.0f;
        if (!(scale[n] > 0)) /* amax below 127 · the smallest float */
            scale[n] = 1.0f;
        const double s = scale[n]; /* quantize with the stored (f32) scale */
        for (int k = 0; k < K; k++) {
            double v = round(B[(size_t)k * N + n] / s);
            Bq[(size_t)k * N + n] = (int8_t)(v < -QMAX ? -QMAX : v > QMAX ? QMAX : v);
        }
    }
    return 0;
}

static int rewrite_linear(vr_rewrite *rw, void *ctx, int ni, const vr_node *n, vr_node_refs *r)
{
    int *count = ctx;
    /* A ViT's patch embedding (a conv with f32 input) in bf16: half the f32
     * conv's time, an error far below the int8 layers' (docs/QUANTIZATION.md). */
    if (n->op == VR_OP_CONV)
        return vr_rewrite_bf16(rw, ni, n, r);
    if (n->op != VR_OP_LINEAR || n->wtype != VR_W_F32)
        return 0;
    /* K and N from the packed tensor's dims (the loader checked them against
     * the node's values). */
    char name[300];
    vr_rewrite_name(rw, n->weights, ni, name, sizeof name);
    const vw_tensor *t = vr_rewrite_tensor(rw, n->weights);
    if (!t || t->ndim != 2)
        return vr_rewrite_fail(rw, "node %d (linear): weights %s not a [K, N] matrix", ni, name);
    const int K = (int)t->dims[0], N = (int)t->dims[1];
    size_t Ncs = vk_round_up((size_t)N, VK_Q8_NR), psz = vk_pack_s8_b_size(K, N);
    float *B = malloc((size_t)K * N * sizeof *B), *scale = malloc((size_t)N * sizeof *scale);
    int8_t *Bq = malloc((size_t)K * N), *packed = malloc(psz);
    int32_t *colsum = calloc(Ncs, sizeof *colsum);
    int rc = -1;
    if (!B || !scale || !Bq || !packed || !colsum) {
        vr_rewrite_fail(rw, "out of memory");
        goto out;
    }
    vr_unpack_f32_b(n->weights, K, N, B);
    if (quantize_columns(B, K, N, Bq, scale)) {
        vr_rewrite_fail(rw, "node %d (linear): weights %s not finite", ni, name);
        goto out;
    }
    vk_pack_s8_b(K, N, Bq, N, packed, colsum);
    char nm[VW_MAX_NAME + 1];
    int64_t d[2] = {K, N}, dn[1] = {N}, dc[1] = {(int64_t)Ncs};
    snprintf(nm, sizeof nm, "%.200s", name);
    r->weights = vr_rewrite_put(rw, nm, VW_S8, VW_S8_B16X4, 2, d, packed, psz);
    snprintf(nm, sizeof nm, "%.200s.colsum", name);
    r->colsum = vr_rewrite_put(rw, nm, VW_S32, VW_PLAIN, 1, dc, colsum, Ncs * sizeof *colsum);
    snprintf(nm, sizeof nm, "%.200s.scales", name);
    r->scales = vr_rewrite_put(rw, nm, VW_F32, VW_PLAIN, 1, dn, scale, (size_t)N * sizeof *scale);
    if (r->weights >= 0 && r->colsum >= 0 && r->scales >= 0) {
        rc = 1;
        ++*count;
    }
out:
    free(B), free(scale), free(Bq), free(packed), free(colsum);
    return rc;
}

int vr_convert_dynq_file(const char *f32_path, const char *dst, char *err, size_t errlen)
{
    static const char *const kv[] = {
        "quant.scheme",
        "dynamic int8: linear layers with s8 weights symmetric per output channel and "
        "activations quantized per token at run time (symmetric, max|x|/127); convolutions "
        "(a ViT's patch embedding) bf16 weights; attention, layernorm, embeddings f32",
        "weights.dtype", "int8", NULL};
    int count = 0;
    return vr_rewrite_model(f32_path, dst, rewrite_linear, &count, kv, err, errlen);
}
