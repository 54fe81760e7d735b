#!/usr/bin/python3
"""Export seeded models for `vireo-bench models` (run by bench/prepare_models.sh).

For each name: builds the model with seeded random weights and writes, from that one model
object,
  OUTDIR/<name>.safetensors   the state dict (vireo converts it)
  OUTDIR/<name>.onnx          torch.onnx.export, dynamic batch axis, constant folding
So both sides run the same weights.

  resnet50, mobilenet_v2   torchvision, tools/export_safetensors.py random_model (BN randomised
                           and calibrated); input "input" N×3×224×224 f32, output "logits";
                           opset 13
  vit_b_32, vit_b_16       torchvision, export_safetensors.random_vit (constants redrawn, q/k
                           ×3, as tests/models/test_vit.c); input as above, output "logits"
                           (1000 classes); opset 14; __metadata__ num_heads 12
  clip_text                tools/clip_model.py random_clip_text (width 512, 12 layers, 8 heads,
                           E 512, vocabulary 49408, context 77, causal mask: CLIP ViT-B/32's
                           text tower, as tests/models/test_clip_text.c); input "ids" N×77
                           int64, output "embedding" N×512; opset 14; num_heads 8
  vit_tiny, clip_text_tiny the same at toy size (tests/models' tiny configurations: ViT 64×64,
                           patch 16, 2 layers, 4 heads, width 64; CLIP text width 64, 2 layers,
                           4 heads, E 32, context 77), for bench/models_smoke.sh
torch 1.13's exporter does not need the `onnx` Python package (it serialises the protobuf
itself); the dynamic-int8 rewrite (bench/onnx_dynamic_int8.py) does.

Usage: prepare_models.py [--seed 0] OUTDIR NAME...
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import export_safetensors  # noqa: E402

CNNS = ("resnet50", "mobilenet_v2")
VITS = ("vit_b_32", "vit_b_16", "vit_tiny")
VIT_TINY = dict(image_size=64, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64,
                mlp_dim=128)
CONTEXT = 77


def build(name, seed):
    """(model, metadata, example input, input name, output name, opset)"""
    import torch
    if name in CNNS:
        return (export_safetensors.random_model(name, seed),
                {"weights": "random, BN randomised + calibrated"},
                torch.zeros(1, 3, 224, 224), "input", "logits", 13)
    if name in VITS:
        m = export_safetensors.random_vit(name, seed, **(VIT_TINY if name == "vit_tiny" else {}))
        return (m, {"weights": "random, constants redrawn, q/k x3",
                    "num_heads": str(m.encoder.layers[0].self_attention.num_heads)},
                torch.zeros(1, 3, m.image_size, m.image_size), "input", "logits", 14)
    if name in ("clip_text", "clip_text_tiny"):
        import clip_model
        tiny = dict(width=64, layers=2, heads=4, embed_dim=32) if name == "clip_text_tiny" else {}
        m = clip_model.random_clip_text(seed, **tiny)
        ids = torch.zeros(1, CONTEXT, dtype=torch.int64)
        ids[0, 0], ids[0, 1], ids[0, 2] = 49406, 320, 49407
        return (m, {"weights": "random (CLIP init, constants redrawn, q/k x2)",
                    "num_heads": str(m.heads)}, ids, "ids", "embedding", 14)
    raise SystemExit(f"prepare_models.py: unknown model {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("outdir")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    import torch
    import torchvision
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for name in a.models:
        model, meta, example, in_name, out_name, opset = build(name, a.seed)
        meta.update({"model": name, "seed": str(a.seed), "torch": torch.__version__,
                     "torchvision": torchvision.__version__})
        base = os.path.join(a.outdir, name)
        export_safetensors.save_state_dict(model.state_dict(), base + ".safetensors.tmp", meta)
        os.replace(base + ".safetensors.tmp", base + ".safetensors")
        # Not under torch.no_grad(): torch 1.13's nn.MultiheadAttention takes its fused
        # "fast path" (torch._native_multi_head_attention, which has no ONNX export) when
        # no parameter needs a gradient; the exporter itself runs in eval mode.
        torch.onnx.export(model, example, base + ".onnx.tmp",
                          opset_version=opset, input_names=[in_name],
                          output_names=[out_name],
                          dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}},
                          do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
        os.replace(base + ".onnx.tmp", base + ".onnx")
        print(f"{base}.safetensors, {base}.onnx (seed {a.seed}, opset {opset})")


if __name__ == "__main__":
    main()
