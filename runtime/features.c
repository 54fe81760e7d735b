/* Pooled features as the retrieval embedding (runtime/features.h). */
#include "runtime/features.h"

#include "formats/errmsg.h"

static int is_global_pool(const vr_graph *g, const vr_node *n)
{
    if (n->op != VR_OP_GAP && n->op != VR_OP_AVGPOOL && n->op != VR_OP_MAXPOOL)
        return 0;
    const vr_value *in = vr_graph_value(g, n->in[0]), *out = vr_graph_value(g, n->out);
    return out->h == 1 && out->w == 1 && (size_t)in->h * in->w > 1;
}

int vr_model_feature_value(const vr_model *m)
{
    const vr_graph *g = m->graph;
    for (int i = vr_graph_node_count(g) - 1; i >= 0; i--) {
        const vr_node *n = vr_graph_node(g, i);
        if (is_global_pool(g, n))
            return n->out;
    }
    return vr_graph_output(g);
}

int vr_model_use_features(vr_model *m, char *err, size_t errlen)
{
    int v = vr_model_feature_value(m);
    if (vr_graph_set_io(m->graph, vr_graph_input(m->graph), v)) {
        vf_fail(err, errlen, "%s", vr_graph_error(m->graph));
        return -1;
    }
    const vr_value *val = vr_graph_value(m->graph, v);
    return val->h * val->w * val->c;
}
