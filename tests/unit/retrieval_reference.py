#!/usr/bin/python3
"""Independent numpy reference for vireo's retrieval math (runtime/retrieval.h,
runtime/linalg.h, runtime/metrics.h), written from the papers' definitions:

  PCA whitening      Jégou & Chum, ECCV 2012, section 2 (numpy.linalg.eigh)
  alpha-QE, DBA      Radenović, Tolias & Chum, TPAMI 2019, section 5.1;
                     Arandjelović & Zisserman, CVPR 2012
  k-reciprocal       Zhong et al., CVPR 2017, eq. 4-12 (dense V, Jaccard as
                     sum of minima over sum of maxima)
  metrics            Recall@k (hit rate), MAR@10, non-interpolated AP, UKBench N-S

The C tests (tests/unit/test_*.c) write their inputs to a file, run
`/usr/bin/python3 retrieval_reference.py IN OUT`, and compare with OUT.

File format (both ways, little-endian): b"VRT1", u32 count, then per array:
u32 name length, name (ASCII), u8 dtype (0 f32, 1 i32, 2 f64, 3 u32, 4 u8),
u32 ndim, ndim x u64 dims, the data in C order. The input holds "op" (u8 text)
naming the computation, or "cases" (i32) and each case's arrays prefixed
"<case>:" (outputs likewise).
"""
import struct
import sys

import numpy as np

DTYPES = {0: np.float32, 1: np.int32, 2: np.float64, 3: np.uint32, 4: np.uint8}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}


def read_arrays(path):
    data = open(path, "rb").read()
    if data[:4] != b"VRT1":
        raise ValueError("bad magic")
    (count,) = struct.unpack_from("<I", data, 4)
    at, out = 8, {}
    for _ in range(count):
        (nl,) = struct.unpack_from("<I", data, at)
        at += 4
        name = data[at:at + nl].decode()
        at += nl
        code, ndim = struct.unpack_from("<BI", data, at)
        at += 5
        dims = struct.unpack_from("<%dQ" % ndim, data, at)
        at += 8 * ndim
        dt = np.dtype(DTYPES[code]).newbyteorder("<")
        size = int(np.prod(dims)) if ndim else 1
        out[name] = np.frombuffer(data, dtype=dt, count=size, offset=at).reshape(dims).copy()
        at += size * dt.itemsize
    return out


def write_arrays(path, arrays):
    parts = [b"VRT1", struct.pack("<I", len(arrays))]
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        parts.append(struct.pack("<I", len(name)) + name.encode())
        parts.append(struct.pack("<BI", CODES[a.dtype], a.ndim))
        parts.append(struct.pack("<%dQ" % a.ndim, *a.shape))
        parts.append(a.astype(a.dtype.newbyteorder("<")).tobytes())
    open(path, "wb").write(b"".join(parts))


def scalar(a):
    return a.reshape(-1)[0].item()


def normalise(x):
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(n > 0, x / np.where(n > 0, n, 1), 0.0)


# --------------------------------------------------------------- ensemble ---
def op_l2norm(a):
    return {"y": normalise(a["x"])}


def op_ensemble(a):
    m = scalar(a["models"])
    w = a["weights"].astype(np.float64)
    blocks = [np.sqrt(w[i]) * normalise(a["emb%d" % i]) for i in range(m)]
    return {"y": normalise(np.concatenate(blocks, axis=1))}


def op_fuse(a):
    m = scalar(a["models"])
    w = a["weights"].astype(np.float64)
    s = sum(w[i] * a["s%d" % i].astype(np.float64) for i in range(m))
    return {"out": s / w.sum()}


# ------------------------------------------------------------- eigen, PCA ---
def eig_desc(c):
    """Eigenpairs of a symmetric matrix, largest first, each vector with its
    largest-magnitude component positive; vectors as rows."""
    lam, u = np.linalg.eigh(c)
    order = np.argsort(-lam, kind="stable")
    lam, u = lam[order], u[:, order].T.copy()
    for r in u:
        if r[np.argmax(np.abs(r))] < 0:
            r *= -1
    return lam, u


def op_eig(a):
    lam, u = eig_desc(a["a"].astype(np.float64))
    return {"evals": lam, "evecs": u}


def op_covariance(a):
    x = a["x"].astype(np.float64)
    mu = x.mean(axis=0)
    xc = x - mu
    return {"mean": mu, "cov": xc.T @ xc / x.shape[0]}


def op_whiten_fit(a):
    x = a["x"].astype(np.float64)
    n, d = x.shape
    power = float(scalar(a["power"]))
    eps_rel = float(scalar(a["eps_rel"]))
    want = scalar(a["d_out"])
    mu = x.mean(axis=0)
    xc = x - mu
    lam, u = eig_desc(xc.T @ xc / n)
    tol = lam[0] * max(n, d) * 64 * np.finfo(np.float64).eps
    rank = min(int(np.sum(lam > tol)), n - 1)
    d_out = rank if want == 0 else min(want, rank)
    eps = eps_rel * lam[0]
    proj = ((lam[:d_out] + eps) ** (-power))[:, None] * u[:d_out]
    return {"mean": mu, "proj": proj, "eigenvalues": lam[:d_out],
            "rank": np.array([rank], np.int32), "gaps": np.abs(np.diff(lam))}


