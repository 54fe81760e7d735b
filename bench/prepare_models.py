#!/usr/bin/python3
"""Export seeded torchvision models for `vireo-bench models` (run by bench/prepare_models.sh).

For each name: builds the torchvision architecture with seeded random weights exactly as
tools/export_safetensors.py --model does (random_model: BN randomised and calibrated, eval mode),
and writes, from that one model object,
  OUTDIR/<name>.safetensors   the state dict (vireo converts it)
  OUTDIR/<name>.onnx          torch.onnx.export: opset 13, input "input" N×3×224×224 float32,
                              output "logits", dynamic batch axis, constant folding
So both sides run the same weights. torch 1.13's exporter does not need the `onnx` Python
package (it serialises the protobuf itself); nothing here imports it.

Usage: prepare_models.py [--seed 0] OUTDIR resnet50 [mobilenet_v2 ...]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import export_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("outdir")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    import torch
    import torchvision
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for name in a.models:
        model = export_safetensors.random_model(name, a.seed)
        base = os.path.join(a.outdir, name)
        export_safetensors.save_state_dict(
            model.state_dict(), base + ".safetensors.tmp",
            {"model": name, "seed": str(a.seed), "weights": "random, BN randomised + calibrated",
             "torch": torch.__version__, "torchvision": torchvision.__version__})
        os.replace(base + ".safetensors.tmp", base + ".safetensors")
        with torch.no_grad():
            torch.onnx.export(model, torch.zeros(1, 3, 224, 224), base + ".onnx.tmp",
                              opset_version=a.opset, input_names=["input"],
                              output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
        os.replace(base + ".onnx.tmp", base + ".onnx")
        print(f"{base}.safetensors, {base}.onnx (seed {a.seed}, opset {a.opset})")


if __name__ == "__main__":
    main()
