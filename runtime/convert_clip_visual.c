/* OpenAI CLIP / open_clip image towers (state dict in safetensors, OpenAI's
 * names under `visual.`, or with that prefix stripped) → vireo, f32.
 *
 * CLIP/clip/model.py, VisionTransformer (open_clip's is the same for these
 * names), as a graph:
 *   conv1: conv P×P stride P, no bias → G×G×D tokens (row-major);
 *   [class_embedding] ++ tokens, + positional_embedding [G² + 1, D];
 *   ln_pre over every token;
 *   transformer.resblocks.i (pre-LN, eps 1e-5, no mask):
 *     x = x + attn.out_proj(MHA(ln_1(x)))   attn.in_proj_weight [3D, D]
 *     x = x + mlp.c_proj(act(mlp.c_fc(ln_2(x))))
 *   token 0, ln_post, · proj [D, E] (no bias; absent: the D-dim class token
 *   is the output): the E-dim image embedding, the graph's output.
 *
 * act: OpenAI's weights use QuickGELU, open_clip's own (LAION, DataComp …)
 * exact GELU, and the state dict does not say: __metadata__ hidden_act, else
 * o->act, else quick_gelu (vr_tf_clip_act); recorded as model.act. Heads: the
 * file's __metadata__ num_heads, else CLIP's rule D / 64. A tensor of the
 * tower the graph does not use (open_clip's layer scale ls_1 / ls_2,
 * attention pooling, ...) is refused rather than ignored.
 *
 * o->image_size S' resizes the grid of position embeddings to (S'/P)² as
 * open_clip's resize_pos_embed does (bicubic, antialias=True, align_corners
 * False). Preprocessing: CLIP's transform at the input size. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "convert.h"
#include "convert_transformer.h"
#include "convert_util.h"

#define LN_EPS 1e-5f
#define MAX_LAYERS 256

static int clip_heads(int D) { return D % 64 == 0 ? D / 64 : 0; }

/* "visual." when the file has visual.conv1.weight, "" for the stripped form;
 * NULL if neither. */
static const char *visual_prefix(const st_file *f)
{
    if (st_find(f, "visual.conv1.weight"))
        return "visual.";
    if (st_find(f, "conv1.weight"))
        return "";
    return NULL;
}

