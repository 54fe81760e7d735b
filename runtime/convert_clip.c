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
 * file's __metadata__ num_heads, else CLIP's rule W / 64. act: QuickGELU for
 * OpenAI's weights, GELU for open_clip's own; __metadata__ hidden_act, else
 * o->act, else quick_gelu (vr_tf_clip_act). Every tensor's shape is checked;
 * a tensor of the text tower the graph does not use is refused.
 *
 * vr_convert_clip, at the end, picks the converter of a CLIP-family file. */
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
    const char *act_name;
    vr_tf_block blk = {.ln_1 = "ln_1", .attn = "attn", .ln_2 = "ln_2", .fc1 = "mlp.c_fc",
                       .fc2 = "mlp.c_proj", .eps = LN_EPS,
                       .act = vr_tf_clip_act(&c, opts ? opts->act : NULL, &act_name),
                       .heads = vr_tf_heads(&c, (int)W, clip_heads), .causal = 1};
    int ids, x = vr_tf_text_embed(&c, "token_embedding.weight", "positional_embedding", V, W, ctx,
                                  &ids);
    for (int i = 0; i < layers && !c.failed; i++) {
        snprintf(name, sizeof name, "transformer.resblocks.%d", i);
        x = vr_tf_block_add(&c, name, &blk, x);
    }
    int eot = vr_tf_value(&c, 1, 1, (int)W);
    vr_node tn = {.op = VR_OP_TOKEN, .nin = 2, .in = {x, ids}, .out = eot};
    vr_tf_node(&c, &tn, VR_TF_NO_REFS, "end-of-text token");
    int f = vr_tf_layernorm(&c, "ln_final", LN_EPS, eot);
    int out = vr_tf_linear(&c, "text_projection", NULL, 1, f, (int)E, -1, VK_ACT_NONE);
    const char *const tower[] = {"token_embedding.", "positional_embedding", "transformer.",
                                 "ln_final.", "text_projection"};
    vr_tf_check_unused(&c, tower, 5);
    vr_tf_tower_meta(&c, src, "clip_text", "openai-clip", "text", act_name, E, 0, layers,
                     blk.heads);
    vr_tf_text_meta(&c, ctx, V);
    return vr_tf_finish(&c, src, dst, opts, ids, out, err, errlen);
}

/* ------------------------------------------------ the CLIP family ---- */
typedef enum { NAMES_OPENAI, NAMES_OPENAI_BARE, NAMES_HF, NAMES_COUNT } naming;

int vr_convert_clip(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                    size_t errlen)
{
    st_file *f;
    err[0] = 0;
    if (st_open(src, &f, err, errlen))
        return -1;
    /* which towers, in which naming */
    int image[NAMES_COUNT] = {
        st_find(f, "visual.conv1.weight") != NULL,
        st_find(f, "conv1.weight") != NULL,
        st_find(f, "vision_model.embeddings.patch_embedding.weight") != NULL};
    int text[NAMES_COUNT] = {st_find(f, "token_embedding.weight") != NULL, 0,
                             st_find(f, "text_model.embeddings.token_embedding.weight") != NULL};
    st_close(f);
    const char *why = NULL;
    int ni = image[0] + image[1] + image[2], nt = text[0] + text[2];
    const char *tower = o ? o->tower : NULL;
    if (tower && strcmp(tower, "image") && strcmp(tower, "text"))
        why = "the tower must be image or text";
    else if (image[NAMES_OPENAI_BARE] && text[NAMES_OPENAI])
        why = "an image tower without its 'visual.' prefix beside a top-level text tower: the "
              "two share names (transformer.resblocks.*), cannot tell them apart";
    else if (ni > 1 || nt > 1)
        why = "tensors of more than one naming scheme (OpenAI visual.* / conv1.*, Hugging Face "
              "vision_model.* / text_model.*) for the same tower";
    else if (!ni && !nt)
        why = "not a CLIP tower (no visual.conv1.weight, conv1.weight, token_embedding.weight, "
              "vision_model.embeddings.patch_embedding.weight or text_model.embeddings."
              "token_embedding.weight)";
    else if (!tower && ni && nt)
        why = "holds both an image and a text tower: choose one with --tower image|text";
    else if (tower && !strcmp(tower, "image") && !ni)
        why = "has no image tower (only a text tower)";
    else if (tower && !strcmp(tower, "text") && !nt)
        why = "has no text tower (only an image tower)";
    if (why) {
        snprintf(err, errlen, "%s: %s", src, why);
        return -1;
    }
    if (ni && (!tower || !strcmp(tower, "image")))
        return image[NAMES_HF] ? vr_convert_hf_clip_vision(src, dst, o, err, errlen)
                               : vr_convert_clip_visual(src, dst, o, err, errlen);
    if (o && o->image_size) {
        snprintf(err, errlen, "%s: --image-size applies to image towers, not a text tower", src);
        return -1;
    }
    return text[NAMES_HF] ? vr_convert_hf_clip_text(src, dst, o, err, errlen)
                          : vr_convert_clip_text(src, dst, o, err, errlen);
}
