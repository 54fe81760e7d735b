/* f32 model → Winograd convs (runtime/convert.h vr_convert_wino_file): the
 * weights of every eligible 3×3 conv transformed once, U = G g Gᵀ
 * (vk_pack_wino_f32, layout VW_CONV_WINO_F32), so the conv runs as
 * conv_wino_f32 (graph.h VR_W_WINO); every other node is kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pack.h"
#include "runtime/convert.h"
#include "runtime/convert_rewrite.h"

int vr_wino_eligible(const vr_graph *g, const vr_node *n)
{
    if (n->op != VR_OP_CONV || n->wtype != VR_W_F32 || !n->weights)
        return 0;
    const vr_value *in = vr_graph_value(g, n->in[0]), *out = vr_graph_value(g, n->out);
    return in && out && in->dtype == VR_F32 && n->kh == 3 && n->kw == 3 && n->stride_h == 1 &&
           n->stride_w == 1 && n->dil_h == 1 && n->dil_w == 1 && in->c >= VR_WINO_MIN_CHANNELS &&
           out->c >= VR_WINO_MIN_CHANNELS && (int64_t)out->h * out->w >= VR_WINO_MIN_PIXELS;
}

int vr_rewrite_wino(vr_rewrite *rw, int ni, const vr_node *n, vr_node_refs *r)
{
    if (!vr_wino_eligible(vr_rewrite_graph(rw), n))
        return 0;
    const vw_tensor *t = vr_rewrite_tensor(rw, n->weights);
    if (!t || t->dtype != VW_F32 || t->layout != VW_CONV_F32 || t->ndim != 4 || t->dims[1] != 3 ||
        t->dims[2] != 3)
        return vr_rewrite_fail(rw, "node %d (conv): weights %s not f32 [OC, 3, 3, C] in layout "
                                   "conv_f32", ni, t ? t->name : "(not in the file)");
    char name[VW_MAX_NAME + 1];
    snprintf(name, sizeof name, "%s", t->name);
    const int OC = (int)t->dims[0], C = (int)t->dims[3], K = 9 * C;
    const size_t n_out = vk_pack_wino_f32_size(OC, C);
    float *B = malloc((size_t)K * OC * sizeof *B), *w = malloc((size_t)K * OC * sizeof *w);
    float *packed = malloc(n_out * sizeof *packed);
    int rc = -1;
    if (!B || !w || !packed) {
        vr_rewrite_fail(rw, "out of memory");
        goto out;
    }
    vr_unpack_f32_b(n->weights, K, OC, B); /* B [K][OC] → OHWI [OC][K] */
    for (int k = 0; k < K; k++)
        for (int oc = 0; oc < OC; oc++)
            w[(size_t)oc * K + k] = B[(size_t)k * OC + oc];
    vk_pack_wino_f32(OC, C, w, packed);
    r->weights = vr_rewrite_put(rw, name, VW_F32, VW_CONV_WINO_F32, 4, t->dims, packed,
                                n_out * sizeof *packed);
    if (r->weights >= 0)
        rc = 1;
out:
    free(B), free(w), free(packed);
    return rc;
}

static int rewrite_node(vr_rewrite *rw, void *ctx, int ni, const vr_node *n, vr_node_refs *r)
{
    int rc = vr_rewrite_wino(rw, ni, n, r);
    *(int *)ctx += rc > 0;
    return rc;
}

/* How many convs of the model at path are eligible. */
static int count_eligible(const char *path, int *count, char *err, size_t errlen)
{
    vr_model *m;
    if (vr_model_open(path, &m, err, errlen))
        return -1;
    *count = 0;
    for (int i = 0; i < vr_graph_node_count(m->graph); i++)
        *count += vr_wino_eligible(m->graph, vr_graph_node(m->graph, i));
    vr_model_close(m);
    return 0;
}

int vr_convert_wino_file(const char *f32_path, const char *dst, int *converted, char *err,
                         size_t errlen)
{
    int count = 0, eligible;
    if (converted)
        *converted = 0;
    if (count_eligible(f32_path, &eligible, err, errlen))
        return -1;
    if (!eligible && !strcmp(f32_path, dst))
        return 0; /* nothing to change: the file stays as it is */
    if (vr_rewrite_model(f32_path, dst, rewrite_node, &count, NULL, err, errlen))
        return -1;
    if (converted)
        *converted = count;
    return 0;
}
