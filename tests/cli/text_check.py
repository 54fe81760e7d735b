#!/usr/bin/python3
"""Independent check of vireo's text side (tests/cli/test_text.sh): text embeddings computed here
with PyTorch (tools/clip_model.py's CLIP text tower, loaded from the same safetensors file) and
OpenAI's tokenizer (tools/clip_tokenizer_reference.py), image embeddings from `vireo embed`; the
fusion of runtime/fusion.h, the scores, rankings and metrics recomputed in numpy and compared with
what `vireo search --json` / `vireo eval --json` printed.

usage:
  text_check.py search VOCAB TEXT.safetensors EMB.f32 EMB.paths CATALOG.tsv FUSION W RESULTS.jsonl
      FUSION: none (image rows; text queries in the same space), sum or concat; W the titles'
      weight. Every result row must be numpy's ranking (ids, in order) with scores within 1e-4.
  text_check.py eval VOCAB TEXT.safetensors EMB.f32 EMB.paths GROCERY_DIR LIMIT EVAL.jsonl
      recomputes every f32 text-side row of `vireo eval grocery --limit LIMIT` (metrics within
      2e-3: ties between equal f32 scores may order differently).
  text_check.py list GROCERY_DIR LIMIT
      prints the images that eval uses (iconic, test, train), one path a line
  text_check.py mini GROCERY_DIR OUT_DIR CLASSES PER_CLASS
      a small GroceryStore for quick runs: the first CLASSES classes, PER_CLASS test and train
      photos of each (list files written, image directories linked)
"""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))


def load_safetensors(path):
    import torch
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (k, v["dtype"])
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(buf[a:b], dtype="<f4").reshape(v["shape"]).copy())
    return out, head.get("__metadata__", {})


