#!/usr/bin/python3
"""PyTorch reference outputs for the torchvision converter test (tests/models/test_torchvision.c).

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision): for each model, builds
the torchvision architecture with seeded random weights exactly as tools/export_safetensors.py
--model does (random_model: BN randomised and calibrated), exports the state dict with that
script's writer, and runs one deterministic input in eval mode. Writes into OUTDIR:
  <model>.safetensors     the state dict (what vireo converts)
  <model>.input.f32       the input, 224x224x3 NHWC float32 little-endian (what was fed, permuted
                          to NCHW for torch)
  <model>.features.f32    the pooled features (the classifier's input): 1280 / 2048 float32
  <model>.logits.f32      the logits: 1000 float32
  <model>.json            seed, shapes, timings, versions

Input (input_value below; tests/models/test_torchvision.c computes the same): for pixel (h, w),
channel c,
  n1 = 3h + 2w + 23c,  n2 = h + 5w + 41c + 11,  P = 97
  v  = (3|2(n1 mod P) − P| + 2|2(n2 mod P) − P|) / (5P)        in [0, 1], one double division
  x  = float32(4v − 2)                                         in [−2, 2]
Integers, then IEEE double arithmetic that is exact up to the division and the final rounding,
so both programs produce the same bits (the test checks them against <model>.input.f32).

Vision Transformers (tests/models/test_vit.c): vit_b_32, vit_b_16 and vit_tiny (torchvision's
VisionTransformer at 64x64, patch 16, 2 layers, 4 heads, width 64, MLP 128: the quick check) with
export_safetensors.random_vit's weights; the input is the same formula at the model's size, the
features are the head's input (the final LayerNorm of the class token), the logits its output.

CLIP text towers (tests/models/test_clip_text.c): clip_text (CLIP ViT-B/32's: width 512, 12 layers,
8 heads, embedding 512) and clip_text_tiny (width 64, 2 layers, 4 heads, embedding 32), from
tools/clip_model.py with seeded weights; vocabulary 49408, context 77. Writes <model>.safetensors,
<model>.ids.s32 (3 rows of 77 int32 token ids: 5 and 30 tokens zero-padded, and one truncated to
the context as CLIP does) and <model>.embed.f32 (3 rows of the embedding).

Usage: torch_reference.py [--seed 0] OUTDIR mobilenet_v2 [resnet50] [vit_b_32] [vit_b_16] [vit_tiny]
       [clip_text] [clip_text_tiny]
"""
import argparse
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_safetensors  # noqa: E402

H = 224  # the CNNs' input size


def input_value(h, w, c):
    P = 97
    n1 = 3 * h + 2 * w + 23 * c
    n2 = h + 5 * w + 41 * c + 11
    v = (3 * abs(2 * (n1 % P) - P) + 2 * abs(2 * (n2 % P) - P)) / (5.0 * P)
    return 4.0 * v - 2.0


def write_f32(path, values):
    with open(path, "wb") as f:
        f.write(struct.pack(f"<{len(values)}f", *values))


def clip_text_ids(context=77):
    """Three rows of token ids: [49406] + n ids + [49407], n = 5, 30, 100 (the last truncated
    like CLIP's tokenize(truncate=True): the first context - 1, then 49407), zero-padded."""
    rows = []
    for b, n in enumerate((5, 30, 100)):
        ids = [49406] + [1 + (i * 7919 + b * 104729) % 49405 for i in range(n)] + [49407]
        if len(ids) > context:
            ids = ids[:context]
            ids[-1] = 49407
        rows.append(ids + [0] * (context - len(ids)))
    return rows


def clip_text_reference(name, seed, outdir):
    import torch
    import clip_model
    t0 = time.time()
    cfg = dict(width=64, layers=2, heads=4, embed_dim=32) if name == "clip_text_tiny" else {}
    model = clip_model.random_clip_text(seed, **cfg)
    base = os.path.join(outdir, name)
    export_safetensors.save_state_dict(
        model.state_dict(), base + ".safetensors",
        {"model": name, "seed": str(seed), "num_heads": str(model.heads),
         "weights": "random (CLIP init, constants redrawn, q/k x2)", "torch": torch.__version__})
    t1 = time.time()
    rows = clip_text_ids()
    with torch.no_grad():
        emb = model(torch.tensor(rows, dtype=torch.int64))
    t2 = time.time()
    with open(base + ".ids.s32", "wb") as fo:
        fo.write(struct.pack(f"<{3 * 77}i", *[v for r in rows for v in r]))
    e = emb.reshape(-1).tolist()
    write_f32(base + ".embed.f32", e)
    print(f"{name}: embeddings 3 x {emb.shape[1]} (max |e| {max(abs(v) for v in e):.4g}); "
          f"build+export {t1 - t0:.2f} s, forward {t2 - t1:.2f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("outdir")
    ap.add_argument("models", nargs="+",
                    choices=["mobilenet_v2", "resnet50", "vit_b_32", "vit_b_16", "vit_tiny",
                             "clip_text", "clip_text_tiny"])
    a = ap.parse_args()
    import torch
    import torchvision
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for name in a.models:
        if name.startswith("clip_text"):
            clip_text_reference(name, a.seed, a.outdir)
            continue
        t0 = time.time()
        size = H
        meta = {"model": name, "seed": str(a.seed), "torch": torch.__version__,
                "torchvision": torchvision.__version__}
        if name.startswith("vit"):
            tiny = dict(image_size=64, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64,
                        mlp_dim=128)
            model = export_safetensors.random_vit(name, a.seed, **(tiny if name == "vit_tiny" else {}))
            size = model.image_size
            meta.update({"weights": "random, constants redrawn, q/k x3",
                         "num_heads": str(model.encoder.layers[0].self_attention.num_heads)})
            head = model.heads
        else:
            model = export_safetensors.random_model(name, a.seed)
            meta["weights"] = "random, BN randomised + calibrated"
            head = model.classifier if name == "mobilenet_v2" else model.fc
        nhwc = [input_value(h, w, c) for h in range(size) for w in range(size) for c in range(3)]
        x = torch.tensor(nhwc, dtype=torch.float32).reshape(1, size, size, 3).permute(0, 3, 1, 2)
        x = x.contiguous()
        raw_in = struct.pack(f"<{len(nhwc)}f", *nhwc)
        base = os.path.join(a.outdir, name)
        export_safetensors.save_state_dict(model.state_dict(), base + ".safetensors", meta)
        t1 = time.time()
        feats = []
        hook = head.register_forward_hook(lambda m, i, o: feats.append(i[0].detach().clone()))
        with torch.no_grad():
            logits = model(x)
        hook.remove()
        t2 = time.time()
        f = feats[0].reshape(-1).tolist()
        z = logits.reshape(-1).tolist()
        with open(base + ".input.f32", "wb") as fo:
            fo.write(raw_in)
        write_f32(base + ".features.f32", f)
        write_f32(base + ".logits.f32", z)
        with open(base + ".json", "w") as fo:
            json.dump({"model": name, "seed": a.seed, "input": [size, size, 3], "features": len(f),
                       "logits": len(z), "build_export_s": round(t1 - t0, 3),
                       "forward_s": round(t2 - t1, 3), "torch": torch.__version__,
                       "torchvision": torchvision.__version__}, fo)
        print(f"{name}: features {len(f)} (max |f| {max(abs(v) for v in f):.4g}), logits {len(z)} "
              f"(max |z| {max(abs(v) for v in z):.4g}); build+export {t1 - t0:.2f} s, "
              f"forward {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
