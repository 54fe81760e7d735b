#!/usr/bin/python3
"""Seeded float models for tests/models/test_weight_dtypes.c: the state dicts only (no forward
pass: the test compares vireo's f32, int8 and bf16 storage of each with each other).

Usage: export_weight_dtype_models.py OUTDIR NAME...   NAME: vit_tiny, clip_text_tiny,
mobilenet_v2, resnet50. Weights as tools/torch_reference.py makes them (seed 0)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import export_safetensors  # noqa: E402


def main():
    out, names = sys.argv[1], sys.argv[2:]
    import torch
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for name in names:
        path = os.path.join(out, name + ".safetensors")
        meta = {"model": name, "seed": "0"}
        if name == "vit_tiny":
            model = export_safetensors.random_vit(name, 0, image_size=64, patch_size=16,
                                                  num_layers=2, num_heads=4, hidden_dim=64,
                                                  mlp_dim=128)
            meta["num_heads"] = str(model.encoder.layers[0].self_attention.num_heads)
        elif name == "clip_text_tiny":
            import clip_model
            model = clip_model.random_clip_text(0, width=64, layers=2, heads=4, embed_dim=32)
            meta["num_heads"] = str(model.heads)
        elif name in ("mobilenet_v2", "resnet50"):
            model = export_safetensors.random_model(name, 0)
        else:
            sys.exit(f"unknown model {name}")
        export_safetensors.save_state_dict(model.state_dict(), path, meta)


if __name__ == "__main__":
    main()
