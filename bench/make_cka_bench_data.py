#!/usr/bin/python3
"""Writes the CKA benchmark input: one .npz with 16 layers of float32 activations for n examples.

Per-example shapes as in a CIFAR ResNet: 6 layers of 16x16x16, 5 of 32x8x8, 5 of 64x4x4
(n = 4096 by default). Layers share a latent factor so that their CKA values are not trivial.
Seeded: the same arguments always give the same file. Stored uncompressed (np.savez).
--small: per-example shapes 4x4x4, 8x2x2, 16x1x1 (the example in examples/), deflated (np.savez_compressed).
Usage: make_cka_bench_data.py OUT.npz [--n 4096] [--seed 0] [--model-seed S] [--small]
"""
import argparse
import numpy as np

SHAPES = [(16, 16, 16)] * 6 + [(32, 8, 8)] * 5 + [(64, 4, 4)] * 5
SMALL_SHAPES = [(4, 4, 4)] * 6 + [(8, 2, 2)] * 5 + [(16, 1, 1)] * 5  # for the example shipped in examples/


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--model-seed", type=int, default=None,
                    help="seed of the layer weights and noise (default: --seed); the same --seed with another "
                         "--model-seed gives a second 'model' of the same examples")
    a = ap.parse_args()
    latent = np.random.default_rng(a.seed).standard_normal((a.n, 64), dtype=np.float32)
    rng = np.random.default_rng(1000 + (a.seed if a.model_seed is None else a.model_seed))
    arrays = {}
    for i, shape in enumerate(SMALL_SHAPES if a.small else SHAPES):
        p = int(np.prod(shape))
        w = rng.standard_normal((64, p), dtype=np.float32) / 8
        x = latent @ w + rng.standard_normal((a.n, p), dtype=np.float32) * (0.5 + 0.1 * i)
        np.maximum(x, 0, out=x)  # ReLU-like: non-negative, non-zero mean
        arrays[f"stage{1 + min(i // 6, 1) + (i >= 11)}.layer{i:02d}"] = x.reshape((a.n,) + shape)
        latent = latent + 0.3 * rng.standard_normal(latent.shape, dtype=np.float32)  # drift with depth
    (np.savez_compressed if a.small else np.savez)(a.out, **arrays)


if __name__ == "__main__":
    main()
