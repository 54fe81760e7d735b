"""Independent check of `vireo eval ukbench`: recomputes its metrics with
numpy from the raw embeddings `vireo embed` wrote (same model, same images),
by brute-force cosine ranking, and compares with the JSON vireo printed.

usage: eval_check.py EMB.f32 EMB.f32.paths GT.tsv EVAL.jsonl
"""
import json
import os
import sys

import numpy as np

emb, paths, gt, evalf = sys.argv[1:5]
names = [os.path.basename(p.strip()) for p in open(paths) if p.strip()]
obj = {}
for line in open(gt).read().splitlines()[1:]:
    name, o = line.split("\t")
    obj[name] = int(o)
x = np.fromfile(emb, dtype="<f4").reshape(len(names), -1).astype(np.float64)
x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
lab = np.array([obj[n] for n in names])
n = len(names)
sim = x @ x.T
ns, r1, ap, mar = [], [], [], []
for i in range(n):
    order = np.argsort(-sim[i], kind="stable")
    ns.append((lab[order[:4]] == lab[i]).sum())
    order = order[order != i]  # self dropped for the rest
    rel = lab[order] == lab[i]
    nrel = rel.sum()
    r1.append(float(rel[0]))
    hits = np.cumsum(rel)
    ap.append((hits[rel] / (np.nonzero(rel)[0] + 1)).sum() / nrel)
    mar.append(hits[9] / min(10, nrel))
ref = {"ns_score": np.mean(ns), "recall_at_1": np.mean(r1), "map": np.mean(ap), "mar_at_10": np.mean(mar)}
rows = [json.loads(l) for l in open(evalf) if l.strip()]
f32 = [r for r in rows if r["codes"] == "f32" and r["config"] == "f32"]
assert len(f32) == 1, "no plain f32 row in the eval output"
bad = 0
for k, v in ref.items():
    got = f32[0][k]
    ok = abs(got - v) <= 2e-3  # ties between equal f32 scores may order differently
    print(f"{k}: vireo {got:.4f} numpy {v:.4f} {'ok' if ok else 'MISMATCH'}")
    bad += not ok
# re-scored rows: the first 40 of each ranking come from the f16 copy of the
# (normalised) gallery against the f32 query, so Recall@1 and N-S (top 4)
# are those of that ranking whenever the true top 4 is inside the codes' top
# 40 (always, on these rows); ties between equal f16 scores may differ.
x16 = x.astype(np.float16).astype(np.float64)
sim16 = x @ x16.T
ns16, r116, mar16 = [], [], []
for i in range(n):
    order = np.argsort(-sim16[i], kind="stable")
    ns16.append((lab[order[:4]] == lab[i]).sum())
    order = order[order != i]
    r116.append(float(lab[order[0]] == lab[i]))
    rel = lab[order] == lab[i]
    mar16.append(rel[:10].sum() / min(10, rel.sum()))
for r in rows:
    if r.get("rescore", 0) > 0:
        # MAR@10: tighter, one query's changed hit moves it by 1e-4 and int4
        # without re-scoring is 7e-4 below f32 here
        for k, v, tol in (("recall_at_1", np.mean(r116), 2e-3), ("ns_score", np.mean(ns16), 8e-3),
                          ("mar_at_10", np.mean(mar16), 3e-4)):
            ok = abs(r[k] - v) <= tol
            print(f"{r['config']} {k}: vireo {r[k]:.4f} numpy f16 {v:.4f} {'ok' if ok else 'MISMATCH'}")
            bad += not ok
# quantized codes: close to f32 (issue 5: int8 loses <= 0.5 points of Recall@1)
for r in rows:
    if r["codes"] != "f32":
        d = f32[0]["recall_at_1"] - r["recall_at_1"]
        ok = d <= 0.02 and r["ns_score"] >= f32[0]["ns_score"] - 0.1
        print(f"{r['codes']}: recall_at_1 {r['recall_at_1']:.4f} (f32 - this = {d:+.4f}), "
              f"ns {r['ns_score']:.3f} {'ok' if ok else 'TOO FAR FROM f32'}")
        bad += not ok
sys.exit(1 if bad else 0)