class TextTower:
    def __init__(self, vocab, st_path):
        import torch
        import clip_model
        import clip_tokenizer_reference as ref
        sd, meta = load_safetensors(st_path)
        width = sd["token_embedding.weight"].shape[1]
        layers = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")})
        heads = int(meta.get("num_heads", width // 64))
        self.ctx = sd["positional_embedding"].shape[0]
        self.model = clip_model.CLIPText(vocab=sd["token_embedding.weight"].shape[0],
                                         context=self.ctx, width=width, layers=layers,
                                         heads=heads, embed_dim=sd["text_projection"].shape[1])
        self.model.load_state_dict(sd, strict=True)
        self.model.eval()
        self.tok = ref.SimpleTokenizer(vocab)
        self.torch = torch

    def ids(self, text):
        t = self.tok
        ids = [t.encoder["<|startoftext|>"]] + t.encode(text) + [t.encoder["<|endoftext|>"]]
        if len(ids) > self.ctx:  # CLIP's tokenize(truncate=True)
            ids = ids[:self.ctx]
            ids[-1] = t.encoder["<|endoftext|>"]
        return ids + [0] * (self.ctx - len(ids))

    def embed(self, texts):
        """L2-normalised float64 rows."""
        uniq = sorted(set(texts))
        with self.torch.no_grad():
            e = self.model(self.torch.tensor([self.ids(s) for s in uniq], dtype=self.torch.int64))
        e = e.double().numpy()
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        row = {s: e[i] for i, s in enumerate(uniq)}
        return np.stack([row[s] for s in texts])


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(n > 0, x / np.where(n > 0, n, 1), 0)


def fuse_items(mode, W, img, txt):
    if mode == "none" or (mode == "sum" and W == 0):
        return img
    if mode == "sum":
        return unit((1 - W) * img + W * txt)
    return np.concatenate([np.sqrt(1 - W) * img, np.sqrt(W) * txt], axis=1)


def fuse_query(mode, W, img, txt, wq):
    """One query: img and/or txt (None when absent); runtime/fusion.h."""
    if mode in ("none", "sum"):
        if img is not None and txt is not None:
            return unit((1 - wq) * img + wq * txt)
        return img if img is not None else txt
    di, dt = IMG_DIM[0], TXT_DIM[0]
    if img is not None and txt is not None:
        return np.concatenate([np.sqrt(1 - wq) * img, np.sqrt(wq) * txt])
    if img is not None:
        return unit(np.concatenate([np.sqrt(1 - W) * img, np.zeros(dt)]))
    return unit(np.concatenate([np.zeros(di), np.sqrt(W) * txt]))


IMG_DIM, TXT_DIM = [0], [0]


def load_emb(emb, paths):
    names = [p.rstrip("\n") for p in open(paths) if p.strip()]
    x = np.fromfile(emb, dtype="<f4").reshape(len(names), -1).astype(np.float64)
    return {os.path.realpath(p): unit(x[i]) for i, p in enumerate(names)}


def check_search(vocab, st, emb, paths, catalog, mode, W, results):
    W = float(W)
    rows = load_emb(emb, paths)
    cat = [l.rstrip("\n").split("\t") for l in open(catalog) if l.strip()]
    img = np.stack([rows[os.path.realpath(c[0])] for c in cat])
    ids = [int(c[2]) for c in cat]
    tower = TextTower(vocab, st)
    IMG_DIM[0] = img.shape[1]
    txt = tower.embed([c[1] for c in cat])
    TXT_DIM[0] = txt.shape[1]
    items = fuse_items(mode, W, img, txt)
    bad = 0
    res = [json.loads(l) for l in open(results) if l.strip()]
    assert res, "no results to check"
    for r in res:
        qi = rows[os.path.realpath(r["query"])] if r["query"] else None
        qt = tower.embed([r["text"]])[0] if "text" in r else None
        q = fuse_query(mode, W, qi, qt, r.get("text_weight", 0.5))
        s = items @ q
        order = np.argsort(-s, kind="stable")
        got_ids = [h["id"] for h in r["results"]]
        got_scores = np.array([h["score"] for h in r["results"]])
        want_ids = [ids[i] for i in order[:len(got_ids)]]
        want = s[order[:len(got_ids)]]
        # scores: f32 rows and a float32 text tower vs float64 here: |diff| ~1e-6
        ok_s = np.abs(got_scores - want).max() <= 1e-4
        # ranks: identical unless two numpy scores are within that tolerance
        ok_r = got_ids == want_ids or all(
            abs(s[ids.index(a)] - s[ids.index(b)]) <= 1e-4 for a, b in zip(got_ids, want_ids))
        label = (r["query"] and os.path.basename(r["query"])) + (" + " if r["query"] and "text" in r else "") + \
            (repr(r["text"]) if "text" in r else "")
        print(f"  {label}: top {len(got_ids)} {'same' if got_ids == want_ids else 'DIFFERENT'} "
              f"ranking, max |score diff| {np.abs(got_scores - want).max():.2e}"
              f"{'' if ok_s and ok_r else '  MISMATCH'}")
        if not (ok_s and ok_r):
            print(f"    vireo {got_ids}\n    numpy {want_ids}")
        bad += not (ok_s and ok_r)
    return bad


def read_list(d, name, limit):
    out = []
    for line in open(os.path.join(d, name)):
        f = [t.strip() for t in line.strip().split(",")]
        if len(f) == 3 and f[0]:
            out.append((os.path.join(d, f[0].lstrip("/")), int(f[1])))
    if limit and len(out) > limit:  # tools/datasets.c: every k-th photo
        step = (len(out) + limit - 1) // limit
        out = [p for i, p in enumerate(out) if i % step == 0]
    return out


def metrics(S, ql, gl):
    """S: nq x ng scores; recall@1/5/10, MAR@10, mAP (tests/cli/eval_check.py's definitions),
    averaged over the queries that have a relevant item (runtime/metrics.h skips the others)."""
    out = {k: [] for k in ("recall_at_1", "recall_at_5", "recall_at_10", "mar_at_10", "map")}
    for i in range(S.shape[0]):
        order = np.argsort(-S[i], kind="stable")
        rel = gl[order] == ql[i]
        nrel = rel.sum()
        if not nrel:
            continue
        hits = np.cumsum(rel)
        out["recall_at_1"].append(float(rel[:1].any()))
        out["recall_at_5"].append(float(rel[:5].any()))
        out["recall_at_10"].append(float(rel[:10].any()))
        out["mar_at_10"].append(hits[min(9, len(hits) - 1)] / min(10, nrel) if nrel else 0)
        out["map"].append((hits[rel] / (np.nonzero(rel)[0] + 1)).sum() / nrel if nrel else 0)
    return {k: float(np.mean(v)) for k, v in out.items()}


def check_eval(vocab, st, emb, paths, d, limit, evalf):
    limit = int(limit)
    rows = load_emb(emb, paths)
    classes = []
    for i, line in enumerate(open(os.path.join(d, "classes.csv"))):
        if i == 0 or not line.strip():
            continue
        f = [t.strip() for t in line.strip().split(",")]
        desc = open(os.path.join(d, f[5].lstrip("/")), "rb").read()[:8191].decode("utf-8", "replace")
        for c in "\n\r\t":
            desc = desc.replace(c, " ")
        desc = desc.strip(" \t")
        classes.append((f[0], int(f[1]), os.path.join(d, f[4].lstrip("/")), desc or f[0]))
    name = {c[1]: c[0] for c in classes}
    test, train = read_list(d, "test.txt", limit), read_list(d, "train.txt", limit)
    I = np.stack([rows[os.path.realpath(c[2])] for c in classes])
    Q = np.stack([rows[os.path.realpath(p)] for p, _ in test])
    il = np.array([c[1] for c in classes])
    ql = np.array([l for _, l in test])
    tower = TextTower(vocab, st)
    D = tower.embed([c[3] for c in classes])
    Ni = tower.embed([c[0] for c in classes])
    Nq = tower.embed([name[l] for _, l in test])
    IMG_DIM[0], TXT_DIM[0] = I.shape[1], D.shape[1]
    res = [json.loads(l) for l in open(evalf) if l.strip()]
    res = [r for r in res if "fusion" in r and r["config"] == "f32"]
    assert res, "no f32 text-side rows in the eval output"
    bad = 0
    for r in res:
        p, mode, W = r["protocol"], r["fusion"], r["titles_weight"]
        wq = r.get("text_weight", W)
        if p == "text->catalogue":
            S, a, b = D @ I.T, il, il
        elif p == "text->photo":
            S, a, b = D @ Q.T, il, ql
        else:
            U = fuse_items(mode, W, I, Ni)
            if p == "photo->unified":
                q = np.stack([fuse_query(mode, W, x, None, wq) for x in Q])
                a = ql
            elif p == "text->unified":
                q = np.stack([fuse_query(mode, W, None, t, wq) for t in D])
                a = il
            elif p == "photo+name->unified":
                q = np.stack([fuse_query(mode, W, x, t, wq) for x, t in zip(Q, Nq)])
                a = ql
            else:
                raise SystemExit(f"unknown protocol {p}")
            S, b = q @ U.T, il
        assert S.shape == (r["queries"], r["gallery"]), (p, S.shape, r["queries"], r["gallery"])
        ref = metrics(S, a, b)
        worst = max(abs(ref[k] - r[k]) for k in ref)
        ok = worst <= 2e-3
        print(f"  {p} W={W} w={wq}: " + "  ".join(f"{k} {r[k]:.4f}/{ref[k]:.4f}" for k in ref) +
              f"  {'ok' if ok else 'MISMATCH'}")
        bad += not ok
    return bad


def grocery_images(d, limit):
    out = []
    for i, line in enumerate(open(os.path.join(d, "classes.csv"))):
        f = [t.strip() for t in line.strip().split(",")]
        if i and len(f) == 6:
            out.append(os.path.join(d, f[4].lstrip("/")))
    out += [p for p, _ in read_list(d, "test.txt", int(limit))]
    out += [p for p, _ in read_list(d, "train.txt", int(limit))]
    print("\n".join(out))
    return 0


def mini(src, dst, classes, per):
    classes, per = int(classes), int(per)
    lines = open(os.path.join(src, "classes.csv")).read().splitlines()
    with open(os.path.join(dst, "classes.csv"), "w") as f:
        f.write("\n".join(lines[:classes + 1]) + "\n")
    for name in ("train.txt", "test.txt"):
        seen = {}
        with open(os.path.join(dst, name), "w") as f:
            for line in open(os.path.join(src, name)):
                p = [t.strip() for t in line.split(",")]
                if len(p) == 3 and int(p[1]) < classes and seen.get(p[1], 0) < per:
                    seen[p[1]] = seen.get(p[1], 0) + 1
                    f.write(line if line.endswith("\n") else line + "\n")
    for d in ("iconic-images-and-descriptions", "train", "test"):
        os.symlink(os.path.join(os.path.realpath(src), d), os.path.join(dst, d))
    return 0


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("search", "eval", "list", "mini"):
        sys.exit(__doc__)
    if sys.argv[1] == "mini":
        sys.exit(mini(*sys.argv[2:6]))
    if sys.argv[1] == "list":
        sys.exit(grocery_images(*sys.argv[2:4]))
    bad = check_search(*sys.argv[2:10]) if sys.argv[1] == "search" else check_eval(*sys.argv[2:9])
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
