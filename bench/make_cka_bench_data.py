#!/usr/bin/python3
"""Writes the CKA benchmark input: one .npz with 16 layers of float32 activations for n examples.

Per-example shapes as in a CIFAR ResNet: 6 layers of 16x16x16, 5 of 32x8x8, 5 of 64x4x4
(n = 4096 by default). Layers share a latent factor so that their CKA values are not trivial.
Seeded: the same arguments always give the same file. Stored uncompressed (np.savez).
Usage: make_cka_bench_data.py OUT.npz [--n 4096] [--seed 0]
"""
import argparse
import numpy as np

SHAPES = [(16, 16, 16)] * 6 + [(32, 8, 8)] * 5 + [(64, 4, 4)] * 5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    latent = rng.standard_normal((a.n, 64), dtype=np.float32)
    arrays = {}
    for i, shape in enumerate(SHAPES):
        p = int(np.prod(shape))
        w = rng.standard_normal((64, p), dtype=np.float32) / 8
        x = latent @ w + rng.standard_normal((a.n, p), dtype=np.float32) * (0.5 + 0.1 * i)
        np.maximum(x, 0, out=x)  # ReLU-like: non-negative, non-zero mean
        arrays[f"stage{1 + min(i // 6, 1) + (i >= 11)}.layer{i:02d}"] = x.reshape((a.n,) + shape)
        latent = latent + 0.3 * rng.standard_normal(latent.shape, dtype=np.float32)  # drift with depth
    np.savez(a.out, **arrays)


if __name__ == "__main__":
    main()