def op_whiten_apply(a):
    y = (a["x"].astype(np.float64) - a["mean"].astype(np.float64)) @ a["proj"].astype(np.float64).T
    return {"y": normalise(y)}


# ------------------------------------------------------------ QE and DBA ---
def expand(selfrow, db, rows, sims, cnt, k, alpha, skip):
    acc = selfrow.astype(np.float64).copy()
    for t in range(min(cnt, k)):
        s = float(sims[t])
        if rows[t] == skip or not s > 0:
            continue
        acc += s ** alpha * db[rows[t]].astype(np.float64)
    return normalise(acc)


def op_aqe(a):
    q, db = a["q"], a["db"]
    k, alpha = scalar(a["k"]), float(scalar(a["alpha"]))
    out = [expand(q[i], db, a["rows"][i], a["sims"][i], a["count"][i], k, alpha, -1)
           for i in range(q.shape[0])]
    return {"out": np.array(out)}


def op_dba(a):
    db = a["db"]
    k, alpha = scalar(a["k"]), float(scalar(a["alpha"]))
    out = [expand(db[j], db, a["rows"][j], a["sims"][j], a["count"][j], k, alpha, j)
           for j in range(db.shape[0])]
    return {"out": np.array(out)}


# ---------------------------------------------------------- k-reciprocal ---
def op_rerank(a):
    dist = a["dist"]                      # float32, as the C code ranks it
    n = dist.shape[0]
    nq = scalar(a["nq"])
    k1 = min(scalar(a["k1"]), n - 1)
    k2 = min(scalar(a["k2"]), n)
    lam = float(scalar(a["lambda"]))
    d2 = dist.astype(np.float64) ** 2
    mx = d2.max(axis=1, keepdims=True)
    dn = np.where(mx > 0, d2 / np.where(mx > 0, mx, 1.0), 0.0)
    rank = np.argsort(dist, axis=1, kind="stable")  # ties: lower index first

    def recip(i, k):                       # R(i, k), eq. 5
        return [j for j in rank[i, :k + 1] if i in rank[j, :k + 1]]

    half = int(np.around(k1 / 2.0))
    V = np.zeros((n, n))
    for i in range(n):
        r = recip(i, k1)
        rstar = set(r)
        for c in r:                        # eq. 6
            rc = recip(c, half)
            if len(set(rc) & set(r)) > 2.0 / 3.0 * len(rc):
                rstar |= set(rc)
        cols = np.array(sorted(rstar))
        w = np.exp(-dn[i, cols])           # eq. 7
        V[i, cols] = w / w.sum()
    if k2 > 1:                             # local query expansion, eq. 11
        V = np.stack([V[rank[i, :k2]].mean(axis=0) for i in range(n)])
    out = np.empty((nq, n))
    for i in range(nq):                    # eq. 10 and 12
        mins = np.minimum(V[i][None, :], V).sum(axis=1)
        maxs = np.maximum(V[i][None, :], V).sum(axis=1)
        out[i] = (1 - lam) * (1 - mins / maxs) + lam * dn[i]
    return {"out": out}


# ---------------------------------------------------------------- metrics ---
def op_metrics(a):
    ranked, count = a["ranked"], a["count"]
    ql, gl = a["q_label"], a["g_label"]
    self_idx = a.get("self")
    sums = dict(recall1=0.0, recall5=0.0, recall10=0.0, mar10=0.0, map=0.0, ns=0.0)
    queries = skipped = 0
    for i in range(ranked.shape[0]):
        lst = ranked[i, :count[i]].astype(np.int64)
        n_rel = int(np.sum(gl == ql[i]))
        if self_idx is not None and self_idx[i] >= 0:
            lst = lst[lst != self_idx[i]]
            n_rel -= int(gl[self_idx[i]] == ql[i])
        rel = gl[lst] == ql[i]
        if n_rel == 0:
            skipped += 1
            continue
        queries += 1
        sums["recall1"] += float(rel[:1].any())
        sums["recall5"] += float(rel[:5].any())
        sums["recall10"] += float(rel[:10].any())
        sums["mar10"] += rel[:10].sum() / min(10, n_rel)
        pos = np.nonzero(rel)[0]
        sums["map"] += np.sum(np.arange(1, len(pos) + 1) / (pos + 1)) / n_rel
        sums["ns"] += rel[:4].sum()
    out = {k: np.array([v / queries if queries else 0.0]) for k, v in sums.items()}
    out["queries"] = np.array([queries], np.int32)
    out["skipped"] = np.array([skipped], np.int32)
    return out


OPS = {name[3:]: f for name, f in globals().items() if name.startswith("op_")}


def main():
    inp = read_arrays(sys.argv[1])
    if "cases" not in inp:
        op = bytes(inp.pop("op")).decode()
        write_arrays(sys.argv[2], OPS[op](inp))
        return
    # A batch (one Python start for many cases): case c's arrays are named
    # "c:name", and so are its outputs.
    out = {}
    for c in range(scalar(inp.pop("cases"))):
        pre = "%d:" % c
        case = {k[len(pre):]: v for k, v in inp.items() if k.startswith(pre)}
        op = bytes(case.pop("op")).decode()
        out.update({pre + k: v for k, v in OPS[op](case).items()})
    write_arrays(sys.argv[2], out)


if __name__ == "__main__":
    main()
