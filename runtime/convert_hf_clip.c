/* Hugging Face CLIP towers (transformers' modeling_clip.py state dicts in
 * safetensors: CLIPModel, CLIPVisionModel[WithProjection],
 * CLIPTextModel[WithProjection]) → vireo, f32.
 *
 * Vision (CLIPVisionTransformer), names under vision_model.:
 *   embeddings.patch_embedding: conv P×P stride P, no bias → G×G×D tokens;
 *   [embeddings.class_embedding [D]] ++ tokens, + embeddings.
 *     position_embedding.weight [G² + 1, D];
 *   pre_layrnorm (sic) over every token;
 *   encoder.layers.i (pre-LN, eps 1e-5, no mask):
 *     x = x + self_attn.out_proj(MHA(layer_norm1(x)))   q_proj, k_proj, v_proj
 *         [D, D] + bias, concatenated into the [3D, D] in-projection the
 *         ATTENTION op consumes (same math: HF scales q by 1/√d before the
 *         product, torch's MHA the product; one rounding apart)
 *     x = x + mlp.fc2(act(mlp.fc1(layer_norm2(x))))
 *   token 0, post_layernorm, then visual_projection.weight [E, D] (a Linear
 *   without bias) when the file has it (WithProjection, CLIPModel): the
 *   graph's output is image_embeds, else pooler_output.
 * Text (CLIPTextTransformer), names under text_model.:
 *   embeddings.token_embedding.weight [V, W] rows of the ids (s32 [1, ctx,
 *   1]) + embeddings.position_embedding.weight [ctx, W]; encoder.layers.i as
 *   above with the causal mask; final_layer_norm; pooled at the end-of-text
 *   token; text_projection.weight [E, W] (no bias) when present.
 *   Pooling: HF takes input_ids.argmax(-1) (configs with eos_token_id 2, the
 *   OpenAI conversions) or the first id equal to eos_token_id (newer
 *   configs, 49407). With CLIP's vocabulary the end-of-text id 49407 is the
 *   largest, so both are the first 49407 of a row whether it is padded with
 *   0 (vireo's tokenizer, open_clip) or with 49407 (HF's tokenizer): the
 *   TOKEN op's first-of-equal-maxima. final_layer_norm is per token, so
 *   pooling first equals HF's order.
 *
 * act: hidden_act is in config.json, not the state dict: __metadata__
 * hidden_act, else o->act, else quick_gelu (HF's conversions of OpenAI's
 * weights). Heads: __metadata__ num_heads / num_attention_heads, else D / 64.
 * Buffers (position_ids) are ignored; any other tensor of the tower the graph
 * does not use is refused. o->image_size resizes the position embeddings as
 * HF's interpolate_pos_encoding does (bicubic, align_corners=False, no
 * antialias). Preprocessing: CLIP's transform (CLIPImageProcessor's
 * defaults: shortest edge S bicubic, centre crop S, CLIP's mean / std). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "convert_transformer.h"
#include "convert_util.h"

#define LN_EPS 1e-5f
#define MAX_LAYERS 256

static int clip_heads(int D) { return D % 64 == 0 ? D / 64 : 0; }

#define NAME(buf, ...) (snprintf(buf, sizeof buf, __VA_ARGS__), buf)

static int count_layers(vr_tf *c, const char *tower)
{
    char n[160];
    int layers = 0;
    while (layers < MAX_LAYERS &&
           st_find(c->f, NAME(n, "%s.encoder.layers.%d.layer_norm1.weight", tower, layers)))
        layers++;
    if (layers < 1)
        vr_tf_fail(c, "no %s.encoder.layers.0", tower);
    return layers;
}

/* pool >= 0: the last block on that token alone (vr_tf_block_add_token) */
static void block_layers(vr_tf *c, const char *tower, int layers, const vr_tf_block *blk, int *x,
                         int pool)
{
    char n[160];
    for (int i = 0; i < layers && !c->failed; i++) {
        NAME(n, "%s.encoder.layers.%d", tower, i);
        *x = i + 1 < layers || pool < 0 ? vr_tf_block_add(c, n, blk, *x)
                                        : vr_tf_block_add_token(c, n, blk, *x, pool);
    }
}

/* The optional final projection `name` [E, W] (Linear, no bias). */
static int projection(vr_tf *c, const char *name, int x, int W, int64_t *E)
{
    const st_tensor *t = st_find(c->f, name);
    *E = W;
    if (!t || c->failed)
        return x;
    *E = t->ndim == 2 ? t->shape[0] : 0;
    if (*E < 1 || *E > 65536 || t->shape[1] != W)
        return vr_tf_fail(c, "%s must be [E, %d]", name, W);
    return vr_tf_linear(c, name, NULL, 0, x, (int)*E, -1, VK_ACT_NONE);
}

