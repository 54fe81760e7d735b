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

Usage: torch_reference.py [--seed 0] OUTDIR mobilenet_v2 [resnet50]
"""
import argparse
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_safetensors  # noqa: E402

H = W = 224


def input_value(h, w, c):
    P = 97
    n1 = 3 * h + 2 * w + 23 * c
    n2 = h + 5 * w + 41 * c + 11
    v = (3 * abs(2 * (n1 % P) - P) + 2 * abs(2 * (n2 % P) - P)) / (5.0 * P)
    return 4.0 * v - 2.0


def write_f32(path, values):
    with open(path, "wb") as f:
        f.write(struct.pack(f"<{len(values)}f", *values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("outdir")
    ap.add_argument("models", nargs="+", choices=["mobilenet_v2", "resnet50"])
    a = ap.parse_args()
    import torch
    import torchvision
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    nhwc = [input_value(h, w, c) for h in range(H) for w in range(W) for c in range(3)]
    x = torch.tensor(nhwc, dtype=torch.float32).reshape(1, H, W, 3).permute(0, 3, 1, 2).contiguous()
    raw_in = struct.pack(f"<{len(nhwc)}f", *nhwc)
    for name in a.models:
        t0 = time.time()
        model = export_safetensors.random_model(name, a.seed)
        base = os.path.join(a.outdir, name)
        export_safetensors.save_state_dict(
            model.state_dict(), base + ".safetensors",
            {"model": name, "seed": str(a.seed), "weights": "random, BN randomised + calibrated",
             "torch": torch.__version__, "torchvision": torchvision.__version__})
        t1 = time.time()
        head = model.classifier if name == "mobilenet_v2" else model.fc
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
            json.dump({"model": name, "seed": a.seed, "input": [H, W, 3], "features": len(f),
                       "logits": len(z), "build_export_s": round(t1 - t0, 3),
                       "forward_s": round(t2 - t1, 3), "torch": torch.__version__,
                       "torchvision": torchvision.__version__}, fo)
        print(f"{name}: features {len(f)} (max |f| {max(abs(v) for v in f):.4g}), logits {len(z)} "
              f"(max |z| {max(abs(v) for v in z):.4g}); build+export {t1 - t0:.2f} s, "
              f"forward {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