int vr_convert_clip_visual(const char *src, const char *dst, const vr_convert_opts *opts,
                           char *err, size_t errlen)
{
    vr_tf c;
    if (vr_tf_open(&c, src, err, errlen))
        return vr_tf_close(&c, src, -1);
    const char *pre = visual_prefix(c.f);
    if (!pre) {
        vr_tf_fail(&c, "not an OpenAI / open_clip image tower (no visual.conv1.weight or "
                       "conv1.weight)");
        return vr_tf_close(&c, src, -1);
    }
    if (!*pre && st_find(c.f, "token_embedding.weight")) {
        vr_tf_fail(&c, "an image tower without its 'visual.' prefix beside a top-level text "
                       "tower: the two share names (transformer.resblocks.*), cannot tell them "
                       "apart");
        return vr_tf_close(&c, src, -1);
    }
    char n1[256], n2[256];
#define NAME(buf, ...) (snprintf(buf, sizeof buf, __VA_ARGS__), buf)
    const st_tensor *cw = st_find(c.f, NAME(n1, "%sconv1.weight", pre));
    const st_tensor *pe = st_find(c.f, NAME(n1, "%spositional_embedding", pre));
    if (!pe || cw->ndim != 4 || pe->ndim != 2) {
        vr_tf_fail(&c, "%sconv1.weight must be 4-D and %spositional_embedding 2-D", pre, pre);
        return vr_tf_close(&c, src, -1);
    }
    int64_t D = cw->shape[0], P = cw->shape[2], L = pe->shape[0];
    int64_t G = (int64_t)llround(sqrt((double)(L > 1 ? L - 1 : 0)));
    if (D < 1 || D > 65536 || P < 1 || P > 64 || cw->shape[3] != P || cw->shape[1] != 3 || L < 2 ||
        G * G != L - 1 || G * P > 4096 || pe->shape[1] != D) {
        vr_tf_fail(&c, "%sconv1.weight [%lld,%lld,%lld,%lld] and positional_embedding [%lld,%lld] "
                       "do not make a square ViT of 3-channel P×P patches",
                   pre, (long long)D, (long long)cw->shape[1], (long long)P,
                   (long long)cw->shape[3], (long long)L, (long long)pe->shape[1]);
        return vr_tf_close(&c, src, -1);
    }
    int layers = 0;
    for (; layers < MAX_LAYERS; layers++)
        if (!st_find(c.f, NAME(n1, "%stransformer.resblocks.%d.ln_1.weight", pre, layers)))
            break;
    if (layers < 1) {
        vr_tf_fail(&c, "no %stransformer.resblocks.0", pre);
        return vr_tf_close(&c, src, -1);
    }
    const char *act_name;
    vr_tf_block blk = {.ln_1 = "ln_1", .attn = "attn", .ln_2 = "ln_2", .fc1 = "mlp.c_fc",
                       .fc2 = "mlp.c_proj", .eps = LN_EPS,
                       .act = vr_tf_clip_act(&c, opts ? opts->act : NULL, &act_name),
                       .heads = vr_tf_heads(&c, (int)D, clip_heads)};
    int S = (int)(G * P), NG = (int)G;
    if (opts && opts->image_size && opts->image_size != S)
        NG = vr_tf_grid_for_size(&c, S = opts->image_size, (int)P);
    int in = vr_tf_value(&c, S, S, 3);
    int x = vr_tf_patch_embed(&c, NAME(n1, "%sconv1.weight", pre), NULL, in, (int)D, (int)P, NG);
    x = vr_tf_pos_embed(&c, NAME(n1, "%spositional_embedding", pre), 2,
                        NAME(n2, "%sclass_embedding", pre), 1, x, (int)D, (int)G, NG,
                        VR_POS_BICUBIC_AA);
    x = vr_tf_layernorm(&c, NAME(n1, "%sln_pre", pre), LN_EPS, x);
    /* the last block on the class token alone (vr_tf_block_add_token) */
    for (int i = 0; i < layers && !c.failed; i++) {
        NAME(n1, "%stransformer.resblocks.%d", pre, i);
        x = i + 1 < layers ? vr_tf_block_add(&c, n1, &blk, x)
                           : vr_tf_block_add_token(&c, n1, &blk, x, 0);
    }
    int out = vr_tf_layernorm(&c, NAME(n1, "%sln_post", pre), LN_EPS, x);
    const st_tensor *pj = st_find(c.f, NAME(n1, "%sproj", pre));
    int64_t E = D;
    if (pj) {
        E = pj->ndim == 2 ? pj->shape[1] : 0;
        if (E < 1 || E > 65536)
            vr_tf_fail(&c, "%sproj must be [%lld, E]", pre, (long long)D);
        out = vr_tf_linear(&c, n1, NULL, 1, out, (int)E, -1, VK_ACT_NONE);
    }
    const char *const tower[] = {"visual.", "conv1.", "class_embedding", "positional_embedding",
                                 "ln_pre.", "transformer.", "ln_post.", "proj"};
    vr_tf_check_unused(&c, *pre ? tower : tower + 1, *pre ? 1 : 7);
#undef NAME
    static const struct {
        int P, D, layers;
        const char *arch;
    } known[] = {{32, 768, 12, "clip_vit_b_32"}, {16, 768, 12, "clip_vit_b_16"},
                 {14, 1024, 24, "clip_vit_l_14"}, {14, 1280, 32, "clip_vit_h_14"}};
    const char *arch = "clip_vit";
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
        if (known[k].P == P && known[k].D == D && known[k].layers == layers)
            arch = known[k].arch;
    vr_tf_tower_meta(&c, src, arch, "openai-clip", "image", act_name, E, D, layers, blk.heads);
    vr_tf_patch_meta(&c, P, G, NG);
    vr_tf_clip_preproc(&c, S);
    return vr_tf_finish(&c, src, dst, opts, in, out, err, errlen);
}