int vr_convert_hf_clip_vision(const char *src, const char *dst, const vr_convert_opts *o,
                              char *err, size_t errlen)
{
    vr_tf c;
    if (vr_tf_open(&c, src, err, errlen))
        return vr_tf_close(&c, src, -1);
    const st_tensor *cw = st_find(c.f, "vision_model.embeddings.patch_embedding.weight");
    const st_tensor *pe = st_find(c.f, "vision_model.embeddings.position_embedding.weight");
    if (!cw || !pe || cw->ndim != 4 || pe->ndim != 2) {
        vr_tf_fail(&c, "not a Hugging Face CLIP vision tower (no 4-D vision_model.embeddings."
                       "patch_embedding.weight and 2-D position_embedding.weight)");
        return vr_tf_close(&c, src, -1);
    }
    int64_t D = cw->shape[0], P = cw->shape[2], L = pe->shape[0];
    int64_t G = (int64_t)llround(sqrt((double)(L > 1 ? L - 1 : 0)));
    if (D < 1 || D > 65536 || P < 1 || P > 64 || cw->shape[3] != P || cw->shape[1] != 3 || L < 2 ||
        G * G != L - 1 || G * P > 4096 || pe->shape[1] != D) {
        vr_tf_fail(&c, "patch_embedding.weight [%lld,%lld,%lld,%lld] and position_embedding "
                       "[%lld,%lld] do not make a square ViT of 3-channel P×P patches",
                   (long long)D, (long long)cw->shape[1], (long long)P, (long long)cw->shape[3],
                   (long long)L, (long long)pe->shape[1]);
        return vr_tf_close(&c, src, -1);
    }
    int layers = count_layers(&c, "vision_model");
    const char *act_name;
    vr_tf_block blk = {.ln_1 = "layer_norm1", .attn = "self_attn", .ln_2 = "layer_norm2",
                       .fc1 = "mlp.fc1", .fc2 = "mlp.fc2", .eps = LN_EPS, .split_qkv = 1,
                       .act = vr_tf_clip_act(&c, o ? o->act : NULL, &act_name),
                       .heads = vr_tf_heads(&c, (int)D, clip_heads)};
    int S = (int)(G * P), NG = (int)G;
    if (o && o->image_size && o->image_size != S)
        NG = vr_tf_grid_for_size(&c, S = o->image_size, (int)P);
    int in = vr_tf_value(&c, S, S, 3);
    int x = vr_tf_patch_embed(&c, "vision_model.embeddings.patch_embedding.weight", NULL, in,
                              (int)D, (int)P, NG);
    x = vr_tf_pos_embed(&c, "vision_model.embeddings.position_embedding.weight", 2,
                        "vision_model.embeddings.class_embedding", 1, x, (int)D, (int)G, NG,
                        VR_POS_BICUBIC);
    x = vr_tf_layernorm(&c, "vision_model.pre_layrnorm", LN_EPS, x);
    block_layers(&c, "vision_model", layers, &blk, &x, 0); /* class token */
    int out = vr_tf_layernorm(&c, "vision_model.post_layernorm", LN_EPS, x);
    int64_t E;
    out = projection(&c, "visual_projection.weight", out, (int)D, &E);
    const char *const tower[] = {"vision_model.", "visual_projection."};
    vr_tf_check_unused(&c, tower, 2);
    vr_tf_tower_meta(&c, src, "clip_vit", "hf-clip", "image", act_name, E, D, layers, blk.heads);
    vr_tf_patch_meta(&c, P, G, NG);
    vr_tf_clip_preproc(&c, S);
    return vr_tf_finish(&c, src, dst, o, in, out, err, errlen);
}

int vr_convert_hf_clip_text(const char *src, const char *dst, const vr_convert_opts *o, char *err,
                            size_t errlen)
{
    vr_tf c;
    if (vr_tf_open(&c, src, err, errlen))
        return vr_tf_close(&c, src, -1);
    const st_tensor *te = st_find(c.f, "text_model.embeddings.token_embedding.weight");
    const st_tensor *pe = st_find(c.f, "text_model.embeddings.position_embedding.weight");
    if (!te || !pe || te->ndim != 2 || pe->ndim != 2) {
        vr_tf_fail(&c, "not a Hugging Face CLIP text tower (no 2-D text_model.embeddings."
                       "token_embedding.weight and position_embedding.weight)");
        return vr_tf_close(&c, src, -1);
    }
    int64_t V = te->shape[0], W = te->shape[1], ctx = pe->shape[0];
    if (V < 2 || V > (1 << 24) || W < 1 || W > 65536 || ctx < 2 || ctx > 4096 ||
        pe->shape[1] != W) {
        vr_tf_fail(&c, "token_embedding [%lld,%lld] and position_embedding [%lld,%lld] do not "
                       "fit together",
                   (long long)V, (long long)W, (long long)ctx, (long long)pe->shape[1]);
        return vr_tf_close(&c, src, -1);
    }
    int layers = count_layers(&c, "text_model");
    const char *act_name;
    vr_tf_block blk = {.ln_1 = "layer_norm1", .attn = "self_attn", .ln_2 = "layer_norm2",
                       .fc1 = "mlp.fc1", .fc2 = "mlp.fc2", .eps = LN_EPS, .split_qkv = 1,
                       .causal = 1, .act = vr_tf_clip_act(&c, o ? o->act : NULL, &act_name),
                       .heads = vr_tf_heads(&c, (int)W, clip_heads)};
    int ids, x = vr_tf_text_embed(&c, "text_model.embeddings.token_embedding.weight",
                                  "text_model.embeddings.position_embedding.weight", V, W, ctx,
                                  &ids);
    block_layers(&c, "text_model", layers, &blk, &x, -1);
    int eot = vr_tf_value(&c, 1, 1, (int)W);
    vr_node tn = {.op = VR_OP_TOKEN, .nin = 2, .in = {x, ids}, .out = eot};
    vr_tf_node(&c, &tn, VR_TF_NO_REFS, "end-of-text token");
    int out = vr_tf_layernorm(&c, "text_model.final_layer_norm", LN_EPS, eot);
    int64_t E;
    out = projection(&c, "text_projection.weight", out, (int)W, &E);
    const char *const tower[] = {"text_model.", "text_projection."};
    vr_tf_check_unused(&c, tower, 2);
    vr_tf_tower_meta(&c, src, "clip_text", "hf-clip", "text", act_name, E, 0, layers, blk.heads);
    vr_tf_text_meta(&c, ctx, V);
    return vr_tf_finish(&c, src, dst, o, ids, out, err, errlen);
}
