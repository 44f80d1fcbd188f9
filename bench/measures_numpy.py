#!/usr/bin/python3
"""All-pairs map of the CCA family (cca = R2CCA, svcca, pwcca) of the layers in one .npz, in numpy
(Debian python3-numpy), the comparison for bench/run_measures_bench.sh. The same definitions as
docs/measures.md and the same plan as Repscope (one thin SVD per layer, a small product per pair),
so that the ratio compares implementations, not algorithms.
Usage: measures_numpy.py ACTS.npz MEASURE OUT.json
Writes {"rows", "columns", "values"} (null where undefined), as repscope heatmap does.
"""
import json
import sys

import numpy as np

TOL = 1e-10


def prepare(a, measure, kept=0.99):
    x = a.reshape(a.shape[0], -1).astype(np.float64)
    n, p = x.shape
    if measure in ("cca", "pwcca") and p >= n:
        return None
    x -= x.mean(axis=0, keepdims=True)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    r = int(np.sum(s > TOL * s[0]))
    if measure == "svcca":
        share = np.cumsum(s[:r] ** 2) / np.sum(s[:r] ** 2)
        k = min(int(np.searchsorted(share, kept, side="left")) + 1, r)
        return (u[:, :k].copy(), None)
    loadings = s[:r, None] * vt[:r] if measure == "pwcca" else None
    return (u[:, :r].copy(), loadings)


def pair(measure, a, b):
    m = a[0].T @ b[0]
    if measure == "cca":
        return float(np.sum(m ** 2) / min(m.shape))
    if measure == "svcca":
        return float(np.mean(np.linalg.svd(m, compute_uv=False)))
    u, rho, _ = np.linalg.svd(m, full_matrices=False)
    alpha = np.abs(u.T @ a[1]).sum(axis=1)
    return float(np.sum(alpha * rho) / np.sum(alpha))


def main():
    path, measure, out = sys.argv[1], sys.argv[2], sys.argv[3]
    with np.load(path) as f:
        names = list(f.files)
        prepared = [prepare(f[k], measure) for k in names]
    count = len(names)
    values = [[None] * count for _ in range(count)]
    for i in range(count):
        for j in range(count):
            if measure != "pwcca" and j < i:
                values[i][j] = values[j][i]
            elif i == j and prepared[i] is not None:
                values[i][j] = 1.0
            elif prepared[i] is not None and prepared[j] is not None:
                values[i][j] = pair(measure, prepared[i], prepared[j])
    json.dump({"rows": names, "columns": names, "values": values}, open(out, "w"))


if __name__ == "__main__":
    main()
