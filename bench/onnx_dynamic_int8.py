#!/usr/bin/python3
"""Rewrite an f32 ONNX model into ONNX Runtime's dynamic-int8 form, for `vireo-bench models`.

Every MatMul whose second input is a constant 2-D f32 weight [K, N], and every Gemm with a
constant B (transA 0, alpha 1; transB honoured), becomes one `com.microsoft`
DynamicQuantizeMatMul: A stays f32 and ORT quantizes it per call (uint8, asymmetric,
per-tensor: what the op does), the weight is stored int8.

  weights   int8 symmetric, zero point 0 (ORT's quantize_dynamic default: weight_type QInt8,
            WeightSymmetric), scale = max|w| / 127 per tensor (quantize_dynamic's default
            per_channel=False), or per output column with --per-channel
  bias      a Gemm's C, or the constant 1-D [N] operand of an Add that is the MatMul's only
            consumer (torch exports Linear on 3-D inputs as MatMul + Add), goes into the op's
            bias input, so the add costs nothing extra
  left f32  MatMuls between two activations (attention's q·kᵀ and p·v), like every other op.
            (ORT's quantize_dynamic would also make those MatMulInteger with both sides
            quantized per call; the issue asks for weights only, and vireo's int8 towers keep
            attention in f32 too.)

Needs python3-onnx (Debian: 1.12; tools/setup.sh --tests). ONNX Runtime itself does not run
here (no onnxruntime for Python on Debian): bench/prepare_models.sh checks the result's
outputs against the f32 model's through onnxruntime-node (bench/ort_bench.mjs --dump).

Usage: onnx_dynamic_int8.py [--per-channel] IN.onnx OUT.onnx
       onnx_dynamic_int8.py --cosine A.f32 B.f32 ROWS LABEL   (two output dumps: cosine per row)
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def quantize(w, per_channel):
    """w [K, N] f32 → (int8 [K, N], scale f32 [] or [N])."""
    amax = np.abs(w).max(axis=0) if per_channel else np.abs(w).max()
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def rewrite(model, per_channel):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    graph_outputs = {o.name for o in g.output}

    def const(name):
        t = inits.get(name)
        return numpy_helper.to_array(t) if t is not None else None

    new_nodes, drop, new_inits, count = [], set(), [], 0
    for n in g.node:
        if id(n) in drop:
            continue
        w, bias, out, a = None, None, n.output[0] if n.output else None, None
        if n.op_type == "MatMul" and len(n.input) == 2:
            w = const(n.input[1])
            a = n.input[0]
            users = consumers.get(out, [])
            if w is not None and w.ndim == 2 and out not in graph_outputs and len(users) == 1 \
                    and users[0].op_type == "Add":
                add = users[0]
                other = add.input[1] if add.input[0] == out else add.input[0]
                b = const(other)
                if b is not None and b.ndim == 1 and b.shape[0] == w.shape[1] \
                        and b.dtype == np.float32:
                    bias, out = b, add.output[0]
                    drop.add(id(add))
        elif n.op_type == "Gemm":
            at = {x.name: helper.get_attribute_value(x) for x in n.attribute}
            w = const(n.input[1])
            if w is not None and at.get("transA", 0) == 0 and at.get("alpha", 1.0) == 1.0:
                if at.get("transB", 0):
                    w = w.T
                a = n.input[0]
                if len(n.input) > 2 and n.input[2]:
                    c = const(n.input[2])
                    beta = at.get("beta", 1.0)
                    if c is None or c.ndim != 1 or c.shape[0] != w.shape[1]:
                        w = None  # a C we cannot pass as a bias: leave the Gemm alone
                    else:
                        bias = (c * beta).astype(np.float32)
            else:
                w = None
        if w is None or w.ndim != 2 or w.dtype != np.float32:
            new_nodes.append(n)
            continue
        q, scale = quantize(np.ascontiguousarray(w), per_channel)
        base = f"dq{count}_" + (n.name or "matmul").replace("/", "_")
        new_inits += [numpy_helper.from_array(q, base + "_w_int8"),
                      numpy_helper.from_array(scale, base + "_w_scale"),
                      numpy_helper.from_array(np.zeros(scale.shape, np.int8), base + "_w_zero")]
        ins = [a, base + "_w_int8", base + "_w_scale", base + "_w_zero"]
        if bias is not None:
            new_inits.append(numpy_helper.from_array(bias.astype(np.float32), base + "_bias"))
            ins.append(base + "_bias")
        new_nodes.append(helper.make_node("DynamicQuantizeMatMul", ins, [out], name=base,
                                          domain="com.microsoft"))
        count += 1
    used = {i for n in new_nodes for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return count


def cosine_rows(a_path, b_path, rows, label):
    a = np.fromfile(a_path, np.float32).astype(np.float64)
    b = np.fromfile(b_path, np.float32).astype(np.float64)
    if rows < 1 or a.size != b.size or a.size % rows:
        sys.exit(f"{label}: {a.size} and {b.size} values do not make {rows} rows")
    a, b = a.reshape(rows, -1), b.reshape(rows, -1)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
    print(f"{label}: cosine per row " + " ".join(f"{c:.5f}" for c in cos))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--cosine":
        cosine_rows(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-channel", action="store_true",
                    help="one weight scale per output column (default: per tensor)")
    ap.add_argument("src")
    ap.add_argument("dst")
    a = ap.parse_args()
    model = onnx.load(a.src)
    n = rewrite(model, a.per_channel)
    if n == 0:
        sys.exit(f"{a.src}: no MatMul / Gemm with a constant weight")
    onnx.save(model, a.dst + ".tmp")
    os.replace(a.dst + ".tmp", a.dst)
    print(f"{a.dst}: {n} MatMul/Gemm → DynamicQuantizeMatMul (int8 weights, "
          f"{'per-channel' if a.per_channel else 'per-tensor'} symmetric)")


if __name__ == "__main__":
    main()
