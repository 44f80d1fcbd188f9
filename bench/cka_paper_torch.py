#!/usr/bin/python3
"""All-pairs minibatch CKA (Nguyen, Raghu & Kornblith 2021, Eq. 3) written directly in PyTorch:
the baseline for Repscope's `heatmap` command in bench/run_cka_bench.sh.

Default ("paper"): for every minibatch, the Gram matrix of every layer once (float32 product),
then the unbiased HSIC (Song et al. 2012, float64) for every pair of layers, accumulated over
batches with equal weight. "--naive": the per-pair way, which recomputes both Gram matrices and
the HSIC for every pair of layers in every batch.
Writes the matrix as JSON ({"rows", "columns", "values"}) so the run script can compare it with
Repscope's cka.json.
Usage: cka_paper_torch.py IN.npz OUT.json [--batch-size 256] [--threads T] [--naive]
"""
import argparse
import json
import time

import numpy as np
import torch


def gram(x):
    k = (x @ x.T).double()
    k.fill_diagonal_(0)
    return k


def hsic1(k, l):
    n = k.shape[0]
    kr, lr = k.sum(1), l.sum(1)
    trace = (k * l).sum()
    return (trace + kr.sum() * lr.sum() / ((n - 1) * (n - 2)) - 2 / (n - 2) * kr.dot(lr)) / (n * (n - 3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("npz")
    ap.add_argument("out")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--naive", action="store_true")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    with np.load(a.npz) as f:
        names = list(f.files)
        layers = [torch.from_numpy(f[k].reshape(f[k].shape[0], -1)) for k in names]
    t_load = time.perf_counter() - t0
    n, L, b = layers[0].shape[0], len(layers), a.batch_size
    num = torch.zeros(L, L, dtype=torch.float64)
    batches = [(s, min(b, n - s)) for s in range(0, n, b) if min(b, n - s) >= 4]
    with torch.no_grad():
        for s, m in batches:
            xs = [x[s:s + m] for x in layers]
            if a.naive:
                for i in range(L):
                    for j in range(i, L):
                        num[i, j] += hsic1(gram(xs[i]), gram(xs[j]))
            else:
                grams = [gram(x) for x in xs]
                for i in range(L):
                    for j in range(i, L):
                        num[i, j] += hsic1(grams[i], grams[j])
    num = torch.triu(num) + torch.triu(num, 1).T
    d = num.diagonal().sqrt()
    cka = (num / d[:, None] / d[None, :]).tolist()
    with open(a.out, "w") as f:
        json.dump({"rows": names, "columns": names, "values": cka,
                   "seconds": {"load": t_load, "total": time.perf_counter() - t0},
                   "threads": torch.get_num_threads(), "torch": torch.__version__}, f)


if __name__ == "__main__":
    main()
