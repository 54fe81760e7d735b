#!/usr/bin/env python3
"""Write a PyTorch state dict as a .safetensors file, by hand (no `safetensors` package).

Layout (https://github.com/huggingface/safetensors, README "Format"):
  8 bytes   N, little-endian u64: the header length
  N bytes   JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
                  "__metadata__": {"format": "pt", ...}}
            padded with spaces to a multiple of 8 (as the reference writer does), so the byte
            buffer, and every tensor in it, starts 8-byte aligned
  rest      the byte buffer: each tensor's raw little-endian C-order bytes, back to back, no holes;
            offsets are relative to the start of the buffer; the last tensor ends at end of file
Tensors are ordered like the reference writer: by dtype size (largest first), then by name.

Usage:
  export_safetensors.py --model resnet50 [--seed 0] out.safetensors
      torchvision architecture with seeded random weights (weights=None), eval mode
      (models: resnet50, mobilenet_v2, or any torchvision.models.<name> builder).
      torchvision initialises BatchNorm to the identity (weight 1, bias 0, running mean 0,
      var 1), which would leave BN folding untested; so by default (see random_model) the
      BN affine parameters are drawn from the seeded generator (weight U(0.5, 1.5), bias
      U(-0.25, 0.25)) and the running statistics are calibrated: one train-mode forward
      pass (cumulative averages, momentum None) over a seeded N(0, 1) batch of 4 at 128x128,
      which gives non-trivial means and variances that also keep the activations of a
      deep random network in a sane range. --plain-init keeps torchvision's init.
  export_safetensors.py --state-dict file.pt out.safetensors
      a saved state dict (torch.load(weights_only=True))
  export_safetensors.py --selftest out.safetensors
      a small file built from Python values only (no torch needed): checks this writer

Needs torch (and torchvision for --model); nothing else. Importable: save_state_dict(sd, path).
"""
import argparse
import json
import struct
import sys

# safetensors dtype name and element size, by torch dtype attribute name.
_TORCH_DTYPES = [
    ("float64", "F64", 8), ("float32", "F32", 4), ("float16", "F16", 2), ("bfloat16", "BF16", 2),
    ("int64", "I64", 8), ("int32", "I32", 4), ("int16", "I16", 2), ("int8", "I8", 1),
    ("uint8", "U8", 1), ("bool", "BOOL", 1), ("uint16", "U16", 2), ("uint32", "U32", 4),
    ("uint64", "U64", 8), ("float8_e4m3fn", "F8_E4M3", 1), ("float8_e5m2", "F8_E5M2", 1),
]
_SIZES = {st: size for _, st, size in _TORCH_DTYPES}


def write_safetensors(path, entries, metadata=None):
    """entries: list of (name, st_dtype, shape, raw little-endian bytes)."""
    names = set()
    for name, dt, shape, raw in entries:
        if name in names or name == "__metadata__":
            raise ValueError(f"duplicate or reserved tensor name {name!r}")
        names.add(name)
        if dt not in _SIZES:
            raise ValueError(f"{name}: unknown dtype {dt}")
        n = 1
        for d in shape:
            if int(d) < 0:
                raise ValueError(f"{name}: negative dimension in {shape}")
            n *= int(d)
        if n * _SIZES[dt] != len(raw):
            raise ValueError(f"{name}: {dt} {list(shape)} needs {n * _SIZES[dt]} bytes, got {len(raw)}")
    ordered = sorted(entries, key=lambda e: (-_SIZES[e[1]], e[0]))
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, dt, shape, raw in ordered:
        header[name] = {"dtype": dt, "shape": [int(d) for d in shape],
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in ordered:
            f.write(raw)
    return offset


def _tensor_entry(name, t):
    import torch
    for attr, st, _ in _TORCH_DTYPES:
        if getattr(torch, attr, None) is t.dtype:
            break
    else:
        raise ValueError(f"{name}: dtype {t.dtype} has no safetensors equivalent")
    if sys.byteorder != "little":
        raise SystemExit("this writer assumes a little-endian host")
    t = t.detach().to("cpu").contiguous()
    shape = list(t.shape)
    if t.numel() == 0:
        raw = b""
    else:
        # Raw bytes through a uint8 view: works for every dtype, bfloat16 included.
        u8 = t.reshape(-1).view(torch.uint8)
        try:
            raw = u8.numpy().tobytes()
        except (ImportError, RuntimeError):  # torch built without numpy
            raw = bytes(u8.tolist())
    return (name, st, shape, raw)


def save_state_dict(state_dict, path, metadata=None):
    meta = {"format": "pt"}
    meta.update(metadata or {})
    entries = [_tensor_entry(k, v) for k, v in state_dict.items()]
    return write_safetensors(path, entries, meta)


def random_model(name, seed, plain_init=False):
    """The torchvision model `name`, seeded random weights, BN randomised and
    calibrated unless plain_init (see the module docstring), in eval mode."""
    import torch
    import torchvision
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    if not plain_init:
        bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        with torch.no_grad():
            for m in bns:
                if m.affine:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.25, 0.25)
                m.reset_running_stats()
                m.momentum = None  # cumulative average: the stats of the calibration batch
            model.train()
            model(torch.randn(4, 3, 128, 128))
            for m in bns:
                m.momentum = 0.1
    return model.eval()


