#!/usr/bin/python3
"""A reference CLIP text tower in PyTorch, written from the published architecture
(Radford et al. 2021; OpenAI's CLIP/clip/model.py: ResidualAttentionBlock, Transformer,
CLIP.encode_text), with OpenAI's state-dict names, for tests/models/test_clip_text.c.

  x = token_embedding(ids) + positional_embedding
  for each of `layers` blocks (pre-LN, LayerNorm eps 1e-5, causal mask):
      x = x + attn(ln_1(x))                    nn.MultiheadAttention(width, heads)
      x = x + mlp.c_proj(QuickGELU(mlp.c_fc(ln_2(x))))
  x = ln_final(x)[arange(N), ids.argmax(-1)] @ text_projection

random_clip_text(seed, ...) builds it with seeded weights: CLIP's initialize_parameters
(normal, std width^-0.5 for the projections), plus the constants it leaves (LayerNorm 1 / 0,
biases 0) redrawn (U(0.5, 1.5), U(-0.2, 0.2)) and q, k scaled by 2 so the attention is not
near-uniform.
"""
import torch
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, mask):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)
        self.mask = mask

    def forward(self, x):  # x: [L, N, D] as CLIP's blocks take it
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=self.mask)[0]
        return x + self.mlp(self.ln_2(x))


class CLIPText(nn.Module):
    def __init__(self, vocab=49408, context=77, width=512, layers=12, heads=8, embed_dim=512):
        super().__init__()
        mask = torch.full((context, context), float("-inf")).triu_(1)  # CLIP's build_attention_mask
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.empty(context, width))
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads, mask) for _ in range(layers)])
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
