/* f32 model → bf16 weights (runtime/convert.h vr_convert_bf16_file,
 * docs/QUANTIZATION.md "bf16"): the weights of every conv, depthwise conv,
 * fully connected and linear layer rounded once to bf16 (round to nearest
 * even, by the kernels' packers) and stored in the bf16 kernels' layouts
 * (graph.h VR_W_BF16); biases, activations and every other op stay f32. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/pack.h"
#include "runtime/convert.h"
#include "runtime/convert_rewrite.h"

int vr_rewrite_bf16(vr_rewrite *rw, int ni, const vr_node *n, vr_node_refs *r)
{
    if (n->wtype == VR_W_WINO) /* U = G g Gᵀ in f32 does not give g back exactly */
        return vr_rewrite_fail(rw, "node %d (conv): weights stored Winograd-transformed "
                                   "(conv_wino_f32) cannot be rounded to bf16; convert the "
                                   "source model with --dtype bf16", ni);
    if ((n->op != VR_OP_CONV && n->op != VR_OP_DWCONV && n->op != VR_OP_FC &&
         n->op != VR_OP_LINEAR) || n->wtype != VR_W_F32)
        return 0;
    const vw_tensor *t = vr_rewrite_tensor(rw, n->weights);
    if (!t || t->dtype != VW_F32)
        return 0; /* a quantized node: its weights are s8 */
    char name[VW_MAX_NAME + 1];
    snprintf(name, sizeof name, "%s", t->name);
    vw_layout lay;
    size_t n_out; /* uint16_t elements */
    int K, N;
    if (t->layout == VW_CONV_F32 && t->ndim == 4) {
        N = (int)t->dims[0];
        K = (int)(t->dims[1] * t->dims[2] * t->dims[3]);
        lay = VW_CONV_BF16;
        n_out = vk_pack_conv_bf16_size(N, (int)t->dims[1], (int)t->dims[2], (int)t->dims[3]);
    } else if (t->layout == VW_DW_F32 && t->ndim == 3) {
        K = (int)(t->dims[0] * t->dims[1]);
        N = (int)t->dims[2];
        lay = VW_DW_BF16;
        n_out = vk_pack_dw_size((int)t->dims[0], (int)t->dims[1], N);
    } else if (t->layout == VW_F32_B16 && t->ndim == 2) {
        K = (int)t->dims[0];
        N = (int)t->dims[1];
        lay = VW_BF16_B16X2;
        n_out = vk_pack_bf16_b_size(K, N);
    } else {
        return vr_rewrite_fail(rw, "node %d (%s): weights %s in layout %s", ni,
                               vr_op_name(n->op), name, vw_layout_name(t->layout));
    }
    float *w = malloc((size_t)K * N * sizeof *w);
    uint16_t *packed = malloc(n_out * sizeof *packed);
    int rc = -1;
    if (!w || !packed) {
        vr_rewrite_fail(rw, "out of memory");
        goto out;
    }
    if (lay == VW_DW_BF16) { /* [KH·KW][round_up(C, 16)] → [KH·KW][C] */
        const size_t Cp = vk_round_up((size_t)N, 16);
        for (int k = 0; k < K; k++)
            for (int c = 0; c < N; c++)
                w[(size_t)k * N + c] = ((const float *)n->weights)[(size_t)k * Cp + (size_t)c];
        vk_pack_dw_bf16((int)t->dims[0], (int)t->dims[1], N, w, packed);
    } else if (lay == VW_CONV_BF16) { /* B [K][OC] → OHWI [OC][K] */
        float *B = malloc((size_t)K * N * sizeof *B);
        if (!B) {
            vr_rewrite_fail(rw, "out of memory");
            goto out;
        }
        vr_unpack_f32_b(n->weights, K, N, B);
        for (int k = 0; k < K; k++)
            for (int oc = 0; oc < N; oc++)
                w[(size_t)oc * K + k] = B[(size_t)k * N + oc];
        free(B);
        vk_pack_conv_bf16(N, (int)t->dims[1], (int)t->dims[2], (int)t->dims[3], w, packed);
    } else {
        vr_unpack_f32_b(n->weights, K, N, w);
        vk_pack_bf16_b(K, N, w, N, packed);
    }
    r->weights = vr_rewrite_put(rw, name, VW_BF16, lay, t->ndim, t->dims, packed,
                                n_out * sizeof *packed);
    if (r->weights >= 0)
        rc = 1;
out:
    free(w), free(packed);
    return rc;
}

static int rewrite_node(vr_rewrite *rw, void *ctx, int ni, const vr_node *n, vr_node_refs *r)
{
    int rc = vr_rewrite_bf16(rw, ni, n, r);
    *(int *)ctx += rc > 0;
    return rc;
}

int vr_convert_bf16_file(const char *f32_path, const char *dst, char *err, size_t errlen)
{
    static const char *const kv[] = {"weights.dtype", "bf16", NULL};
    int count = 0;
    return vr_rewrite_model(f32_path, dst, rewrite_node, &count, kv, err, errlen);
}
