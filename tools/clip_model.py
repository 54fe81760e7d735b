#!/usr/bin/python3
"""Reference CLIP towers in PyTorch, written from the published architecture (Radford et al.
2021; OpenAI's CLIP/clip/model.py: ResidualAttentionBlock, Transformer, VisionTransformer,
CLIP.encode_text / encode_image), with OpenAI's state-dict names, for
tests/models/test_clip_text.c and tests/models/test_clip_towers.c. The text tower:

  x = token_embedding(ids) + positional_embedding
  for each of `layers` blocks (pre-LN, LayerNorm eps 1e-5, causal mask):
      x = x + attn(ln_1(x))                    nn.MultiheadAttention(width, heads)
      x = x + mlp.c_proj(QuickGELU(mlp.c_fc(ln_2(x))))
  x = ln_final(x)[arange(N), ids.argmax(-1)] @ text_projection

random_clip_text(seed, ...) builds it with seeded weights: CLIP's initialize_parameters
(normal, std width^-0.5 for the projections), plus the constants it leaves (LayerNorm 1 / 0,
biases 0) redrawn (U(0.5, 1.5), U(-0.2, 0.2)) and q, k scaled by 2 so the attention is not
near-uniform.

The image tower (OpenAI's VisionTransformer, open_clip's for these names), for
tests/models/test_clip_towers.c:

  x = conv1(image)                             P x P stride P, no bias -> [N, width, G, G]
  x = [class_embedding] ++ x.flatten(2).T + positional_embedding      [N, G^2 + 1, width]
  x = transformer(ln_pre(x))                   the same blocks, no mask
  x = ln_post(x[:, 0]) @ proj

act: QuickGELU (OpenAI's weights) or exact GELU (open_clip's own models). random_clip(seed, ...)
builds both towers with seeded weights as above (CLIP's init; class and position embeddings
width^-0.5 N(0, 1)).

Hugging Face naming: HFCLIP is transformers' modeling_clip.py architecture written from its
published structure (CLIPModel: vision_model.{embeddings.{class_embedding, patch_embedding,
position_embedding, position_ids}, pre_layrnorm, encoder.layers.i.{layer_norm1, self_attn.
{q,k,v,out}_proj, layer_norm2, mlp.{fc1,fc2}}, post_layernorm}, visual_projection, text_model.
{embeddings.{token_embedding, position_embedding, position_ids}, encoder, final_layer_norm},
text_projection, logit_scale): separate q / k / v projections with q scaled by head_dim^-0.5
before the product, the end-of-text pooling at the first id equal to eos_token_id (49407).
hf_state_dict(openai_sd) renames the OpenAI state dict into it (in_proj split into q, k, v; the
[in, out] projections transposed into Linear weights), so both runs hold the SAME weights.

Position-embedding resizing as each library does it (resize_grid): torchvision's
interpolate_embeddings (bicubic, align_corners=True), open_clip's resize_pos_embed (bicubic,
antialias=True, align_corners=False), HF's interpolate_pos_encoding (bicubic,
align_corners=False).

Run as a script it writes the test references (see main()).
"""
import torch
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


def make_act(act):
    return QuickGELU() if act == "quick_gelu" else nn.GELU()


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, mask, act="quick_gelu"):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("gelu", make_act(act))
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)
        self.mask = mask

    def forward(self, x):  # x: [L, N, D] as CLIP's blocks take it
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=self.mask)[0]
        return x + self.mlp(self.ln_2(x))