def random_vit(name, seed, **kwargs):
    """A torchvision Vision Transformer with seeded random weights, eval mode.

    name: a torchvision builder (vit_b_16, vit_b_32, ...) or "vit_tiny" (VisionTransformer with
    kwargs, e.g. image_size=64, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64,
    mlp_dim=128). torchvision initialises the class token, every bias, the LayerNorms (1, 0) and
    the head (zeros) to constants, which would leave them untested; they are redrawn from the
    seeded generator: LayerNorm weights U(0.5, 1.5), biases U(-0.2, 0.2), class token N(0, 1),
    head weight N(0, 1/in_features); q and k projections are scaled by 3 (see below)."""
    import torch
    import torchvision
    from torchvision.models.vision_transformer import VisionTransformer
    torch.manual_seed(seed)
    if name == "vit_tiny":
        model = VisionTransformer(**kwargs)
    else:
        model = getattr(torchvision.models, name)(weights=None)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname == "class_token":
                p.normal_(0.0, 1.0)
            elif pname == "heads.head.weight":
                p.normal_(0.0, p.shape[1] ** -0.5)
            elif p.dim() == 1 and (".ln" in pname or pname.startswith("encoder.ln")) \
                    and pname.endswith("weight"):
                p.uniform_(0.5, 1.5)
            elif p.dim() == 1 and pname.endswith("bias"):
                p.uniform_(-0.2, 0.2)
            if pname.endswith("self_attention.in_proj_weight"):
                # Sharpen the attention: with Xavier-initialised q, k the scores have a standard
                # deviation near 0.5, the softmax is almost uniform, and a slip in q or k (wrong
                # head split, scale, order) would barely show. Tripling q and k makes it ~4.5.
                d = p.shape[1]
                p[:2 * d].mul_(3.0)
    return model.eval()


def _selftest(path):
    def f32(*v):
        return struct.pack(f"<{len(v)}f", *v)
    entries = [
        ("conv.weight", "F32", [2, 1, 1, 2], f32(1.0, -2.0, 0.5, 3.25)),
        ("conv.bias", "F32", [2], f32(0.125, -0.125)),
        ("bn.num_batches_tracked", "I64", [], struct.pack("<q", 7)),
        ("half", "F16", [3], struct.pack("<3H", 0x3C00, 0xC000, 0x7BFF)),
        ("bf", "BF16", [1], struct.pack("<H", 0x3F80)),
        ("mask", "BOOL", [2], b"\x01\x00"),
        ("empty", "F32", [0, 3], b""),
        ("u\u00e9", "U8", [1], b"\xff"),
    ]
    n = write_safetensors(path, entries, {"format": "pt", "note": "selftest"})
    print(f"{path}: {len(entries)} tensors, {n} data bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="torchvision model builder name, random weights")
    src.add_argument("--state-dict", help="a state dict saved with torch.save")
    src.add_argument("--selftest", action="store_true", help="write a small file without torch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plain-init", action="store_true",
                    help="--model: keep torchvision's init (BN identity) instead of random BN")
    ap.add_argument("out")
    a = ap.parse_args()
    if a.selftest:
        _selftest(a.out)
        return
    import torch
    if a.model:
        import torchvision
        model = random_model(a.model, a.seed, a.plain_init)
        sd = model.state_dict()
        meta = {"model": a.model, "seed": str(a.seed),
                "weights": "random (torch.manual_seed)" +
                           (", plain init" if a.plain_init else ", BN randomised + calibrated"),
                "torch": torch.__version__, "torchvision": torchvision.__version__}
    else:
        sd = torch.load(a.state_dict, map_location="cpu", weights_only=True)
        if not isinstance(sd, dict):
            raise SystemExit(f"{a.state_dict}: not a state dict")
        meta = {"source": a.state_dict, "torch": torch.__version__}
    n = save_state_dict(sd, a.out, meta)
    print(f"{a.out}: {len(sd)} tensors, {n} data bytes")


if __name__ == "__main__":
    main()
