/* torchvision Vision Transformer state dicts (safetensors) → vireo, f32.
 *
 * torchvision 0.14, models/vision_transformer.py, as a graph:
 *   conv_proj: conv P×P stride P (+ bias) → G×G×D tokens (G = S / P, row-major
 *     = torch's flatten(2).permute(0, 2, 1));
 *   [class_token] ++ tokens, + encoder.pos_embedding ([1, G² + 1, D]);
 *   encoder.layers.encoder_layer_i (pre-LN, eps 1e-6):
 *     x = x + out_proj(MHA(ln_1(x)))   in_proj_weight [3D, D] = [q; k; v] rows,
 *                                      `heads` heads of D / heads (torch's MHA)
 *     x = x + mlp.3(GELU(mlp.0(ln_2(x))))   (exact erf GELU)
 *   token 0, encoder.ln, heads.head (D → classes).
 * The final LayerNorm is per token, so taking token 0 first (as here) equals
 * torchvision's ln over all tokens then x[:, 0]. Residual adds are fused into
 * the linear before them (matmul epilogue). The graph's output is the logits
 * (the head's input, the LayerNorm'd class token, is the embedding).
 *
 * D, P, S (from pos_embedding: G² + 1 tokens), the depth (counted) and the MLP
 * width come from the tensors; the head count does not (it changes no shape):
 * the file's __metadata__ "num_heads" when present, else torchvision's for
 * that width (768: 12 as vit_b_*, 1024 and 1280: 16 as vit_l_* / vit_h_14),
 * else the conversion is refused. Every tensor's shape is checked. Layouts:
 * conv OIHW → OHWI (vk_pack_conv_f32); Linear [out, in] → B [in][out]
 * (vk_pack_f32_b). Preprocessing: torchvision's ImageClassification for
 * these weights: resize to S/0.875 (bilinear), centre crop S, RGB in [0, 1],
 * ImageNet mean / std, NHWC f32.
 *
 * o->image_size S' (a multiple of P) builds the model for S'×S' inputs: the
 * G×G grid of position embeddings resized to (S'/P)² as torchvision's
 * interpolate_embeddings does (bicubic, align_corners=True; the class
 * token's row kept), the preprocessing metadata for S'. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "convert_transformer.h"
#include "convert_util.h"

#define LN_EPS 1e-6f
#define MAX_LAYERS 256

/* torchvision's head counts: vit_b_* 12 (width 768), vit_l_* and vit_h_14 16. */
static int torchvision_heads(int D) { return D == 768 ? 12 : D == 1024 || D == 1280 ? 16 : 0; }

int vr_convert_vit(const char *src, const char *dst, const vr_convert_opts *opts, char *err,
                   size_t errlen)
{
    vr_tf c;
    if (vr_tf_open(&c, src, err, errlen))
        return vr_tf_close(&c, src, -1);
    const st_tensor *cp = st_find(c.f, "conv_proj.weight"), *pe = st_find(c.f, "encoder.pos_embedding");
    if (!cp || !pe || cp->ndim != 4 || pe->ndim != 3) {
        vr_tf_fail(&c, "not a torchvision ViT state dict (no 4-D conv_proj.weight and 3-D "
                       "encoder.pos_embedding)");
        return vr_tf_close(&c, src, -1);
    }
    if (st_find(c.f, "heads.pre_logits.weight")) {
        vr_tf_fail(&c, "heads.pre_logits (a representation layer with tanh) is not supported");
        return vr_tf_close(&c, src, -1);
    }
    int64_t D = cp->shape[0], P = cp->shape[2], L = pe->shape[1];
    int64_t G = (int64_t)llround(sqrt((double)(L > 1 ? L - 1 : 0)));
    if (D < 1 || D > 65536 || P < 1 || P > 64 || cp->shape[3] != P || cp->shape[1] != 3 || L < 2 ||
        G * G != L - 1 || G * P > 4096) {
        vr_tf_fail(&c, "conv_proj.weight [%lld,%lld,%lld,%lld] and pos_embedding of %lld tokens do "
                       "not make a square ViT of 3-channel P×P patches",
                   (long long)D, (long long)cp->shape[1], (long long)P, (long long)cp->shape[3],
                   (long long)L);
        return vr_tf_close(&c, src, -1);
    }
    int layers = 0;
    char name[128];
    for (; layers < MAX_LAYERS; layers++) {
        snprintf(name, sizeof name, "encoder.layers.encoder_layer_%d.ln_1.weight", layers);
        if (!st_find(c.f, name))
            break;
    }
    if (layers < 1) {
        vr_tf_fail(&c, "no encoder layers (encoder.layers.encoder_layer_0.ln_1.weight)");
        return vr_tf_close(&c, src, -1);
    }
    vr_tf_block blk = {.ln_1 = "ln_1", .attn = "self_attention", .ln_2 = "ln_2", .fc1 = "mlp.0",
                       .fc2 = "mlp.3", .eps = LN_EPS, .act = VK_ACT_GELU,
                       .heads = vr_tf_heads(&c, (int)D, torchvision_heads)};
    int S = (int)(G * P), NG = (int)G;
    if (opts && opts->image_size && opts->image_size != S)
        NG = vr_tf_grid_for_size(&c, S = opts->image_size, (int)P);
    int in = vr_tf_value(&c, S, S, 3);
    int x = vr_tf_patch_embed(&c, "conv_proj.weight", "conv_proj.bias", in, (int)D, (int)P, NG);
    x = vr_tf_pos_embed(&c, "encoder.pos_embedding", 3, "class_token", 3, x, (int)D, (int)G, NG,
                        VR_POS_BICUBIC_ALIGNED);
    /* the last block on the class token alone (vr_tf_block_add_token) */
    for (int i = 0; i < layers && !c.failed; i++) {
        snprintf(name, sizeof name, "encoder.layers.encoder_layer_%d", i);
        x = i + 1 < layers ? vr_tf_block_add(&c, name, &blk, x)
                           : vr_tf_block_add_token(&c, name, &blk, x, 0);
    }
    int feat = vr_tf_layernorm(&c, "encoder.ln", LN_EPS, x), outv = feat;
    const st_tensor *hw = st_find(c.f, "heads.head.weight");
    if (hw && hw->ndim == 2)
        outv = vr_tf_linear(&c, "heads.head.weight", "heads.head.bias", 0, feat,
                            (int)hw->shape[0], -1, VK_ACT_NONE);
    static const struct {
        int P, D, layers;
        const char *arch;
    } known[] = {{32, 768, 12, "vit_b_32"}, {16, 768, 12, "vit_b_16"}, {32, 1024, 24, "vit_l_32"},
                 {16, 1024, 24, "vit_l_16"}, {14, 1280, 32, "vit_h_14"}};
    const char *arch = "vit";
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
        if (known[k].P == P && known[k].D == D && known[k].layers == layers)
            arch = known[k].arch;
    vr_tf_tower_meta(&c, src, arch, "torchvision", NULL, NULL, D, 0, layers, blk.heads);
    vr_tf_patch_meta(&c, P, G, NG);
    if (!c.failed)
        vr_torchvision_preproc_meta(c.w, S);
    return vr_tf_finish(&c, src, dst, opts, in, outv, err, errlen);
}