class CLIPText(nn.Module):
    def __init__(self, vocab=49408, context=77, width=512, layers=12, heads=8, embed_dim=512,
                 act="quick_gelu"):
        super().__init__()
        mask = torch.full((context, context), float("-inf")).triu_(1)  # CLIP's build_attention_mask
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.empty(context, width))
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads, mask, act) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        self.heads = heads

    def forward(self, ids):
        x = self.token_embedding(ids) + self.positional_embedding
        x = self.transformer.resblocks(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection


def random_clip_text(seed, **kw):
    torch.manual_seed(seed)
    m = CLIPText(**kw)
    width = m.text_projection.shape[0]
    layers = len(m.transformer.resblocks)
    with torch.no_grad():
        nn.init.normal_(m.token_embedding.weight, std=0.02)
        nn.init.normal_(m.positional_embedding, std=0.01)
        proj_std = (width ** -0.5) * ((2 * layers) ** -0.5)
        attn_std = width ** -0.5
        fc_std = (2 * width) ** -0.5
        for b in m.transformer.resblocks:
            nn.init.normal_(b.attn.in_proj_weight, std=attn_std)
            b.attn.in_proj_weight[:2 * width].mul_(2.0)
            nn.init.normal_(b.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(b.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(b.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(m.text_projection, std=width ** -0.5)
        for name, p in m.named_parameters():
            if p.dim() == 1 and ("ln_" in name) and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            elif p.dim() == 1 and name.endswith("bias"):
                p.uniform_(-0.2, 0.2)
    return m.eval()


# ------------------------------------------------------------------ image tower ----
class VisionTransformer(nn.Module):
    """OpenAI CLIP's image tower (CLIP/clip/model.py VisionTransformer), OpenAI's names."""

    def __init__(self, image_size=224, patch=32, width=768, layers=12, heads=12, embed_dim=512,
                 act="quick_gelu"):
        super().__init__()
        grid = image_size // patch
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads, None, act) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, embed_dim))

    def forward(self, x):  # x: [N, 3, S, S]
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        x = self.transformer.resblocks(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    """Both towers with OpenAI's state-dict names (visual.* + the top-level text tower)."""

    def __init__(self, vision, text):
        super().__init__()
        self.visual = VisionTransformer(**vision)
        t = CLIPText(**text)
        for name in ("token_embedding", "positional_embedding", "transformer", "ln_final",
                     "text_projection"):
            setattr(self, name, getattr(t, name))
        self._text = [t]  # not a submodule: its parameters are registered above
        self.logit_scale = nn.Parameter(torch.ones([]) * 4.6052)

    def encode_image(self, x):
        return self.visual(x)

    def encode_text(self, ids):
        return self._text[0](ids)


def _init_blocks(blocks, width, layers, qk_scale=2.0):
    proj_std = (width ** -0.5) * ((2 * layers) ** -0.5)
    for b in blocks:
        nn.init.normal_(b.attn.in_proj_weight, std=width ** -0.5)
        b.attn.in_proj_weight[:2 * width].mul_(qk_scale)
        nn.init.normal_(b.attn.out_proj.weight, std=proj_std)
        nn.init.normal_(b.mlp.c_fc.weight, std=(2 * width) ** -0.5)
        nn.init.normal_(b.mlp.c_proj.weight, std=proj_std)


def _redraw_constants(module):
    for name, p in module.named_parameters():
        if p.dim() == 1 and ("ln_" in name) and name.endswith("weight"):
            p.uniform_(0.5, 1.5)
        elif p.dim() == 1 and name.endswith("bias"):
            p.uniform_(-0.2, 0.2)


def random_clip(seed, vision, text):
    """A full CLIP (both towers) with seeded weights, as random_clip_text does for the text."""
    torch.manual_seed(seed)
    m = CLIP(vision, text)
    v = m.visual
    width = v.proj.shape[0]
    with torch.no_grad():
        scale = width ** -0.5
        nn.init.normal_(v.class_embedding, std=scale)
        nn.init.normal_(v.positional_embedding, std=scale)
        nn.init.normal_(v.proj, std=scale)
        _init_blocks(v.transformer.resblocks, width, len(v.transformer.resblocks))
        tw = m.text_projection.shape[0]
        nn.init.normal_(m.token_embedding.weight, std=0.02)
        nn.init.normal_(m.positional_embedding, std=0.01)
        _init_blocks(m.transformer.resblocks, tw, len(m.transformer.resblocks))
        nn.init.normal_(m.text_projection, std=tw ** -0.5)
        _redraw_constants(m)
    return m.eval()


# ---------------------------------------------------- Hugging Face's architecture ----
class HFAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.scale = heads, (d // heads) ** -0.5
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x, causal):
        n, L, d = x.shape
        h = self.heads

        def split(t):
            return t.reshape(n, L, h, d // h).transpose(1, 2)
        q, k, v = split(self.q_proj(x) * self.scale), split(self.k_proj(x)), split(self.v_proj(x))
        w = q @ k.transpose(-1, -2)
        if causal:
            w = w + torch.full((L, L), torch.finfo(w.dtype).min).triu_(1)
        o = torch.softmax(w, dim=-1) @ v
        return self.out_proj(o.transpose(1, 2).reshape(n, L, d))


class HFMLP(nn.Module):
    def __init__(self, d, mlp, act):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(d, mlp), make_act(act), nn.Linear(mlp, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class HFLayer(nn.Module):
    def __init__(self, d, heads, act):
        super().__init__()
        self.layer_norm1, self.self_attn = nn.LayerNorm(d), HFAttention(d, heads)
        self.layer_norm2, self.mlp = nn.LayerNorm(d), HFMLP(d, 4 * d, act)

    def forward(self, x, causal):
        x = x + self.self_attn(self.layer_norm1(x), causal)
        return x + self.mlp(self.layer_norm2(x))


class HFEncoder(nn.Module):
    def __init__(self, d, heads, layers, act):
        super().__init__()
        self.layers = nn.ModuleList([HFLayer(d, heads, act) for _ in range(layers)])

    def forward(self, x, causal):
        for layer in self.layers:
            x = layer(x, causal)
        return x


class HFVisionTransformer(nn.Module):
    def __init__(self, image_size, patch, width, layers, heads, act, **_):
        super().__init__()
        self.embeddings = nn.Module()
        e = self.embeddings
        n = (image_size // patch) ** 2 + 1
        e.class_embedding = nn.Parameter(torch.empty(width))
        e.patch_embedding = nn.Conv2d(3, width, patch, patch, bias=False)
        e.position_embedding = nn.Embedding(n, width)
        e.register_buffer("position_ids", torch.arange(n).expand((1, -1)))
        self.pre_layrnorm = nn.LayerNorm(width)
        self.encoder = HFEncoder(width, heads, layers, act)
        self.post_layernorm = nn.LayerNorm(width)

    def forward(self, x):  # pooler_output
        e = self.embeddings
        p = e.patch_embedding(x).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(x.shape[0], 1, -1), p], dim=1)
        x = x + e.position_embedding(e.position_ids)
        x = self.encoder(self.pre_layrnorm(x), causal=False)
        return self.post_layernorm(x[:, 0, :])


class HFTextTransformer(nn.Module):
    def __init__(self, vocab, context, width, layers, heads, act, eos_token_id=49407, **_):
        super().__init__()
        self.embeddings = nn.Module()
        e = self.embeddings
        e.token_embedding = nn.Embedding(vocab, width)
        e.position_embedding = nn.Embedding(context, width)
        e.register_buffer("position_ids", torch.arange(context).expand((1, -1)))
        self.encoder = HFEncoder(width, heads, layers, act)
        self.final_layer_norm = nn.LayerNorm(width)
        self.eos = eos_token_id

    def forward(self, ids):  # pooler_output
        e = self.embeddings
        x = e.token_embedding(ids) + e.position_embedding(e.position_ids)
        x = self.final_layer_norm(self.encoder(x, causal=True))
        at = (ids == self.eos).int().argmax(dim=-1)  # newer configs; = ids.argmax for CLIP ids
        assert torch.equal(at, ids.argmax(dim=-1))
        return x[torch.arange(x.shape[0]), at]


class HFCLIP(nn.Module):
    """CLIPModel's state-dict names; vision_model + visual_projection is
    CLIPVisionModelWithProjection, text_model + text_projection CLIPTextModelWithProjection."""

    def __init__(self, vision, text):
        super().__init__()
        self.vision_model = HFVisionTransformer(**vision)
        self.text_model = HFTextTransformer(**text)
        self.visual_projection = nn.Linear(vision["width"], vision["embed_dim"], bias=False)
        self.text_projection = nn.Linear(text["width"], text["embed_dim"], bias=False)
        self.logit_scale = nn.Parameter(torch.ones([]))

    def encode_image(self, x):
        return self.visual_projection(self.vision_model(x))

    def encode_text(self, ids):
        return self.text_projection(self.text_model(ids))


def hf_state_dict(sd):
    """OpenAI CLIP names -> Hugging Face CLIPModel names, the same values."""
    out = {}
    block = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1",
             "mlp.c_proj": "mlp.fc2", "attn.out_proj": "self_attn.out_proj"}
    for k, v in sd.items():
        for old, new in (("visual.transformer.resblocks.", "vision_model.encoder.layers."),
                         ("transformer.resblocks.", "text_model.encoder.layers.")):
            if k.startswith(old):
                rest = k[len(old):]
                i, name = rest.split(".", 1)
                base = new + i + "."
                if name.startswith("attn.in_proj_"):
                    kind = name[len("attn.in_proj_"):]
                    for part, t in zip("qkv", v.chunk(3, dim=0)):
                        out[base + "self_attn." + part + "_proj." + kind] = t.clone()
                else:
                    for o, n in block.items():
                        if name.startswith(o + "."):
                            name = n + name[len(o):]
                    out[base + name] = v
                break
        else:
            simple = {"visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
                      "visual.class_embedding": "vision_model.embeddings.class_embedding",
                      "visual.positional_embedding":
                          "vision_model.embeddings.position_embedding.weight",
                      "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
                      "positional_embedding": "text_model.embeddings.position_embedding.weight",
                      "logit_scale": "logit_scale"}
            if k in simple:
                out[simple[k]] = v
            elif k == "visual.proj":
                out["visual_projection.weight"] = v.t().contiguous()
            elif k == "text_projection":
                out["text_projection.weight"] = v.t().contiguous()
            else:
                for old, new in (("visual.ln_pre.", "vision_model.pre_layrnorm."),
                                 ("visual.ln_post.", "vision_model.post_layernorm."),
                                 ("ln_final.", "text_model.final_layer_norm.")):
                    if k.startswith(old):
                        out[new + k[len(old):]] = v
                        break
                else:
                    raise KeyError(k)
    return out


# ------------------------------------------------------- position embeddings ----
def resize_grid(pos, new_grid, how):
    """pos [G*G + 1, D] (class token's row first) -> [new_grid^2 + 1, D], as `how`
    ("torchvision", "open_clip", "hf") resizes it."""
    import math
    import torch.nn.functional as F
    d = pos.shape[-1]
    g = int(math.sqrt(pos.shape[0] - 1))
    img = pos[1:].reshape(1, g, g, d).permute(0, 3, 1, 2)
    if how == "torchvision":  # vision_transformer.interpolate_embeddings
        img = F.interpolate(img, size=new_grid, mode="bicubic", align_corners=True)
    elif how == "open_clip":  # open_clip.model.resize_pos_embed
        img = F.interpolate(img, size=(new_grid, new_grid), mode="bicubic", antialias=True,
                            align_corners=False)
    else:  # transformers CLIPVisionEmbeddings.interpolate_pos_encoding
        img = F.interpolate(img, size=(new_grid, new_grid), mode="bicubic", align_corners=False)
    img = img.permute(0, 2, 3, 1).reshape(new_grid * new_grid, d)
    return torch.cat([pos[:1], img], dim=0)


# ------------------------------------------------------------- test references ----
def input_value(h, w, c):  # tools/torch_reference.py's formula
    P = 97
    n1 = 3 * h + 2 * w + 23 * c
    n2 = h + 5 * w + 41 * c + 11
    v = (3 * abs(2 * (n1 % P) - P) + 2 * abs(2 * (n2 % P) - P)) / (5.0 * P)
    return 4.0 * v - 2.0


def images(size):
    """Two NHWC images: the formula, and the formula transposed and negated."""
    a = [input_value(h, w, c) for h in range(size) for w in range(size) for c in range(3)]
    b = [-input_value(w, h, c) for h in range(size) for w in range(size) for c in range(3)]
    return torch.tensor(a + b, dtype=torch.float32).reshape(2, size, size, 3)


def text_ids(context=77):
    """Four rows: [49406] + n ids + [49407], n = 5, 30, 100 (the last truncated like CLIP's
    tokenize(truncate=True)), zero-padded; and the 5-token row padded with 49407 as HF's
    tokenizer pads it."""
    rows = []
    for b, n in enumerate((5, 30, 100, 5)):
        ids = [49406] + [1 + (i * 7919 + b * 104729) % 49405 for i in range(n)] + [49407]
        if len(ids) > context:
            ids = ids[:context]
            ids[-1] = 49407
        rows.append(ids + [49407 if b == 3 else 0] * (context - len(ids)))
    return torch.tensor(rows, dtype=torch.int64)


def _write(path, t):
    import struct
    v = t.detach().reshape(-1).tolist()
    fmt = "i" if t.dtype in (torch.int32, torch.int64) else "f"
    with open(path, "wb") as f:
        f.write(struct.pack(f"<{len(v)}{fmt}", *v))


def _close(a, b, what):
    d = (a - b).abs().max().item() / b.abs().max().item()
    if d > 1e-4:
        raise SystemExit(f"{what}: the two torch modules disagree (rel {d:.3g})")


def _write_broken(out, vision, es):
    """bad_<case>.safetensors: files the converter must refuse (tests/models/test_clip_towers.c
    lists the message each must give), from a 1-layer image tower and a small-vocabulary text
    tower."""
    v1 = dict(vision, layers=1)
    m = random_clip(5, v1, dict(vocab=1000, context=77, width=128, layers=1, heads=2,
                                embed_dim=64))
    sd = m.state_dict()
    vis = {k: v for k, v in sd.items() if k.startswith("visual.")}
    bare = {k[len("visual."):]: v for k, v in vis.items()}
    hf = hf_state_dict(sd)
    hvis = {k: v for k, v in hf.items() if k.startswith("vision_model.")}
    htext = {k: v for k, v in hf.items() if k.startswith("text_")}
    q = "vision_model.encoder.layers.0.self_attn.q_proj.weight"
    cases = {
        "missing_q": ({k: v for k, v in hvis.items() if k != q}, {}),
        "proj_shape": (dict(vis, **{"visual.proj": torch.zeros(64, 64)}), {}),
        "layer_scale": (dict(vis, **{"visual.transformer.resblocks.0.ls_1.gamma":
                                     torch.ones(vision["width"])}), {}),
        "bare_and_text": (dict(bare, **{k: v for k, v in sd.items()
                                        if not k.startswith("visual.")}), {}),
        "mixed": (dict(vis, **hvis), {}),
        "grid": (dict(vis, **{"visual.positional_embedding": torch.zeros(18, vision["width"])}),
                 {}),
        "f16": (dict(vis, **{"visual.conv1.weight": vis["visual.conv1.weight"].half()}), {}),
        "heads": (vis, {"num_heads": "3"}),
        "act_meta": (vis, {"hidden_act": "relu"}),
        "text_proj": (dict(htext, **{"text_projection.weight": torch.zeros(64, 100)}), {}),
        "no_tower": ({"logit_scale": torch.ones([])}, {}),
    }
    for name, (d, meta) in cases.items():
        es.save_state_dict(d, out(f"bad_{name}.safetensors"), meta)


def main():
    """Usage: clip_model.py [--seed 0] [--full] OUTDIR

    Writes the references of tests/models/test_clip_towers.c into OUTDIR:
      clip.safetensors        OpenAI names, both towers (no __metadata__ hidden_act: QuickGELU)
      clip_hf.safetensors     the same weights, HF CLIPModel names (+ position_ids buffers)
      clip_hf_vision.safetensors  vision_model.* alone (CLIPVisionModel: pooler_output)
      clip_gelu_bare.safetensors  a GELU image tower (__metadata__ hidden_act gelu), open_clip
                              names with the visual. prefix stripped
      clip_hf_text_gelu.safetensors  a GELU text tower, HF names, for --act gelu
      vit.safetensors         torchvision's VisionTransformer (tiny, tools/export_safetensors.py)
      images.f32 / images96.f32 / images32.f32   2 NHWC images at S, 96 and 32
      ids.s32                 4 rows of 77 token ids (text_ids)
      <case>.f32              the torch outputs (see the case list printed)
      <how>_pos<G>.f32        position embeddings resized by resize_grid to G x G
    Sizes: image S = 64, patch 16 (4 x 4 patches), width 128 (2 heads by CLIP's width / 64),
    2 layers, E 64; text width 128, 2 layers, E 64, vocabulary 49408, context 77. --full:
    ViT-B/32's towers instead (image 224, patch 32, width 768, 12 layers, 12 heads; text width
    512, 12 layers, 8 heads; E 512), no resize cases."""
    import argparse
    import os
    import sys
    import time
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import export_safetensors as es
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("outdir")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    t0 = time.time()
    if a.full:
        S = 224
        vision = dict(image_size=S, patch=32, width=768, layers=12, heads=12, embed_dim=512)
        text = dict(vocab=49408, context=77, width=512, layers=12, heads=8, embed_dim=512)
    else:
        S = 64
        vision = dict(image_size=S, patch=16, width=128, layers=2, heads=2, embed_dim=64)
        text = dict(vocab=49408, context=77, width=128, layers=2, heads=2, embed_dim=64)
    out = lambda name: os.path.join(a.outdir, name)  # noqa: E731
    meta = {"seed": str(a.seed), "torch": torch.__version__}
    m = random_clip(a.seed, vision, dict(text, act="quick_gelu"))
    sd = m.state_dict()
    es.save_state_dict(sd, out("clip.safetensors"), dict(meta, model="clip (OpenAI names)"))
    hsd = hf_state_dict(sd)
    hf = HFCLIP(dict(vision, act="quick_gelu"), dict(text, act="quick_gelu")).eval()
    with torch.no_grad():
        hsd_full = dict(hsd)
        for t in ("vision_model", "text_model"):
            hsd_full[t + ".embeddings.position_ids"] = getattr(hf, t).embeddings.position_ids
        hf.load_state_dict(hsd_full, strict=True)
    es.save_state_dict(hsd_full, out("clip_hf.safetensors"), dict(meta, model="clip (HF names)"))
    es.save_state_dict({k: v for k, v in hsd_full.items() if k.startswith("vision_model.")},
                       out("clip_hf_vision.safetensors"), dict(meta, model="CLIPVisionModel"))
    x = images(S).permute(0, 3, 1, 2).contiguous()
    ids = text_ids(text["context"])
    _write(out("images.f32"), images(S))
    _write(out("ids.s32"), ids)
    cases = {}
    with torch.no_grad():
        cases["openai_image"] = m.encode_image(x)
        cases["openai_text"] = m.encode_text(ids)
        cases["hf_image"] = hf.encode_image(x)
        cases["hf_vision_pooled"] = hf.vision_model(x)
        cases["hf_text"] = hf.encode_text(ids)
        _close(cases["hf_image"], cases["openai_image"], "image")
        _close(cases["hf_text"], cases["openai_text"], "text")
        if not a.full:
            # a GELU image tower, open_clip names without the visual. prefix
            g = random_clip(a.seed + 1, dict(vision, act="gelu"), dict(text, layers=1))
            es.save_state_dict({k[len("visual."):]: v for k, v in g.state_dict().items()
                                if k.startswith("visual.")},
                               out("clip_gelu_bare.safetensors"), dict(meta, hidden_act="gelu"))
            cases["gelu_bare_image"] = g.visual(x)
            # a GELU text tower, HF names (CLIPTextModelWithProjection), act by option
            gt = random_clip(a.seed + 2, dict(vision, layers=1), dict(text, act="gelu"))
            ht = HFCLIP(dict(vision, layers=1, act="gelu"), dict(text, act="gelu")).eval()
            tsd = {k: v for k, v in hf_state_dict(gt.state_dict()).items()
                   if k.startswith("text_")}
            tsd["text_model.embeddings.position_ids"] = ht.text_model.embeddings.position_ids
            r = ht.load_state_dict(tsd, strict=False)
            if r.unexpected_keys or any(k.startswith("text_") for k in r.missing_keys):
                raise SystemExit(f"HF text names: {r}")
            es.save_state_dict(tsd, out("clip_hf_text_gelu.safetensors"), meta)
            cases["hf_text_gelu"] = ht.encode_text(ids)
            _close(cases["hf_text_gelu"], gt.encode_text(ids), "gelu text")
            # resized position embeddings: the grids, and whole models at 96 px
            G = S // vision["patch"]
            pos = m.visual.positional_embedding
            tv = es.random_vit("vit_tiny", a.seed, image_size=64, patch_size=16, num_layers=2,
                               num_heads=4, hidden_dim=64, mlp_dim=128)
            es.save_state_dict(tv.state_dict(), out("vit.safetensors"),
                               dict(meta, num_heads="4"))
            for ng in (2, 3, 6, 11):
                for how, p in (("open_clip", pos), ("hf", pos),
                               ("torchvision", tv.encoder.pos_embedding[0])):
                    _write(out(f"{how}_pos{ng}.f32"), resize_grid(p, ng, how))
            x96 = images(96).permute(0, 3, 1, 2).contiguous()
            x32 = images(32).permute(0, 3, 1, 2).contiguous()
            _write(out("images96.f32"), images(96))
            _write(out("images32.f32"), images(32))
            for size, xs in ((96, x96), (32, x32)):
                ng = size // vision["patch"]
                v2 = VisionTransformer(**dict(vision, image_size=size)).eval()
                st = dict(m.visual.state_dict())
                st["positional_embedding"] = resize_grid(pos, ng, "open_clip")
                v2.load_state_dict(st)
                cases[f"openai_image{size}"] = v2(xs)
                h2 = HFCLIP(dict(vision, image_size=size, act="quick_gelu"),
                            dict(text, act="quick_gelu")).eval()
                hs = dict(hsd_full)
                hs["vision_model.embeddings.position_embedding.weight"] = resize_grid(pos, ng, "hf")
                hs["vision_model.embeddings.position_ids"] = h2.vision_model.embeddings.position_ids
                h2.load_state_dict(hs)
                cases[f"hf_image{size}"] = h2.encode_image(xs)
                from torchvision.models.vision_transformer import (VisionTransformer as TVViT,
                                                                   interpolate_embeddings)
                t2 = TVViT(image_size=size, patch_size=16, num_layers=2, num_heads=4,
                           hidden_dim=64, mlp_dim=128).eval()
                t2.load_state_dict(interpolate_embeddings(size, 16, dict(tv.state_dict())))
                feats = []
                hook = t2.heads.register_forward_hook(lambda mod, i, o: feats.append(i[0]))
                t2(xs)
                hook.remove()
                cases[f"vit_features{size}"] = feats[0]
    if not a.full:
        _write_broken(out, vision, es)
    for name, t in cases.items():
        _write(out(name + ".f32"), t)
        print(f"  {name}: {list(t.shape)} max |e| {t.abs().max().item():.4g}")
    print(f"clip_model.py: {time.time() - t0:.2f} s")


if __name__ == "__main__":
    main()
