/* OpenAI CLIP's text tower (state dict in safetensors, OpenAI's names, as
 * open_clip's CLIP models also use) → vireo, f32.
 *
 * CLIP/clip/model.py, encode_text, as a graph:
 *   token_embedding [V, W] rows of the ids (s32 [1, ctx, 1], the graph input:
 *     vr_tokenizer_encode_context's zero-padded row), + positional_embedding
 *     [ctx, W];
 *   transformer.resblocks.i (pre-LN, eps 1e-5, causal mask):
 *     x = x + attn.out_proj(MHA(ln_1(x)))   attn.in_proj_weight [3W, W]
 *     x = x + mlp.c_proj(QuickGELU(mlp.c_fc(ln_2(x))))
 *   the token where the ids are largest (end of text: 49407 is the largest id;
 *   the first of equal maxima, as torch's argmax), ln_final, · text_projection
 *   [W, E] (no bias): the E-dim text embedding, the graph's output.
 * ln_final is per token, so pooling first equals CLIP's order. Heads: the
 * file's __metadata__ num_heads, else CLIP's rule W / 64. Every tensor's
 * shape is checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "convert_transformer.h"
#include "convert_util.h"

#define LN_EPS 1e-5f
#define MAX_LAYERS 256

static int clip_heads(int W) { return W % 64 == 0 ? W / 64 : 0; }

int vr_convert_clip_text(const char *src, const char *dst, const vr_convert_opts *opts, char *err,
                         size_t errlen)
{
    vr_tf c;
    if (vr_tf_open(&c, src, err, errlen))
        return vr_tf_close(&c, src, -1);
    const st_tensor *te = st_find(c.f, "token_embedding.weight");
    const st_tensor *pe = st_find(c.f, "positional_embedding");
    const st_tensor *tp = st_find(c.f, "text_projection");
    if (!te || !pe || !tp || te->ndim != 2 || pe->ndim != 2 || tp->ndim != 2) {
        vr_tf_fail(&c, "not a CLIP text tower (no 2-D token_embedding.weight, positional_embedding "
                       "and text_projection)");
        return vr_tf_close(&c, src, -1);
    }
    int64_t V = te->shape[0], W = te->shape[1], ctx = pe->shape[0], E = tp->shape[1];
    if (V < 2 || V > (1 << 24) || W < 1 || W > 65536 || ctx < 2 || ctx > 4096 ||
        pe->shape[1] != W || tp->shape[0] != W || E < 1 || E > 65536) {
        vr_tf_fail(&c, "token_embedding [%lld,%lld], positional_embedding [%lld,%lld] and "
                       "text_projection [%lld,%lld] do not fit together",
                   (long long)V, (long long)W, (long long)ctx, (long long)pe->shape[1],
                   (long long)tp->shape[0], (long long)E);
        return vr_tf_close(&c, src, -1);
    }
    int layers = 0;
    char name[128];
    for (; layers < MAX_LAYERS; layers++) {
        snprintf(name, sizeof name, "transformer.resblocks.%d.ln_1.weight", layers);
        if (!st_find(c.f, name))
            break;
    }
    if (layers < 1) {
        vr_tf_fail(&c, "no transformer.resblocks.0");
        return vr_tf_close(&c, src, -1);
    }
    vr_tf_block blk = {.ln_1 = "ln_1", .attn = "attn", .ln_2 = "ln_2", .fc1 = "mlp.c_fc",
                       .fc2 = "mlp.c_proj", .eps = LN_EPS, .act = VK_ACT_QUICKGELU,
                       .heads = vr_tf_heads(&c, (int)W, clip_heads), .causal = 1};
    vr_value iv = {.dtype = VR_S32, .h = 1, .w = (int)ctx, .c = 1};
    int ids = vr_graph_add_value(c.g, &iv);
    if (ids < 0)
        vr_tf_fail(&c, "%s", vr_graph_error(c.g));
    /* token embedding */
    float *tab = vr_tf_tensor(&c, "token_embedding.weight", 2, te->shape);
    vr_node_refs r = VR_TF_NO_REFS;
    if (tab)
        r.weights = vr_tf_put(&c, "token_embedding.weight", VW_PLAIN, 2, te->shape, tab,
                              (size_t)V * W * sizeof *tab);
    free(tab);
    int x = vr_tf_value(&c, 1, (int)ctx, (int)W);
    vr_node en = {.op = VR_OP_EMBED, .nin = 1, .in = {ids}, .out = x, .vocab = (int)V};
    vr_tf_node(&c, &en, r, "token_embedding");
    /* + positional embedding (no class token) */
    float *pos = vr_tf_tensor(&c, "positional_embedding", 2, pe->shape);
    r = VR_TF_NO_REFS;
    if (pos)
        r.weights = vr_tf_put(&c, "positional_embedding", VW_PLAIN, 2, pe->shape, pos,
                              (size_t)ctx * W * sizeof *pos);
    free(pos);
    int xp = vr_tf_value(&c, 1, (int)ctx, (int)W);
    vr_node pn = {.op = VR_OP_POS_EMBED, .nin = 1, .in = {x}, .out = xp};
    vr_tf_node(&c, &pn, r, "positional_embedding");
    x = xp;
    for (int i = 0; i < layers && !c.failed; i++) {
        snprintf(name, sizeof name, "transformer.resblocks.%d", i);
        x = vr_tf_block_add(&c, name, &blk, x);
    }
    int eot = vr_tf_value(&c, 1, 1, (int)W);
    vr_node tn = {.op = VR_OP_TOKEN, .nin = 2, .in = {x, ids}, .out = eot};
    vr_tf_node(&c, &tn, VR_TF_NO_REFS, "end-of-text token");
    int f = vr_tf_layernorm(&c, "ln_final", LN_EPS, eot);
    int out = vr_tf_linear(&c, "text_projection", NULL, 1, f, (int)E, -1, VK_ACT_NONE);
    if (c.failed)
        return vr_tf_close(&c, src, -1);
    if (vr_graph_set_io(c.g, ids, out)) {
        vr_tf_fail(&c, "%s", vr_graph_error(c.g));
        return vr_tf_close(&c, src, -1);
    }
    const char *slash = strrchr(src, '/');
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : src);
    char *dot = strstr(name, ".safetensors");
    if (dot && dot != name)
        *dot = 0;
    vw_writer_kv_str(c.w, "model.name", name);
    vw_writer_kv_str(c.w, "model.arch", "clip_text");
    vw_writer_kv_str(c.w, "model.source", "openai-clip");
    vw_writer_kv_str(c.w, "model.tower", "text");
    vw_writer_kv_u64(c.w, "model.embedding_dim", (uint64_t)E);
    vw_writer_kv_u64(c.w, "model.layers", (uint64_t)layers);
    vw_writer_kv_u64(c.w, "model.heads", (uint64_t)blk.heads);
    vw_writer_kv_u64(c.w, "text.context_length", (uint64_t)ctx);
    vw_writer_kv_u64(c.w, "text.vocab_size", (uint64_t)V);
    vw_writer_kv_str(c.w, "text.tokenizer", "clip_bpe_simple_vocab_16e6");
    if (opts && opts->labels_path && vr_convert_labels(c.w, opts->labels_path, err, errlen))
        return vr_tf_close(&c, src, -1);
    if (vr_model_save_checked(c.w, c.g, c.refs, dst, err, errlen))
        return vr_tf_close(&c, src, -1);
    return vr_tf_close(&c, src, 0);
}
