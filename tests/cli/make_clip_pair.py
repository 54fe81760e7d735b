#!/usr/bin/python3
"""A small seeded random CLIP pair for the text-search tests (tests/cli/test_text.sh): an image
tower and a text tower that embed into the same E-dimensional space.

  OUTDIR/vit.safetensors   torchvision VisionTransformer (64x64, patch 16, 2 layers, 4 heads,
                           width 64, MLP 128) whose head projects the class token to E = 32
                           (export_safetensors.random_vit: constants redrawn, q/k x3)
  OUTDIR/text.safetensors  CLIP text tower, OpenAI names (tools/clip_model.py: width 64,
                           2 layers, 4 heads, E = 32, vocabulary 49408, context 77)
  OUTDIR/clip.safetensors  both towers in one file, OpenAI CLIP names (visual.* + the text
                           tower; tools/clip_model.py random_clip: image 64x64, patch 16, width
                           64, 2 layers; text width 64, 2 layers; E = 32): what -m and
                           --text-model resolve to the image and the text tower

Random weights: the two spaces are "the same" only in shape; cross-modal retrieval with them is
at chance level. What the tests check is the plumbing (tokenize -> tower -> fusion -> scan), against
torch and numpy.

usage: make_clip_pair.py OUTDIR [--seed S]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import clip_model  # noqa: E402
import export_safetensors  # noqa: E402

E = 32


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    vit = export_safetensors.random_vit("vit_tiny", a.seed, image_size=64, patch_size=16,
                                        num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128,
                                        num_classes=E)
    export_safetensors.save_state_dict(
        vit.state_dict(), os.path.join(a.outdir, "vit.safetensors"),
        {"model": "vit_tiny_clip_pair", "seed": str(a.seed), "num_heads": "4"})
    txt = clip_model.random_clip_text(a.seed + 1, width=64, layers=2, heads=4, embed_dim=E)
    export_safetensors.save_state_dict(
        txt.state_dict(), os.path.join(a.outdir, "text.safetensors"),
        {"model": "clip_text_pair", "seed": str(a.seed + 1), "num_heads": "4"})
    both = clip_model.random_clip(a.seed + 2,
                                  dict(image_size=64, patch=16, width=64, layers=2, heads=1,
                                       embed_dim=E),
                                  dict(vocab=49408, context=77, width=64, layers=2, heads=1,
                                       embed_dim=E, act="quick_gelu"))
    export_safetensors.save_state_dict(
        both.state_dict(), os.path.join(a.outdir, "clip.safetensors"),
        {"model": "clip_both_towers", "seed": str(a.seed + 2)})
    print(f"{a.outdir}: vit.safetensors, text.safetensors, clip.safetensors (E = {E})")


if __name__ == "__main__":
    main()
